// The working-set estimator (docs/design.md §6) as a pure function of injected
// numbers and times: the 3:1 moving average in 1/256-byte units, elapsed
// periods, abandonment, period 0, the autotrim threshold and the page minimum.
#include "policy/sampler.h"

#include <gtest/gtest.h>

#include "policy/tunables.h"

namespace vmreclaim::test {
namespace {

using vmreclaim::policy::idle_periods_until_trim;
using vmreclaim::policy::kWmaUnit;
using vmreclaim::policy::PressureLevel;
using vmreclaim::policy::sample_working_set;
using vmreclaim::policy::SampleInput;
using vmreclaim::policy::SampleResult;
using vmreclaim::policy::SamplerState;
using vmreclaim::policy::Tunables;

constexpr uint64_t kPeriod = 10'000'000'000ull;
constexpr uint64_t kPage = 4096;
constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kStart = 1'000'000'000'000ull;

class Sampler : public ::testing::Test {
 protected:
  // One sample `periods` sampling periods after the previous one.
  SampleResult sample(uint64_t periods, uint64_t min, uint64_t cur, uint64_t footprint_max = 0, uint32_t pct = 10) {
    now_ += periods * kPeriod;
    SampleInput in;
    in.now_ns = now_;
    in.period_ns = kPeriod;
    in.min_bytes = min;
    in.cur_bytes = cur;
    in.footprint_max = footprint_max;
    in.autotrim_pct = pct;
    in.page_size = kPage;
    return sample_working_set(state_, in, t_);
  }

