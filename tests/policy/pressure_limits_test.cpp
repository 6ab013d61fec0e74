// Policy decisions with injected readings: the pressure level from each
// source, the monitor keeping last good values, the limit decisions and
// their byte ceiling, and an engine driven through them.
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "platform/linux/clock.h"
#include "policy/limits.h"
#include "policy/pressure_monitor.h"
#include "ring/protocol.h"
#include "support/engine_on_ring.h"
#include "support/fake_platform.h"
#include "support/memory.h"

namespace vmreclaim::test {
namespace {

using policy::decide_limits;
using policy::high_watermark;
using policy::level_from;
using policy::level_from_cgroup;
using policy::level_from_meminfo;
using policy::level_from_psi;
using policy::LimitDecision;
using policy::LimitSource;
using policy::low_watermark;
using policy::PressureInputs;
using policy::PressureLevel;
using policy::PressureMonitor;
using policy::PressureThresholds;
using policy::Tunables;
using policy::usage_threshold;
using policy::usage_threshold_blind;

constexpr uint64_t MiB = 1ull << 20;

TEST(PressureLevels, EachSourceMapsThroughItsThresholds) {
  PressureThresholds t;
  EXPECT_EQ(level_from_psi({0.5, 0, 0, 0}, t), PressureLevel::normal);
  EXPECT_EQ(level_from_psi({12, 0, 0, 0}, t), PressureLevel::warning);
  EXPECT_EQ(level_from_psi({35, 0, 0, 0}, t), PressureLevel::urgent);
  EXPECT_EQ(level_from_psi({12, 0, 6, 0}, t), PressureLevel::urgent);
  EXPECT_EQ(level_from_psi({50, 0, 25, 0}, t), PressureLevel::critical);
  EXPECT_EQ(level_from_meminfo({1000, 500}, t), PressureLevel::normal);
  EXPECT_EQ(level_from_meminfo({1000, 120}, t), PressureLevel::warning);
  EXPECT_EQ(level_from_meminfo({1000, 60}, t), PressureLevel::urgent);
  EXPECT_EQ(level_from_meminfo({1000, 30}, t), PressureLevel::critical);
  platform::CgroupMemory cg;
  cg.limit = 1000;
  cg.usage = 990;
  cg.inactive_file = 200;  // page cache does not count as pressure
  EXPECT_EQ(level_from_cgroup(cg, t), PressureLevel::normal);
  cg.inactive_file = 0;
  EXPECT_EQ(level_from_cgroup(cg, t), PressureLevel::critical);
  cg.limit = UINT64_MAX;
  EXPECT_EQ(level_from_cgroup(cg, t), PressureLevel::normal);
}

TEST(PressureLevels, WorstSourceWins) {
  PressureInputs in;
  in.system_psi = platform::PsiReading{12, 0, 0, 0};  // warning
  in.meminfo = platform::MemInfo{1000, 30};           // critical
  EXPECT_EQ(level_from(in, {}), PressureLevel::critical);
}

TEST(PressureMonitor, KeepsTheLastGoodReadingWhenASourceFails) {
  FakePressureReaders r;
  PressureMonitor m(r);
  r.psi = platform::PsiReading{35, 0, 0, 0};
  r.mem = platform::MemInfo{1000, 900};
  EXPECT_EQ(m.refresh(), PressureLevel::urgent);
  r.psi.reset();  // the file became unreadable
  EXPECT_EQ(m.refresh(), PressureLevel::urgent);
  r.psi = platform::PsiReading{0, 0, 0, 0};
  EXPECT_EQ(m.refresh(), PressureLevel::normal);
  EXPECT_EQ(m.level(), PressureLevel::normal);
}

TEST(Limits, NoLimitMeansNoCeiling) {
  LimitDecision d = decide_limits({std::nullopt, std::nullopt, std::nullopt, 100 * MiB});
  EXPECT_FALSE(d.limited);
  EXPECT_EQ(d.ceiling, UINT64_MAX);
  EXPECT_EQ(d.reclaim_bytes, 0u);
}

TEST(Limits, BelowTheHighWatermarkTheCeilingIsTheHeadroom) {
  LimitDecision d = decide_limits({40 * MiB, 64 * MiB, std::nullopt, 10 * MiB});
  EXPECT_TRUE(d.limited);
  EXPECT_EQ(d.reclaim_bytes, 0u);
  EXPECT_EQ(d.ceiling, 10 * MiB + (high_watermark(64 * MiB) - 40 * MiB));
}

TEST(Limits, AboveTheHighWatermarkReclaimDownToTheLowOne) {
  LimitDecision d = decide_limits({62 * MiB, 64 * MiB, std::nullopt, 30 * MiB});
  EXPECT_EQ(d.reclaim_bytes, 62 * MiB - low_watermark(64 * MiB));
  EXPECT_FALSE(d.unreachable);
  EXPECT_EQ(d.ceiling, 30 * MiB - d.reclaim_bytes + (high_watermark(64 * MiB) - low_watermark(64 * MiB)));
}

// The cgroup v1 threshold wakes the engine thread where the limit check
// would act: usage at which the working set (usage less the inactive cache)
// reaches the high watermark, never closer to the limit than limit/128.
TEST(Limits, TheUsageThresholdSitsWhereTheWorkingSetReachesTheHighWatermark) {
  platform::CgroupMemory m;
  EXPECT_EQ(usage_threshold(m), UINT64_MAX) << "no limit, nothing to arm";
  m.limit = 256 * MiB;
  EXPECT_EQ(usage_threshold(m), high_watermark(256 * MiB));
  m.inactive_file = 8 * MiB;
  const uint64_t at = usage_threshold(m);
  EXPECT_EQ(at, high_watermark(256 * MiB) + 8 * MiB);
  // Crossing it, the check finds the working set at the watermark.
  m.usage = at + 1;
  EXPECT_GT(decide_limits({std::nullopt, std::nullopt, m, 64 * MiB}).reclaim_bytes, 0u);
  m.usage = at - MiB;
  EXPECT_EQ(decide_limits({std::nullopt, std::nullopt, m, 64 * MiB}).reclaim_bytes, 0u);
  EXPECT_FALSE(usage_threshold_blind(m)) << "usage below the threshold: its crossing will tell";
  m.usage = at;
  EXPECT_TRUE(usage_threshold_blind(m)) << "usage already there crosses it no more";
  m.usage = 0;
  m.inactive_file = 100 * MiB;
  EXPECT_EQ(usage_threshold(m), 256 * MiB - 2 * MiB) << "capped below the limit";
  EXPECT_TRUE(usage_threshold_blind(m)) << "at its cap the threshold cannot see the working set reach the watermark";
  // The cap starts where the cache fills the room between the watermark and it.
  m.inactive_file = 14 * MiB - 1;
  EXPECT_FALSE(usage_threshold_blind(m));
  EXPECT_EQ(usage_threshold(m), 256 * MiB - 2 * MiB - 1);
  m.inactive_file = 14 * MiB;
  EXPECT_TRUE(usage_threshold_blind(m));
  m.limit = UINT64_MAX;  // no limit: nothing to tell
  EXPECT_FALSE(usage_threshold_blind(m));
}

TEST(Limits, LiveMemoryAboveTheLimitDrainsAndBacksOff) {
  LimitDecision d = decide_limits({100 * MiB, 64 * MiB, std::nullopt, 8 * MiB});
  EXPECT_EQ(d.reclaim_bytes, 8 * MiB);
  EXPECT_TRUE(d.unreachable);
  EXPECT_EQ(d.ceiling, 64 * MiB / 16);  // waits for real growth: no spinning
}

TEST(Limits, TheTighterOfCgroupAndFootprintLimitsWins) {
  platform::CgroupMemory cg;
  cg.limit = 128 * MiB;
  cg.usage = 127 * MiB;
  LimitDecision d = decide_limits({10 * MiB, 1024 * MiB, cg, 50 * MiB});
  EXPECT_EQ(d.reclaim_bytes, 127 * MiB - low_watermark(128 * MiB));
}

// An engine on a ring of our own with scripted limits.
class ScriptedLimits : public LimitSource {
 public:
  uint64_t footprint = 0, limit = 64 * MiB;
  int calls = 0;
  LimitDecision decide(uint64_t ring_bytes) override {
    calls++;
    return decide_limits({footprint, limit, std::nullopt, ring_bytes});
  }
};

TEST(EngineLimits, CrossingTheCeilingOnEnterAsksForAnUpdateThatReclaims) {
  const uint32_t len = ring::round_capacity(64);
  Mapping data(64 * MiB);
  ASSERT_TRUE(data.ok());
  platform::LinuxVmOps vm;
  ScriptedLimits limits;
  // The user side checks the deadline against the real coarse clock.
  EngineOnRing on(vm, Tunables{},
                  {.len = len, .max_len = len, .clock_start = platform::coarse_now_ns(), .limits = &limits});
  ASSERT_TRUE(on.ok());
  on.footprint.value = 0;
  engine::Engine& e = on.engine();
  ring::Ring* r = on.ring();
  limits.footprint = 40 * MiB;
  ASSERT_EQ(e.enforce_limits(), VM_RECLAIM_SUCCESS);
  const uint64_t ceiling = ring::load(r->reclaimable_bytes_ceiling);
  EXPECT_EQ(ceiling, high_watermark(64 * MiB) - 40 * MiB);

  // Enter 1 MiB entries until the user side says an update is due.
  bool update = false;
  int entered = 0;
  while (!update && entered < 60) {
    const uint64_t addr = data.address() + static_cast<uint64_t>(entered) * MiB;
    ASSERT_NE(ring::enter(r, addr, MiB, VM_RECLAIM_FREE, &update), VM_RECLAIM_ID_NULL);
    entered++;
  }
  ASSERT_TRUE(update);
  EXPECT_GT(static_cast<uint64_t>(entered) * MiB, ceiling);
  // By now the program's footprint crossed the high watermark.
  limits.footprint = 62 * MiB;
  ASSERT_EQ(e.update_accounting(), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(e.stats().reclaimed_bytes[static_cast<int>(engine::Cause::limit)].get(),
            62 * MiB - low_watermark(64 * MiB));
  EXPECT_EQ(ring::load(r->reclaimable_bytes),
            static_cast<uint64_t>(entered) * MiB - (62 * MiB - low_watermark(64 * MiB)));
  EXPECT_NE(ring::load(r->reclaimable_bytes_ceiling), UINT64_MAX) << "a new ceiling is published";
}

}  // namespace
}  // namespace vmreclaim::test
