// A C++ program the backend tests run under libvmreclaim-malloc.so with each
// backend (VMRECLAIM_MALLOC_BACKEND). Each scenario prints "ok" (and, where
// the test needs it, "large=N": how many requests at or above the threshold
// it made, for the test to compare with the layer's exit report) or what went
// wrong; a failed check exits 1. Built with -fno-builtin so no allocation is
// folded away.
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "probe.h"

namespace {

// The shared probe code (probe.h).
using namespace vmreclaim::test;

constexpr size_t kThreshold = 128 * 1024;

// Every replaceable form of operator new at or above the threshold: the
// layer must serve each (the test counts them in the exit report), and a
// block freed by delete comes back for the next request of its size.
void cxx() {
  int large = 0;
  std::vector<std::pair<void*, size_t>> blocks;
  auto keep = [&](void* p, size_t n, size_t align) {
    CHECK(p != nullptr && aligned(p, align));
    if (p != nullptr) fill(p, n, 5, 4096);
    blocks.emplace_back(p, n);
    large++;
  };
  char* a = new char[kLarge];
  keep(a, kLarge, 4096);
  auto* s = static_cast<char*>(::operator new(2 * kLarge));
  keep(s, 2 * kLarge, 4096);
  auto* nt = static_cast<char*>(::operator new(kLarge + 100, std::nothrow));
  keep(nt, kLarge + 100, 4096);
  auto* nta = new (std::nothrow) char[3 * kLarge];
  keep(nta, 3 * kLarge, 4096);
  for (size_t align : {size_t{64}, size_t{4096}, size_t{65536}, size_t{1} << 21}) {
    void* p = ::operator new (kLarge, std::align_val_t{align});
    keep(p, kLarge, align);
    void* q = ::operator new[](kThreshold, std::align_val_t{align});
    keep(q, kThreshold, align);
    void* r = ::operator new (kLarge, std::align_val_t{align}, std::nothrow);
    keep(r, kLarge, align);
    void* t = ::operator new[](2 * kLarge, std::align_val_t{align}, std::nothrow);
    keep(t, 2 * kLarge, align);
  }
  for (auto& [p, n] : blocks) CHECK(p == nullptr || has_pattern(p, n, 5, 4096));

  // Freed through every delete form, then reused: the layer's cache hands
  // the most recently freed block of a size back.
  delete[] a;
  char* again = new char[kLarge];
  large++;
  CHECK(again == a);
  ::operator delete[](again, kLarge);  // sized
  ::operator delete(s);
  ::operator delete(nt, std::nothrow);
  ::operator delete[](nta, 3 * kLarge);
  for (size_t i = 4; i < blocks.size(); i += 4) {
    size_t align = std::vector<size_t>{64, 4096, 65536, size_t{1} << 21}[(i - 4) / 4];
    ::operator delete (blocks[i].first, std::align_val_t{align});
    ::operator delete[](blocks[i + 1].first, blocks[i + 1].second, std::align_val_t{align});
    ::operator delete (blocks[i + 2].first, std::align_val_t{align}, std::nothrow);
    ::operator delete[](blocks[i + 3].first, std::align_val_t{align}, std::nothrow);
  }

  // Small ones stay with the backend, through every form too.
  for (size_t n : {size_t{1}, size_t{24}, size_t{4096}, size_t{8192}, kThreshold - 1}) {
    char* p = new char[n];
    fill(p, n, 3);
    CHECK(has_pattern(p, n, 3));
    ::operator delete[](p, n);
    void* q = ::operator new (n, std::align_val_t{256});
    CHECK(aligned(q, 256));
    ::operator delete (q, n, std::align_val_t{256});
    void* r = ::operator new(n, std::nothrow);
    CHECK(r != nullptr);
    ::operator delete(r);
  }
  CHECK(::operator new(0) != nullptr);

  // Standard containers: a vector growing past the threshold moves into the
  // layer and back out when it shrinks to fit.
  std::vector<int> v;
  for (int i = 0; i < 200000; i++) v.push_back(i);
  large += 4;  // capacities doubling to 262144 ints: 128 KiB, 256 KiB, 512 KiB and 1 MiB are large
  for (int i = 0; i < 200000; i += 997) CHECK(v[static_cast<size_t>(i)] == i);
  v.resize(100);
  v.shrink_to_fit();
  CHECK(v[99] == 99);

  // Out of memory: the nothrow forms return nullptr, the others throw.
  CHECK(::operator new(SIZE_MAX / 2, std::nothrow) == nullptr);
  bool threw = false;
  try {
    void* volatile p = ::operator new(SIZE_MAX / 2);
    (void)p;
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  CHECK(threw);
  std::printf("large=%d\n", large);
}

// A block moves between the backend and the layer as realloc takes it across
// the threshold, both ways, many times; nothing is lost on the way.
void realloc_cross() {
  unsigned seed = 1;
  for (size_t small : {size_t{16}, size_t{100}, size_t{4096}, size_t{5000}, kThreshold - 8}) {
    for (size_t big : {kThreshold, kThreshold + 1, kLarge, 5 * kLarge + 123}) {
      auto* p = static_cast<char*>(malloc(small));
      fill(p, small, seed);
      p = static_cast<char*>(realloc(p, big));  // to the layer
      CHECK(p != nullptr && aligned(p, 4096));
      CHECK(has_pattern(p, small, seed));
      fill(p, big, seed + 1);
      p = static_cast<char*>(realloc(p, small));  // back to the backend
      CHECK(p != nullptr && has_pattern(p, small, seed + 1));
      p = static_cast<char*>(realloc(p, big * 2));  // and out again
      CHECK(p != nullptr && has_pattern(p, small, seed + 1));
      fill(p, big * 2, seed + 2, 61);
      p = static_cast<char*>(realloc(p, big * 3));  // within the layer
      CHECK(p != nullptr && has_pattern(p, big * 2, seed + 2, 61));
      free(p);
      seed += 3;
    }
  }
  // A calloc'd small block grown past the threshold keeps its zeros.
  auto* z = static_cast<unsigned char*>(calloc(1, 1000));
  z = static_cast<unsigned char*>(realloc(z, kLarge));
  bool zero = true;
  for (size_t i = 0; i < 1000; i++) zero = zero && z[i] == 0;
  CHECK(zero);
  free(z);
}

// Threads mixing small and large C and C++ allocations, page-sized small
// ones among them (a backend may hand those out page-aligned, like the
// layer's blocks): every free must reach the right owner.
void mixed_threads() {
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++) {
    ts.emplace_back([t, &bad] {
      constexpr int kSlots = 16;
      void* blocks[kSlots] = {};
      size_t sizes[kSlots] = {};
      bool cxx[kSlots] = {};
      unsigned r = 99u * static_cast<unsigned>(t + 1);
      for (int i = 0; i < 4000; i++) {
        r = r * 1664525u + 1013904223u;
        int s = static_cast<int>((r >> 8) % kSlots);
        if (blocks[s] != nullptr) {
          if (!has_pattern(blocks[s], sizes[s], static_cast<unsigned>(s), 61)) bad++;
          if (cxx[s]) {
            ::operator delete(blocks[s], sizes[s]);
          } else {
            free(blocks[s]);
          }
        }
        static constexpr size_t kSizes[] = {16, 4096, 8192, 16384, 100000, 128 * 1024, 300000, 2 << 20};
        sizes[s] = kSizes[(r >> 16) % 8];
        cxx[s] = (r >> 20) % 2 == 0;
        blocks[s] = cxx[s] ? ::operator new(sizes[s]) : malloc(sizes[s]);
        fill(blocks[s], sizes[s], static_cast<unsigned>(s), 61);
      }
      for (int s = 0; s < kSlots; s++) {
        if (cxx[s]) {
          ::operator delete(blocks[s]);
        } else {
          free(blocks[s]);
        }
      }
    });
  }
  for (auto& th : ts) th.join();
  CHECK(bad.load() == 0);
}

// fork() while other threads allocate small and large blocks: the child's
// allocators (the backend's and the layer's) work and its inherited blocks
// are intact, with every backend.
void fork_with_threads() {
  void* inherited_large = malloc(kLarge);
  fill(inherited_large, kLarge, 9);
  auto* inherited_small = new std::string(1000, 'x');
  fork_while_allocating(
      [](int t, unsigned i) {
        size_t n = i % 2 == 0 ? 64 + (i % 50) * 16 : 200 * 1024 + (i % 10) * 100 * 1024;
        auto* p = static_cast<char*>(::operator new(n));
        fill(p, 64, static_cast<unsigned>(t));
        ::operator delete(p);
      },
      [&] {
        bool ok = has_pattern(inherited_large, kLarge, 9) && *inherited_small == std::string(1000, 'x');
        auto small = std::make_unique<std::vector<int>>(1000, 7);
        auto* big = new char[3 * kLarge];
        std::memset(big, 3, 3 * kLarge);
        delete[] big;
        void* q = calloc(1, 2 * kLarge);
        ok = ok && q != nullptr && (*small)[999] == 7;
        free(q);
        free(inherited_large);
        delete inherited_small;
        return ok;
      });
  CHECK(has_pattern(inherited_large, kLarge, 9));
  free(inherited_large);
  delete inherited_small;
}

void double_free() {
  void* p = malloc(kLarge);
  free(p);
  free(p);  // must abort with one line on stderr
  std::puts("survived");
}

char* volatile g_sink;

void double_delete() {
  g_sink = new char[kLarge];
  char* p = g_sink;
  delete[] p;
  delete[] g_sink;  // must abort with one line on stderr
  std::puts("survived");
}

// Many small blocks of the backend's, some at page offset 0 or 16 (where a
// page-offset test would have sent them to the layer's slow path), and
// page-aligned ones: every free must go straight to the backend. Prints how
// many of them sat at page offset 0 or 16.
void small_frees() {
  constexpr int kBlocks = 100000;
  static void* blocks[kBlocks];
  uint32_t x = 12345;
  int at_page_start = 0;
  for (int i = 0; i < kBlocks; i++) {
    x = x * 1664525u + 1013904223u;
    void* p = nullptr;
    if (i % 100 == 0) {
      CHECK(posix_memalign(&p, 4096, 4096) == 0);
    } else {
      p = malloc(16 + (x >> 16) % 2048);
    }
    CHECK(p != nullptr);
    at_page_start += (reinterpret_cast<uintptr_t>(p) & 4095 & ~uintptr_t{16}) == 0 ? 1 : 0;
    blocks[i] = p;
  }
  for (void* p : blocks) free(p);
  std::printf("at_page_offset_0_or_16=%d\n", at_page_start);
}

}  // namespace

int main(int argc, char** argv) {
  std::string s = argc > 1 ? argv[1] : "";
  if (s == "cxx") {
    cxx();
  } else if (s == "realloc_cross") {
    realloc_cross();
  } else if (s == "mixed_threads") {
    mixed_threads();
  } else if (s == "fork") {
    fork_with_threads();
  } else if (s == "small_frees") {
    small_frees();
  } else if (s == "double_free") {
    double_free();
  } else if (s == "double_delete") {
    double_delete();
  } else {
    std::fprintf(stderr, "unknown scenario '%s'\n", s.c_str());
    return 2;
  }
  std::puts(g_failures == 0 ? "ok" : "FAILED");
  return g_failures == 0 ? 0 : 1;
}
