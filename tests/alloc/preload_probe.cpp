// A program the preload tests run with LD_PRELOAD=libvmreclaim-malloc.so.
// Each scenario exercises the C allocation API through the interposed
// symbols (built with -fno-builtin so no call is folded away) and prints
// "ok" or what went wrong; a failed check exits 1.
#include <mach/vm_reclaim.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vmreclaim/vmreclaim.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "address_range.h"
#include "probe.h"
#include "smaps.h"

namespace {

// The shared probe code (probe.h).
using namespace vmreclaim::test;

// Opaque to the compiler, so it does not reject the overflowing calls at build time.
volatile size_t g_huge = SIZE_MAX / 2;

void entry_points() {
  // malloc / free / reuse, and calloc on a block that comes back dirty.
  void* a = malloc(kLarge);
  CHECK(a != nullptr && aligned(a, 4096));
  std::memset(a, 0xab, kLarge);
  CHECK(malloc_usable_size(a) >= kLarge);
  free(a);
  void* z = calloc(kLarge / 8, 8);
  CHECK(z == a);  // the cached block, reused
  CHECK(is_zero(z, kLarge));
  free(z);
  CHECK(calloc(g_huge, 4) == nullptr && errno == ENOMEM);

  // Small requests stay with the system allocator and work as usual.
  char* s = static_cast<char*>(malloc(100));
  std::strcpy(s, "small");
  CHECK(std::strcmp(s, "small") == 0);
  void* sz = calloc(10, 10);
  CHECK(is_zero(sz, 100));
  free(sz);

  // realloc across the threshold, both directions, contents kept.
  fill(s, 100, 1);
  char* big = static_cast<char*>(realloc(s, 3 * kLarge));
  CHECK(big != nullptr && aligned(big, 4096));
  CHECK(has_pattern(big, 100, 1));
  fill(big, 3 * kLarge, 2);
  char* bigger = static_cast<char*>(realloc(big, 9 * kLarge));  // mremap growth
  CHECK(bigger != nullptr && has_pattern(bigger, 3 * kLarge, 2));
  char* same = static_cast<char*>(realloc(bigger, 9 * kLarge - 4096));  // in place
  CHECK(same == bigger);
  char* small_again = static_cast<char*>(realloc(same, 1000));
  CHECK(small_again != nullptr && has_pattern(small_again, 1000, 2));
  free(small_again);
  void* arr = reallocarray(nullptr, 1000, 1000);
  CHECK(arr != nullptr);
  void* volatile kept = arr;  // still valid after the failed reallocarray
  CHECK(reallocarray(arr, g_huge, 4) == nullptr && errno == ENOMEM);
  free(kept);
  CHECK(realloc(malloc(kLarge), 0) == nullptr);  // glibc: frees, returns NULL

  // Every aligned API, small and large, ordinary and huge alignments.
  for (size_t size : {size_t{100}, size_t{5000}, kLarge, 5 * kLarge}) {
    for (size_t align : {size_t{16}, size_t{64}, size_t{4096}, size_t{65536}, size_t{1} << 21}) {
      void* p = nullptr;
      CHECK(posix_memalign(&p, align, size) == 0 && aligned(p, align));
      std::memset(p, 1, size);
      free(p);
      p = aligned_alloc(align, size);
      CHECK(p != nullptr && aligned(p, align));
      std::memset(p, 1, size);
      free(p);
      p = memalign(align, size);
      CHECK(p != nullptr && aligned(p, align));
      std::memset(p, 1, size);
      free(p);
    }
    void* v = valloc(size);
    CHECK(v != nullptr && aligned(v, 4096));
    free(v);
    void* pv = pvalloc(size);
    CHECK(pv != nullptr && aligned(pv, 4096) && malloc_usable_size(pv) >= (size + 4095) / 4096 * 4096);
    free(pv);
  }
  void* bad = nullptr;
  CHECK(posix_memalign(&bad, 24, kLarge) == EINVAL);
  CHECK(aligned_alloc(24, kLarge) == nullptr && errno == EINVAL);
  free(nullptr);
}

void mt_churn() {
  constexpr int kThreads = 4, kSlots = 8, kOps = 600;
  constexpr size_t kStride = 61;  // odd: every page, many offsets
  std::vector<std::thread> ts;
  std::atomic<int> bad{0};
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([t, &bad] {
      void* blocks[kSlots] = {};
      size_t sizes[kSlots] = {};
      unsigned seeds[kSlots] = {};
      unsigned r = 777u * static_cast<unsigned>(t + 1);
      for (int i = 0; i < kOps; i++) {
        r = r * 1664525u + 1013904223u;
        int s = static_cast<int>((r >> 8) % kSlots);
        if (blocks[s] != nullptr) {
          if (!has_pattern(blocks[s], sizes[s], seeds[s], kStride)) bad++;
          free(blocks[s]);
        }
        sizes[s] = (r >> 12) % 2 == 0 ? 64 + r % 4000 : 128 * 1024 + r % (3u << 20);
        seeds[s] = r;
        if (i % 5 == 0) {
          blocks[s] = calloc(1, sizes[s]);
          if (blocks[s] == nullptr || !is_zero(blocks[s], sizes[s])) bad++;
        } else if (i % 7 == 0 && blocks[s] != nullptr) {
          blocks[s] = realloc(malloc(sizes[s] / 2 + 1), sizes[s]);
        } else {
          blocks[s] = malloc(sizes[s]);
        }
        if (blocks[s] == nullptr) {
          bad++;
          continue;
        }
        fill(blocks[s], sizes[s], seeds[s], kStride);
      }
      for (void* b : blocks) free(b);
    });
  }
  for (auto& th : ts) th.join();
  CHECK(bad.load() == 0);
}

