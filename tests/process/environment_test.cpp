// Tunables are read from the environment once per process (docs/design.md §9),
// so each case runs the helper program in a fresh process.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/child.h"

namespace vmreclaim::test {
namespace {

// The helper at normal pressure unless a test sets VMRECLAIM_PRESSURE: the
// machine's live pressure (other builds and tests on it) would otherwise
// shorten the sampling period or turn a background trim into a pressure one,
// and the exact counts below would depend on what else runs.
ChildResult run_at_normal_pressure(const std::vector<std::string>& args, std::vector<std::string> env = {}) {
  bool pressure_set = false;
  for (const auto& e : env) pressure_set = pressure_set || e.rfind("VMRECLAIM_PRESSURE=", 0) == 0;
  if (!pressure_set) env.insert(env.begin(), "VMRECLAIM_PRESSURE=normal");
  return run_helper(args, env);
}

TEST(Environment, AllocateIsNotSupportedWhenDisabled) {
  const auto r = run_at_normal_pressure({"allocate"}, {"VMRECLAIM_ENABLED=0"});
  EXPECT_TRUE(r.exited_with(0)) << r.describe();
  EXPECT_EQ(r.out, "allocate=VM_RECLAIM_NOT_SUPPORTED\n") << r.describe();
}

TEST(Environment, AllocateWorksByDefault) {
  const auto r = run_at_normal_pressure({"allocate"});
  EXPECT_TRUE(r.exited_with(0)) << r.describe();
  EXPECT_EQ(r.out, "allocate=VM_RECLAIM_SUCCESS\nring=ok\n") << r.describe();
  EXPECT_EQ(r.err, "") << "nothing to complain about";
}

TEST(Environment, BadValueIsReportedAndTheDefaultKept) {
  const auto r = run_at_normal_pressure({"allocate"}, {"VMRECLAIM_ENABLED=perhaps", "VMRECLAIM_CHUNK_SIZE=lots"});
  EXPECT_TRUE(r.exited_with(0)) << r.describe();
  EXPECT_EQ(r.out, "allocate=VM_RECLAIM_SUCCESS\nring=ok\n") << r.describe();
  EXPECT_NE(r.err.find("VMRECLAIM_ENABLED=\"perhaps\""), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("VMRECLAIM_CHUNK_SIZE=\"lots\""), std::string::npos) << r.describe();
}

// The default period is 10 s: a new ring asks for nothing and loses nothing
// in the first moments (whoever samples: the engine thread by default).
TEST(Environment, DefaultPeriodAsksForNoUpdateYet) {
  const auto r = run_at_normal_pressure({"sample"});
  EXPECT_TRUE(r.exited_with(0)) << r.describe();
  EXPECT_EQ(r.out, "update=0 reclaimable_pages=17 sampled=0\n") << r.describe();
}

// Without the engine thread the callers sample, on the deadline the engine
// publishes in the ring.
TEST(Environment, CallersSampleAtCriticalPressureWithoutTheEngineThread) {
  // Critical pressure: period 0. Once the deadline (the last sample) has
  // passed, an enter asks for an update, and the sample reclaims everything.
  const auto r = run_at_normal_pressure({"sample"}, {"VMRECLAIM_ENGINE_THREAD=0", "VMRECLAIM_PRESSURE=critical"});
  EXPECT_TRUE(r.exited_with(0)) << r.describe();
  EXPECT_EQ(r.out, "update=1 reclaimable_pages=0 sampled=1\n") << r.describe();
}

TEST(Environment, SamplingPeriodIsTunable) {
  const auto r = run_at_normal_pressure({"sample"}, {"VMRECLAIM_ENGINE_THREAD=0", "VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS=0"});
  EXPECT_TRUE(r.exited_with(0)) << r.describe();
  EXPECT_EQ(r.out, "update=1 reclaimable_pages=0 sampled=1\n") << r.describe();
}

// With the engine thread (the default) an idle process gives back what it
// does not use, without making a single call.
TEST(Environment, EngineThreadTrimsAnIdleRing) {
  const auto r =
      run_at_normal_pressure({"idle"}, {"VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS=20000000", "VMRECLAIM_AUTOTRIM_PCT_NORMAL=0"});
  EXPECT_TRUE(r.exited_with(0)) << r.describe();
  EXPECT_EQ(r.out, "reclaimable_pages=0 background_pages=16\n") << r.describe();
}

TEST(Environment, EngineThreadEmptiesTheRingAtCriticalPressure) {
  const auto r = run_at_normal_pressure({"idle"}, {"VMRECLAIM_PRESSURE=critical", "VMRECLAIM_PRESSURE_POLL_NS=20000000"});
  EXPECT_TRUE(r.exited_with(0)) << r.describe();
  EXPECT_EQ(r.out, "reclaimable_pages=0 background_pages=16\n") << r.describe();
}

}  // namespace
}  // namespace vmreclaim::test
