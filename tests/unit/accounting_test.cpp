// Byte accounting on the user side (docs/design.md §4): reclaimable_bytes and
// its minimum through enter, cancel, re-enter, flush, trim and drain, and
// the statistics that must add up with it.
#include <gtest/gtest.h>

#include "support/ring_fixture.h"

namespace vmreclaim::test {
namespace {

using Accounting = RingTest;

uint64_t reclaimed_total(const vmreclaim_ring_stats& s) {
  uint64_t sum = 0;
  for (uint64_t b : s.reclaimed_bytes) sum += b;
  return sum;
}

// A sample resets the minimum to the current count; force one now.
void sample_now(mach_vm_reclaim_ring_t ring) {
  vmreclaim::ring::store(ring->next_sample_deadline_abs, uint64_t{0});
  ASSERT_EQ(mach_vm_reclaim_update_kernel_accounting(ring), VM_RECLAIM_SUCCESS);
}

TEST_F(Accounting, EnterCancelReenterFlushUseTheGivenSizes) {
  // Sizes are counted as given, not page-rounded.
  Mapping a = Mapping::pages(3), b = Mapping::pages(2);
  const uint64_t sa = 3 * page_size() - 100, sb = 5000;
  const mach_vm_reclaim_id_t ia = enter(a.data(), sa, VM_RECLAIM_FREE);
  EXPECT_EQ(bytes(), sa);
  const mach_vm_reclaim_id_t ib = enter(b.data(), sb, VM_RECLAIM_DEALLOCATE);
  EXPECT_EQ(bytes(), sa + sb);
  ASSERT_EQ(cancel(ia, a.data(), sa, VM_RECLAIM_FREE), VM_RECLAIM_UNRECLAIMED);
  EXPECT_EQ(bytes(), sb);
  EXPECT_EQ(enter(a.data(), sa, VM_RECLAIM_FREE, ia), ia);
  EXPECT_EQ(bytes(), sa + sb);
  ASSERT_EQ(mach_vm_reclaim_ring_flush(ring_, 2), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(bytes(), 0u);
  EXPECT_EQ(min_bytes(), 0u);
  EXPECT_EQ(query(ib, VM_RECLAIM_DEALLOCATE), VM_RECLAIM_DEALLOCATED);
  b.release();  // 5000 bytes round up to both pages, now unmapped
  EXPECT_TRUE(is_unmapped(b.data(), 2 * page_size()));

  const vmreclaim_ring_stats s = stats();
  EXPECT_EQ(s.entered_entries, 3u);
  EXPECT_EQ(s.entered_bytes, 2 * sa + sb);
  EXPECT_EQ(s.reentered_entries, 1u);
  EXPECT_EQ(s.cancelled_unreclaimed, 1u);
  EXPECT_EQ(s.cancelled_bytes, sa);
  EXPECT_EQ(s.reclaimed_entries[VMRECLAIM_CAUSE_FLUSH], 2u);
  EXPECT_EQ(s.reclaimed_bytes[VMRECLAIM_CAUSE_FLUSH], sa + sb);
  EXPECT_EQ(s.unreported_bytes, 0u);
  // Every entered byte was either taken back or reclaimed.
  EXPECT_EQ(s.entered_bytes, s.cancelled_bytes + reclaimed_total(s));
}

TEST_F(Accounting, MinimumTracksTheLowestCountSinceTheLastSample) {
  Mapping m = Mapping::pages(4);
  const mach_vm_reclaim_id_t i0 = enter(m.page(0), page_size(), VM_RECLAIM_FREE);
  const mach_vm_reclaim_id_t i1 = enter(m.page(1), page_size(), VM_RECLAIM_FREE);
  const mach_vm_reclaim_id_t i2 = enter(m.page(2), page_size(), VM_RECLAIM_FREE);
  EXPECT_EQ(min_bytes(), 0u) << "the ring was empty at the start of this period";
  ASSERT_NO_FATAL_FAILURE(sample_now(ring_));
  EXPECT_EQ(min_bytes(), 3 * page_size()) << "a sample starts a new period at the current count";
  EXPECT_EQ(bytes(), 3 * page_size()) << "nothing is trimmed below the autotrim threshold";

  enter(m.page(3), page_size(), VM_RECLAIM_FREE);
  EXPECT_EQ(min_bytes(), 3 * page_size()) << "entering never raises the minimum";
  ASSERT_EQ(cancel(i1, m.page(1), page_size(), VM_RECLAIM_FREE), VM_RECLAIM_UNRECLAIMED);
  ASSERT_EQ(cancel(i2, m.page(2), page_size(), VM_RECLAIM_FREE), VM_RECLAIM_UNRECLAIMED);
  EXPECT_EQ(min_bytes(), 2 * page_size());
  EXPECT_EQ(enter(m.page(1), page_size(), VM_RECLAIM_FREE, i1), i1);
  EXPECT_EQ(min_bytes(), 2 * page_size()) << "a re-enter never raises the minimum";
  // Bytes the engine reclaims lower it too.
  ASSERT_EQ(mach_vm_reclaim_ring_flush(ring_, 1), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(query(i0, VM_RECLAIM_FREE), VM_RECLAIM_FREED);
  EXPECT_EQ(bytes(), 2 * page_size());
  EXPECT_EQ(min_bytes(), 2 * page_size());
  ASSERT_EQ(mach_vm_reclaim_ring_flush(ring_, 100), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(bytes(), 0u);
  EXPECT_EQ(min_bytes(), 0u);
}

TEST_F(Accounting, DrainReturnsExactlyToZero) {
  Mapping m = Mapping::pages(16);
  uint64_t entered = 0;
  for (int i = 0; i < 16; i++) {
    const uint64_t size = page_size() - 7 * static_cast<uint64_t>(i);
    enter(m.page(i), size, VM_RECLAIM_FREE);
    entered += size;
  }
  ASSERT_NO_FATAL_FAILURE(sample_now(ring_));
  EXPECT_EQ(bytes(), entered);
  uint64_t drained = 0;
  ASSERT_EQ(vmreclaim_ring_drain(ring_, &drained), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(drained, entered);
  EXPECT_EQ(bytes(), 0u);
  EXPECT_EQ(min_bytes(), 0u);
  EXPECT_EQ(head(), tail());
  const vmreclaim_ring_stats s = stats();
  EXPECT_EQ(s.reclaimed_bytes[VMRECLAIM_CAUSE_DRAIN], entered);
  EXPECT_EQ(s.unreported_bytes, 0u);
  EXPECT_EQ(s.entries, 0u);
  // Draining an empty ring is a no-op.
  ASSERT_EQ(vmreclaim_ring_drain(ring_, &drained), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(drained, 0u);
  EXPECT_EQ(bytes(), 0u);
}

TEST_F(Accounting, TrimTakesTheOldestUntilTheTarget) {
  Mapping m = Mapping::pages(4);
  for (int i = 0; i < 4; i++) enter(m.page(i), page_size(), VM_RECLAIM_FREE);
  uint64_t got = 0;
  ASSERT_EQ(vmreclaim_ring_trim(ring_, 1, &got), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(got, page_size()) << "one byte asked, one whole entry reclaimed";
  EXPECT_EQ(head(), 1u);
  ASSERT_EQ(vmreclaim_ring_trim(ring_, page_size() + 1, &got), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(got, 2 * page_size());
  EXPECT_EQ(head(), 3u);
  EXPECT_EQ(bytes(), page_size());
  ASSERT_EQ(vmreclaim_ring_trim(ring_, UINT64_MAX, &got), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(got, page_size());
  EXPECT_EQ(bytes(), 0u);
  EXPECT_EQ(stats().reclaimed_bytes[VMRECLAIM_CAUSE_TRIM], 4 * page_size());
}

TEST_F(Accounting, CancelledEntriesCostNothingToReclaim) {
  Mapping m = Mapping::pages(3);
  fill(m.data(), m.size(), 4);
  const mach_vm_reclaim_id_t i0 = enter(m.page(0), page_size(), VM_RECLAIM_FREE);
  enter(m.page(1), page_size(), VM_RECLAIM_FREE);
  ASSERT_EQ(cancel(i0, m.page(0), page_size(), VM_RECLAIM_FREE), VM_RECLAIM_UNRECLAIMED);
  uint64_t got = 0;
  ASSERT_EQ(vmreclaim_ring_trim(ring_, 1, &got), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(got, page_size()) << "the cancelled slot is skipped, the next entry reclaimed";
  EXPECT_EQ(head(), 2u);
  EXPECT_TRUE(holds(m.page(0), page_size(), 4));
  EXPECT_TRUE(all_zero(m.page(1), page_size()));
  EXPECT_EQ(bytes(), 0u);
}

}  // namespace
}  // namespace vmreclaim::test