void fork_during_allocation() {
  void* inherited = malloc(kLarge);
  fill(inherited, kLarge, 9);
  void* cached = malloc(2 * kLarge);
  free(cached);  // sits in the cache (and the ring) across the fork
  fork_while_allocating(
      [](int t, unsigned i) {
        size_t n = 200 * 1024 + (i % 10) * 100 * 1024;
        void* p = malloc(n);
        fill(p, 4096, static_cast<unsigned>(t));
        free(p);
      },
      [&] {
        // The child: the heap works, inherited blocks are intact, the cached
        // block can be reused.
        bool ok = has_pattern(inherited, kLarge, 9);
        void* p = malloc(2 * kLarge);
        std::memset(p, 3, 2 * kLarge);
        free(p);
        void* q = calloc(1, 3 * kLarge);
        ok = ok && q != nullptr && is_zero(q, 3 * kLarge);
        free(q);
        free(inherited);
        return ok;
      });
  CHECK(has_pattern(inherited, kLarge, 9));
  free(inherited);
}

// Pages of [p, p+n) in memory (mincore), or -1 if some page is not mapped.
long resident_pages(const void* p, size_t n) {
  std::vector<unsigned char> v((n + 4095) / 4096);
  if (mincore(const_cast<void*>(p), n, v.data()) != 0) return -1;
  long r = 0;
  for (unsigned char c : v) r += c & 1;
  return r;
}

// A block the engine released (with the advice in VMRECLAIM_FREE_ADVICE)
// must come back from calloc as zeros. With MADV_FREE the pages keep their
// old contents until memory pressure, so "FREED" does not mean "zero".
void calloc_after_drain() {
  constexpr size_t n = 4 * kLarge;
  auto* p = static_cast<unsigned char*>(malloc(n));
  CHECK(p != nullptr);
  std::memset(p, 0xab, n);
  free(p);
  mach_vm_reclaim_ring_t r = vmreclaim_ring_current();
  CHECK(r != nullptr);
  uint64_t bytes = 0;
  CHECK(r != nullptr && vmreclaim_ring_drain(r, &bytes) == VM_RECLAIM_SUCCESS);
  CHECK(bytes >= n);
  const char* advice = std::getenv("VMRECLAIM_FREE_ADVICE");
  const bool dontneed = advice == nullptr || std::strcmp(advice, "free") != 0;
  // What the released pages hold now (the test's own knowledge of its
  // block). Not read after MADV_DONTNEED: a read would map the zero page.
  if (!dontneed) std::printf("stale_pages_before_calloc=%d\n", p[0] == 0xab && p[n - 1] == 0xab ? 1 : 0);
  void* z = calloc(1, n);
  CHECK(z == p);  // the cached block, reused after the engine released it
  // Released with MADV_DONTNEED nothing is resident, and calloc must not
  // fault the pages in just to clear them.
  if (dontneed) CHECK(resident_pages(z, n) == 0);
  CHECK(is_zero(z, n));
  free(z);
}

