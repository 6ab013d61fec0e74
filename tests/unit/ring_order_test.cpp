// The user side's memory orders, checked against the ones the model proves
// correct (docs/protocol-proof.md, sections 1.5 and 1.6). x86 keeps stores in
// order, so no test on this machine can watch a relaxed store go wrong (F6);
// instead this program is built with VMRECLAIM_RING_ORDER_TRACE, which makes
// src/ring/layout.h report every store and fence of src/ring/protocol.h with
// its memory order, and checks the sequence of each operation:
//   - every store of the tail is a release store: enter's publication, the
//     lock value `tail = id` of cancel and re-enter (F6: relaxed before
//     1061e94, which model_mutant_f6_relaxed_lock shows wrong), the restore;
//   - the lock store is followed by the full fence before anything else
//     (the Dekker pairing with the engine; mutants 2 and 8 of the model);
//   - entry words are written before the tail store that publishes them
//     (mutant 4), and a cancel clears its slot before it restores the tail.
// The reclaimer side (src/ring/reclaimer.h) likewise: claim publishes busy
// and runs the full fence before anything else (the other half of the
// Dekker pairing; mutant 3), a claim given up behind a cancel resets busy to
// head, and retire stores head, then busy, both with release (mutant 7 and
// section 1.5, point 4).
// It links no library code but src/ring/reclaimer.cpp: only the inline
// protocol, traced, with a plain accessor in place of the engine's copy-I/O.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string_view>
#include <vector>

#include "ring/protocol.h"
#include "ring/reclaimer.h"

namespace vmreclaim::ring {

struct Event {
  const void* field;  // nullptr: a full fence
  uint64_t value;
  std::memory_order order;
};
std::vector<Event> g_events;

void trace_order(const void* field, uint64_t value, std::memory_order order) noexcept {
  g_events.push_back({field, value, order});
}

// protocol.cpp is not linked: a mismatch is a test failure here.
void trap_mismatch(mach_vm_reclaim_id_t, uint64_t, uint32_t, uint8_t, EntryWords) noexcept { std::abort(); }

namespace {

constexpr uint64_t kLen = 4;

class RingStoreOrders : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_ = std::make_unique<uint64_t[]>((kHeaderBytes + kLen * kEntryBytes) / 8 + 1);
    r_ = reinterpret_cast<Ring*>(storage_.get());
    store(r_->len, static_cast<decltype(r_->len)>(kLen));
    store(r_->next_sample_deadline_abs, kNoDeadline);
    store(r_->reclaimable_bytes_ceiling, UINT64_MAX);
    g_events.clear();
  }
  mach_vm_reclaim_id_t enter(uint64_t addr) {
    bool update = false;
    return ring::enter(r_, addr, 4096, VM_RECLAIM_FREE, &update);
  }
  // Cancels `id` (one page at `addr`); its state.
  mach_vm_reclaim_state_t cancel_page(mach_vm_reclaim_id_t id, uint64_t addr) {
    mach_vm_reclaim_state_t st = 0;
    bool update = false;
    EXPECT_EQ(cancel(r_, id, addr, 4096, VM_RECLAIM_FREE, &st, &update), VM_RECLAIM_SUCCESS);
    return st;
  }
  bool is_tail(const Event& e) const { return e.field == &r_->tail; }
  bool is_entry(const Event& e) const {
    auto* p = static_cast<const unsigned char*>(e.field);
    auto* first = reinterpret_cast<const unsigned char*>(&r_->entries[0]);
    return p >= first && p < first + kLen * kEntryBytes;
  }
  // Every tail store in the trace is a release store (or stronger).
  void expect_tail_stores_release(const char* what) const {
    int n = 0;
    for (const Event& e : g_events) {
      if (!is_tail(e)) continue;
      n++;
      EXPECT_TRUE(e.order == std::memory_order_release || e.order == std::memory_order_seq_cst)
          << what << ": tail = " << e.value << " is stored with memory order " << static_cast<int>(e.order)
          << ", not release";
    }
    EXPECT_GT(n, 0) << what << ": no tail store traced";
  }
  // The last entry store comes before the store that restores the tail to
  // `restored` (which publishes it).
  void expect_entry_before_restore(const char* what, uint64_t restored) const {
    size_t entry_at = 0, restore_at = 0;
    for (size_t i = 0; i < g_events.size(); i++) {
      if (is_entry(g_events[i])) entry_at = i;
      if (is_tail(g_events[i]) && g_events[i].value == restored) restore_at = i;
    }
    EXPECT_GT(entry_at, 0u) << what << ": no entry store after the lock";
    EXPECT_GT(restore_at, entry_at) << what << ": the entry is stored before the tail that publishes it";
  }
  // The first tail store is the lock value `id`, and the full fence comes
  // right after it.
  void expect_lock_then_fence(const char* what, uint64_t id) const {
    ASSERT_GE(g_events.size(), 2u) << what;
    ASSERT_TRUE(is_tail(g_events[0])) << what << ": the first store is not the tail";
    EXPECT_EQ(g_events[0].value, id) << what << ": the lock value";
    EXPECT_EQ(g_events[1].field, nullptr) << what << ": no full fence right after the lock store";
  }

