// What the layer's small path costs per call, measured inside one process
// (docs/benchmarks.md, "The shim's own cost"): the same malloc/free pattern
// through the program's `malloc`/`free` (the PLT, then whatever defines them:
// the layer's shims when it is preloaded) and straight into the backend's
// functions (taken with dlsym on the backend's handle: one indirect call, as
// the program's PLT makes when that allocator is preloaded alone). Both
// variants run interleaved, so the machine's noise hits both alike.
//
//   LD_PRELOAD=libvmreclaim-malloc.so bench_alloc_shim_cost
//       --benchmark_repetitions=9 --benchmark_enable_random_interleaving=true
//
// BACKEND_SO names the backend's library (default libmimalloc.so.2): loaded
// already (the layer's backend, or preloaded), the two variants share its
// heap; else it is loaded here on its own, which is how the default build's
// built-in mimalloc is compared with mimalloc alone (BACKEND_SO=the path of
// a libmimalloc.so.2; two copies, two heaps). Other backends:
// VMRECLAIM_MALLOC_BACKEND=glibc with BACKEND_SO=libc.so.6, or tcmalloc. This
// measure moves with the two copies' code and heap placement by several per
// cent; glibc-thread in alternating rounds is the figure of record
// (docs/benchmarks.md, "mimalloc built in"). The pattern is glibc-thread's
// (mimalloc-bench): 1024 slots, a random slot freed and
// refilled with a size from an inverse-square distribution over 4 B–32 KiB,
// one byte written; or one fixed size.
#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

using MallocFn = void* (*)(size_t);
using FreeFn = void (*)(void*);

struct Backend {
  MallocFn malloc = nullptr;
  FreeFn free = nullptr;
};

const Backend& direct() {
  static const Backend b = [] {
    const char* so = std::getenv("BACKEND_SO");
    if (so == nullptr || *so == '\0') so = "libmimalloc.so.2";
    Backend r;
    // Loaded already (the layer's backend, or preloaded), or else loaded
    // here on its own: RTLD_LOCAL keeps its malloc out of the program's
    // scope, so a second copy of an allocator (mimalloc alone beside the
    // layer's built-in one) is reached only through these pointers.
    void* h = ::dlopen(so, RTLD_NOW | RTLD_NOLOAD);
    if (h == nullptr) h = ::dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (h != nullptr) {
      r.malloc = reinterpret_cast<MallocFn>(::dlsym(h, "malloc"));
      r.free = reinterpret_cast<FreeFn>(::dlsym(h, "free"));
    }
    return r;
  }();
  return b;
}

// Calls through the program's own `malloc`/`free`: the shims when the layer
// is preloaded. noinline wrappers would add a call of their own, so the
// pointers are taken from the global scope (the same PLT target).
const Backend& program() {
  static const Backend b = [] {
    Backend r;
    r.malloc = reinterpret_cast<MallocFn>(::dlsym(RTLD_DEFAULT, "malloc"));
    r.free = reinterpret_cast<FreeFn>(::dlsym(RTLD_DEFAULT, "free"));
    return r;
  }();
  return b;
}

constexpr size_t kSlots = 1024;
constexpr size_t kSizes = 8000;
constexpr size_t kOffsets = 4 * kSlots;

struct Pattern {
  std::vector<unsigned> sizes, offsets;
  explicit Pattern(unsigned fixed) : sizes(kSizes), offsets(kOffsets) {
    std::mt19937 rng(88);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    // Inverse square over [4, 32768]: the inverse of the CDF.
    const float lo = 1.0f / 4, hi = 1.0f / 32768;
    for (auto& s : sizes) s = fixed != 0 ? fixed : static_cast<unsigned>(1.0f / ((hi - lo) * u(rng) + lo));
    for (auto& o : offsets) o = static_cast<unsigned>(rng() % kSlots);
  }
};

void run(benchmark::State& state, const Backend& b) {
  if (b.malloc == nullptr || b.free == nullptr) {
    state.SkipWithError("backend not loaded (set BACKEND_SO, run under the layer or preload it)");
    return;
  }
  const Pattern pattern(static_cast<unsigned>(state.range(0)));
  std::vector<void*> slots(kSlots, nullptr);
  size_t si = 0, oi = 0;
  for (auto _ : state) {
    unsigned o = pattern.offsets[oi];
    oi = oi + 1 == kOffsets ? 0 : oi + 1;
    unsigned s = pattern.sizes[si];
    si = si + 1 == kSizes ? 0 : si + 1;
    b.free(slots[o]);
    void* p = b.malloc(s);
    *static_cast<volatile char*>(p) = 1;
    slots[o] = p;
  }
  for (void* p : slots) b.free(p);
  state.SetItemsProcessed(state.iterations());
}

// A free and a malloc per iteration; range(0): a fixed size, or 0 for the
// random sizes.
void BM_Program(benchmark::State& state) { run(state, program()); }
void BM_Direct(benchmark::State& state) { run(state, direct()); }
BENCHMARK(BM_Program)->Arg(0)->Arg(32);
BENCHMARK(BM_Direct)->Arg(0)->Arg(32);

}  // namespace

BENCHMARK_MAIN();
