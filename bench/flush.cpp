// Flushing one-page FREE entries against a plain loop of
// madvise(MADV_DONTNEED) on the same pages (issue 2's second target: the
// flush must cost less per entry). The engine hands a chunk of up to 16
// FREE entries to one process_madvise() on the process itself; the loop
// pays one madvise() per page.
//
// Every iteration first touches the pages with the timer paused, so both
// sides release real, resident pages; after the loop the benchmark checks
// (mincore) that the pages really were released.
//
// arg: entries (pages) per batch: 16 is one engine chunk, larger batches
// are several chunks. Regions are one page with a page gap between them,
// like scattered frees (no two ranges can be merged).
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <vector>

#include "bench_support.h"

namespace {

using vmreclaim::bench::Mapping;
using vmreclaim::bench::page_size;
using vmreclaim::bench::resident_pages;
using vmreclaim::bench::ScopedRing;
using vmreclaim::bench::seconds_per_item;
using vmreclaim::bench::touch_pages;

constexpr auto kFree = static_cast<mach_vm_reclaim_action_t>(VM_RECLAIM_FREE);

size_t stride() { return 2 * page_size(); }

uint64_t engine_syscalls(mach_vm_reclaim_ring_t r) {
  vmreclaim_ring_stats s{};
  return vmreclaim_ring_get_stats(r, &s) == VM_RECLAIM_SUCCESS ? s.syscalls : 0;
}

void check_released(benchmark::State& state, const Mapping& mem, size_t n) {
  if (size_t left = resident_pages(mem.data(), n, stride()); left != 0) {
    state.SkipWithError(("pages still resident after the last iteration: " + std::to_string(left)).c_str());
  }
}

void BM_FlushFreePages(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  Mapping mem(n * stride());
  ScopedRing ring(state, static_cast<mach_vm_reclaim_count_t>(n));
  if (!ring) return;
  if (!mem) return state.SkipWithError("mmap failed");
  mach_vm_reclaim_ring_t r = ring.get();
  const uint64_t syscalls_before = engine_syscalls(r);
  uint64_t failures = 0;
  bool update = false;
  for (auto _ : state) {
    state.PauseTiming();
    touch_pages(mem.data(), mem.size(), stride());
    for (size_t i = 0; i < n; i++) {
      mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
      failures +=
          mach_vm_reclaim_try_enter(r, mem.addr(i * stride()), page_size(), kFree, &id, &update) != VM_RECLAIM_SUCCESS;
      failures += id == VM_RECLAIM_ID_NULL;
    }
    state.ResumeTiming();
    failures += mach_vm_reclaim_ring_flush(r, static_cast<mach_vm_reclaim_count_t>(n)) != VM_RECLAIM_SUCCESS;
  }
  if (failures != 0) return state.SkipWithError("an enter or flush failed");
  check_released(state, mem, n);
  const double entries = static_cast<double>(state.iterations()) * static_cast<double>(n);
  state.counters["per_entry"] = seconds_per_item(static_cast<double>(n));
  state.counters["syscalls_per_entry"] = static_cast<double>(engine_syscalls(r) - syscalls_before) / entries;
}
BENCHMARK(BM_FlushFreePages)->Arg(16)->Arg(64)->Arg(256)->Arg(1024);

void BM_MadviseDontneedLoop(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  Mapping mem(n * stride());
  if (!mem) return state.SkipWithError("mmap failed");
  uint64_t failures = 0;
  for (auto _ : state) {
    state.PauseTiming();
    touch_pages(mem.data(), mem.size(), stride());
    state.ResumeTiming();
    for (size_t i = 0; i < n; i++) {
      failures += ::madvise(mem.data() + i * stride(), page_size(), MADV_DONTNEED) != 0;
    }
  }
  if (failures != 0) return state.SkipWithError("madvise failed");
  check_released(state, mem, n);
  state.counters["per_entry"] = seconds_per_item(static_cast<double>(n));
}
BENCHMARK(BM_MadviseDontneedLoop)->Arg(16)->Arg(64)->Arg(256)->Arg(1024);

// For attribution only: the bare batched system call the engine issues (16
// ranges per process_madvise on PIDFD_SELF), without the ring around it.
// The difference to BM_FlushFreePages is the engine's own work per entry.
void BM_RawProcessMadvise16(benchmark::State& state) {
  constexpr int kPidfdSelf = -10001;  // PIDFD_SELF_THREAD_GROUP (Linux >= 6.14)
  constexpr size_t kChunk = 16;
  const auto n = static_cast<size_t>(state.range(0));
  Mapping mem(n * stride());
  if (!mem) return state.SkipWithError("mmap failed");
  std::vector<iovec> iov(n);
  for (size_t i = 0; i < n; i++) iov[i] = {mem.data() + i * stride(), page_size()};
  uint64_t failures = 0;
  for (auto _ : state) {
    state.PauseTiming();
    touch_pages(mem.data(), mem.size(), stride());
    state.ResumeTiming();
    for (size_t i = 0; i < n; i += kChunk) {
      const size_t cnt = n - i < kChunk ? n - i : kChunk;
      failures += ::syscall(SYS_process_madvise, kPidfdSelf, &iov[i], cnt, MADV_DONTNEED, 0u) < 0;
    }
  }
  if (failures != 0) return state.SkipWithError("process_madvise on PIDFD_SELF failed (kernel < 6.14?)");
  check_released(state, mem, n);
  state.counters["per_entry"] = seconds_per_item(static_cast<double>(n));
}
BENCHMARK(BM_RawProcessMadvise16)->Arg(16)->Arg(64)->Arg(256)->Arg(1024);

}  // namespace

VMRECLAIM_BENCHMARK_MAIN()
