// The engine on a ring this test maps itself, with a fake clock, footprint,
// pressure and VM operations: the policy driven through time (sample_now,
// update_accounting), the chunked reclaim and what it asks the VM to do.
// Several engines live in one process; no registry is involved.
#include "engine/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <barrier>
#include <cerrno>
#include <optional>
#include <thread>
#include <vector>

#include "ring/protocol.h"
#include "support/engine_on_ring.h"
#include "support/memory.h"
#include "support/sanitizers.h"

namespace vmreclaim::test {
namespace {

using engine::Cause;
using engine::Engine;
using engine::GuardFault;
using platform::FreeAdvice;
using platform::Span;
using policy::FixedPressure;
using policy::PressureLevel;
using policy::Tunables;

constexpr uint64_t kPeriod = 10'000'000'000ull;

// A ring mapped by the test, with its engine on the fake platform; the VM
// operations are recorded, not done.
class EngineTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kPage = 4096;
  static constexpr uint64_t kBase = 0x7f0000000000ull;  // fake region addresses

  void SetUp() override { ASSERT_TRUE(make()); }

  bool make(uint32_t len = 1, uint32_t max = 1000) {
    len_ = ring::round_capacity(len);
    max_ = ring::round_capacity(max);
    e_.reset();
    e_.emplace(vm_, tunables_,
               EngineOnRing::Options{.len = len_, .max_len = max_, .clock_start = 5'000'000'000'000ull});
    if (!e_->ok()) return false;
    engine_ = &e_->engine();
    ring_ = e_->ring();
    reserved_ = e_->reserved_bytes();
    return true;
  }
  void remake() { ASSERT_TRUE(make()); }

  // The user side, straight through the protocol (as the C API does).
  mach_vm_reclaim_id_t enter(uint64_t addr, uint32_t size, uint8_t action = VM_RECLAIM_FREE) {
    return e_->enter(addr, size, action);
  }
  mach_vm_reclaim_state_t cancel(mach_vm_reclaim_id_t id, uint64_t addr, uint32_t size,
                                 uint8_t action = VM_RECLAIM_FREE) {
    mach_vm_reclaim_state_t st = 0;
    bool update = false;
    EXPECT_EQ(ring::cancel(ring_, id, addr, size, action, &st, &update), VM_RECLAIM_SUCCESS);
    return st;
  }
  mach_vm_reclaim_state_t query(mach_vm_reclaim_id_t id, uint8_t action = VM_RECLAIM_FREE) {
    mach_vm_reclaim_state_t st = 0;
    EXPECT_EQ(ring::query(ring_, id, action, &st), VM_RECLAIM_SUCCESS);
    return st;
  }
  // n one-page FREE entries at kBase, kBase + page, ...
  void enter_pages(uint32_t n, uint64_t first = 0) {
    for (uint32_t i = 0; i < n; i++) ASSERT_NE(enter(kBase + (first + i) * kPage, kPage), VM_RECLAIM_ID_NULL);
  }
  uint64_t bytes() const { return e_->bytes(); }
  uint64_t min_bytes() const { return e_->min_bytes(); }
  uint64_t head() const { return e_->head(); }

  // One sampling period passes and the client hands its accounting over.
  void next_period(uint64_t periods = 1) {
    clock().advance(periods * kPeriod);
    ASSERT_EQ(engine_->update_accounting(), VM_RECLAIM_SUCCESS);
  }

  FakeClock& clock() { return e_->clock; }
  FakeFootprint& footprint() { return e_->footprint; }
  FixedPressure& pressure() { return e_->pressure; }

