// Guard faults as real processes (docs/design.md §7). By default the engine
// writes one stderr line naming the fault and kills the process with
// SIGKILL — never a SIGSEGV inside the library, even on an unmapped ring.
// With VMRECLAIM_GUARD=log the same damage is logged, counted and skipped.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <string>

#include "process/scenarios.h"
#include "support/child.h"
#include "support/sanitizers.h"

namespace vmreclaim::test {
namespace {

class GuardFault : public ::testing::TestWithParam<GuardScenario> {
 protected:
  // Death-test children start from exec, not from a fork of this process
  // (safe with sanitizer threads; each child has its own tunables and ring).
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_P(GuardFault, FatalByDefault) {
  const GuardScenario& s = GetParam();
  // The line names the fault and says the process is being killed.
  const std::string line = std::string("guard fault ") + s.fault + ".*killing the process";
  EXPECT_EXIT(run_guard_scenario(s.name), ::testing::KilledBySignal(SIGKILL), line);
}

TEST_P(GuardFault, NonFatalWithGuardLog) {
  const GuardScenario& s = GetParam();
  // The helper reads the statistics after the fault: a second guarded access.
  const auto r = run_helper({"guard", s.name}, {"VMRECLAIM_GUARD=log"});
  EXPECT_TRUE(r.exited_with(0)) << r.describe();
  EXPECT_EQ(r.out.rfind("ok ", 0), 0u) << r.describe();
  // gtest's own (POSIX) regex: <regex> trips -Wmaybe-uninitialized in g++ 12 at -O1.
  EXPECT_THAT(r.err, ::testing::ContainsRegex(std::string("guard fault ") + s.fault)) << r.describe();
  EXPECT_NE(r.err.find("continuing"), std::string::npos) << r.describe();
}

TEST(AsyncGuardFault, SuspendDrainOfAnUnmappedRingKillsWithTheGuard) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The suspend drain is opt-in; the death test's child (this binary run
  // again for this test alone) reads the setting at its first ring.
  ::setenv("VMRECLAIM_SUSPEND_DRAIN", "1", 1);
  EXPECT_EXIT(run_suspend_on_unmapped_ring(), ::testing::KilledBySignal(SIGKILL),
              "guard fault RECLAIM_COPYIO_FAILURE.*killing the process");
  ::unsetenv("VMRECLAIM_SUSPEND_DRAIN");
}

INSTANTIATE_TEST_SUITE_P(Scenarios, GuardFault, ::testing::ValuesIn(guard_scenarios()), [](const auto& p) {
  std::string n = p.param.name;
  for (char& c : n) c = c == '-' ? '_' : c;
  return n;
});

}  // namespace
}  // namespace vmreclaim::test
