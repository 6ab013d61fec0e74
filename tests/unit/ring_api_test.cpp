// The ring through the public API on real memory (docs/design.md §3-§5, §11):
// enter + flush, what a flushed FREE / DEALLOCATE entry leaves behind,
// cancel, a full ring, resize, re-enter by ID, query, the update flag.
// (Touching a deallocated region and the cancel-mismatch trap are death
// tests in tests/process/fault_test.cpp.)
#include <gtest/gtest.h>

#include <vector>
#include <vmreclaim/ring.hpp>

#include "support/ring_fixture.h"

namespace vmreclaim::test {
namespace {

using RingApi = RingTest;

TEST_F(RingApi, SingleDeallocateEntryAndFlush) {
  Mapping m = Mapping::pages(4);
  fill(m.data(), m.size(), 1);
  const mach_vm_reclaim_id_t id = enter(m, VM_RECLAIM_DEALLOCATE);
  EXPECT_EQ(id, 0u);
  EXPECT_EQ(tail(), 1u);
  EXPECT_EQ(bytes(), m.size());
  EXPECT_EQ(entry(id).address, m.address());
  EXPECT_EQ(entry(id).size, m.size());
  EXPECT_EQ(entry(id).behavior, VM_RECLAIM_DEALLOCATE);
  EXPECT_EQ(query(id, VM_RECLAIM_DEALLOCATE), VM_RECLAIM_UNRECLAIMED);

  ASSERT_EQ(mach_vm_reclaim_ring_flush(ring_, 1), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(head(), 1u);
  EXPECT_EQ(busy(), 1u);
  EXPECT_EQ(bytes(), 0u);
  EXPECT_EQ(query(id, VM_RECLAIM_DEALLOCATE), VM_RECLAIM_DEALLOCATED);
  const mach_vm_reclaim_state_t st = cancel(id, m, VM_RECLAIM_DEALLOCATE);
  EXPECT_EQ(st, VM_RECLAIM_DEALLOCATED);
  EXPECT_FALSE(mach_vm_reclaim_is_reusable(st));
  EXPECT_TRUE(is_unmapped(m.data(), m.size()));
  m.release();  // the engine unmapped it

  const vmreclaim_ring_stats s = stats();
  EXPECT_EQ(s.reclaimed_entries[VMRECLAIM_CAUSE_FLUSH], 1u);
  EXPECT_EQ(s.reclaimed_bytes[VMRECLAIM_CAUSE_FLUSH], 4 * page_size());
  EXPECT_EQ(s.cancelled_deallocated, 1u);
}

TEST_F(RingApi, FlushedFreeEntryIsReusableAndReadsZero) {
  Mapping m = Mapping::pages(3);
  fill(m.data(), m.size(), 2);
  const mach_vm_reclaim_id_t id = enter(m, VM_RECLAIM_FREE);
  ASSERT_EQ(mach_vm_reclaim_ring_flush(ring_, 1), VM_RECLAIM_SUCCESS);
  const mach_vm_reclaim_state_t st = cancel(id, m, VM_RECLAIM_FREE);
  EXPECT_EQ(st, VM_RECLAIM_FREED);
  EXPECT_TRUE(mach_vm_reclaim_is_reusable(st));
  EXPECT_TRUE(is_mapped(m.data(), m.size()));
  EXPECT_TRUE(all_zero(m.data(), m.size()));
  fill(m.data(), m.size(), 3);  // still mapped and writable
  EXPECT_TRUE(holds(m.data(), m.size(), 3));
}

TEST_F(RingApi, FreeOfAPartialPageKeepsItsNeighbours) {
  // The start is truncated and the end rounded up to pages (docs/design.md §5):
  // an entry inside one page releases that whole page, and no other.
  Mapping m = Mapping::pages(3);
  fill(m.data(), m.size(), 4);
  const mach_vm_reclaim_id_t id = enter(m.page(1) + 100, 200, VM_RECLAIM_FREE);
  ASSERT_EQ(mach_vm_reclaim_ring_flush(ring_, 1), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(cancel(id, m.page(1) + 100, 200, VM_RECLAIM_FREE), VM_RECLAIM_FREED);
  EXPECT_TRUE(all_zero(m.page(1), page_size()));
  for (size_t i = 0; i < page_size(); i++) {
    ASSERT_EQ(m.page(0)[i], pattern_byte(4, i));
    ASSERT_EQ(m.page(2)[i], pattern_byte(4, 2 * page_size() + i));
  }
}

class CancelTest : public RingTest, public ::testing::WithParamInterface<mach_vm_reclaim_action_t> {};

TEST_P(CancelTest, UnreclaimedKeepsContentsAndSurvivesLaterFlush) {
  const mach_vm_reclaim_action_t action = GetParam();
  Mapping m = Mapping::pages(2);
  fill(m.data(), m.size(), 5);
  const mach_vm_reclaim_id_t id = enter(m, action);
  bool update = true;
  mach_vm_reclaim_state_t st = 0;
  ASSERT_EQ(mach_vm_reclaim_try_cancel(ring_, id, m.address(), m.size(), action, &st, &update), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(st, VM_RECLAIM_UNRECLAIMED);
  EXPECT_TRUE(holds(m.data(), m.size(), 5));
  EXPECT_EQ(bytes(), 0u);
  // The slot is cleared; the engine skips it.
  EXPECT_EQ(entry(id).address, 0u);
  EXPECT_EQ(entry(id).size, 0u);
  EXPECT_EQ(entry(id).behavior, 0);
  ASSERT_EQ(mach_vm_reclaim_ring_flush(ring_, 1), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(head(), 1u) << "the cancelled slot is consumed";
  EXPECT_TRUE(is_mapped(m.data(), m.size()));
  EXPECT_TRUE(holds(m.data(), m.size(), 5));
  EXPECT_EQ(stats().cancelled_unreclaimed, 1u);
  EXPECT_EQ(stats().cancelled_bytes, m.size());
}

INSTANTIATE_TEST_SUITE_P(Actions, CancelTest, ::testing::Values(VM_RECLAIM_FREE, VM_RECLAIM_DEALLOCATE),
                         [](const auto& p) { return p.param == VM_RECLAIM_FREE ? "Free" : "Deallocate"; });

TEST_F(RingApi, FillsToCapacityAndRefusesOneMore) {
  const uint32_t cap = capacity();
  Mapping m = Mapping::pages(cap + 1);
  for (uint32_t i = 0; i <= cap; i++) fill(m.page(i), page_size(), i);
  for (uint32_t i = 0; i < cap; i++) ASSERT_EQ(enter(m.page(i), page_size(), VM_RECLAIM_FREE), i);
  const auto before = snapshot(ring_);
  // Full: success, but no ID, and the ring is unchanged.
  EXPECT_EQ(enter(m.page(cap), page_size(), VM_RECLAIM_FREE), VM_RECLAIM_ID_NULL);
  EXPECT_EQ(snapshot(ring_), before);
  EXPECT_EQ(stats().enter_full, 1u);

  for (uint32_t i = 0; i < cap; i++) {
    ASSERT_EQ(cancel(i, m.page(i), page_size(), VM_RECLAIM_FREE), VM_RECLAIM_UNRECLAIMED) << i;
    ASSERT_TRUE(holds(m.page(i), page_size(), i)) << i;
  }
  EXPECT_EQ(bytes(), 0u);
  // Cancelled slots stay in the ring until the engine passes them.
  EXPECT_EQ(enter(m.page(cap), page_size(), VM_RECLAIM_FREE), VM_RECLAIM_ID_NULL);
  ASSERT_EQ(mach_vm_reclaim_ring_flush(ring_, cap), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(head(), cap);
  const mach_vm_reclaim_id_t next = enter(m.page(cap), page_size(), VM_RECLAIM_FREE);
  EXPECT_EQ(next, cap);
  EXPECT_EQ(cancel(next, m.page(cap), page_size(), VM_RECLAIM_FREE), VM_RECLAIM_UNRECLAIMED);
  for (uint32_t i = 0; i <= cap; i++) ASSERT_TRUE(holds(m.page(i), page_size(), i)) << i;
}

TEST_F(RingApi, IdsKeepIncreasingAcrossWraps) {
  const uint32_t cap = capacity();
  Mapping m = Mapping::pages(1);
  mach_vm_reclaim_id_t expected = 0;
  for (int round = 0; round < 4; round++) {
    for (uint32_t i = 0; i < cap; i++) {
      const mach_vm_reclaim_id_t id = enter(m, VM_RECLAIM_FREE);
      ASSERT_EQ(id, expected++);
      ASSERT_EQ(cancel(id, m, VM_RECLAIM_FREE), VM_RECLAIM_UNRECLAIMED);
    }
    ASSERT_EQ(mach_vm_reclaim_ring_flush(ring_, cap), VM_RECLAIM_SUCCESS);
    ASSERT_EQ(head(), expected);
  }
  EXPECT_EQ(tail(), 4u * cap);
}

TEST_F(RingApi, FlushReclaimsOldestFirst) {
  Mapping m = Mapping::pages(5);
  std::vector<mach_vm_reclaim_id_t> ids;
  for (int i = 0; i < 5; i++) {
    fill(m.page(i), page_size(), 10 + i);
    ids.push_back(enter(m.page(i), page_size(), VM_RECLAIM_FREE));
  }
  ASSERT_EQ(mach_vm_reclaim_ring_flush(ring_, 2), VM_RECLAIM_SUCCESS);
  EXPECT_GE(head(), 2u);
  for (int i = 0; i < 5; i++) {
    if (ids[i] < head()) {
      EXPECT_EQ(query(ids[i], VM_RECLAIM_FREE), VM_RECLAIM_FREED) << i;
      EXPECT_TRUE(all_zero(m.page(i), page_size())) << i;
    } else {
      EXPECT_EQ(query(ids[i], VM_RECLAIM_FREE), VM_RECLAIM_UNRECLAIMED) << i;
      EXPECT_TRUE(holds(m.page(i), page_size(), 10 + i)) << i;
    }
  }
  EXPECT_EQ(bytes(), (5 - head()) * page_size());
  // More than the ring holds: everything, and success.
  ASSERT_EQ(mach_vm_reclaim_ring_flush(ring_, 1000), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(head(), 5u);
  EXPECT_EQ(bytes(), 0u);
  EXPECT_TRUE(all_zero(m.data(), m.size()));
}

TEST_F(RingApi, QueryStates) {
  Mapping a = Mapping::pages(1), b = Mapping::pages(1);
  const mach_vm_reclaim_id_t ia = enter(a, VM_RECLAIM_FREE);
  const mach_vm_reclaim_id_t ib = enter(b, VM_RECLAIM_DEALLOCATE);
  EXPECT_EQ(query(ia, VM_RECLAIM_FREE), VM_RECLAIM_UNRECLAIMED);
  EXPECT_EQ(query(ib, VM_RECLAIM_DEALLOCATE), VM_RECLAIM_UNRECLAIMED);
  ASSERT_EQ(mach_vm_reclaim_ring_flush(ring_, 1), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(query(ia, VM_RECLAIM_FREE), VM_RECLAIM_FREED);
  EXPECT_EQ(query(ib, VM_RECLAIM_DEALLOCATE), VM_RECLAIM_UNRECLAIMED);
  ASSERT_EQ(mach_vm_reclaim_ring_flush(ring_, 1), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(query(ib, VM_RECLAIM_DEALLOCATE), VM_RECLAIM_DEALLOCATED);
  b.release();
  // Query reads only: the ring is unchanged by it.
  const auto before = snapshot(ring_);
  EXPECT_EQ(query(ia, VM_RECLAIM_FREE), VM_RECLAIM_FREED);
  EXPECT_EQ(snapshot(ring_), before);
}

TEST_F(RingApi, EntriesTheEngineIsReclaimingAreBusy) {
  // Stand in for the engine in the middle of a chunk: it has published
  // busy = head + 1 and owns that entry (docs/design.md §4).
  Mapping m = Mapping::pages(1);
  fill(m.data(), m.size(), 6);
  const mach_vm_reclaim_id_t id = enter(m, VM_RECLAIM_FREE);
  vmreclaim::ring::store(ring_->busy, head() + 1);
  EXPECT_EQ(query(id, VM_RECLAIM_FREE), VM_RECLAIM_BUSY);
  const auto before = snapshot(ring_);
  const mach_vm_reclaim_state_t st = cancel(id, m, VM_RECLAIM_FREE);
  EXPECT_EQ(st, VM_RECLAIM_BUSY);
  EXPECT_FALSE(mach_vm_reclaim_is_reusable(st));
  EXPECT_EQ(snapshot(ring_), before) << "a BUSY cancel leaves the entry and the tail alone";
  EXPECT_EQ(stats().cancelled_busy, 1u);
  vmreclaim::ring::store(ring_->busy, head());
  // The entry is still there for the engine to take.
  ASSERT_EQ(mach_vm_reclaim_ring_flush(ring_, 1), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(query(id, VM_RECLAIM_FREE), VM_RECLAIM_FREED);
  EXPECT_TRUE(all_zero(m.data(), m.size()));
}

// ---- re-enter by ID ----

TEST_F(RingApi, ReenterReusesTheCancelledSlot) {
  Mapping a = Mapping::pages(1), b = Mapping::pages(2), c = Mapping::pages(1);
  fill(b.data(), b.size(), 7);
  const mach_vm_reclaim_id_t ia = enter(a, VM_RECLAIM_FREE);
  const mach_vm_reclaim_id_t ib = enter(b, VM_RECLAIM_DEALLOCATE);
  const mach_vm_reclaim_id_t ic = enter(c, VM_RECLAIM_FREE);
  ASSERT_EQ(cancel(ib, b, VM_RECLAIM_DEALLOCATE), VM_RECLAIM_UNRECLAIMED);
  EXPECT_EQ(bytes(), a.size() + c.size());

  bool update = false;
  mach_vm_reclaim_id_t id = ib;
  ASSERT_EQ(mach_vm_reclaim_try_enter(ring_, b.address(), b.size(), VM_RECLAIM_DEALLOCATE, &id, &update),
            VM_RECLAIM_SUCCESS);
  EXPECT_EQ(id, ib);
  EXPECT_EQ(tail(), 3u) << "re-entering does not take a new slot";
  EXPECT_EQ(entry(ib).address, b.address());
  EXPECT_EQ(entry(ib).size, b.size());
  EXPECT_EQ(entry(ib).behavior, VM_RECLAIM_DEALLOCATE);
  EXPECT_EQ(bytes(), a.size() + b.size() + c.size());
  EXPECT_EQ(stats().reentered_entries, 1u);

  ASSERT_EQ(mach_vm_reclaim_ring_flush(ring_, 3), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(query(ia, VM_RECLAIM_FREE), VM_RECLAIM_FREED);
  EXPECT_EQ(query(ib, VM_RECLAIM_DEALLOCATE), VM_RECLAIM_DEALLOCATED);
  EXPECT_EQ(query(ic, VM_RECLAIM_FREE), VM_RECLAIM_FREED);
  EXPECT_TRUE(is_unmapped(b.data(), b.size()));
  b.release();
  EXPECT_EQ(bytes(), 0u);
}

TEST_F(RingApi, ReenterOfAReclaimedIdGivesIdNull) {
  Mapping m = Mapping::pages(1);
  const mach_vm_reclaim_id_t id = enter(m, VM_RECLAIM_FREE);
  ASSERT_EQ(cancel(id, m, VM_RECLAIM_FREE), VM_RECLAIM_UNRECLAIMED);
  ASSERT_EQ(mach_vm_reclaim_ring_flush(ring_, 1), VM_RECLAIM_SUCCESS);
  const auto before = snapshot(ring_);
  mach_vm_reclaim_id_t again = id;
  bool update = false;
  EXPECT_EQ(mach_vm_reclaim_try_enter(ring_, m.address(), m.size(), VM_RECLAIM_FREE, &again, &update),
            VM_RECLAIM_SUCCESS);
  EXPECT_EQ(again, VM_RECLAIM_ID_NULL);
  EXPECT_EQ(snapshot(ring_), before);
}

TEST_F(RingApi, ReenterOfAnIdReclaimedLongAgoGivesIdNull) {
  // An ID more than a ring's length behind the tail was reclaimed for sure;
  // it gets the same answer as a recent reclaimed one.
  const uint32_t cap = capacity();
  Mapping m = Mapping::pages(1);
  const mach_vm_reclaim_id_t old = enter(m, VM_RECLAIM_FREE);
  ASSERT_EQ(cancel(old, m, VM_RECLAIM_FREE), VM_RECLAIM_UNRECLAIMED);
  for (uint32_t i = 0; i < cap + 5; i++) {
    const mach_vm_reclaim_id_t id = enter(m, VM_RECLAIM_FREE);
    ASSERT_NE(id, VM_RECLAIM_ID_NULL);
    ASSERT_EQ(cancel(id, m, VM_RECLAIM_FREE), VM_RECLAIM_UNRECLAIMED);
    ASSERT_EQ(mach_vm_reclaim_ring_flush(ring_, 1), VM_RECLAIM_SUCCESS);
  }
  ASSERT_GT(tail() - old, cap);
  const auto before = snapshot(ring_);
  mach_vm_reclaim_id_t again = old;
  bool update = false;
  EXPECT_EQ(mach_vm_reclaim_try_enter(ring_, m.address(), m.size(), VM_RECLAIM_FREE, &again, &update),
            VM_RECLAIM_SUCCESS);
  EXPECT_EQ(again, VM_RECLAIM_ID_NULL);
  EXPECT_EQ(snapshot(ring_), before);
}

TEST_F(RingApi, ReenterOfANeverIssuedIdIsInvalid) {
  Mapping m = Mapping::pages(1);
  const mach_vm_reclaim_id_t id = enter(m, VM_RECLAIM_FREE);
  ASSERT_EQ(cancel(id, m, VM_RECLAIM_FREE), VM_RECLAIM_UNRECLAIMED);
  const auto before = snapshot(ring_);
  for (mach_vm_reclaim_id_t bad : {tail(), tail() + 1, tail() + 1000}) {
    mach_vm_reclaim_id_t want = bad;
    bool update = false;
    EXPECT_EQ(mach_vm_reclaim_try_enter(ring_, m.address(), m.size(), VM_RECLAIM_FREE, &want, &update),
              VM_RECLAIM_INVALID_ID)
        << bad;
    EXPECT_EQ(snapshot(ring_), before);
  }
}

TEST_F(RingApi, ReenterOverALiveEntryIsInvalidAndChangesNothing) {
  Mapping a = Mapping::pages(1), b = Mapping::pages(1);
  const mach_vm_reclaim_id_t ia = enter(a, VM_RECLAIM_FREE);
  enter(b, VM_RECLAIM_FREE);
  const auto before = snapshot(ring_);
  const vmreclaim_ring_stats stats_before = stats();
  mach_vm_reclaim_id_t want = ia;
  bool update = false;
  EXPECT_EQ(mach_vm_reclaim_try_enter(ring_, b.address(), b.size(), VM_RECLAIM_FREE, &want, &update),
            VM_RECLAIM_INVALID_ID);
  EXPECT_EQ(snapshot(ring_), before);
  EXPECT_EQ(stats().entered_entries, stats_before.entered_entries);
  EXPECT_EQ(cancel(ia, a, VM_RECLAIM_FREE), VM_RECLAIM_UNRECLAIMED) << "the live entry is intact";
}

// ---- resize ----

class ResizeTest : public RingTest {
 protected:
  ResizeTest() : RingTest(mach_vm_reclaim_round_capacity(1), 1000) {}
};

TEST_F(ResizeTest, ReclaimsEverythingKeepsIdsAndGrows) {
  const uint32_t cap = capacity();
  ASSERT_EQ(cap, mach_vm_reclaim_round_capacity(1));
  Mapping m = Mapping::pages(cap);
  for (uint32_t i = 0; i < cap; i++) {
    fill(m.page(i), page_size(), i);
    ASSERT_EQ(enter(m.page(i), page_size(), VM_RECLAIM_FREE), i);
  }
  const mach_vm_reclaim_ring_t before = ring_;
  ASSERT_EQ(mach_vm_reclaim_ring_resize(ring_, 600), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(ring_, before);
  const uint32_t grown = capacity();
  EXPECT_EQ(grown, 600u) << "exactly the capacity asked for";
  EXPECT_EQ(ring_->len, grown);
  // Every entry was reclaimed first; the indices stay where the tail was.
  EXPECT_EQ(head(), cap);
  EXPECT_EQ(busy(), cap);
  EXPECT_EQ(tail(), cap);
  EXPECT_EQ(bytes(), 0u);
  EXPECT_EQ(stats().reclaimed_entries[VMRECLAIM_CAUSE_RESIZE], cap);
  for (uint32_t i = 0; i < cap; i++) ASSERT_EQ(query(i, VM_RECLAIM_FREE), VM_RECLAIM_FREED) << i;
  EXPECT_TRUE(all_zero(m.data(), m.size()));

  // The bigger ring fills to its new capacity, IDs continuing, and cancels fully.
  Mapping big = Mapping::pages(grown + 1);
  for (uint32_t i = 0; i < grown; i++) {
    fill(big.page(i), page_size(), 1000 + i);
    ASSERT_EQ(enter(big.page(i), page_size(), VM_RECLAIM_FREE), cap + i);
  }
  EXPECT_EQ(enter(big.page(grown), page_size(), VM_RECLAIM_FREE), VM_RECLAIM_ID_NULL);
  for (uint32_t i = 0; i < grown; i++) {
    ASSERT_EQ(cancel(cap + i, big.page(i), page_size(), VM_RECLAIM_FREE), VM_RECLAIM_UNRECLAIMED) << i;
    ASSERT_TRUE(holds(big.page(i), page_size(), 1000 + i)) << i;
  }
  EXPECT_EQ(bytes(), 0u);
}

TEST_F(ResizeTest, AfterADrainAndBackDown) {
  Mapping m = Mapping::pages(8);
  for (int i = 0; i < 8; i++) enter(m.page(i), page_size(), VM_RECLAIM_FREE);
  uint64_t drained = 0;
  ASSERT_EQ(vmreclaim_ring_drain(ring_, &drained), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(drained, 8 * page_size());
  EXPECT_EQ(head(), 8u);

  ASSERT_EQ(mach_vm_reclaim_ring_resize(ring_, ring_->max_len), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(capacity(), ring_->max_len);
  EXPECT_EQ(enter(m.page(0), page_size(), VM_RECLAIM_FREE), 8u);
  ASSERT_EQ(mach_vm_reclaim_ring_resize(ring_, 1), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(capacity(), 1u);
  EXPECT_EQ(query(8, VM_RECLAIM_FREE), VM_RECLAIM_FREED);
  // The shrunken ring still fills to exactly its capacity.
  const uint32_t cap = capacity();
  for (uint32_t i = 0; i < cap; i++) ASSERT_EQ(enter(m.page(i % 8), page_size(), VM_RECLAIM_FREE), 9 + i);
  EXPECT_EQ(enter(m.page(0), page_size(), VM_RECLAIM_FREE), VM_RECLAIM_ID_NULL);
}

TEST_F(ResizeTest, BadCapacitiesChangeNothing) {
  Mapping m = Mapping::pages(2);
  fill(m.data(), m.size(), 8);
  const mach_vm_reclaim_id_t id = enter(m, VM_RECLAIM_FREE);
  const auto before = snapshot(ring_);
  const uint32_t max = ring_->max_len;
  EXPECT_EQ(max, 1000u) << "the maximum as given, unrounded";
  for (uint32_t bad : {0u, max + 1, VM_RECLAIM_MAX_CAPACITY, UINT32_MAX}) {
    EXPECT_EQ(mach_vm_reclaim_ring_resize(ring_, bad), VM_RECLAIM_INVALID_CAPACITY) << bad;
    EXPECT_EQ(snapshot(ring_), before) << bad;
  }
  EXPECT_EQ(cancel(id, m, VM_RECLAIM_FREE), VM_RECLAIM_UNRECLAIMED);
  EXPECT_TRUE(holds(m.data(), m.size(), 8));
  EXPECT_EQ(mach_vm_reclaim_ring_resize(ring_, max), VM_RECLAIM_SUCCESS) << "the maximum itself is fine";
}

// ---- the accounting update flag and the deadline ----

TEST_F(RingApi, UpdateFlagFollowsTheDeadline) {
  Mapping m = Mapping::pages(1);
  mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
  bool update = true;
  ASSERT_EQ(mach_vm_reclaim_try_enter(ring_, m.address(), m.size(), VM_RECLAIM_FREE, &id, &update), VM_RECLAIM_SUCCESS);
  EXPECT_FALSE(update) << "a new ring's deadline lies a sampling period ahead";

  // The deadline passes (as if a period went by): the next call asks for an update.
  vmreclaim::ring::store(ring_->next_sample_deadline_abs, uint64_t{0});
  mach_vm_reclaim_state_t st = 0;
  ASSERT_EQ(mach_vm_reclaim_try_cancel(ring_, id, m.address(), m.size(), VM_RECLAIM_FREE, &st, &update),
            VM_RECLAIM_SUCCESS);
  EXPECT_TRUE(update);
  const uint64_t samples = stats().samples;
  ASSERT_EQ(mach_vm_reclaim_update_kernel_accounting(ring_), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(stats().samples, samples + 1);
  EXPECT_GT(ring_->next_sample_deadline_abs, ring_->last_sample_abs) << "the engine published a new deadline";
  EXPECT_NE(ring_->next_sample_deadline_abs, UINT64_MAX);
  // Calls before the new deadline neither sample nor ask for an update.
  ASSERT_EQ(mach_vm_reclaim_update_kernel_accounting(ring_), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(stats().samples, samples + 1);
  id = VM_RECLAIM_ID_NULL;
  ASSERT_EQ(mach_vm_reclaim_try_enter(ring_, m.address(), m.size(), VM_RECLAIM_FREE, &id, &update), VM_RECLAIM_SUCCESS);
  EXPECT_FALSE(update);
}

TEST_F(RingApi, UpdateFlagWhenBytesCrossTheCeiling) {
  Mapping m = Mapping::pages(2);
  vmreclaim::ring::store(ring_->reclaimable_bytes_ceiling, uint64_t{page_size()});
  mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
  bool update = true;
  ASSERT_EQ(mach_vm_reclaim_try_enter(ring_, m.address(), page_size(), VM_RECLAIM_FREE, &id, &update),
            VM_RECLAIM_SUCCESS);
  EXPECT_FALSE(update) << "at the ceiling, not above it";
  id = VM_RECLAIM_ID_NULL;
  ASSERT_EQ(mach_vm_reclaim_try_enter(ring_, m.address() + page_size(), page_size(), VM_RECLAIM_FREE, &id, &update),
            VM_RECLAIM_SUCCESS);
  EXPECT_TRUE(update);
}

// ---- the C++ API over the same ring ----

TEST(CxxRing, EnterCancelQueryDrain) {
  ASSERT_EQ(vmreclaim_ring_current(), nullptr);
  auto ring = vmreclaim::Ring::allocate(2, 2);
  ASSERT_TRUE(ring.has_value()) << ring.error().message();
  Mapping a = Mapping::pages(1), b = Mapping::pages(1);
  fill(a.data(), a.size(), 9);
  auto ea = ring->try_enter(a.data(), a.size(), vmreclaim::Action::free);
  auto eb = ring->try_enter(b.data(), b.size(), vmreclaim::Action::free);
  ASSERT_TRUE(ea.has_value() && eb.has_value());
  EXPECT_TRUE(ea->entered());
  EXPECT_EQ(ea->id, 0u);
  EXPECT_EQ(eb->id, 1u);
  EXPECT_EQ(ring->query(ea->id, vmreclaim::Action::free).value_or(vmreclaim::State::busy),
            vmreclaim::State::unreclaimed);
  auto ca = ring->try_cancel(ea->id, a.data(), a.size(), vmreclaim::Action::free);
  ASSERT_TRUE(ca.has_value());
  EXPECT_EQ(ca->state, vmreclaim::State::unreclaimed);
  EXPECT_TRUE(ca->reusable());
  EXPECT_TRUE(holds(a.data(), a.size(), 9));
  auto re = ring->try_enter(a.data(), a.size(), vmreclaim::Action::free, ea->id);
  ASSERT_TRUE(re.has_value());
  EXPECT_EQ(re->id, ea->id);
  EXPECT_EQ(ring->try_enter(a.data(), uint64_t{UINT32_MAX} + 1, vmreclaim::Action::free).error(),
            vmreclaim::errc::invalid_region_size);
  EXPECT_EQ(ring->flush(0), vmreclaim::errc::invalid_argument);
  EXPECT_EQ(ring->resize(0), vmreclaim::errc::invalid_capacity);
  auto drained = ring->drain();
  ASSERT_TRUE(drained.has_value());
  EXPECT_EQ(*drained, a.size() + b.size());
  EXPECT_TRUE(all_zero(a.data(), a.size()));
  auto st = ring->stats();
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->reclaimable_bytes, 0u);
  EXPECT_EQ(st->reclaimed_bytes[VMRECLAIM_CAUSE_DRAIN], a.size() + b.size());
  EXPECT_EQ(st->entered_entries, 3u);
  EXPECT_EQ(st->reentered_entries, 1u);
  EXPECT_FALSE(ring->update_accounting());
}

}  // namespace
}  // namespace vmreclaim::test
