// Working-set estimation (docs/design.md §6): a weighted moving average of the
// least the ring held during each sampling period. What stayed in the ring
// through a whole period was not needed in it; once that is both at least a
// page and at least the autotrim threshold, the engine trims it. Pure logic:
// the engine feeds it readings, tests feed it numbers and a clock.
#pragma once

#include <cstdint>

#include "policy/tunables.h"

namespace vmreclaim::policy {

// Fixed-point unit of the average: 1/256 byte.
inline constexpr uint64_t kWmaUnit = 256;

struct SamplerState {
  uint64_t wma = 0;  // in kWmaUnit
  uint64_t last_sample_ns = 0;
};

struct SampleInput {
  uint64_t now_ns = 0;
  uint64_t period_ns = 0;
  uint64_t min_bytes = 0;         // ring's reclaimable_bytes_min
  uint64_t cur_bytes = 0;         // ring's reclaimable_bytes
  uint64_t unreported_bytes = 0;  // reclaimed by the engine, not yet told to the client
  uint64_t footprint_max = 0;     // lifetime maximum footprint
  uint32_t autotrim_pct = 0;
  uint64_t page_size = 4096;
};

struct SampleResult {
  uint64_t trim_bytes = 0;  // 0: leave the ring alone
  uint64_t min_bytes = 0;   // corrected for unreported reclaims
  uint64_t cur_bytes = 0;   // corrected for unreported reclaims
  uint64_t autotrim_threshold = 0;
  uint64_t periods_elapsed = 0;
  bool abandoned = false;
  bool accounting_failure = false;  // the engine freed more than the ring says it holds
};

SampleResult sample_working_set(SamplerState& state, const SampleInput& in, const Tunables& t) noexcept;

// For a ring left alone (it holds `bytes` through every period, so each
// sample would read min = cur = bytes): after how many more periods the
// sample would trim, at most `max_periods`. The same folds as
// sample_working_set makes when it samples that many periods late, so a
// sample then finds what sampling every period would have found by then.
uint64_t idle_periods_until_trim(const SamplerState& state, uint64_t bytes, uint64_t autotrim_threshold,
                                 uint64_t page_size, const Tunables& t, uint64_t max_periods) noexcept;

}  // namespace vmreclaim::policy
