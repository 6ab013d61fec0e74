// mach_vm_reclaim_round_capacity(): the largest count that fits the
// page-rounded size of a ring of n entries, capped at the maximum.
#include <gtest/gtest.h>
#include <mach/vm_reclaim_private.h>

#include <vmreclaim/ring.hpp>

#include "support/memory.h"

namespace vmreclaim::test {
namespace {

constexpr uint32_t kHeader = sizeof(mach_vm_reclaim_ring_s);
constexpr uint32_t kEntry = sizeof(mach_vm_reclaim_entry_s);

uint32_t per_pages(uint64_t pages) { return static_cast<uint32_t>((pages * page_size() - kHeader) / kEntry); }

TEST(RoundCapacity, OnePage) {
  const uint32_t one_page = per_pages(1);
  if (page_size() == 4096) {
    EXPECT_EQ(one_page, 251u);  // (4096 - 80) / 16
  }
  EXPECT_EQ(mach_vm_reclaim_round_capacity(1), one_page);
  EXPECT_EQ(mach_vm_reclaim_round_capacity(100), one_page);
  EXPECT_EQ(mach_vm_reclaim_round_capacity(one_page), one_page);
  EXPECT_EQ(vmreclaim::Ring::round_capacity(17), one_page);
}

TEST(RoundCapacity, RoundsUpToWholePages) {
  EXPECT_EQ(mach_vm_reclaim_round_capacity(per_pages(1) + 1), per_pages(2));
  EXPECT_EQ(mach_vm_reclaim_round_capacity(per_pages(2)), per_pages(2));
  EXPECT_EQ(mach_vm_reclaim_round_capacity(per_pages(2) + 1), per_pages(3));
  EXPECT_EQ(mach_vm_reclaim_round_capacity(1000), per_pages(4));
  if (page_size() == 4096) {
    EXPECT_EQ(mach_vm_reclaim_round_capacity(252), 507u);
    EXPECT_EQ(mach_vm_reclaim_round_capacity(1000), 1019u);
  }
}

TEST(RoundCapacity, FitsTheSamePagesAndNoMore) {
  const uint64_t page = page_size();
  for (uint32_t n : {1u, 2u, 250u, 251u, 252u, 1000u, 4096u, 65537u, 1000003u}) {
    const uint32_t r = mach_vm_reclaim_round_capacity(n);
    ASSERT_GE(r, n);
    const uint64_t pages_n = (kHeader + uint64_t{n} * kEntry + page - 1) / page;
    const uint64_t pages_r = (kHeader + uint64_t{r} * kEntry + page - 1) / page;
    EXPECT_EQ(pages_n, pages_r) << n;
    EXPECT_GT(kHeader + (uint64_t{r} + 1) * kEntry, pages_r * page) << "one more entry would need another page";
  }
}

TEST(RoundCapacity, CappedAtTheMaximum) {
  EXPECT_EQ(mach_vm_reclaim_round_capacity(VM_RECLAIM_MAX_CAPACITY), VM_RECLAIM_MAX_CAPACITY);
  EXPECT_EQ(mach_vm_reclaim_round_capacity(VM_RECLAIM_MAX_CAPACITY - 1), VM_RECLAIM_MAX_CAPACITY);
  EXPECT_EQ(mach_vm_reclaim_round_capacity(VM_RECLAIM_MAX_CAPACITY + 1), VM_RECLAIM_MAX_CAPACITY);
  EXPECT_EQ(mach_vm_reclaim_round_capacity(UINT32_MAX), VM_RECLAIM_MAX_CAPACITY);
}

}  // namespace
}  // namespace vmreclaim::test
