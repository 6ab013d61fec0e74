// What the engine asks of the policy above it, defined here so that the
// engine depends on nothing above it (docs/architecture.md, "Layers"). The
// engine reports what it reads off the ring; the governor decides how much
// to trim and when to look again, and what the limits require. The engine
// acts on the answer (trims, publishes the deadline and the ceiling).
// policy::Governor is the implementation; tests may pass their own.
#pragma once

#include <cstdint>

namespace vmreclaim::engine {

// What the engine read at a sample.
struct SampleReading {
  uint64_t now_ns = 0;
  uint64_t min_bytes = 0;         // the ring's reclaimable_bytes_min over the period just ended
  uint64_t cur_bytes = 0;         // the ring's reclaimable_bytes
  uint64_t unreported_bytes = 0;  // reclaimed by the engine, not yet told to the ring
  uint64_t page_size = 4096;
};

// The governor's answer to a sample.
struct SampleDecision {
  uint64_t trim_bytes = 0;          // 0: leave the ring alone
  uint64_t period_ns = 0;           // until the next sample is due (0: at every accounting call)
  bool accounting_failure = false;  // the engine freed more than the ring says it holds
  // For statistics, probes and the debug log.
  uint64_t min_bytes = 0;  // corrected for unreported reclaims
  uint64_t cur_bytes = 0;
  uint64_t wma = 0;  // working-set average, fixed point (the reclaim_sample probe's unit)
  uint64_t wma_bytes = 0;
  uint64_t autotrim_threshold = 0;
  uint64_t footprint_max = 0;
};

// The answer to a limit check.
struct LimitVerdict {
  uint64_t reclaim_bytes = 0;     // reclaim at least this much now
  uint64_t ceiling = UINT64_MAX;  // ring bytes at which the user side asks for a check again
  bool unreachable = false;       // even an empty ring leaves usage above the limit
};

class Governor {
 public:
  // The sampling period now (it follows the pressure level).
  virtual uint64_t period_ns() noexcept = 0;
  // A sampling window starts at `now_ns` (the engine was made).
  virtual void start(uint64_t now_ns) noexcept = 0;
  // One sample. Called with the engine's lock held.
  virtual SampleDecision sample(const SampleReading& reading) noexcept = 0;
  // The limits against what the ring holds now; false if no limit is
  // watched at all (the ring then carries no ceiling). Called with the
  // engine's lock held.
  virtual bool check_limits(uint64_t ring_bytes, LimitVerdict* out) noexcept = 0;
  // When the last sample was taken (the engine's lock held).
  virtual uint64_t last_sample_ns() noexcept = 0;

 protected:
  ~Governor() = default;
};

}  // namespace vmreclaim::engine