  Tunables t_;
  SamplerState state_{0, kStart};
  uint64_t now_ = kStart;
};

TEST_F(Sampler, FoldsThreeOldToOneNewIn256thsOfAByte) {
  // 1 MiB = 2^28 units; each fold: wma = (3 * wma + 2^28) / 4.
  SampleResult r = sample(1, kMiB, kMiB);
  EXPECT_EQ(state_.wma, 67108864u);  // 2^26
  EXPECT_EQ(r.periods_elapsed, 1u);
  EXPECT_FALSE(r.abandoned);
  EXPECT_EQ(r.trim_bytes, 256u * 1024) << "unneeded = min(min, wma) = 256 KiB, already page aligned";
  sample(1, kMiB, kMiB);
  EXPECT_EQ(state_.wma, 117440512u);  // (3 * 2^26 + 2^28) / 4
  sample(1, kMiB, kMiB);
  EXPECT_EQ(state_.wma, 155189248u);  // (3 * 117440512 + 2^28) / 4 = 37/64 MiB
  EXPECT_EQ(state_.wma / kWmaUnit, 606208u);
}

TEST_F(Sampler, FractionsOfAByteAreKept) {
  // In whole bytes, a 1-byte minimum would fold to 0 forever.
  sample(1, 1, 1);
  EXPECT_EQ(state_.wma, 64u);  // a quarter byte
  sample(1, 1, 1);
  EXPECT_EQ(state_.wma, 112u);  // (3 * 64 + 256) / 4
  sample(1, 1, 1);
  EXPECT_EQ(state_.wma, 148u);  // (336 + 256) / 4
}

TEST_F(Sampler, EveryElapsedPeriodFoldsOnce) {
  SampleResult r = sample(3, kMiB, kMiB);
  EXPECT_EQ(r.periods_elapsed, 3u);
  EXPECT_EQ(state_.wma, 155189248u) << "three periods fold like three samples";
  EXPECT_EQ(state_.last_sample_ns, now_);
}

TEST_F(Sampler, AnEarlySampleFoldsOnce) {
  now_ += kPeriod / 3;
  SampleResult r = sample(0, kMiB, kMiB);
  EXPECT_EQ(r.periods_elapsed, 0u);
  EXPECT_EQ(state_.wma, 67108864u);
}

TEST_F(Sampler, AbandonedAfterMoreThanTheThresholdOfPeriods) {
  sample(1, 0, 0);
  ASSERT_EQ(state_.wma, 0u);
  // Exactly 512 periods still folds: the minimum counts for each of them.
  SampleResult r = sample(512, 0, 8 * kPage);
  EXPECT_FALSE(r.abandoned);
  EXPECT_EQ(state_.wma, 0u);
  EXPECT_EQ(r.trim_bytes, 0u);
  // More than 512: the history says nothing; the current contents become the average.
  r = sample(513, 3 * kPage, 8 * kPage);
  EXPECT_TRUE(r.abandoned);
  EXPECT_EQ(r.periods_elapsed, 513u);
  EXPECT_EQ(state_.wma, 8 * kPage * kWmaUnit);
  EXPECT_EQ(r.trim_bytes, 3 * kPage) << "unneeded = min(min, wma)";
}

TEST_F(Sampler, AbandonmentThresholdIsATunable) {
  t_.abandonment_periods = 4;
  EXPECT_FALSE(sample(4, 0, kMiB).abandoned);
  EXPECT_TRUE(sample(5, 0, kMiB).abandoned);
  EXPECT_EQ(state_.wma, kMiB * kWmaUnit);
}

TEST_F(Sampler, PeriodZeroTrimsEverything) {
  sample(1, kMiB, kMiB);
  const uint64_t wma = state_.wma;
  now_ += 5;
  SampleInput in;
  in.now_ns = now_;
  in.period_ns = 0;
  in.min_bytes = 0;
  in.cur_bytes = 3 * kMiB + 5;
  in.footprint_max = 1ull << 40;  // a threshold far above the ring: ignored
  in.autotrim_pct = 100;
  in.page_size = kPage;
  SampleResult r = sample_working_set(state_, in, t_);
  EXPECT_EQ(r.trim_bytes, 3 * kMiB + 5);
  EXPECT_EQ(state_.wma, wma);
  EXPECT_EQ(state_.last_sample_ns, now_);
}

TEST_F(Sampler, NothingBelowTheAutotrimThreshold) {
  // Footprint maximum 100 MiB: 10 % is 10 MiB, 5 % is 5 MiB, 1 % is 1 MiB.
  const uint64_t fp = 100 * kMiB;
  t_.abandonment_periods = 1;
  // Abandonment makes wma == cur, so unneeded == min exactly.
  SampleResult r = sample(2, 8 * kMiB, 8 * kMiB, fp, t_.autotrim_pct(PressureLevel::normal));
  EXPECT_EQ(r.autotrim_threshold, 10 * kMiB);
  EXPECT_EQ(r.trim_bytes, 0u);
  r = sample(2, 8 * kMiB, 8 * kMiB, fp, t_.autotrim_pct(PressureLevel::warning));
  EXPECT_EQ(r.autotrim_threshold, 5 * kMiB);
  EXPECT_EQ(r.trim_bytes, 8 * kMiB);
  r = sample(2, 4 * kMiB, 8 * kMiB, fp, t_.autotrim_pct(PressureLevel::urgent));
  EXPECT_EQ(r.trim_bytes, 0u) << "4 MiB unneeded is below 5 MiB";
  r = sample(2, 4 * kMiB, 8 * kMiB, fp, t_.autotrim_pct(PressureLevel::critical));
  EXPECT_EQ(r.autotrim_threshold, 1 * kMiB);
  EXPECT_EQ(r.trim_bytes, 4 * kMiB);
  // The threshold itself is enough.
  r = sample(2, 10 * kMiB, 10 * kMiB, fp, 10);
  EXPECT_EQ(r.trim_bytes, 10 * kMiB);
}

TEST_F(Sampler, ThresholdPercentageIsExactForOddFootprints) {
  // footprint / 100 * pct must not lose the remainder: 199 * 50 % = 99.5 -> 99.
  SampleResult r = sample(1, 0, 0, 199, 50);
  EXPECT_EQ(r.autotrim_threshold, 99u);
  r = sample(1, 0, 0, UINT64_MAX, 100);
  EXPECT_EQ(r.autotrim_threshold, UINT64_MAX) << "no overflow";
}

TEST_F(Sampler, PeriodsAndPercentagesByPressureLevel) {
  EXPECT_EQ(t_.period_ns(PressureLevel::normal), 10'000'000'000u);
  EXPECT_EQ(t_.period_ns(PressureLevel::warning), 1'000'000'000u);
  EXPECT_EQ(t_.period_ns(PressureLevel::urgent), 1'000'000'000u);
  EXPECT_EQ(t_.period_ns(PressureLevel::critical), 0u);
  EXPECT_EQ(t_.autotrim_pct(PressureLevel::normal), 10u);
  EXPECT_EQ(t_.autotrim_pct(PressureLevel::warning), 5u);
  EXPECT_EQ(t_.autotrim_pct(PressureLevel::urgent), 5u);
  EXPECT_EQ(t_.autotrim_pct(PressureLevel::critical), 1u);
}

TEST_F(Sampler, AtLeastOnePageAndRoundedUpToPages) {
  t_.abandonment_periods = 1;
  EXPECT_EQ(sample(2, kPage - 1, kPage - 1).trim_bytes, 0u) << "less than a page is never worth a trim";
  EXPECT_EQ(sample(2, kPage, kPage).trim_bytes, kPage);
  EXPECT_EQ(sample(2, kPage + 1, kPage + 1).trim_bytes, 2 * kPage);
  // The page size is an input: 16 KiB pages.
  SampleInput in;
  in.now_ns = now_ + 2 * kPeriod;
  in.period_ns = kPeriod;
  in.min_bytes = in.cur_bytes = 8192;
  in.page_size = 16384;
  EXPECT_EQ(sample_working_set(state_, in, t_).trim_bytes, 0u);
}

TEST_F(Sampler, UnreportedReclaimsAreTakenOut) {
  t_.abandonment_periods = 1;
  SampleInput in;
  in.now_ns = now_ + 2 * kPeriod;
  in.period_ns = kPeriod;
  in.min_bytes = 10 * kPage;
  in.cur_bytes = 12 * kPage;
  in.unreported_bytes = 4 * kPage;  // the engine freed these; the ring does not know yet
  in.page_size = kPage;
  SampleResult r = sample_working_set(state_, in, t_);
  EXPECT_EQ(r.cur_bytes, 8 * kPage);
  EXPECT_EQ(r.min_bytes, 6 * kPage);
  EXPECT_EQ(r.trim_bytes, 6 * kPage);
  // The ring claims less than the engine already freed: an accounting fault, no trim.
  in.now_ns += 2 * kPeriod;
  in.cur_bytes = 3 * kPage;
  r = sample_working_set(state_, in, t_);
  EXPECT_TRUE(r.accounting_failure);
  EXPECT_EQ(r.trim_bytes, 0u);
}

TEST_F(Sampler, SteadyWorkingSetConvergesAndDropsToZeroWithIt) {
  // A ring that keeps 1 MiB idle converges to it; once emptied it decays.
  for (int i = 0; i < 40; i++) sample(1, kMiB, kMiB);
  EXPECT_GE(state_.wma / kWmaUnit, kMiB - 1024);
  EXPECT_LE(state_.wma / kWmaUnit, kMiB);
  for (int i = 0; i < 40; i++) sample(1, 0, 0);
  EXPECT_LT(state_.wma / kWmaUnit, 1024u);
  EXPECT_EQ(sample(1, 0, 0).trim_bytes, 0u);
}

// The engine thread leaves an idle ring unsampled until a sample would trim
// it: the prediction must name the very period at which sampling every
// period would first trim, and one sample that late must trim the same.
TEST_F(Sampler, IdlePeriodsUntilTrimNameTheFirstTrimmingSample) {
  const uint64_t footprint = 20 * kMiB, threshold = 2 * kMiB, held = 3 * kMiB;
  const uint64_t k = idle_periods_until_trim(state_, held, threshold, kPage, t_, 512);
  EXPECT_EQ(k, 4u) << "3 MiB folded from 0: 0.75, 1.31, 1.73, 2.05 MiB";
  const SamplerState start = state_;
  const uint64_t start_ns = now_;
  uint64_t every_period_trim = 0;
  for (uint64_t i = 1; i <= k; i++) {
    SampleResult r = sample(1, held, held, footprint);
    if (i < k) {
      EXPECT_EQ(r.trim_bytes, 0u) << "period " << i;
    }
    every_period_trim = r.trim_bytes;
  }
  EXPECT_GT(every_period_trim, 0u);
  state_ = start;
  now_ = start_ns;
  SampleResult late = sample(k, held, held, footprint);
  EXPECT_EQ(late.trim_bytes, every_period_trim);
  EXPECT_EQ(idle_periods_until_trim(state_, held, threshold, kPage, t_, 512), 1u)
      << "after the trimming sample, the average is past the threshold: the next sample trims again";
}

TEST_F(Sampler, AnIdleRingBelowTheThresholdIsNeverDue) {
  EXPECT_EQ(idle_periods_until_trim(state_, kMiB, 2 * kMiB, kPage, t_, 512), 512u);
  EXPECT_EQ(idle_periods_until_trim(state_, kPage - 1, 0, kPage, t_, 512), 512u);
  EXPECT_EQ(idle_periods_until_trim(state_, 3 * kMiB, 2 * kMiB, kPage, t_, 3), 3u) << "at most max_periods";
}

}  // namespace
}  // namespace vmreclaim::test