  std::unique_ptr<uint64_t[]> storage_;
  Ring* r_ = nullptr;
};

TEST_F(RingStoreOrders, EnterWritesTheEntryThenPublishesTheTailWithRelease) {
  ASSERT_EQ(enter(0x10000), 0u);
  ASSERT_EQ(g_events.size(), 4u);
  EXPECT_TRUE(is_entry(g_events[0]));
  EXPECT_TRUE(is_entry(g_events[1]));
  EXPECT_TRUE(is_tail(g_events[2]));
  EXPECT_EQ(g_events[2].value, 1u);
  // Last, after the publication: the operation count the engine thread's
  // idle trim reads (relaxed: nothing is published through it).
  EXPECT_EQ(g_events[3].field, &r_->user_ops);
  EXPECT_EQ(g_events[3].value, 1u);
  expect_tail_stores_release("enter");
}

TEST_F(RingStoreOrders, CancelLocksWithReleaseFencesClearsAndRestoresWithRelease) {
  ASSERT_EQ(enter(0x10000), 0u);
  ASSERT_EQ(enter(0x20000), 1u);
  g_events.clear();
  ASSERT_EQ(cancel_page(0, 0x10000), VM_RECLAIM_UNRECLAIMED);
  expect_lock_then_fence("cancel", 0);
  expect_tail_stores_release("cancel");
  // The slot is cleared before the tail that publishes the clearing.
  expect_entry_before_restore("cancel", 2);
}

TEST_F(RingStoreOrders, CancelOfABusyEntryRestoresWithRelease) {
  ASSERT_EQ(enter(0x10000), 0u);
  store(r_->busy, uint64_t{1});  // the engine holds ID 0 in a chunk
  g_events.clear();
  ASSERT_EQ(cancel_page(0, 0x10000), VM_RECLAIM_BUSY);
  expect_lock_then_fence("cancel (BUSY)", 0);
  expect_tail_stores_release("cancel (BUSY)");
}

TEST_F(RingStoreOrders, ReenterLocksWithReleaseFencesWritesAndRestoresWithRelease) {
  ASSERT_EQ(enter(0x10000), 0u);
  ASSERT_EQ(enter(0x20000), 1u);
  ASSERT_EQ(cancel_page(0, 0x10000), VM_RECLAIM_UNRECLAIMED);
  g_events.clear();
  mach_vm_reclaim_id_t id = 0;
  bool update = false;
  ASSERT_EQ(reenter(r_, &id, 0x10000, 4096, VM_RECLAIM_FREE, &update), VM_RECLAIM_SUCCESS);
  ASSERT_EQ(id, 0u);
  expect_lock_then_fence("re-enter", 0);
  expect_tail_stores_release("re-enter");
  expect_entry_before_restore("re-enter", 2);
}

