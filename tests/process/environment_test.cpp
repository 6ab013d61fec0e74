// Tunables are read from the environment once per process (SYSTEM.md §9),
// so each case runs the helper program in a fresh process.
#include <gtest/gtest.h>

#include <string>

#include "process/subprocess.h"

namespace {

using vmreclaim::test::run_helper;

TEST(Environment, AllocateIsNotSupportedWhenDisabled) {
  const auto r = run_helper({"allocate"}, {"VMRECLAIM_ENABLED=0"});
  EXPECT_TRUE(r.exited_with(0)) << r.describe();
  EXPECT_EQ(r.out, "allocate=VM_RECLAIM_NOT_SUPPORTED\n") << r.describe();
}

TEST(Environment, AllocateWorksByDefault) {
  const auto r = run_helper({"allocate"});
  EXPECT_TRUE(r.exited_with(0)) << r.describe();
  EXPECT_EQ(r.out, "allocate=VM_RECLAIM_SUCCESS\nring=ok\n") << r.describe();
  EXPECT_EQ(r.err, "") << "nothing to complain about";
}

TEST(Environment, BadValueIsReportedAndTheDefaultKept) {
  const auto r = run_helper({"allocate"}, {"VMRECLAIM_ENABLED=perhaps", "VMRECLAIM_CHUNK_SIZE=lots"});
  EXPECT_TRUE(r.exited_with(0)) << r.describe();
  EXPECT_EQ(r.out, "allocate=VM_RECLAIM_SUCCESS\nring=ok\n") << r.describe();
  EXPECT_NE(r.err.find("VMRECLAIM_ENABLED=\"perhaps\""), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("VMRECLAIM_CHUNK_SIZE=\"lots\""), std::string::npos) << r.describe();
}

TEST(Environment, DefaultPeriodAsksForNoUpdateYet) {
  const auto r = run_helper({"sample"});
  EXPECT_TRUE(r.exited_with(0)) << r.describe();
  EXPECT_EQ(r.out, "update=0 reclaimable_pages=17 sampled=0\n") << r.describe();
}

TEST(Environment, ForcedCriticalPressureTrimsAtEveryUpdate) {
  // Critical pressure: period 0. Once the deadline (the last sample) has
  // passed, an enter asks for an update, and the sample reclaims everything.
  const auto r = run_helper({"sample"}, {"VMRECLAIM_PRESSURE=critical"});
  EXPECT_TRUE(r.exited_with(0)) << r.describe();
  EXPECT_EQ(r.out, "update=1 reclaimable_pages=0 sampled=1\n") << r.describe();
}

TEST(Environment, SamplingPeriodIsTunable) {
  const auto r = run_helper({"sample"}, {"VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS=0"});
  EXPECT_TRUE(r.exited_with(0)) << r.describe();
  EXPECT_EQ(r.out, "update=1 reclaimable_pages=0 sampled=1\n") << r.describe();
}

}  // namespace