long thread_minor_faults() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_minflt;
}

// realloc through the cache, in each of its ways, contents kept, and the
// growth's new pages already resident when it came from a cached block.
// Prints the minor faults of writing every page after each growth.
void realloc_paths() {
  constexpr size_t kOld = kLarge, kSpare = 8 * kLarge, kNew = 6 * kLarge;
  auto* a = static_cast<unsigned char*>(malloc(kOld));
  CHECK(a != nullptr);
  fill(a, kOld, 21);
  // A cached block with every page resident: the growth lands in it.
  void* spare = malloc(kSpare);
  CHECK(spare != nullptr);
  std::memset(spare, 0x33, kSpare);
  free(spare);
  long f0 = thread_minor_faults();
  auto* b = static_cast<unsigned char*>(realloc(a, kNew));
  CHECK(b != nullptr);
  std::memset(b + kOld, 0x44, kNew - kOld);
  std::printf("grow_into_cached_faults=%ld\n", thread_minor_faults() - f0);
  CHECK(b != nullptr && has_pattern(b, kOld, 21));
  // Shrunk to a fraction, then grown again: its tail comes back.
  fill(b, kNew, 22, 4096);
  auto* c = static_cast<unsigned char*>(realloc(b, kLarge / 2));
  CHECK(c == b);
  f0 = thread_minor_faults();
  auto* d = static_cast<unsigned char*>(realloc(c, kNew));
  CHECK(d != nullptr);
  std::memset(d + kLarge / 2, 0x55, kNew - kLarge / 2);
  std::printf("grow_into_tail_faults=%ld\n", thread_minor_faults() - f0);
  CHECK(d != nullptr && has_pattern(d, kLarge / 2, 22, 4096));
  // Grown into a cached block the engine released: contents kept.
  fill(d, kNew, 23, 4096);
  void* spare2 = malloc(12 * kLarge);
  CHECK(spare2 != nullptr);
  free(spare2);
  mach_vm_reclaim_ring_t r = vmreclaim_ring_current();
  CHECK(r != nullptr && vmreclaim_ring_drain(r, nullptr) == VM_RECLAIM_SUCCESS);
  auto* e = static_cast<unsigned char*>(realloc(d, 10 * kLarge));
  CHECK(e != nullptr && has_pattern(e, kNew, 23, 4096));
  std::memset(e, 1, 10 * kLarge);
  free(e);
}

void double_free() {
  void* p = malloc(kLarge);
  free(p);
  free(p);  // must abort with one line on stderr
  std::puts("survived");
}

// Misuse the layer can see: each must end in one line and SIGABRT, never a
// SIGSEGV inside glibc. The evicting ones run with VMRECLAIM_MALLOC_CACHE_MAX=1M.
void misuse(const std::string& what) {
  auto* p = static_cast<char*>(malloc(kLarge));
  CHECK(p != nullptr);
  std::memset(p, 0x5a, kLarge);
  if (what == "realloc_interior") {
    void* q = realloc(p + 4096, 2 * kLarge);
    std::printf("survived %p\n", q);
  } else if (what == "free_interior") {
    free(p + 4096);
  } else if (what == "usable_size_interior") {
    std::printf("survived %zu\n", malloc_usable_size(p + 8192));
  } else if (what == "realloc_after_free") {
    free(p);
    void* q = realloc(p, 2 * kLarge);
    std::printf("survived %p\n", q);
  } else if (what == "free_after_eviction" || what == "realloc_after_eviction" ||
             what == "small_realloc_after_eviction") {
    void* other = malloc(kLarge);
    free(p);      // cached
    free(other);  // evicts p: the cache holds 1 MiB
    if (what == "free_after_eviction") {
      free(p);
    } else if (what == "realloc_after_eviction") {
      void* q = realloc(p, 2 * kLarge);
      std::printf("survived %p\n", q);
    } else {
      void* q = realloc(p, 100);
      std::printf("survived %p\n", q);
    }
  } else if (what == "free_after_realloc") {
    // A spare cached block takes the growth; p itself goes to the cache.
    void* spare = malloc(4 * kLarge);
    free(spare);
    void* q = realloc(p, 3 * kLarge);
    std::printf("moved %d\n", q != p ? 1 : 0);
    free(p);
  } else if (what == "free_unmapped") {
    // Far below the only block (they are placed from the top down), in the
    // layer's range: never a block.
    free(p - (size_t{256} << 20));
  } else if (what == "free_interior_unaligned") {
    free(p + 16);
  } else {
    std::printf("no misuse %s\n", what.c_str());
    std::exit(2);
  }
  std::puts("survived");
}

