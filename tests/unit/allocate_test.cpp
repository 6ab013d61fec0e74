// mach_vm_reclaim_ring_allocate(): initial state, argument checks, one ring
// per process, and a new ring after vmreclaim_ring_destroy().
// (Allocation with VMRECLAIM_ENABLED=0 needs a fresh process: see
// tests/process/environment_test.cpp.)
#include <gtest/gtest.h>
#include <mach/vm_reclaim.h>
#include <mach/vm_reclaim_private.h>
#include <vmreclaim/vmreclaim.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vmreclaim/ring.hpp>

#include "ring/layout.h"
#include "support/memory.h"
#include "support/ring_fixture.h"

namespace vmreclaim::test {
namespace {

constexpr uint32_t kOnePage = (4096 - sizeof(mach_vm_reclaim_ring_s)) / sizeof(mach_vm_reclaim_entry_s);

uint32_t one_page_capacity() {
  return static_cast<uint32_t>((page_size() - sizeof(mach_vm_reclaim_ring_s)) / sizeof(mach_vm_reclaim_entry_s));
}

// The line of /proc/self/maps that contains `addr`, or "".
std::string maps_line_of(const void* addr) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto a = reinterpret_cast<uintptr_t>(addr);
  while (std::getline(maps, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2 && a >= lo && a < hi) return line;
  }
  return "";
}

class AllocateTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(vmreclaim_ring_current(), nullptr); }
  void TearDown() override {
    if (mach_vm_reclaim_ring_t r = vmreclaim_ring_current()) {
      EXPECT_EQ(vmreclaim_ring_destroy(r), VM_RECLAIM_SUCCESS);
    }
  }
};

TEST_F(AllocateTest, NewRingIsZeroedAndHoldsOnePage) {
  mach_vm_reclaim_ring_t ring = nullptr;
  const uint32_t one_page = one_page_capacity();
  ASSERT_EQ(mach_vm_reclaim_ring_allocate(&ring, one_page, one_page), VM_RECLAIM_SUCCESS);
  ASSERT_NE(ring, nullptr);
  EXPECT_EQ(vmreclaim_ring_current(), ring);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(ring) % page_size(), 0u);
  if (page_size() == 4096) {
    EXPECT_EQ(one_page_capacity(), kOnePage);
  }

  mach_vm_reclaim_count_t cap = 0;
  EXPECT_EQ(mach_vm_reclaim_ring_capacity(ring, &cap), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(cap, one_page);
  EXPECT_EQ(ring->len, one_page);
  EXPECT_EQ(ring->max_len, one_page);
  EXPECT_EQ(ring->head, 0u);
  EXPECT_EQ(ring->busy, 0u);
  EXPECT_EQ(ring->tail, 0u);
  EXPECT_EQ(ring->reclaimable_bytes, 0u);
  EXPECT_EQ(ring->reclaimable_bytes_min, 0u);
  for (uint32_t i = 0; i < ring->len; i++) {
    const mach_vm_reclaim_entry_s& e = ring->entries[i];
    ASSERT_TRUE(e.address == 0 && e.size == 0 && e.behavior == 0) << "entry " << i;
  }
  // Exactly one page is accessible: the ring is a header and its entries.
  EXPECT_TRUE(is_mapped(ring, page_size()));
}

TEST_F(AllocateTest, RingMappingIsNamed) {
  mach_vm_reclaim_ring_t ring = nullptr;
  ASSERT_EQ(mach_vm_reclaim_ring_allocate(&ring, 1, 1), VM_RECLAIM_SUCCESS);
  // Tools find rings by name ([anon:vm_reclaim_ring] or a memfd of that name).
  EXPECT_NE(maps_line_of(ring).find("vm_reclaim_ring"), std::string::npos) << maps_line_of(ring);
}