  Tunables tunables_;
  FakeVmOps vm_;
  std::optional<EngineOnRing> e_;
  Engine* engine_ = nullptr;
  ring::Ring* ring_ = nullptr;
  uint64_t reserved_ = 0;
  uint32_t len_ = 0, max_ = 0;
};

TEST_F(EngineTest, InitialisesTheHeader) {
  EXPECT_EQ(ring_->len, len_);
  EXPECT_EQ(ring_->max_len, max_);
  EXPECT_EQ(ring_->head, 0u);
  EXPECT_EQ(ring_->busy, 0u);
  EXPECT_EQ(ring_->tail, 0u);
  EXPECT_EQ(ring_->reclaimable_bytes, 0u);
  EXPECT_EQ(ring_->last_sample_abs, clock().now_ns());
  EXPECT_EQ(ring_->next_sample_deadline_abs, clock().now_ns() + kPeriod);
  EXPECT_EQ(engine_->capacity(), len_);
  EXPECT_EQ(engine_->max_capacity(), max_);
}

TEST_F(EngineTest, NothingHappensBeforeTheDeadline) {
  enter_pages(64);
  clock().advance(kPeriod - 1);
  ASSERT_EQ(engine_->update_accounting(), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(engine_->stats().samples.get(), 0u);
  EXPECT_EQ(vm_.released_bytes(), 0u);
}

TEST_F(EngineTest, IdleRingIsTrimmedAfterEnoughPeriods) {
  // No footprint known: the autotrim threshold is 0, only the page minimum counts.
  enter_pages(64);
  std::vector<uint64_t> pages_left;
  for (int i = 0; i < 5; i++) {
    ASSERT_NO_FATAL_FAILURE(next_period());
    pages_left.push_back(bytes() / kPage);
  }
  // Period 1: the ring was empty when the period began (min 0): nothing.
  // Then wma = 16, 24, 24 pages: 64 -> 48 -> 24 -> 0.
  EXPECT_THAT(pages_left, ::testing::ElementsAre(64, 48, 24, 0, 0));
  EXPECT_EQ(engine_->stats().samples.get(), 5u);
  EXPECT_EQ(engine_->stats().trims.get(), 3u);
  EXPECT_EQ(engine_->stats().reclaimed_bytes[static_cast<int>(Cause::trim)].get(), 64 * kPage);
  EXPECT_EQ(vm_.released_bytes(), 64 * kPage);
  // Oldest first.
  const std::vector<Span> released = vm_.released();
  for (size_t i = 0; i < released.size(); i++) EXPECT_EQ(released[i].addr, kBase + i * kPage);
}

TEST_F(EngineTest, RingCycledToEmptyEveryPeriodKeepsItsEntries) {
  // An allocator that takes everything back each period (min reaches 0) is
  // using the ring: nothing in it is idle.
  enter_pages(32);
  for (int period = 0; period < 20; period++) {
    for (uint32_t i = 0; i < 32; i++) {
      const mach_vm_reclaim_id_t id = i;  // the first 32 IDs, reused in place
      ASSERT_EQ(cancel(id, kBase + i * kPage, kPage), VM_RECLAIM_UNRECLAIMED);
    }
    EXPECT_EQ(min_bytes(), 0u);
    for (uint32_t i = 0; i < 32; i++) {
      mach_vm_reclaim_id_t id = i;
      bool update = false;
      ASSERT_EQ(ring::reenter(ring_, &id, kBase + i * kPage, kPage, VM_RECLAIM_FREE, &update), VM_RECLAIM_SUCCESS);
      ASSERT_EQ(id, i);
    }
    ASSERT_NO_FATAL_FAILURE(next_period());
  }
  EXPECT_EQ(engine_->stats().samples.get(), 20u);
  EXPECT_EQ(vm_.released_bytes(), 0u);
  EXPECT_EQ(bytes(), 32 * kPage);
  EXPECT_EQ(e_->governor().sampler_state().wma, 0u);
  for (uint32_t i = 0; i < 32; i++) EXPECT_EQ(query(i), VM_RECLAIM_UNRECLAIMED);
}

TEST_F(EngineTest, FootprintThresholdHoldsBackSmallTrims) {
  footprint().value = 10 << 20;  // 10 MiB: the normal threshold is 1 MiB
  enter_pages(64);               // 256 KiB idle
  for (int i = 0; i < 30; i++) ASSERT_NO_FATAL_FAILURE(next_period());
  EXPECT_EQ(vm_.released_bytes(), 0u);
  EXPECT_EQ(engine_->stats().footprint_max.load(), uint64_t{10 << 20});
  // The footprint maximum is a lifetime maximum: a smaller footprint later
  // does not lower the threshold.
  footprint().value = 1 << 20;
  for (int i = 0; i < 3; i++) ASSERT_NO_FATAL_FAILURE(next_period());
  EXPECT_EQ(vm_.released_bytes(), 0u);
}

TEST_F(EngineTest, PressureShortensThePeriodAndLowersTheThreshold) {
  footprint().value = 10 << 20;
  enter_pages(192);  // 768 KiB: under 10 % (1 MiB), over 5 % (512 KiB)
  for (int i = 0; i < 10; i++) ASSERT_NO_FATAL_FAILURE(next_period());
  ASSERT_EQ(vm_.released_bytes(), 0u);

  pressure().set(PressureLevel::warning);
  ASSERT_EQ(engine_->sample_now(), VM_RECLAIM_SUCCESS);  // publishes the 1 s period
  EXPECT_EQ(ring_->next_sample_deadline_abs, clock().now_ns() + 1'000'000'000u);
  for (int i = 0; i < 10 && bytes() > 0; i++) {
    clock().advance(1'000'000'000u);
    ASSERT_EQ(engine_->update_accounting(), VM_RECLAIM_SUCCESS);
  }
  EXPECT_GT(vm_.released_bytes(), 0u);
  EXPECT_LT(bytes(), 192 * kPage);
}

TEST_F(EngineTest, CriticalPressureTrimsEverythingAtEachSample) {
  footprint().value = 1ull << 40;  // thresholds are irrelevant at period 0
  enter_pages(40);
  pressure().set(PressureLevel::critical);
  ASSERT_EQ(engine_->sample_now(), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(bytes(), 0u);
  EXPECT_EQ(vm_.released_bytes(), 40 * kPage);
  // The deadline is "now": the very next call samples again.
  enter_pages(3, 40);
  ASSERT_EQ(engine_->update_accounting(), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(bytes(), 0u);
}

TEST_F(EngineTest, AbandonedRingIsTrimmedInOneSample) {
  enter_pages(64);
  ASSERT_NO_FATAL_FAILURE(next_period());  // min 0: nothing; the period starts at 64 pages
  ASSERT_EQ(bytes(), 64 * kPage);
  ASSERT_NO_FATAL_FAILURE(next_period(600));
  EXPECT_EQ(bytes(), 0u);
  EXPECT_EQ(engine_->stats().wma_bytes.load(), 64 * kPage);
}

TEST_F(EngineTest, SampleResetsTheMinimumAndReportsIt) {
  enter_pages(3);
  ASSERT_EQ(engine_->sample_now(), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(min_bytes(), 3 * kPage);
  EXPECT_EQ(engine_->stats().last_min_bytes.load(), 0u);
  ASSERT_EQ(cancel(1, kBase + kPage, kPage), VM_RECLAIM_UNRECLAIMED);
  EXPECT_EQ(min_bytes(), 2 * kPage);
  ASSERT_EQ(engine_->sample_now(), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(engine_->stats().last_min_bytes.load(), 2 * kPage);
  EXPECT_EQ(min_bytes(), 2 * kPage);
}

TEST_F(EngineTest, OnlyOneCallerSamplesPerDeadline) {
  enter_pages(8);
  clock().advance(kPeriod);
  constexpr int kThreads = 4;
  std::barrier start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; i++) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int k = 0; k < 100; k++) EXPECT_EQ(engine_->update_accounting(), VM_RECLAIM_SUCCESS);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(engine_->stats().samples.get(), 1u);
  EXPECT_EQ(ring_->next_sample_deadline_abs, clock().now_ns() + kPeriod);
}

// docs/policy.md, "The engine thread and an empty ring": the background
// thread asleep on an empty ring is woken by the first accounting call after
// the ring filled, once, and no caller samples for it.
class CountingBackground final : public engine::Background {
 public:
  void ring_filled() noexcept override { woken++; }
  int woken = 0;
};

TEST_F(EngineTest, AnEmptyRingWatchedForFillingWakesItsThreadOnceAtTheFirstCall) {
  CountingBackground bg;
  engine_->set_background_sampling(&bg);
  EXPECT_EQ(ring_->next_sample_deadline_abs, ring::kNoDeadline) << "the thread samples on its own";
  ASSERT_TRUE(engine_->watch_for_fill()) << "an empty ring can be watched";
  EXPECT_EQ(ring_->next_sample_deadline_abs, ring::kDeadlineFill);
  bool update = false;
  ASSERT_NE(ring::enter(ring_, kBase, kPage, VM_RECLAIM_FREE, &update), VM_RECLAIM_ID_NULL);
  EXPECT_TRUE(update) << "the enter that fills the ring asks for the accounting call";
  ASSERT_EQ(engine_->update_accounting(), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(bg.woken, 1);
  EXPECT_EQ(engine_->stats().samples.get(), 0u) << "the call wakes the thread instead of sampling";
  EXPECT_EQ(ring_->next_sample_deadline_abs, ring::kNoDeadline);
  // Once: later enters and calls find no deadline.
  ASSERT_NE(ring::enter(ring_, kBase + kPage, kPage, VM_RECLAIM_FREE, &update), VM_RECLAIM_ID_NULL);
  EXPECT_FALSE(update);
  ASSERT_EQ(engine_->update_accounting(), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(bg.woken, 1);
  // A ring that holds memory is not watched (the thread polls it), and an
  // awake thread takes an unclaimed watch back.
  EXPECT_FALSE(engine_->watch_for_fill());
  EXPECT_EQ(ring_->next_sample_deadline_abs, ring::kNoDeadline);
  ring::store(ring_->next_sample_deadline_abs, ring::kDeadlineFill);
  engine_->unwatch_fill();
  EXPECT_EQ(ring_->next_sample_deadline_abs, ring::kNoDeadline);
  engine_->set_background_sampling(nullptr);
  EXPECT_EQ(ring_->next_sample_deadline_abs, clock().now_ns() + kPeriod) << "callers sample on the deadline again";
  EXPECT_FALSE(engine_->watch_for_fill()) << "no thread to wake";
}

// ---- reclaiming through the VM operations ----

TEST_F(EngineTest, FreeEntriesGoOutInBatchesOfAChunk) {
  enter_pages(40);
  ASSERT_EQ(engine_->flush(40), VM_RECLAIM_SUCCESS);
  EXPECT_THAT(vm_.release_batches(), ::testing::ElementsAre(16, 16, 8));
  EXPECT_EQ(vm_.released_bytes(), 40 * kPage);
  EXPECT_EQ(bytes(), 0u);
  EXPECT_EQ(head(), 40u);
}

TEST_F(EngineTest, ChunkSizeIsATunable) {
  tunables_.chunk_size = 5;
  remake();
  enter_pages(12);
  ASSERT_EQ(engine_->flush(12), VM_RECLAIM_SUCCESS);
  EXPECT_THAT(vm_.release_batches(), ::testing::ElementsAre(5, 5, 2));
}

TEST_F(EngineTest, RangesAreTruncatedAndRoundedToPages) {
  // A FREE entry from mid-page: start truncated, end rounded up.
  enter(kBase + 100, 5000);
  // A DEALLOCATE entry: probed for gaps, then unmapped, same rounding.
  enter(kBase + 10 * kPage + 16, 5000, VM_RECLAIM_DEALLOCATE);
  ASSERT_EQ(engine_->flush(2), VM_RECLAIM_SUCCESS);
  ASSERT_EQ(vm_.released().size(), 1u);
  EXPECT_EQ(vm_.released()[0].addr, kBase);
  EXPECT_EQ(vm_.released()[0].len, 2 * kPage);
  // Both are checked for holes: the DEALLOCATE entry before its munmap, the
  // FREE entry before the chunk's batched release.
  ASSERT_EQ(vm_.probed().size(), 2u);
  ASSERT_EQ(vm_.unmapped().size(), 1u);
  EXPECT_EQ(vm_.unmapped()[0].addr, kBase + 10 * kPage);
  EXPECT_EQ(vm_.unmapped()[0].len, 2 * kPage);
  EXPECT_EQ(vm_.probed()[0].addr, vm_.unmapped()[0].addr);
  EXPECT_EQ(vm_.probed()[0].len, vm_.unmapped()[0].len);
  EXPECT_EQ(vm_.probed()[1].addr, kBase);
  EXPECT_EQ(vm_.probed()[1].len, 2 * kPage);
  EXPECT_EQ(bytes(), 0u) << "accounting uses the entered sizes";
}

TEST_F(EngineTest, CancelledSlotsAreSkipped) {
  enter_pages(4);
  ASSERT_EQ(cancel(1, kBase + kPage, kPage), VM_RECLAIM_UNRECLAIMED);
  ASSERT_EQ(cancel(2, kBase + 2 * kPage, kPage), VM_RECLAIM_UNRECLAIMED);
  ASSERT_EQ(engine_->flush(4), VM_RECLAIM_SUCCESS);
  ASSERT_EQ(vm_.released().size(), 2u);
  EXPECT_EQ(vm_.released()[0].addr, kBase);
  EXPECT_EQ(vm_.released()[1].addr, kBase + 3 * kPage);
  EXPECT_EQ(head(), 4u);
}

TEST_F(EngineTest, FreeAdviceIsATunable) {
  tunables_.free_advice = FreeAdvice::free;
  remake();
  enter_pages(2);
  ASSERT_EQ(engine_->flush(2), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(vm_.last_advice(), FreeAdvice::free);
}

TEST_F(EngineTest, ResizeGrowsTheAccessibleRing) {
  enter_pages(10);
  const uint32_t bigger = ring::round_capacity(600);
  ASSERT_EQ(engine_->resize(bigger), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(engine_->capacity(), bigger);
  EXPECT_EQ(ring_->len, bigger);
  EXPECT_EQ(vm_.released_bytes(), 10 * kPage);
  EXPECT_EQ(engine_->stats().reclaimed_entries[static_cast<int>(Cause::resize)].get(), 10u);
  const std::vector<VmCall> storage = vm_.storage_calls();
  ASSERT_EQ(storage.size(), 1u);
  EXPECT_EQ(storage[0].kind, VmCall::protect);
  EXPECT_TRUE(storage[0].accessible);
  EXPECT_EQ(storage[0].addr, reinterpret_cast<uint64_t>(ring_) + ring::ring_bytes(len_));
  EXPECT_EQ(storage[0].len, ring::ring_bytes(bigger) - ring::ring_bytes(len_));
  EXPECT_EQ(enter(kBase, kPage), 10u) << "IDs continue after a resize";
}

TEST_F(EngineTest, TwoEnginesAreIndependent) {
  FakeVmOps other_vm;
  const uint32_t len2 = ring::round_capacity(1);
  EngineOnRing e2(other_vm, tunables_, {.len = len2, .max_len = len2});
  ASSERT_TRUE(e2.ok());
  ASSERT_EQ(e2.enter(kBase + 100 * kPage, kPage, VM_RECLAIM_FREE), 0u);
  enter_pages(2);
  ASSERT_EQ(e2.engine().flush(1), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(other_vm.released_bytes(), kPage);
  EXPECT_EQ(vm_.released_bytes(), 0u);
  EXPECT_EQ(bytes(), 2 * kPage);
  EXPECT_EQ(e2.bytes(), 0u);
}

// ---- guard faults in log mode: counted, skipped, the process goes on ----

class EngineGuardLogTest : public EngineTest {
 protected:
  void SetUp() override {
    tunables_.guard = policy::GuardMode::log;
    EngineTest::SetUp();
  }
  uint64_t faults(GuardFault f) { return engine_->stats().guard_faults[static_cast<int>(f)].get(); }
};

TEST_F(EngineGuardLogTest, GapIsCountedAndTheEntrySkipped) {
  vm_.hole = {kBase, kBase + kPage};
  enter(kBase, kPage, VM_RECLAIM_DEALLOCATE);
  enter(kBase + kPage, kPage, VM_RECLAIM_FREE);
  ASSERT_EQ(engine_->flush(2), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(faults(GuardFault::dealloc_gap), 1u);
  EXPECT_TRUE(vm_.unmapped().empty());
  EXPECT_EQ(vm_.released_bytes(), kPage) << "the rest of the chunk is still reclaimed";
  EXPECT_EQ(bytes(), 0u);
}

// A FREE entry over a hole: nothing of it is released (madvise would release
// the mapped part and then fail), the other entries of the chunk still are,
// in one batched call.
TEST_F(EngineGuardLogTest, FreeGapIsCountedAndNothingOfTheEntryReleased) {
  vm_.hole = {kBase + 2 * kPage, kBase + 3 * kPage};
  enter(kBase, kPage, VM_RECLAIM_FREE);
  enter(kBase + kPage, 3 * kPage, VM_RECLAIM_FREE);  // over the hole
  enter(kBase + 10 * kPage, kPage, VM_RECLAIM_FREE);
  ASSERT_EQ(engine_->flush(3), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(faults(GuardFault::free_gap), 1u);
  ASSERT_EQ(vm_.release_batches().size(), 1u);
  ASSERT_EQ(vm_.released().size(), 2u);
  EXPECT_EQ(vm_.released()[0].addr, kBase);
  EXPECT_EQ(vm_.released()[1].addr, kBase + 10 * kPage);
  EXPECT_EQ(head(), 3u);
  EXPECT_EQ(bytes(), 0u);
}

// Entries lying close together are checked with one probe.
TEST_F(EngineTest, NearbyFreeEntriesAreCheckedTogether) {
  for (int i = 0; i < 16; i++) enter(kBase + 2 * i * kPage, kPage, VM_RECLAIM_FREE);
  ASSERT_EQ(engine_->flush(16), VM_RECLAIM_SUCCESS);
  ASSERT_EQ(vm_.probed().size(), 1u);
  EXPECT_EQ(vm_.probed()[0].addr, kBase);
  EXPECT_EQ(vm_.probed()[0].len, 31 * kPage);
  EXPECT_EQ(vm_.released().size(), 16u);
}

// A flush of several chunks of nearby FREE entries checks them with one
// probe over their whole span, not one per chunk (issue 9: the check's cost
// per entry), and still releases each chunk in one batched call.
TEST_F(EngineTest, AFlushOfSeveralChunksChecksTheirSpanOnce) {
  for (int i = 0; i < 48; i++) enter(kBase + 2 * i * kPage, kPage, VM_RECLAIM_FREE);
  ASSERT_EQ(engine_->flush(48), VM_RECLAIM_SUCCESS);
  EXPECT_THAT(vm_.release_batches(), ::testing::ElementsAre(16, 16, 16));
  ASSERT_EQ(vm_.probed().size(), 1u);
  EXPECT_EQ(vm_.probed()[0].addr, kBase);
  EXPECT_EQ(vm_.probed()[0].len, 95 * kPage);
  EXPECT_EQ(head(), 48u);
}

// With a hole in that span, every chunk is checked on its own as before:
// only the entry over the hole is refused.
TEST_F(EngineGuardLogTest, AHoleInAFlushsSpanIsStillFoundInItsChunk) {
  vm_.hole = {kBase + 40 * kPage, kBase + 41 * kPage};
  for (int i = 0; i < 48; i++) enter(kBase + 2 * i * kPage, kPage, VM_RECLAIM_FREE);
  ASSERT_EQ(engine_->flush(48), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(faults(GuardFault::free_gap), 1u);
  EXPECT_EQ(vm_.released().size(), 47u);
  for (const auto& s : vm_.released()) EXPECT_NE(s.addr, kBase + 40 * kPage);
  EXPECT_EQ(head(), 48u);
}

// An entry beyond the span checked at the start of the flush (entered
// later, or far away) gets a probe of its own.
TEST_F(EngineGuardLogTest, AFreeEntryOutsideTheCheckedSpanIsProbed) {
  for (int i = 0; i < 32; i++) enter(kBase + 2 * i * kPage, kPage, VM_RECLAIM_FREE);
  const uint64_t far = kBase + (uint64_t{1} << 30);
  vm_.hole = {far, far + kPage};
  enter(far, kPage, VM_RECLAIM_FREE);
  ASSERT_EQ(engine_->flush(33), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(faults(GuardFault::free_gap), 1u);
  EXPECT_EQ(vm_.released().size(), 32u);
}

// An entry over the ring itself is refused, whatever its action.
TEST_F(EngineGuardLogTest, AnEntryOverTheRingIsAnEngineOverlap) {
  enter(reinterpret_cast<uint64_t>(ring_), kPage, VM_RECLAIM_FREE);
  enter(reinterpret_cast<uint64_t>(ring_) + kPage, kPage, VM_RECLAIM_DEALLOCATE);
  ASSERT_EQ(engine_->flush(2), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(faults(GuardFault::engine_overlap), 2u);
  EXPECT_TRUE(vm_.released().empty());
  EXPECT_TRUE(vm_.unmapped().empty());
  EXPECT_EQ(head(), 2u);
}

TEST_F(EngineGuardLogTest, UnknownActionIsCountedAndSkipped) {
  enter(kBase, kPage, 7);
  ASSERT_EQ(engine_->flush(1), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(faults(GuardFault::deallocate_failure), 1u);
  EXPECT_TRUE(vm_.released().empty());
  EXPECT_TRUE(vm_.unmapped().empty());
  EXPECT_EQ(head(), 1u);
}

TEST_F(EngineGuardLogTest, CorruptIndicesStopTheOperation) {
  enter_pages(2);
  ring::store(ring_->busy, head() + 100);
  EXPECT_EQ(engine_->flush(2), VM_RECLAIM_INVALID_RING);
  EXPECT_EQ(faults(GuardFault::index_failure), 1u);
  EXPECT_TRUE(vm_.released().empty());
  ring::store(ring_->busy, head());
  ring::store(ring_->tail, head() + len_ + 1);  // more entries than the ring holds
  EXPECT_EQ(engine_->flush(2), VM_RECLAIM_INVALID_RING);
  EXPECT_EQ(faults(GuardFault::index_failure), 2u);
  EXPECT_TRUE(vm_.released().empty());
}

// Indices that go backwards: head = busy = 5, tail = 1. A cancel holds the
// tail below head for a moment (its lock); one that stays there for a second
// is no lock, and the engine says so instead of returning "nothing to do".
TEST_F(EngineGuardLogTest, ATailThatStaysBelowHeadIsAnIndexFault) {
  enter_pages(5);
  ASSERT_EQ(engine_->flush(5), VM_RECLAIM_SUCCESS);
  ASSERT_EQ(head(), 5u);
  ring::store(ring_->tail, uint64_t{1});
  uint64_t drained = 1;
  EXPECT_EQ(engine_->drain(Cause::drain, &drained), VM_RECLAIM_INVALID_RING);
  EXPECT_EQ(drained, 0u);
  EXPECT_EQ(faults(GuardFault::index_failure), 1u);
  EXPECT_GE(clock().sleeps, 1000u) << "a second of looking, on the engine's clock";
}

// The same state while a cancel really holds the lock: once it lets go the
// entries above are reclaimed, and there is no fault.
TEST_F(EngineGuardLogTest, ATailHeldBelowHeadForAMomentIsNoFault) {
  enter_pages(8);
  ring::store(ring_->head, uint64_t{5});
  ring::store(ring_->busy, uint64_t{5});
  ring::store(ring_->tail, uint64_t{1});
  clock().on_sleep = [&](uint64_t n) {
    if (n == 50) ring::store(ring_->tail, uint64_t{8});
  };
  uint64_t drained = 0;
  EXPECT_EQ(engine_->drain(Cause::drain, &drained), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(faults(GuardFault::index_failure), 0u);
  EXPECT_EQ(head(), 8u);
  EXPECT_EQ(drained, 3 * kPage);
}

// No lock is more than a ring's length below head: at once a fault.
TEST_F(EngineGuardLogTest, ATailMoreThanARingBelowHeadIsAnIndexFaultAtOnce) {
  ring::store(ring_->head, uint64_t{len_} + 10);
  ring::store(ring_->busy, uint64_t{len_} + 10);
  ring::store(ring_->tail, uint64_t{5});
  EXPECT_EQ(engine_->flush(1), VM_RECLAIM_INVALID_RING);
  EXPECT_EQ(faults(GuardFault::index_failure), 1u);
  EXPECT_EQ(clock().sleeps, 0u);
}

TEST_F(EngineGuardLogTest, MoreReclaimedThanAccountedIsAnAccountingFault) {
  enter_pages(2);
  ring::store(ring_->reclaimable_bytes, uint64_t{kPage});  // the client lost count
  ASSERT_EQ(engine_->flush(2), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(faults(GuardFault::accounting_failure), 1u);
  EXPECT_EQ(bytes(), 0u) << "settles at zero, never wraps";
}

TEST_F(EngineGuardLogTest, UnmappedRingIsACopyioFault) {
  enter_pages(2);
  ASSERT_EQ(::mprotect(ring_, reserved_, PROT_NONE), 0);
  EXPECT_EQ(engine_->flush(1), VM_RECLAIM_INVALID_RING);
  EXPECT_EQ(engine_->update_accounting(), VM_RECLAIM_INVALID_RING);
  EXPECT_EQ(engine_->drain(Cause::drain), VM_RECLAIM_INVALID_RING);
  EXPECT_GE(faults(GuardFault::copyio_failure), 3u);
  ASSERT_EQ(::mprotect(ring_, reserved_, PROT_READ | PROT_WRITE), 0);
  EXPECT_EQ(engine_->flush(2), VM_RECLAIM_SUCCESS) << "usable again once the ring is back";
  EXPECT_EQ(bytes(), 0u);
}

}  // namespace
}  // namespace vmreclaim::test
