// The user side's hot paths (issue 2, item 10): the cancel + re-enter-by-ID
// pair an allocator does when it reuses a region that never left the ring,
// against the minimal code for the same protocol; fresh enter + cancel;
// query_state; update_kernel_accounting with nothing due and with a sample
// due; and the two clocks the deadline check could use.
//
// Target: the pair costs at most 2x the baseline. The summary printed after
// the table gives the ratios (CPU time, medians when --benchmark_repetitions
// is given).
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "bench_support.h"
#include "ring/protocol.h"
#include "vmreclaim/ring.hpp"

namespace {

using vmreclaim::bench::Mapping;
using vmreclaim::bench::page_size;
using vmreclaim::bench::ScopedRing;
using vmreclaim::bench::seconds_per_item;

constexpr auto kFree = static_cast<mach_vm_reclaim_action_t>(VM_RECLAIM_FREE);

// Enters one page-sized FREE region; its ID, or VM_RECLAIM_ID_NULL.
mach_vm_reclaim_id_t enter_one(mach_vm_reclaim_ring_t r, const Mapping& region) {
  mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
  bool update = false;
  if (mach_vm_reclaim_try_enter(r, region.addr(), page_size(), kFree, &id, &update) != VM_RECLAIM_SUCCESS) {
    return VM_RECLAIM_ID_NULL;
  }
  return id;
}

// ---- cancel + re-enter by ID: the reuse of a region that stays in the ring ----

void BM_CancelReenterPair(benchmark::State& state) {
  Mapping region(page_size());
  ScopedRing ring(state, 256);
  if (!ring) return;
  mach_vm_reclaim_ring_t r = ring.get();
  const uint64_t addr = region.addr(), size = page_size();
  mach_vm_reclaim_id_t id = enter_one(r, region);
  if (id == VM_RECLAIM_ID_NULL) return state.SkipWithError("first enter failed");
  uint64_t failures = 0;
  bool update = false;
  for (auto _ : state) {
    mach_vm_reclaim_state_t st = VM_RECLAIM_BUSY;
    failures += mach_vm_reclaim_try_cancel(r, id, addr, size, kFree, &st, &update) != VM_RECLAIM_SUCCESS;
    failures += st != VM_RECLAIM_UNRECLAIMED;
    failures += mach_vm_reclaim_try_enter(r, addr, size, kFree, &id, &update) != VM_RECLAIM_SUCCESS;
    failures += id == VM_RECLAIM_ID_NULL;
  }
  if (failures != 0) state.SkipWithError("a cancel or re-enter did not succeed");
}
BENCHMARK(BM_CancelReenterPair);

// The same pair through the C++ API (Result<> wrappers over the C API).
void BM_CancelReenterPair_Cxx(benchmark::State& state) {
  Mapping region(page_size());
  ScopedRing ring(state, 256);
  if (!ring) return;
  // Borrow the ring: ScopedRing destroys it.
  vmreclaim::Ring handle(ring.get());
  const size_t size = page_size();
  auto first = handle.try_enter(region.data(), size, vmreclaim::Action::free);
  if (!first || !first->entered()) {
    handle.release();
    return state.SkipWithError("first enter failed");
  }
  vmreclaim::Id id = first->id;
  uint64_t failures = 0;
  for (auto _ : state) {
    auto c = handle.try_cancel(id, region.data(), size, vmreclaim::Action::free);
    failures += !c || c->state != vmreclaim::State::unreclaimed;
    auto e = handle.try_enter(region.data(), size, vmreclaim::Action::free, id);
    failures += !e || !e->entered();
  }
  handle.release();
  if (failures != 0) state.SkipWithError("a cancel or re-enter did not succeed");
}
BENCHMARK(BM_CancelReenterPair_Cxx);

// The ring protocol alone (src/ring), without the C API's argument checks,
// ring lookup and statistics: shows where the pair's time goes.
void BM_CancelReenterPair_ProtocolOnly(benchmark::State& state) {
  Mapping region(page_size());
  ScopedRing ring(state, 256);
  if (!ring) return;
  mach_vm_reclaim_ring_t r = ring.get();
  const uint64_t addr = region.addr();
  const auto size = static_cast<uint32_t>(page_size());
  mach_vm_reclaim_id_t id = enter_one(r, region);
  if (id == VM_RECLAIM_ID_NULL) return state.SkipWithError("first enter failed");
  uint64_t failures = 0;
  bool update = false;
  for (auto _ : state) {
    mach_vm_reclaim_state_t st = VM_RECLAIM_BUSY;
    failures += vmreclaim::ring::cancel(r, id, addr, size, kFree, &st, &update) != VM_RECLAIM_SUCCESS;
    failures += st != VM_RECLAIM_UNRECLAIMED;
    failures += vmreclaim::ring::reenter(r, &id, addr, size, kFree, &update) != VM_RECLAIM_SUCCESS;
    failures += id == VM_RECLAIM_ID_NULL;
  }
  if (failures != 0) state.SkipWithError("a cancel or re-enter did not succeed");
}
BENCHMARK(BM_CancelReenterPair_ProtocolOnly);

// "The minimal code for the same protocol" (issue 2's target): per operation
// exactly two full fences and the two relaxed updates of the accounting (the
// byte counter and the minimum), on a fake ring header laid out like the real one.
alignas(4096) unsigned char g_fake_ring[4096];

inline void lower_min(std::atomic_ref<uint64_t> min, uint64_t bytes) {
  uint64_t cur = min.load(std::memory_order_relaxed);
  while (bytes < cur && !min.compare_exchange_weak(cur, bytes, std::memory_order_relaxed)) {
  }
}

inline void baseline_op(mach_vm_reclaim_ring_s* h, uint64_t size, bool cancel) {
  std::atomic_ref<uint64_t> bytes(h->reclaimable_bytes);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  uint64_t now = cancel ? bytes.fetch_sub(size, std::memory_order_relaxed) - size
                        : bytes.fetch_add(size, std::memory_order_relaxed) + size;
  lower_min(std::atomic_ref<uint64_t>(h->reclaimable_bytes_min), now);
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

void BM_MinimalProtocolBaseline(benchmark::State& state) {
  auto* h = reinterpret_cast<mach_vm_reclaim_ring_s*>(g_fake_ring);
  const uint64_t size = page_size();
  std::atomic_ref<uint64_t>(h->reclaimable_bytes).store(size);
  std::atomic_ref<uint64_t>(h->reclaimable_bytes_min).store(size);
  for (auto _ : state) {
    baseline_op(h, size, true);   // cancel
    baseline_op(h, size, false);  // re-enter
  }
  benchmark::DoNotOptimize(h->reclaimable_bytes);
}
BENCHMARK(BM_MinimalProtocolBaseline);

// ---- fresh enter + cancel: a new ID each time ----
// Cancelled slots stay between head and tail until the engine passes them,
// so the ring would fill: after each batch the ring is flushed with the
// timer paused (the flush only skips zeroed slots: no system call).
void BM_FreshEnterCancel(benchmark::State& state) {
  constexpr uint32_t kBatch = 4096;
  Mapping region(page_size());
  ScopedRing ring(state, kBatch);
  if (!ring) return;
  mach_vm_reclaim_ring_t r = ring.get();
  const uint64_t addr = region.addr(), size = page_size();
  uint64_t failures = 0;
  bool update = false;
  for (auto _ : state) {
    for (uint32_t i = 0; i < kBatch; i++) {
      mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
      mach_vm_reclaim_state_t st = VM_RECLAIM_BUSY;
      failures += mach_vm_reclaim_try_enter(r, addr, size, kFree, &id, &update) != VM_RECLAIM_SUCCESS;
      failures += mach_vm_reclaim_try_cancel(r, id, addr, size, kFree, &st, &update) != VM_RECLAIM_SUCCESS;
      failures += st != VM_RECLAIM_UNRECLAIMED;
    }
    state.PauseTiming();
    failures += mach_vm_reclaim_ring_flush(r, kBatch) != VM_RECLAIM_SUCCESS;
    state.ResumeTiming();
  }
  if (failures != 0) state.SkipWithError("an enter, cancel or flush did not succeed");
  state.counters["per_pair"] = seconds_per_item(kBatch);
}
BENCHMARK(BM_FreshEnterCancel);

// ---- query_state ----
// arg 0: a live entry (UNRECLAIMED); arg 1: an ID below head (FREED).
void BM_QueryState(benchmark::State& state) {
  const bool reclaimed = state.range(0) == 1;
  Mapping region(page_size());
  ScopedRing ring(state, 256);
  if (!ring) return;
  mach_vm_reclaim_ring_t r = ring.get();
  mach_vm_reclaim_id_t id = enter_one(r, region);
  if (id == VM_RECLAIM_ID_NULL) return state.SkipWithError("enter failed");
  if (reclaimed && mach_vm_reclaim_ring_flush(r, 1) != VM_RECLAIM_SUCCESS) return state.SkipWithError("flush failed");
  const mach_vm_reclaim_state_t want = reclaimed ? VM_RECLAIM_FREED : VM_RECLAIM_UNRECLAIMED;
  uint64_t failures = 0;
  for (auto _ : state) {
    mach_vm_reclaim_state_t st = VM_RECLAIM_BUSY;
    failures += mach_vm_reclaim_query_state(r, id, kFree, &st) != VM_RECLAIM_SUCCESS;
    failures += st != want;
  }
  if (failures != 0) state.SkipWithError("query did not give the expected state");
  state.SetLabel(reclaimed ? "reclaimed ID" : "live entry");
}
BENCHMARK(BM_QueryState)->Arg(0)->Arg(1);

// ---- update_kernel_accounting ----

uint64_t samples_of(mach_vm_reclaim_ring_t r) {
  vmreclaim_ring_stats s{};
  return vmreclaim_ring_get_stats(r, &s) == VM_RECLAIM_SUCCESS ? s.samples : 0;
}

// Nothing due: the deadline (10 s away at the default period) has not passed.
void BM_UpdateAccounting_NothingDue(benchmark::State& state) {
  Mapping region(page_size());
  ScopedRing ring(state, 256);
  if (!ring) return;
  mach_vm_reclaim_ring_t r = ring.get();
  if (enter_one(r, region) == VM_RECLAIM_ID_NULL) return state.SkipWithError("enter failed");
  const uint64_t before = samples_of(r);
  uint64_t failures = 0;
  for (auto _ : state) failures += mach_vm_reclaim_update_kernel_accounting(r) != VM_RECLAIM_SUCCESS;
  if (failures != 0) state.SkipWithError("update_kernel_accounting failed");
  state.counters["samples"] = static_cast<double>(samples_of(r) - before);
}
BENCHMARK(BM_UpdateAccounting_NothingDue);

// A sample due on every call: the benchmark moves the ring's deadline into the
// past (a plain store to the shared header, as the engine would find it once
// the period elapsed). The ring is empty, so the sample never trims: this is
// the cost of sampling itself (clock, footprint read from /proc/self/status,
// WMA update, deadline republished).
void BM_UpdateAccounting_SampleDue(benchmark::State& state) {
  ScopedRing ring(state, 256);
  if (!ring) return;
  mach_vm_reclaim_ring_t r = ring.get();
  std::atomic_ref<uint64_t> deadline(r->next_sample_deadline_abs);
  const uint64_t before = samples_of(r);
  uint64_t failures = 0;
  for (auto _ : state) {
    deadline.store(0, std::memory_order_relaxed);
    failures += mach_vm_reclaim_update_kernel_accounting(r) != VM_RECLAIM_SUCCESS;
  }
  const uint64_t samples = samples_of(r) - before;
  if (failures != 0) state.SkipWithError("update_kernel_accounting failed");
  if (samples != static_cast<uint64_t>(state.iterations())) state.SkipWithError("not every call sampled");
  state.counters["samples"] = static_cast<double>(samples);
}
BENCHMARK(BM_UpdateAccounting_SampleDue);

// ---- the clocks the deadline check could read ----
// arg: the clock id. The enter/cancel path reads CLOCK_MONOTONIC_COARSE.
void BM_Clock(benchmark::State& state) {
  const auto id = static_cast<clockid_t>(state.range(0));
  for (auto _ : state) {
    timespec ts{};
    clock_gettime(id, &ts);
    benchmark::DoNotOptimize(ts);
  }
  state.SetLabel(id == CLOCK_MONOTONIC_COARSE ? "CLOCK_MONOTONIC_COARSE" : "CLOCK_MONOTONIC");
}
BENCHMARK(BM_Clock)->Arg(CLOCK_MONOTONIC_COARSE)->Arg(CLOCK_MONOTONIC);

// ---- the summary: pair / baseline ----

// Prints the table like the default console reporter, then the ratios of
// the pair benchmarks to the baseline (CPU time per iteration: less affected
// than wall time by other processes on a shared machine). With repetitions
// the medians are used.
class RatioReporter final : public benchmark::ConsoleReporter {
 public:
  using ConsoleReporter::ConsoleReporter;

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type == Run::RT_Aggregate && !median) continue;
      Seen& s = seen_[run.run_name.function_name];
      if (median || !s.median) s = {run.GetAdjustedCPUTime(), median};
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    auto base = seen_.find("BM_MinimalProtocolBaseline");
    if (base == seen_.end() || base->second.cpu_ns <= 0) return;
    std::FILE* out = stdout;
    std::fflush(out);
    std::fprintf(out, "\nSummary (CPU time per pair, %s):\n", base->second.median ? "medians" : "single runs");
    std::fprintf(out, "  minimal protocol baseline          %8.2f ns\n", base->second.cpu_ns);
    for (const char* name : {"BM_CancelReenterPair", "BM_CancelReenterPair_Cxx", "BM_CancelReenterPair_ProtocolOnly"}) {
      auto it = seen_.find(name);
      if (it == seen_.end()) continue;
      const double ratio = it->second.cpu_ns / base->second.cpu_ns;
      std::fprintf(out, "  %-34s %8.2f ns  = %.2fx baseline  (target <= 2x: %s)\n", name, it->second.cpu_ns, ratio,
                   ratio <= 2.0 ? "met" : "NOT met");
    }
  }

 private:
  struct Seen {
    double cpu_ns = 0;  // in the run's time unit (ns here)
    bool median = false;
  };
  std::map<std::string, Seen> seen_;
};

}  // namespace

int main(int argc, char** argv) {
  vmreclaim::bench::quiet_library_environment();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter(isatty(STDOUT_FILENO) != 0 ? benchmark::ConsoleReporter::OO_Color
                                                    : benchmark::ConsoleReporter::OO_None);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