// What the layer's settings did: is a 64 KiB request the layer's (its
// blocks lie in its window of the address space, the backend's never do) or
// the backend's? (Default threshold: 128 KiB.)
void settings() {
  void* p = malloc(64 * 1024);
  CHECK(p != nullptr);
  const bool layer = vmreclaim::alloc::in_window(p);
  std::printf("layer_served_64k=%d\n", layer ? 1 : 0);
  free(p);
}

// An 8 MiB block, written: whether its mapping is advised for huge pages
// (VMRECLAIM_MALLOC_HUGEPAGES decides).
void huge_pages() {
  void* p = malloc(8u << 20);
  CHECK(p != nullptr);
  std::memset(p, 3, 8u << 20);
  const SmapsEntry e = smaps_of(p);
  CHECK(e.found);
  std::printf("huge_advised=%d\n", e.huge_advised ? 1 : 0);
  free(p);
}

// Four 1 MiB blocks freed: the cache keeps what VMRECLAIM_MALLOC_CACHE_MAX
// allows (the report says how much, and how many were evicted).
void cache_cap() {
  void* blocks[4];
  for (void*& b : blocks) {
    b = malloc(kLarge);
    CHECK(b != nullptr);
    std::memset(b, 1, kLarge);
  }
  for (void* b : blocks) free(b);
}

// realloc beyond the capacity when mremap cannot move the block: the block's
// mapping is split in two (different madvise flags on each half), and mremap
// refuses a range that spans two mappings; the layer must copy.
void realloc_copy_fallback() {
  auto* p = static_cast<unsigned char*>(malloc(kLarge));
  CHECK(p != nullptr);
  fill(p, kLarge, 5);
  CHECK(madvise(p + kLarge / 2, kLarge / 2, MADV_DONTFORK) == 0);
  auto* q = static_cast<unsigned char*>(realloc(p, 4 * kLarge));
  CHECK(q != nullptr && q != p);
  CHECK(q != nullptr && has_pattern(q, kLarge, 5));
  fill(q, 4 * kLarge, 6);
  free(q);
}

// Large blocks past what the layer's address range can hold (the test runs
// it under an address-space limit): the backend serves them, and every call
// on every block still reaches its owner, data intact. Prints where each
// block lies ("in_window" for the layer's).
void range_fallback() {
  constexpr size_t kBlock = size_t{96} << 20;
  constexpr int kBlocks = 6;
  unsigned char* b[kBlocks];
  int in_window = 0;
  for (int i = 0; i < kBlocks; i++) {
    b[i] = static_cast<unsigned char*>(malloc(kBlock));
    CHECK(b[i] != nullptr);
    in_window += (reinterpret_cast<uintptr_t>(b[i]) >> 45) == 1 ? 1 : 0;
    fill(b[i], kBlock, 40 + i, 4096);
    CHECK(malloc_usable_size(b[i]) >= kBlock);
  }
  std::printf("in_window=%d\n", in_window);
  for (int i = 0; i < 1000; i++) free(malloc(static_cast<size_t>(16 + i)));
  auto* grown = static_cast<unsigned char*>(realloc(b[kBlocks - 1], kBlock + kBlock / 2));
  CHECK(grown != nullptr && has_pattern(grown, kBlock, 40 + kBlocks - 1, 4096));
  b[kBlocks - 1] = grown;
  for (int i = 0; i < kBlocks - 1; i++) CHECK(has_pattern(b[i], kBlock, 40 + i, 4096));
  for (unsigned char* p : b) free(p);
}