TEST_F(AllocateTest, MaxCapacityIsReservedUpFront) {
  mach_vm_reclaim_ring_t ring = nullptr;
  ASSERT_EQ(mach_vm_reclaim_ring_allocate(&ring, 1, 10000), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(ring->len, 1u);
  EXPECT_EQ(ring->max_len, 10000u);
  // The whole maximum is one reservation: growing never moves the ring.
  const std::string line = maps_line_of(ring);
  unsigned long lo = 0, hi = 0;
  ASSERT_EQ(std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi), 2) << line;
  EXPECT_EQ(lo, reinterpret_cast<uintptr_t>(ring));
  ASSERT_EQ(mach_vm_reclaim_ring_resize(ring, ring->max_len), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(vmreclaim_ring_current(), ring);
  EXPECT_EQ(ring->len, ring->max_len);
  EXPECT_TRUE(is_mapped(ring, vmreclaim::ring::ring_bytes(ring->max_len)));
}

// As on Darwin (whose own tests assert these values): a ring keeps exactly
// the capacities it was given, and only its mapping is rounded to pages.
TEST_F(AllocateTest, CapacitiesAreExactlyTheOnesGiven) {
  constexpr uint32_t n = 300;  // not a page's worth of entries: rounding would show
  ASSERT_NE(mach_vm_reclaim_round_capacity(n), n);
  ASSERT_NE(mach_vm_reclaim_round_capacity(4 * n), 4 * n);
  mach_vm_reclaim_ring_t ring = nullptr;
  ASSERT_EQ(mach_vm_reclaim_ring_allocate(&ring, n, 4 * n), VM_RECLAIM_SUCCESS);
  mach_vm_reclaim_count_t cap = 0;
  EXPECT_EQ(mach_vm_reclaim_ring_capacity(ring, &cap), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(cap, n);
  EXPECT_EQ(ring->len, n);
  EXPECT_EQ(ring->max_len, 4 * n);
  // The maximum is the one given, not the page-rounded one.
  EXPECT_EQ(mach_vm_reclaim_ring_resize(ring, 4 * n + 1), VM_RECLAIM_INVALID_CAPACITY);
  EXPECT_EQ(ring->len, n);
  ASSERT_EQ(mach_vm_reclaim_ring_resize(ring, 4 * n), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(mach_vm_reclaim_ring_capacity(ring, &cap), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(cap, 4 * n);
  ASSERT_EQ(mach_vm_reclaim_ring_resize(ring, 7), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(mach_vm_reclaim_ring_capacity(ring, &cap), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(cap, 7u);
  // And the ring holds exactly that many entries.
  Mapping m = Mapping::pages(8);
  bool update = false;
  for (uint32_t i = 0; i < 8; i++) {
    mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
    ASSERT_EQ(
        mach_vm_reclaim_try_enter(ring, m.address() + i * page_size(), page_size(), VM_RECLAIM_FREE, &id, &update),
        VM_RECLAIM_SUCCESS);
    EXPECT_EQ(id, i < 7 ? mach_vm_reclaim_id_t{i} : VM_RECLAIM_ID_NULL) << i;
  }
  EXPECT_EQ(vmreclaim_ring_drain(ring, nullptr), VM_RECLAIM_SUCCESS);  // while m is still mapped
}

TEST_F(AllocateTest, TheLargestRingCanBeAllocated) {
  mach_vm_reclaim_ring_t ring = nullptr;
  ASSERT_EQ(mach_vm_reclaim_ring_allocate(&ring, VM_RECLAIM_MAX_CAPACITY, VM_RECLAIM_MAX_CAPACITY), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(ring->len, VM_RECLAIM_MAX_CAPACITY);
}

TEST_F(AllocateTest, InvalidArguments) {
  struct Case {
    uint32_t initial, max;
    mach_vm_reclaim_error_t want;
  };
  const Case cases[] = {
      {0, 1, VM_RECLAIM_INVALID_ARGUMENT},
      {1, 0, VM_RECLAIM_INVALID_ARGUMENT},
      {0, 0, VM_RECLAIM_INVALID_ARGUMENT},
      {2, 1, VM_RECLAIM_INVALID_ARGUMENT},
      {300, 299, VM_RECLAIM_INVALID_ARGUMENT},
      {1, VM_RECLAIM_MAX_CAPACITY + 1, VM_RECLAIM_INVALID_CAPACITY},
      {VM_RECLAIM_MAX_CAPACITY + 1, VM_RECLAIM_MAX_CAPACITY + 1, VM_RECLAIM_INVALID_CAPACITY},
      {1, UINT32_MAX, VM_RECLAIM_INVALID_CAPACITY},
  };
  for (const Case& c : cases) {
    auto* sentinel = reinterpret_cast<mach_vm_reclaim_ring_t>(uintptr_t{0x1234});
    mach_vm_reclaim_ring_t ring = sentinel;
    EXPECT_EQ(mach_vm_reclaim_ring_allocate(&ring, c.initial, c.max), c.want) << c.initial << ", " << c.max;
    EXPECT_EQ(ring, sentinel) << "a failed allocate must not write the out-pointer";
    EXPECT_EQ(vmreclaim_ring_current(), nullptr);
  }
  EXPECT_EQ(mach_vm_reclaim_ring_allocate(nullptr, 1, 1), VM_RECLAIM_INVALID_ARGUMENT);
  EXPECT_EQ(vmreclaim_ring_current(), nullptr);
}

TEST_F(AllocateTest, SecondRingIsAResourceShortage) {
  mach_vm_reclaim_ring_t ring = nullptr;
  ASSERT_EQ(mach_vm_reclaim_ring_allocate(&ring, 1, 1), VM_RECLAIM_SUCCESS);
  mach_vm_reclaim_ring_t second = nullptr;
  EXPECT_EQ(mach_vm_reclaim_ring_allocate(&second, 1, 1), VM_RECLAIM_RESOURCE_SHORTAGE);
  EXPECT_EQ(second, nullptr);
  EXPECT_EQ(vmreclaim_ring_current(), ring);
  // The first ring is unaffected.
  Mapping m = Mapping::pages(1);
  mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
  bool update = false;
  EXPECT_EQ(mach_vm_reclaim_try_enter(ring, m.address(), m.size(), VM_RECLAIM_FREE, &id, &update), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(id, 0u);
  mach_vm_reclaim_state_t state = 0;
  EXPECT_EQ(mach_vm_reclaim_try_cancel(ring, id, m.address(), m.size(), VM_RECLAIM_FREE, &state, &update),
            VM_RECLAIM_SUCCESS);
  EXPECT_EQ(state, VM_RECLAIM_UNRECLAIMED);
}

TEST_F(AllocateTest, DestroyLetsTheProcessAllocateAgain) {
  Mapping m = Mapping::pages(1);
  fill(m.data(), m.size(), 7);
  mach_vm_reclaim_ring_t ring = nullptr;
  ASSERT_EQ(mach_vm_reclaim_ring_allocate(&ring, 1, 1), VM_RECLAIM_SUCCESS);
  mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
  bool update = false;
  ASSERT_EQ(mach_vm_reclaim_try_enter(ring, m.address(), m.size(), VM_RECLAIM_FREE, &id, &update), VM_RECLAIM_SUCCESS);
  // Destroy reclaims what the ring holds before unmapping it.
  ASSERT_EQ(vmreclaim_ring_destroy(ring), VM_RECLAIM_SUCCESS);
  EXPECT_TRUE(all_zero(m.data(), m.size()));
  EXPECT_EQ(vmreclaim_ring_current(), nullptr);
  EXPECT_EQ(vmreclaim_ring_destroy(ring), VM_RECLAIM_INVALID_RING);

  mach_vm_reclaim_ring_t again = nullptr;
  ASSERT_EQ(mach_vm_reclaim_ring_allocate(&again, 1, 1), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(again->tail, 0u);
  EXPECT_EQ(again->reclaimable_bytes, 0u);
  id = VM_RECLAIM_ID_NULL;
  ASSERT_EQ(mach_vm_reclaim_try_enter(again, m.address(), m.size(), VM_RECLAIM_FREE, &id, &update), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(id, 0u) << "a new ring numbers its entries from 0";
  EXPECT_EQ(vmreclaim_ring_destroy(again), VM_RECLAIM_SUCCESS);  // while m is still mapped
}

TEST_F(AllocateTest, CxxRingIsRaii) {
  {
    auto ring = vmreclaim::Ring::allocate(1, 1);
    ASSERT_TRUE(ring.has_value());
    EXPECT_TRUE(static_cast<bool>(*ring));
    EXPECT_EQ(vmreclaim_ring_current(), ring->native_handle());
    auto second = vmreclaim::Ring::allocate(1, 1);
    EXPECT_EQ(second.error(), vmreclaim::errc::resource_shortage);
    EXPECT_EQ(vmreclaim::Ring::allocate(0, 1).error(), vmreclaim::errc::invalid_argument);
    // Moving transfers ownership; only the last owner destroys.
    vmreclaim::Ring moved = std::move(*ring);
    EXPECT_FALSE(static_cast<bool>(*ring));
    EXPECT_EQ(moved.capacity().value_or(0), 1u);
  }
  EXPECT_EQ(vmreclaim_ring_current(), nullptr);
}

}  // namespace
}  // namespace vmreclaim::test
