#include "policy/sampler.h"

#include <algorithm>

namespace vmreclaim::policy {

SampleResult sample_working_set(SamplerState& state, const SampleInput& in, const Tunables& t) noexcept {
  SampleResult r;
  // The client's counters still include what the engine reclaimed behind its
  // back (e.g. the background thread); take that out first.
  if (in.cur_bytes < in.unreported_bytes) {
    r.accounting_failure = true;
    return r;
  }
  r.cur_bytes = in.cur_bytes - in.unreported_bytes;
  r.min_bytes = in.min_bytes > in.unreported_bytes ? in.min_bytes - in.unreported_bytes : 0;
  r.min_bytes = std::min(r.min_bytes, r.cur_bytes);
  r.autotrim_threshold = in.footprint_max / 100 * in.autotrim_pct + in.footprint_max % 100 * in.autotrim_pct / 100;

  const uint64_t prev = state.last_sample_ns;
  state.last_sample_ns = in.now_ns;
  if (in.period_ns == 0) {
    // Maximally aggressive: everything reclaimable goes.
    r.trim_bytes = r.cur_bytes;
    return r;
  }
  r.periods_elapsed = in.now_ns > prev ? (in.now_ns - prev) / in.period_ns : 0;
  if (r.periods_elapsed > t.abandonment_periods) {
    // Left alone so long that the history says nothing: assume the current
    // contents are not needed.
    r.abandoned = true;
    state.wma = r.cur_bytes * kWmaUnit;
  } else {
    // The minimum is the same for every period that passed without a sample
    // (the client would have asked for one had it changed much), so fold it
    // in once per period, at least once.
    uint64_t folds = std::max<uint64_t>(1, r.periods_elapsed);
    for (uint64_t i = 0; i < folds; i++) {
      state.wma = (t.wma_weight_base * state.wma + t.wma_weight_cur * r.min_bytes * kWmaUnit) / t.wma_denom;
    }
  }
  const uint64_t unneeded = std::min(r.min_bytes, state.wma / kWmaUnit);
  if (unneeded >= in.page_size && unneeded >= r.autotrim_threshold) {
    r.trim_bytes = (unneeded + in.page_size - 1) / in.page_size * in.page_size;
  }
  return r;
}

uint64_t idle_periods_until_trim(const SamplerState& state, uint64_t bytes, uint64_t autotrim_threshold,
                                 uint64_t page_size, const Tunables& t, uint64_t max_periods) noexcept {
  // Nothing to trim however long: the average never exceeds what is held.
  if (bytes < page_size || bytes < autotrim_threshold || t.wma_denom == 0) return max_periods;
  uint64_t wma = state.wma;
  for (uint64_t k = 1; k < max_periods; k++) {
    wma = (t.wma_weight_base * wma + t.wma_weight_cur * bytes * kWmaUnit) / t.wma_denom;
    const uint64_t unneeded = std::min(bytes, wma / kWmaUnit);
    if (unneeded >= page_size && unneeded >= autotrim_threshold) return k;
  }
  return max_periods;
}

}  // namespace vmreclaim::policy
