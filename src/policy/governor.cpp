#include "policy/governor.h"

#include <algorithm>

namespace vmreclaim::policy {

engine::Config engine_config(const Tunables& t) noexcept {
  engine::Config c;
  c.chunk_size = t.chunk_size;
  c.guard = t.guard;
  c.free_advice = t.free_advice;
  return c;
}

PressureLevel Governor::pressure_level() noexcept {
  return tunables_.forced_pressure ? *tunables_.forced_pressure : pressure_->level();
}

uint64_t Governor::period_ns() noexcept { return tunables_.period_ns(pressure_level()); }

engine::SampleDecision Governor::sample(const engine::SampleReading& reading) noexcept {
  const PressureLevel level = pressure_level();
  engine::SampleDecision d;
  d.period_ns = tunables_.period_ns(level);
  if (auto fp = footprint_->footprint_bytes(); fp && *fp > footprint_max_) footprint_max_ = *fp;
  SampleInput in;
  in.now_ns = reading.now_ns;
  in.period_ns = d.period_ns;
  in.min_bytes = reading.min_bytes;
  in.cur_bytes = reading.cur_bytes;
  in.unreported_bytes = reading.unreported_bytes;
  in.footprint_max = footprint_max_;
  in.autotrim_pct = tunables_.autotrim_pct(level);
  in.page_size = reading.page_size;
  const SampleResult r = sample_working_set(sampler_, in, tunables_);
  d.trim_bytes = r.trim_bytes;
  d.accounting_failure = r.accounting_failure;
  d.min_bytes = r.min_bytes;
  d.cur_bytes = r.cur_bytes;
  d.wma = sampler_.wma;
  d.wma_bytes = sampler_.wma / kWmaUnit;
  d.autotrim_threshold = r.autotrim_threshold;
  d.footprint_max = footprint_max_;
  // Left alone through the period and nothing trimmed: how long it may be
  // left unsampled. Never near the abandonment (a sample that late judges
  // the ring by another rule, sampler.cpp): at most half of it, so a
  // wake-up late by a period or more still samples by the folds.
  const bool idle = !r.accounting_failure && r.trim_bytes == 0 && d.period_ns > 0 && r.min_bytes == r.cur_bytes;
  idle_periods_.store(idle
                          ? idle_periods_until_trim(sampler_, r.cur_bytes, r.autotrim_threshold, in.page_size,
                                                    tunables_, std::max<uint64_t>(1, tunables_.abandonment_periods / 2))
                          : 1,
                      std::memory_order_relaxed);
  return d;
}

bool Governor::check_limits(uint64_t ring_bytes, engine::LimitVerdict* out) noexcept {
  if (limits_ == nullptr) return false;
  const LimitDecision d = limits_->decide(ring_bytes);
  out->reclaim_bytes = d.reclaim_bytes;
  out->ceiling = d.ceiling;
  out->unreachable = d.unreachable;
  return true;
}

}  // namespace vmreclaim::policy
