// One measured run of the demo's workload with one way of freeing, in a
// forked child so that every run starts from the same clean RssAnon and the
// ring run has the process's one ring to itself.
#pragma once

#include <vmreclaim/vmreclaim.h>

#include <cstdint>
#include <optional>
#include <string>

#include "demo_allocators.h"
#include "demo_workload.h"

namespace vmreclaim::tools::demo {

enum class Mode : uint8_t { munmap, madvise, ring };
const char* mode_name(Mode mode) noexcept;
std::optional<Mode> mode_from_name(const std::string& name) noexcept;

struct RunConfig {
  WorkloadConfig workload;
  double max_seconds = 0;  // stop the churn after this long (0: no limit)
  bool progress = true;
  // The engine's sampling period for the ring run, set through
  // VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS in its process; 0 leaves the
  // environment as it is.
  uint64_t ring_sampling_period_ns = 0;
};

// Plain data: the child hands it to the parent through a pipe.
struct ModeResult {
  Mode mode = Mode::munmap;
  bool ok = false;
  char error[240] = {};

  uint64_t ops = 0;
  bool stopped_early = false;
  uint64_t allocations = 0;
  uint64_t allocated_bytes = 0;
  uint64_t peak_live_bytes = 0;
  double seconds = 0;  // the churn, sampling left out
  uint64_t minor_faults = 0;
  uint64_t own_syscalls = 0;     // mmap/munmap/madvise the mode called itself
  uint64_t engine_syscalls = 0;  // issued by the reclaim engine
  uint64_t rss_baseline = 0, rss_peak = 0, rss_final = 0;

  // The ring run only.
  bool has_ring = false;
  uint64_t ring_held_bytes = 0;  // reclaimable bytes in the ring when the churn ended
  double idle_seconds = 0;       // then the program sat idle this long...
  uint64_t ring_held_after_idle = 0, rss_after_idle = 0;
  uint64_t rss_after_drain = 0;  // ... and then drained the ring
  uint64_t drained_bytes = 0;
  uint64_t samples = 0, trims = 0;
  uint64_t reclaimed_bytes[VMRECLAIM_CAUSE_COUNT] = {};
  uint64_t reclaimed_entries[VMRECLAIM_CAUSE_COUNT] = {};
  RingAllocatorCounters counters;

  uint64_t syscalls() const noexcept { return own_syscalls + engine_syscalls; }
  double ops_per_second() const noexcept { return seconds > 0 ? static_cast<double>(ops) / seconds : 0; }
  uint64_t engine_reclaimed_bytes() const noexcept {
    uint64_t sum = 0;
    for (uint64_t b : reclaimed_bytes) sum += b;
    return sum;
  }
};

// Runs `mode` in a forked child and returns what it measured; ok == false
// with `error` set if the run failed or the child died.
ModeResult run_mode_in_child(Mode mode, const RunConfig& config);

}  // namespace vmreclaim::tools::demo