// The program allocates its own ring before the layer needs one: the layer
// runs without a ring (its frees unmap) and never enters into the program's.
void own_ring_first() {
  mach_vm_reclaim_ring_t mine = nullptr;
  CHECK(mach_vm_reclaim_ring_allocate(&mine, 64, 128) == VM_RECLAIM_SUCCESS);
  CHECK(vmreclaim_ring_current() == mine);
  for (int i = 0; i < 3; i++) {
    void* p = malloc(kLarge);
    CHECK(p != nullptr);
    std::memset(p, 1, kLarge);
    free(p);
  }
  vmreclaim_ring_stats st{};
  CHECK(mine != nullptr && vmreclaim_ring_get_stats(mine, &st) == VM_RECLAIM_SUCCESS);
  CHECK(st.entered_entries == 0);
  // The program's ring works as usual.
  void* own = mmap(nullptr, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
  bool update = false;
  CHECK(mach_vm_reclaim_try_enter(mine, reinterpret_cast<uintptr_t>(own), 65536, VM_RECLAIM_DEALLOCATE, &id, &update) ==
            VM_RECLAIM_SUCCESS &&
        id != VM_RECLAIM_ID_NULL);
  uint64_t bytes = 0;
  CHECK(vmreclaim_ring_drain(mine, &bytes) == VM_RECLAIM_SUCCESS && bytes == 65536);
}

// The layer got there first: the program's own allocation is refused, one
// ring per process, and the layer's ring keeps working.
void own_ring_after() {
  void* p = malloc(kLarge);
  CHECK(p != nullptr);
  free(p);
  mach_vm_reclaim_ring_t layers = vmreclaim_ring_current();
  CHECK(layers != nullptr);
  mach_vm_reclaim_ring_t mine = nullptr;
  CHECK(mach_vm_reclaim_ring_allocate(&mine, 64, 128) == VM_RECLAIM_RESOURCE_SHORTAGE);
  CHECK(mine == nullptr);
  CHECK(vmreclaim_ring_current() == layers);
  void* q = malloc(kLarge);
  CHECK(q == p);  // reused from the layer's ring
  free(q);
}

// RssAnon of this process in KiB (/proc/self/status), or -1.
long rss_anon_kib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "RssAnon: %ld kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib;
}

uint64_t reclaimed_bytes_total(mach_vm_reclaim_ring_t r) {
  vmreclaim_ring_stats st{};
  if (vmreclaim_ring_get_stats(r, &st) != VM_RECLAIM_SUCCESS) return UINT64_MAX;
  uint64_t sum = 0;
  for (int i = 0; i < VMRECLAIM_CAUSE_COUNT; i++) sum += st.reclaimed_bytes[i];
  return sum;
}

