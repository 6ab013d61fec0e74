// The policy side of the engine (docs/design.md §6): what the engine asks
// through engine::Governor, answered from the tunables, the pressure level,
// the footprint and the limits. The engine holds no policy of its own: it
// reports what it read off the ring and acts on the answer.
#pragma once

#include <atomic>

#include <cstdint>

#include "engine/config.h"
#include "engine/governor.h"
#include "platform/linux/footprint.h"
#include "policy/limits.h"
#include "policy/pressure.h"
#include "policy/sampler.h"
#include "policy/tunables.h"

namespace vmreclaim::policy {

// The engine's settings among the tunables.
engine::Config engine_config(const Tunables& t) noexcept;

class Governor final : public engine::Governor {
 public:
  // `limits` may be null: no limit checks, no ceiling. The sources must
  // outlive the governor; the tunables are copied.
  Governor(const Tunables& tunables, PressureSource* pressure, platform::FootprintSource* footprint,
           LimitSource* limits = nullptr) noexcept
      : tunables_(tunables), pressure_(pressure), footprint_(footprint), limits_(limits) {}

  // The level the policy works at: the forced one, else the source's.
  PressureLevel pressure_level() noexcept;
  const Tunables& tunables() const noexcept { return tunables_; }
  // The working-set estimate (tests); read it only while no sample runs.
  const SamplerState& sampler_state() const noexcept { return sampler_; }

  uint64_t period_ns() noexcept override;
  void start(uint64_t now_ns) noexcept override { sampler_.last_sample_ns = now_ns; }
  engine::SampleDecision sample(const engine::SampleReading& reading) noexcept override;
  bool check_limits(uint64_t ring_bytes, engine::LimitVerdict* out) noexcept override;
  uint64_t last_sample_ns() noexcept override { return sampler_.last_sample_ns; }
  // After a sample that found the ring left alone through its period (min =
  // cur) and trimmed nothing: how many periods it may go unsampled before a
  // sample would trim (sampler.h, idle_periods_until_trim; at most half
  // the abandonment threshold); else 1. A hint for the engine thread, which may sample
  // that much later while it watches the ring for the next enter
  // (docs/policy.md, "The engine thread with vmreclaimd"). Any thread.
  uint64_t idle_periods() const noexcept { return idle_periods_.load(std::memory_order_relaxed); }

 private:
  const Tunables tunables_;
  PressureSource* const pressure_;
  platform::FootprintSource* const footprint_;
  LimitSource* const limits_;
  // Under the engine's lock (every call but pressure_level and period_ns).
  SamplerState sampler_;
  uint64_t footprint_max_ = 0;
  // Written by sample() under the engine's lock, read by the engine thread
  // after its own sample: relaxed, a hint (a sample on another thread in
  // between only changes which sample's answer it reads).
  std::atomic<uint64_t> idle_periods_{1};
};

}  // namespace vmreclaim::policy