// The reclaimer's accesses, without copy-I/O: every step runs as is.
// `between` runs after the step named `after` (a user thread's move).
struct PlainAccess {
  const char* after = nullptr;
  void (*between)(Ring*) = nullptr;
  Ring* r = nullptr;
  template <class Fn>
  bool operator()(const char* what, Fn&& fn) const {
    fn();
    if (after != nullptr && std::string_view(what) == after) between(r);
    return true;
  }
};

TEST_F(RingStoreOrders, ClaimPublishesBusyThenFencesBeforeAnythingElse) {
  for (uint64_t a = 1; a <= 3; a++) ASSERT_EQ(enter(a << 16), a - 1);
  g_events.clear();
  const ChunkClaim c = claim(r_, kLen, 16, 16, PlainAccess{});
  ASSERT_EQ(c.status, ChunkStatus::claimed);
  EXPECT_EQ(c.head, 0u);
  EXPECT_EQ(c.count, 3u);
  ASSERT_EQ(g_events.size(), 2u) << "one busy store and one fence, nothing else";
  EXPECT_EQ(g_events[0].field, &r_->busy);
  EXPECT_EQ(g_events[0].value, 3u);
  EXPECT_EQ(g_events[1].field, nullptr) << "the full fence right after the busy store";
  EXPECT_EQ(g_events[1].order, std::memory_order_seq_cst);
}

TEST_F(RingStoreOrders, AClaimMetByACancelOfTheOldestIdGivesUpAndResetsBusy) {
  for (uint64_t a = 1; a <= 2; a++) ASSERT_EQ(enter(a << 16), a - 1);
  g_events.clear();
  // A cancel of ID 0 takes its lock (tail = 0) after the indices are read,
  // before the busy store: the re-read after the fence sees it.
  PlainAccess cancel_lock{"reading the ring indices", [](Ring* r) { store(r->tail, uint64_t{0}); }, r_};
  const ChunkClaim c = claim(r_, kLen, 16, 16, cancel_lock);
  EXPECT_EQ(c.status, ChunkStatus::aborted);
  EXPECT_EQ(load(r_->busy), 0u) << "busy back to head";
  ASSERT_GE(g_events.size(), 4u);
  EXPECT_EQ(g_events.back().field, &r_->busy);
  EXPECT_EQ(g_events.back().value, 0u);
}

TEST_F(RingStoreOrders, RetireStoresHeadThenBusyWithRelease) {
  for (uint64_t a = 1; a <= 3; a++) ASSERT_EQ(enter(a << 16), a - 1);
  const ChunkClaim c = claim(r_, kLen, 16, 16, PlainAccess{});
  ASSERT_EQ(c.status, ChunkStatus::claimed);
  g_events.clear();
  ASSERT_TRUE(retire(r_, c.head + 2, PlainAccess{}));  // a trim that stopped after two entries
  ASSERT_EQ(g_events.size(), 2u);
  EXPECT_EQ(g_events[0].field, &r_->head) << "head first: a slot is handed back only once reclaimed";
  EXPECT_EQ(g_events[0].value, 2u);
  EXPECT_EQ(g_events[0].order, std::memory_order_release);
  EXPECT_EQ(g_events[1].field, &r_->busy);
  EXPECT_EQ(g_events[1].value, 2u);
  EXPECT_EQ(g_events[1].order, std::memory_order_release);
}

TEST_F(RingStoreOrders, CorruptIndicesAreNamedAndNothingIsStored) {
  store(r_->busy, uint64_t{5});  // busy above head with no chunk claimed... and beyond the chunk
  g_events.clear();
  const ChunkClaim c = claim(r_, kLen, 2, 16, PlainAccess{});
  EXPECT_EQ(c.status, ChunkStatus::index_failure);
  EXPECT_STREQ(c.what, "a chunk (busy/head corrupted)");
  EXPECT_TRUE(g_events.empty());
}

}  // namespace
}  // namespace vmreclaim::ring
