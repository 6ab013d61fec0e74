// The three ways an allocator can free 1 MiB and use it again (docs/design.md §1
// and the README quote ~400 us, ~25 us and ~15 ns):
//   munmap + mmap + touch      give the range back, map a new one, fault it in
//   madvise + touch            keep the mapping, drop the pages, fault them in
//                              (MADV_DONTNEED; MADV_FREE for comparison)
//   cancel + re-enter by ID    the region stays in the ring and comes back
//                              untouched: no system call, no fault
// "touch" writes one byte per page. The last row adds that touch to the ring
// path, so it compares like for like with the first two (the pages are
// resident: no faults, only the stores).
#include <sys/mman.h>
#include <sys/resource.h>

#include "bench_support.h"

namespace {

using vmreclaim::bench::Mapping;
using vmreclaim::bench::page_size;
using vmreclaim::bench::ScopedRing;
using vmreclaim::bench::touch_pages;

constexpr size_t kRegion = 1 << 20;
constexpr auto kFree = static_cast<mach_vm_reclaim_action_t>(VM_RECLAIM_FREE);

long minor_faults() {
  rusage ru{};
  return ::getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

// Minor faults per iteration over the benchmark's loop.
class FaultCounter {
 public:
  explicit FaultCounter(benchmark::State& state) : state_(state), start_(minor_faults()) {}
  ~FaultCounter() {
    if (state_.iterations() == 0) return;
    state_.counters["faults"] = static_cast<double>(minor_faults() - start_) / static_cast<double>(state_.iterations());
  }
  FaultCounter(const FaultCounter&) = delete;
  FaultCounter& operator=(const FaultCounter&) = delete;

 private:
  benchmark::State& state_;
  long start_;
};

void BM_MunmapMmapTouch_1MiB(benchmark::State& state) {
  void* p = ::mmap(nullptr, kRegion, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return state.SkipWithError("mmap failed");
  touch_pages(static_cast<char*>(p), kRegion, page_size());
  uint64_t failures = 0;
  {
    FaultCounter faults(state);
    for (auto _ : state) {
      failures += ::munmap(p, kRegion) != 0;
      p = ::mmap(nullptr, kRegion, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) {
        state.SkipWithError("mmap failed");
        return;
      }
      touch_pages(static_cast<char*>(p), kRegion, page_size());
    }
  }
  ::munmap(p, kRegion);
  if (failures != 0) state.SkipWithError("munmap failed");
}
BENCHMARK(BM_MunmapMmapTouch_1MiB);

// arg: the advice (MADV_DONTNEED or MADV_FREE).
void BM_MadviseTouch_1MiB(benchmark::State& state) {
  const int advice = static_cast<int>(state.range(0));
  Mapping mem(kRegion);
  if (!mem) return state.SkipWithError("mmap failed");
  touch_pages(mem.data(), kRegion, page_size());
  uint64_t failures = 0;
  {
    FaultCounter faults(state);
    for (auto _ : state) {
      failures += ::madvise(mem.data(), kRegion, advice) != 0;
      touch_pages(mem.data(), kRegion, page_size());
    }
  }
  if (failures != 0) state.SkipWithError("madvise failed");
  state.SetLabel(advice == MADV_FREE ? "MADV_FREE" : "MADV_DONTNEED");
}
BENCHMARK(BM_MadviseTouch_1MiB)->Arg(MADV_DONTNEED)->Arg(MADV_FREE);

// arg 1: touch every page after taking the region back.
void BM_RingCancelReenter_1MiB(benchmark::State& state) {
  const bool touch = state.range(0) == 1;
  Mapping mem(kRegion);
  ScopedRing ring(state, 256);
  if (!ring) return;
  if (!mem) return state.SkipWithError("mmap failed");
  touch_pages(mem.data(), kRegion, page_size());
  mach_vm_reclaim_ring_t r = ring.get();
  mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
  bool update = false;
  if (mach_vm_reclaim_try_enter(r, mem.addr(), kRegion, kFree, &id, &update) != VM_RECLAIM_SUCCESS ||
      id == VM_RECLAIM_ID_NULL) {
    return state.SkipWithError("enter failed");
  }
  uint64_t failures = 0;
  {
    FaultCounter faults(state);
    for (auto _ : state) {
      mach_vm_reclaim_state_t st = VM_RECLAIM_BUSY;
      failures += mach_vm_reclaim_try_cancel(r, id, mem.addr(), kRegion, kFree, &st, &update) != VM_RECLAIM_SUCCESS;
      failures += st != VM_RECLAIM_UNRECLAIMED;
      if (touch) touch_pages(mem.data(), kRegion, page_size());
      failures += mach_vm_reclaim_try_enter(r, mem.addr(), kRegion, kFree, &id, &update) != VM_RECLAIM_SUCCESS;
      failures += id == VM_RECLAIM_ID_NULL;
    }
  }
  if (failures != 0) state.SkipWithError("a cancel or re-enter did not succeed");
  state.SetLabel(touch ? "with touch" : "no touch");
}
BENCHMARK(BM_RingCancelReenter_1MiB)->Arg(0)->Arg(1);

}  // namespace

VMRECLAIM_BENCHMARK_MAIN()
