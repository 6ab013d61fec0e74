// The footprint (/proc/self/status) feeding the autotrim threshold, failing:
// unreadable or garbage. Sampling must go on (docs/design.md §6): the estimator
// still runs, the deadline is still republished, and the threshold keeps the
// largest footprint read so far.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>

#include "platform/linux/footprint.h"
#include "platform/linux/proc_file.h"
#include "support/engine_on_ring.h"
#include "support/memory.h"

namespace vmreclaim::test {
namespace {

using policy::GuardMode;

constexpr uint64_t kPeriod = 10'000'000'000ull;  // the default normal-pressure period

class FootprintFailure : public ::testing::Test {
 protected:
  FootprintFailure() : e_(vm_, tunables_with(GuardMode::fatal)) {
    for (int i = 0; i < 4; i++) {
      pages_[i] = Mapping::pages(1);
      fill(pages_[i].data(), pages_[i].size(), 40 + i);
      e_.enter(pages_[i], VM_RECLAIM_FREE);
    }
  }
  // Two samples a period apart: the first starts a period with the ring full
  // (its minimum was 0 before), the second finds 4 pages unused for a whole
  // period, so the working-set average says one page is not needed.
  void two_samples() {
    e_.clock.now += kPeriod;
    ASSERT_EQ(e_.engine().sample_now(), VM_RECLAIM_SUCCESS);
    e_.clock.now += kPeriod;
    ASSERT_EQ(e_.engine().sample_now(), VM_RECLAIM_SUCCESS);
  }
  void expect_sampled_twice() {
    EXPECT_EQ(e_.stats().samples.get(), 2u);
    EXPECT_EQ(e_.footprint.reads, 2);
    EXPECT_EQ(ring::load(e_.ring()->last_sample_abs), e_.clock.now);
    EXPECT_EQ(ring::load(e_.ring()->next_sample_deadline_abs), e_.clock.now + kPeriod);
  }

  platform::LinuxVmOps vm_;
  EngineOnRing e_;
  Mapping pages_[4];
};

TEST_F(FootprintFailure, UnreadableFromTheStartStillSamplesAndTrims) {
  e_.footprint.value = std::nullopt;  // no footprint: the threshold is 0
  two_samples();
  expect_sampled_twice();
  EXPECT_EQ(e_.head(), 1u);  // one page trimmed, the oldest
  EXPECT_TRUE(all_zero(pages_[0].data(), pages_[0].size()));
  EXPECT_TRUE(holds(pages_[1].data(), pages_[1].size(), 41));
}

TEST_F(FootprintFailure, UnreadableLaterKeepsTheLargestFootprintRead) {
  e_.footprint.value = 1ull << 30;  // 1 GiB: a 10% threshold of 100 MiB, far above what the ring holds
  e_.clock.now += kPeriod;
  ASSERT_EQ(e_.engine().sample_now(), VM_RECLAIM_SUCCESS);
  e_.footprint.value = std::nullopt;
  e_.clock.now += kPeriod;
  ASSERT_EQ(e_.engine().sample_now(), VM_RECLAIM_SUCCESS);
  expect_sampled_twice();
  EXPECT_EQ(e_.head(), 0u);  // the threshold did not drop to 0 when the footprint went away
  EXPECT_EQ(e_.stats().footprint_max.load(), 1ull << 30);
}

TEST_F(FootprintFailure, GarbageOnlyRaisesTheThreshold) {
  e_.footprint.value = UINT64_MAX;  // nonsense: must not overflow the threshold into something small
  two_samples();
  expect_sampled_twice();
  EXPECT_EQ(e_.head(), 0u);
  for (int f = 0; f < engine::kGuardFaultKinds; f++) EXPECT_EQ(e_.stats().guard_faults[f].get(), 0u) << f;
}

TEST_F(FootprintFailure, UpdateAccountingStillSamplesWhenDue) {
  e_.footprint.value = std::nullopt;
  // The deadline is on the engine's clock; the user side's cheap check reads
  // the real coarse clock, which is far ahead of this test clock.
  e_.clock.now = ring::load(e_.ring()->next_sample_deadline_abs);
  ASSERT_EQ(e_.engine().update_accounting(), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(e_.stats().samples.get(), 1u);
  EXPECT_EQ(e_.footprint.reads, 1);
}

TEST(FootprintSource, GarbageStatusTextReadsAsUnreadable) {
  using platform::parse_status_footprint;
  EXPECT_FALSE(parse_status_footprint(""));
  EXPECT_FALSE(parse_status_footprint("RssAnon:\tlots kB\n"));
  EXPECT_FALSE(parse_status_footprint("RssAnon:\t12 MB\n"));
  EXPECT_FALSE(parse_status_footprint("RssAnon:\t99999999999999999999999 kB\n"));
  EXPECT_FALSE(parse_status_footprint(std::string_view("RssAnon:\0 12 kB\n", 17)));
  // A malformed companion field spoils the reading rather than making it low.
  EXPECT_FALSE(parse_status_footprint("Name:\tx\nRssAnon:\t12 kB\nRssShmem:\tjunk\n"));
  EXPECT_EQ(parse_status_footprint("Name:\tx\nRssAnon:\t12 kB\nRssShmem:\t4 kB\n"), 16u << 10);
}

TEST(FootprintSource, UnreadableProcFileIsAnErrorNotACrash) {
  char buf[64];
  EXPECT_EQ(platform::read_small_file("/proc/self/does-not-exist", buf, sizeof buf), -ENOENT);
  EXPECT_EQ(platform::read_small_file("/proc/self", buf, sizeof buf), -EISDIR);
}

}  // namespace
}  // namespace vmreclaim::test