// A program that churned large blocks and went idle: 128 MiB freed into the
// cache beside 8 MiB kept alive, then no allocation at all. Waits (up to
// argv's seconds, polling its own RssAnon) until RssAnon is within 16 MiB
// of what it was before the churn plus the live block. Prints how long that
// took and how many working-set samples the engine made meanwhile.
void idle_give_back(const char* wait_s) {
  const long limit_ms = (wait_s != nullptr ? std::atol(wait_s) : 30) * 1000L;
  const long before = rss_anon_kib();
  constexpr size_t kLive = 8 * kLarge, kBlock = 16 * kLarge;
  void* live = malloc(kLive);
  CHECK(live != nullptr);
  std::memset(live, 1, kLive);
  void* blocks[8];
  for (void*& b : blocks) {
    b = malloc(kBlock);
    CHECK(b != nullptr);
    std::memset(b, 2, kBlock);
  }
  for (void* b : blocks) free(b);
  const long idle_at = rss_anon_kib();
  std::printf("rss_at_idle_kib=%ld\n", idle_at);
  CHECK(idle_at - before >= static_cast<long>((kLive + 8 * kBlock) / 1024) - 1024);  // the cache is resident
  const long target = before + static_cast<long>(kLive / 1024) + 16 * 1024;
  long waited_ms = 0;
  while (rss_anon_kib() > target && waited_ms < limit_ms) {
    usleep(50'000);
    waited_ms += 50;
  }
  const long rss = rss_anon_kib();
  mach_vm_reclaim_ring_t r = vmreclaim_ring_current();
  CHECK(r != nullptr);
  vmreclaim_ring_stats st{};
  CHECK(r != nullptr && vmreclaim_ring_get_stats(r, &st) == VM_RECLAIM_SUCCESS);
  std::printf("given_back=%d waited_ms=%ld rss_kib=%ld target_kib=%ld samples=%llu trimmed_bytes=%llu\n",
              rss <= target ? 1 : 0, waited_ms, rss, target, static_cast<unsigned long long>(st.samples),
              static_cast<unsigned long long>(st.reclaimed_bytes[VMRECLAIM_CAUSE_TRIM]));
  CHECK(static_cast<unsigned char*>(live)[0] == 1 && static_cast<unsigned char*>(live)[kLive - 1] == 1);
  free(live);
}

// A program that keeps using its cache: one 16 MiB block freed and taken
// back every 100 ms for `argv` seconds, every page written each time.
// Prints the bytes the engine reclaimed meanwhile and the minor faults of
// the loop (a cache given back would fault every page again).
void busy_keeps_cache(const char* run_s) {
  const long run_ms = (run_s != nullptr ? std::atol(run_s) : 3) * 1000L;
  constexpr size_t kBlock = 16 * kLarge;
  void* p = malloc(kBlock);
  CHECK(p != nullptr);
  std::memset(p, 3, kBlock);
  free(p);
  mach_vm_reclaim_ring_t r = vmreclaim_ring_current();
  CHECK(r != nullptr);
  const uint64_t reclaimed_before = reclaimed_bytes_total(r);
  const long f0 = thread_minor_faults();
  for (long t = 0; t < run_ms; t += 100) {
    usleep(100'000);
    void* q = malloc(kBlock);
    CHECK(q == p);
    std::memset(q, 4, kBlock);
    free(q);
  }
  std::printf("reclaimed_while_busy=%llu loop_faults=%ld\n",
              static_cast<unsigned long long>(reclaimed_bytes_total(r) - reclaimed_before), thread_minor_faults() - f0);
}

// A program that freed a block and then computes for `argv` seconds (one
// CPU, no allocation) before it takes the block back: not idle, so its
// cache stays. Prints the bytes the engine reclaimed meanwhile and the minor
// faults of writing the block again.
void compute_keeps_cache(const char* run_s) {
  const double run = run_s != nullptr ? std::atof(run_s) : 2;
  constexpr size_t kBlock = 16 * kLarge;
  void* p = malloc(kBlock);
  CHECK(p != nullptr);
  std::memset(p, 5, kBlock);
  free(p);
  mach_vm_reclaim_ring_t r = vmreclaim_ring_current();
  CHECK(r != nullptr);
  const uint64_t reclaimed_before = reclaimed_bytes_total(r);
  timespec start{}, now{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  volatile uint64_t x = 1;
  do {
    for (int i = 0; i < 100000; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while (static_cast<double>(now.tv_sec - start.tv_sec) + static_cast<double>(now.tv_nsec - start.tv_nsec) / 1e9 <
           run);
  const uint64_t reclaimed = reclaimed_bytes_total(r) - reclaimed_before;
  const long f0 = thread_minor_faults();
  void* q = malloc(kBlock);
  CHECK(q == p);
  std::memset(q, 6, kBlock);
  std::printf("reclaimed_while_computing=%llu refill_faults=%ld\n", static_cast<unsigned long long>(reclaimed),
              thread_minor_faults() - f0);
  free(q);
}

}  // namespace

int main(int argc, char** argv) {
  std::string s = argc > 1 ? argv[1] : "";
  if (s == "entry_points") {
    entry_points();
  } else if (s == "mt_churn") {
    mt_churn();
  } else if (s == "fork") {
    fork_during_allocation();
  } else if (s == "realloc_paths") {
    realloc_paths();
  } else if (s == "double_free") {
    double_free();
  } else if (s == "settings") {
    settings();
  } else if (s == "huge_pages") {
    huge_pages();
  } else if (s == "cache_cap") {
    cache_cap();
  } else if (s == "realloc_copy_fallback") {
    realloc_copy_fallback();
  } else if (s == "range_fallback") {
    range_fallback();
  } else if (s == "own_ring_first") {
    own_ring_first();
  } else if (s == "own_ring_after") {
    own_ring_after();
  } else if (s == "calloc_after_drain") {
    calloc_after_drain();
  } else if (s == "idle_give_back") {
    idle_give_back(argc > 2 ? argv[2] : nullptr);
  } else if (s == "compute_keeps_cache") {
    compute_keeps_cache(argc > 2 ? argv[2] : nullptr);
  } else if (s == "busy_keeps_cache") {
    busy_keeps_cache(argc > 2 ? argv[2] : nullptr);
  } else if (s == "misuse" && argc > 2) {
    misuse(argv[2]);
  } else {
    std::fprintf(stderr, "unknown scenario '%s'\n", s.c_str());
    return 2;
  }
  std::puts(g_failures == 0 ? "ok" : "FAILED");
  return g_failures == 0 ? 0 : 1;
}
