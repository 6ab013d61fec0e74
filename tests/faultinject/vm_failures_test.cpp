// Each system call the engine makes on a user's memory, failing, and the
// engine doing what docs/policy.md says: a FREE over unmapped pages is
// FREE_GAP and none of it is released; a FREE the kernel refuses otherwise is
// logged and counted and the rest go on; a munmap that fails is the guard fault
// RECLAIM_DEALLOCATE_FAILURE; a DEALLOCATE over unmapped pages (msync
// ENOMEM) is DEALLOC_GAP; in fatal mode a guard fault is one stderr line and
// SIGKILL. Failures come from the real kernel where a test can arrange them
// (a page unmapped under an entry) and from FakeVmOps otherwise.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "support/engine_on_ring.h"
#include "support/memory.h"

namespace vmreclaim::test {
namespace {

using engine::GuardFault;
using policy::GuardMode;

class FaultInjectionDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// ---- FREE: madvise/process_madvise failing ----

// Three FREE entries, the middle one over a range with a page unmapped in
// it. Returns whether the engine reported the middle one as FREE_GAP (log
// mode) without releasing any of its pages, released the other two and took
// all three off the ring.
bool free_with_a_hole_in_the_middle(EngineOnRing& e) {
  Mapping a = Mapping::pages(2), b = Mapping::pages(3), c = Mapping::pages(2);
  fill(a.data(), a.size(), 1);
  fill(b.data(), b.size(), 2);
  fill(c.data(), c.size(), 3);
  if (::munmap(b.page(1), page_size()) != 0) return false;
  e.enter(a, VM_RECLAIM_FREE);
  e.enter(b, VM_RECLAIM_FREE);
  e.enter(c, VM_RECLAIM_FREE);
  const bool ok = e.engine().flush(3) == VM_RECLAIM_SUCCESS &&
                  e.stats().guard_faults[static_cast<int>(GuardFault::free_gap)].get() == 1 &&
                  e.stats().free_failures.get() == 0 && e.head() == 3 && all_zero(a.data(), a.size()) &&
                  all_zero(c.data(), c.size()) && holds(b.page(0), page_size(), 2) && e.bytes() == 0;
  // (b's first page still holding its pattern, checked above: nothing of b was released.)
  const size_t p = page_size();
  ::munmap(b.page(0), p);
  ::munmap(b.page(2), p);
  b.release();
  return ok;
}

TEST(FreeGap, AHoleUnderTheEntryIsTheGuardFaultAndNothingOfItIsReleased) {
  platform::LinuxVmOps vm;
  EngineOnRing e(vm, tunables_with(GuardMode::log));
  EXPECT_TRUE(free_with_a_hole_in_the_middle(e));
}

TEST_F(FaultInjectionDeathTest, FreeGapInFatalModeIsSigkillWithTheFaultName) {
  EXPECT_EXIT(
      {
        platform::LinuxVmOps vm;
        EngineOnRing e(vm, tunables_with(GuardMode::fatal));
        _exit(free_with_a_hole_in_the_middle(e) ? 0 : 1);
      },
      ::testing::KilledBySignal(SIGKILL), "guard fault FREE_GAP at 0x[0-9a-f]+");
}

// A FREE the kernel refuses for another reason (MADV_DONTNEED on locked
// pages is EINVAL) is no guard fault: logged once and counted.
TEST_F(FaultInjectionDeathTest, FreeFailureIsLogged) {
  // The message is logged once per process, so it is looked for in a fresh one.
  EXPECT_EXIT(
      {
        platform::LinuxVmOps vm;
        EngineOnRing e(vm, tunables_with(GuardMode::fatal));
        Mapping a = Mapping::pages(1);
        // The system call itself: the sanitizers' mlock() interceptor locks nothing.
        if (::syscall(SYS_mlock, a.data(), a.size()) != 0) _exit(2);
        e.enter(a, VM_RECLAIM_FREE);
        const bool ok = e.engine().flush(1) == VM_RECLAIM_SUCCESS && e.stats().free_failures.get() == 1;
        _exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "madvise\\(0x[0-9a-f]+, [0-9]+\\) failed: errno 22");
}

TEST(FreeFailure, InjectedErrorsAreCountedPerEntry) {
  FakeVmOps vm(FakeVmOps::kPassThrough);
  vm.fail(VmCall::release, EIO, 2, 1);  // the 2nd and 3rd of four
  EngineOnRing e(vm, tunables_with(GuardMode::fatal));
  Mapping m[4];
  for (int i = 0; i < 4; i++) {
    m[i] = Mapping::pages(1);
    fill(m[i].data(), m[i].size(), 10 + i);
    e.enter(m[i], VM_RECLAIM_FREE);
  }
  ASSERT_EQ(e.engine().flush(4), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(vm.failed(VmCall::release), 2);
  EXPECT_EQ(e.stats().free_failures.get(), 2u);
  EXPECT_EQ(e.head(), 4u);
  EXPECT_TRUE(all_zero(m[0].data(), m[0].size()));
  EXPECT_TRUE(holds(m[1].data(), m[1].size(), 11));  // the failed ones were left alone
  EXPECT_TRUE(holds(m[2].data(), m[2].size(), 12));
  EXPECT_TRUE(all_zero(m[3].data(), m[3].size()));
  // The engine goes on: a later entry is reclaimed as usual.
  Mapping n = Mapping::pages(1);
  fill(n.data(), n.size(), 20);
  e.enter(n, VM_RECLAIM_FREE);
  ASSERT_EQ(e.engine().flush(1), VM_RECLAIM_SUCCESS);
  EXPECT_TRUE(all_zero(n.data(), n.size()));
  EXPECT_EQ(e.stats().free_failures.get(), 2u);
}

// ---- DEALLOCATE: munmap failing ----

TEST(MunmapFailure, InLogModeIsCountedAndTheEngineGoesOn) {
  FakeVmOps vm(FakeVmOps::kPassThrough);
  vm.fail(VmCall::unmap, EINVAL);
  EngineOnRing e(vm, tunables_with(GuardMode::log));
  Mapping a = Mapping::pages(2), b = Mapping::pages(2);
  fill(a.data(), a.size(), 1);
  e.enter(a, VM_RECLAIM_DEALLOCATE);
  e.enter(b, VM_RECLAIM_DEALLOCATE);
  ASSERT_EQ(e.engine().flush(2), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(e.guard_faults(GuardFault::deallocate_failure), 1u);
  EXPECT_EQ(e.head(), 2u);
  EXPECT_TRUE(is_mapped(a.data(), a.size()));  // its munmap "failed"
  EXPECT_TRUE(holds(a.data(), a.size(), 1));
  EXPECT_TRUE(is_unmapped(b.data(), b.size()));  // the next entry was still reclaimed
  b.release();
}

TEST_F(FaultInjectionDeathTest, MunmapFailureInFatalModeIsSigkillWithTheFaultName) {
  EXPECT_EXIT(
      {
        FakeVmOps vm(FakeVmOps::kPassThrough);
        vm.fail(VmCall::unmap, EINVAL);
        EngineOnRing e(vm, tunables_with(GuardMode::fatal));
        Mapping a = Mapping::pages(1);
        e.enter(a, VM_RECLAIM_DEALLOCATE);
        e.engine().flush(1);
        _exit(0);  // not reached
      },
      ::testing::KilledBySignal(SIGKILL), "guard fault RECLAIM_DEALLOCATE_FAILURE at 0x[0-9a-f]+");
}

// ---- DEALLOCATE: mincore saying ENOMEM (a gap) ----

TEST(DeallocGap, AHoleUnderTheEntryIsTheGuardFaultAndNothingIsUnmapped) {
  platform::LinuxVmOps vm;
  EngineOnRing e(vm, tunables_with(GuardMode::log));
  Mapping m = Mapping::pages(3);
  fill(m.data(), m.size(), 7);
  ASSERT_EQ(::munmap(m.page(1), page_size()), 0);  // e.g. a double free
  e.enter(m, VM_RECLAIM_DEALLOCATE);
  ASSERT_EQ(e.engine().flush(1), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(e.guard_faults(GuardFault::dealloc_gap), 1u);
  EXPECT_EQ(e.head(), 1u);
  EXPECT_TRUE(holds(m.page(0), page_size(), 7));
  EXPECT_TRUE(is_mapped(m.page(2), page_size()));
}

// A flush of several chunks probes the span of the entries ahead once
// (issue 9); a DEALLOCATE in one chunk unmaps part of that span, and a FREE
// entry over those pages in a later chunk (a use after free) must still be
// FREE_GAP, not a release that fails half-way.
TEST(FreeGap, AnUnmapEarlierInTheFlushIsSeenByALaterFreeEntry) {
  platform::LinuxVmOps vm;
  policy::Tunables t = tunables_with(GuardMode::log);
  t.chunk_size = 2;
  EngineOnRing e(vm, t);
  Mapping m = Mapping::pages(8);
  fill(m.data(), m.size(), 5);
  e.enter(m.page(0), page_size(), VM_RECLAIM_FREE);
  e.enter(m.page(1), page_size(), VM_RECLAIM_FREE);
  e.enter(m.page(2), 2 * page_size(), VM_RECLAIM_DEALLOCATE);
  e.enter(m.page(4), page_size(), VM_RECLAIM_FREE);
  e.enter(m.page(2), 2 * page_size(), VM_RECLAIM_FREE);  // unmapped by the entry before
  e.enter(m.page(5), 3 * page_size(), VM_RECLAIM_FREE);
  ASSERT_EQ(e.engine().flush(6), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(e.head(), 6u);
  EXPECT_EQ(e.guard_faults(GuardFault::free_gap), 1u);
  EXPECT_EQ(e.stats().free_failures.get(), 0u);
  EXPECT_TRUE(is_unmapped(m.page(2), 2 * page_size()));
  EXPECT_TRUE(all_zero(m.page(0), 2 * page_size()));
  EXPECT_TRUE(all_zero(m.page(4), 4 * page_size()));
}

TEST(DeallocGap, InjectedEnomemFromTheProbeIsTheGuardFault) {
  FakeVmOps vm(FakeVmOps::kPassThrough);
  vm.fail(VmCall::probe, ENOMEM);
  EngineOnRing e(vm, tunables_with(GuardMode::log));
  Mapping m = Mapping::pages(2);
  fill(m.data(), m.size(), 8);
  e.enter(m, VM_RECLAIM_DEALLOCATE);
  ASSERT_EQ(e.engine().flush(1), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(e.guard_faults(GuardFault::dealloc_gap), 1u);
  EXPECT_TRUE(holds(m.data(), m.size(), 8));
}

TEST(DeallocGap, AProbeFailingForAnotherReasonDoesNotStopTheUnmap) {
  FakeVmOps vm(FakeVmOps::kPassThrough);
  vm.fail(VmCall::probe, EAGAIN);  // mincore could not tell: no evidence of a gap
  EngineOnRing e(vm, tunables_with(GuardMode::fatal));
  Mapping m = Mapping::pages(2);
  e.enter(m, VM_RECLAIM_DEALLOCATE);
  ASSERT_EQ(e.engine().flush(1), VM_RECLAIM_SUCCESS);
  EXPECT_TRUE(is_unmapped(m.data(), m.size()));
  m.release();
  EXPECT_EQ(e.guard_faults(GuardFault::dealloc_gap), 0u);
}

TEST_F(FaultInjectionDeathTest, GapInFatalModeIsSigkillWithTheFaultName) {
  EXPECT_EXIT(
      {
        platform::LinuxVmOps vm;
        EngineOnRing e(vm, tunables_with(GuardMode::fatal));
        Mapping m = Mapping::pages(3);
        if (::munmap(m.page(1), page_size()) != 0) _exit(2);
        e.enter(m, VM_RECLAIM_DEALLOCATE);
        e.engine().flush(1);
        _exit(0);  // not reached
      },
      ::testing::KilledBySignal(SIGKILL), "guard fault DEALLOC_GAP at 0x[0-9a-f]+");
}

// ---- ring storage: mprotect and madvise on the ring itself ----

TEST(RingStorageFailure, ResizeThatCannotMapTheNewEntriesKeepsTheCapacity) {
  FakeVmOps vm(FakeVmOps::kPassThrough);
  vm.fail(VmCall::protect, ENOMEM);
  EngineOnRing e(vm, tunables_with(GuardMode::fatal), {.len = 16, .max_len = 600});
  Mapping m = Mapping::pages(1);
  e.enter(m, VM_RECLAIM_FREE);
  ASSERT_GT(ring::ring_bytes(400), ring::ring_bytes(16));
  EXPECT_EQ(e.engine().resize(400), VM_RECLAIM_RESOURCE_SHORTAGE);
  EXPECT_EQ(vm.failed(VmCall::protect), 1);
  EXPECT_EQ(e.engine().capacity(), 16u);
  EXPECT_EQ(ring::load(e.ring()->len), 16u);
  EXPECT_EQ(e.head(), 1u);  // the ring was emptied first, as a resize does
  EXPECT_EQ(e.bytes(), 0u);
  // Still a working ring of the old size.
  Mapping n = Mapping::pages(1);
  fill(n.data(), n.size(), 4);
  EXPECT_EQ(e.enter(n, VM_RECLAIM_FREE), 1u);
  ASSERT_EQ(e.engine().flush(1), VM_RECLAIM_SUCCESS);
  EXPECT_TRUE(all_zero(n.data(), n.size()));
}

TEST(RingStorageFailure, ShrinkThatCannotDiscardOnlyCostsMemory) {
  FakeVmOps vm(FakeVmOps::kPassThrough);
  vm.fail(VmCall::discard, EINVAL);
  EngineOnRing e(vm, tunables_with(GuardMode::fatal), {.len = 400, .max_len = 600});
  ASSERT_LT(ring::ring_bytes(16), ring::ring_bytes(400));
  EXPECT_EQ(e.engine().resize(16), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(vm.failed(VmCall::discard), 1);
  EXPECT_EQ(e.engine().capacity(), 16u);
}

}  // namespace
}  // namespace vmreclaim::test
