// LinuxVmOps::release on real memory when part of a batch fails: the kernel's
// process_madvise() stops at the first range it cannot advise and reports how
// much it did; everything from that range on must then go through madvise()
// one range at a time, so that exactly the bad range is reported and every
// other range is still released (src/platform/linux/vm_ops.cpp).
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <vector>

#include "platform/linux/vm_ops.h"
#include "support/memory.h"

namespace vmreclaim::test {
namespace {

using platform::FreeAdvice;
using platform::LinuxVmOps;
using platform::Span;

// Spans of `pages` pages each, laid out in one mapping with a page between
// neighbours, so that a hole punched into one span is surrounded by mapped
// pages and no later mmap() (of this test, gtest or malloc) can land in it.
// The array is followed by as many spans that no count can cover, so that a
// release_batch that reads past the spans it was given (finding F5, fixed in
// 3c6f456) reads those, deterministically, instead of whatever lies beyond.
class Spans {
 public:
  explicit Spans(std::vector<size_t> pages) {
    size_t total = 1;
    for (size_t p : pages) total += p + 1;
    map_ = Mapping::pages(total);
    size_t at = 1;
    for (size_t i = 0; i < pages.size(); i++) {
      spans_.push_back({reinterpret_cast<uint64_t>(map_.page(at)), pages[i] * page_size()});
      fill(map_.page(at), pages[i] * page_size(), 50 + i);
      at += pages[i] + 1;
    }
    spans_.resize(2 * pages.size(), Span{0, UINT64_MAX});
  }
  Span* data() { return spans_.data(); }
  void* page_of(size_t span, size_t page) const {
    return reinterpret_cast<void*>(spans_[span].addr + page * page_size());
  }
  bool released(size_t span) const { return all_zero(reinterpret_cast<void*>(spans_[span].addr), spans_[span].len); }
  // Punches a hole: the last thing a test does before it calls release().
  bool unmap_page(size_t span, size_t page) { return ::munmap(page_of(span, page), page_size()) == 0; }

 private:
  Mapping map_;
  std::vector<Span> spans_;
};

// System calls one batch of two good spans costs on this kernel: 1 with
// PIDFD_SELF, more with a pidfd of our own, 2 (one madvise each) without
// batching.
uint64_t cost_of_a_good_batch(LinuxVmOps& vm) {
  Spans s({1, 1});
  int errs[2];
  vm.release(s.data(), 2, FreeAdvice::dontneed, errs);  // settles how this kernel batches
  const uint64_t before = vm.syscalls();
  vm.release(s.data(), 2, FreeAdvice::dontneed, errs);
  return vm.syscalls() - before;
}

TEST(ReleaseFallback, AFailingRangeInTheMiddleFallsBackToMadvisePerRange) {
  LinuxVmOps vm;
  const uint64_t batch_cost = cost_of_a_good_batch(vm);
  Spans s({2, 3, 1, 2});
  int errs[4] = {-1, -1, -1, -1};
  ASSERT_TRUE(s.unmap_page(1, 1));  // the second range has a hole in its middle
  const uint64_t before = vm.syscalls();
  vm.release(s.data(), 4, FreeAdvice::dontneed, errs);

  EXPECT_EQ(errs[0], 0);
  EXPECT_EQ(errs[1], ENOMEM);
  EXPECT_EQ(errs[2], 0);
  EXPECT_EQ(errs[3], 0);
  EXPECT_TRUE(s.released(0));
  EXPECT_TRUE(s.released(2));
  EXPECT_TRUE(s.released(3));
  if (vm.batching()) {
    // One batch that advised the first range and stopped at the second, then
    // madvise for the second, third and fourth.
    EXPECT_EQ(vm.syscalls() - before, batch_cost + 3);
    // One bad range is not a reason to stop batching.
    EXPECT_TRUE(vm.batching());
  } else {
    EXPECT_EQ(vm.syscalls() - before, 4u);
  }
}

TEST(ReleaseFallback, AFailingFirstRangeStillReleasesTheOthers) {
  LinuxVmOps vm;
  Spans s({2, 2, 2});
  int errs[3] = {-1, -1, -1};
  ASSERT_TRUE(s.unmap_page(0, 0));
  vm.release(s.data(), 3, FreeAdvice::dontneed, errs);
  EXPECT_EQ(errs[0], ENOMEM);
  EXPECT_EQ(errs[1], 0);
  EXPECT_EQ(errs[2], 0);
  EXPECT_TRUE(s.released(1));
  EXPECT_TRUE(s.released(2));
}

// Ranges of different sizes before and after the failing one: the batch's
// short count must be matched against the ranges in order. Finding F5: the
// count was matched against ranges 0, 2, 4, ... (the index advanced twice
// per step), so here the failing range and the one after it were taken as
// done: no error for the failing range, and the next range never released.
TEST(ReleaseFallback, AfterAFailureEveryLaterRangeIsReleased) {
  LinuxVmOps vm;
  Spans s({1, 4, 1, 1, 1, 1, 1, 1, 1, 1, 9});
  int errs[11];
  std::fill(std::begin(errs), std::end(errs), -1);
  ASSERT_TRUE(s.unmap_page(3, 0));
  vm.release(s.data(), 11, FreeAdvice::dontneed, errs);
  for (int i = 0; i < 11; i++) {
    if (i == 3) continue;
    EXPECT_EQ(errs[i], 0) << i;
    EXPECT_TRUE(s.released(i)) << i;
  }
  EXPECT_EQ(errs[3], ENOMEM);
}

TEST(ReleaseFallback, AFailingLastRangeKeepsTheBatchedOnes) {
  LinuxVmOps vm;
  Spans s({1, 1, 1, 1, 1});
  int errs[5] = {-1, -1, -1, -1, -1};
  ASSERT_TRUE(s.unmap_page(4, 0));
  vm.release(s.data(), 5, FreeAdvice::dontneed, errs);
  for (int i = 0; i < 4; i++) {
    EXPECT_EQ(errs[i], 0) << i;
    EXPECT_TRUE(s.released(i)) << i;
  }
  EXPECT_EQ(errs[4], ENOMEM);
}

}  // namespace
}  // namespace vmreclaim::test
