// The copy and the query of the introspection API on this process's own ring
// (pid = getpid()), and on hand-made copies that lie about their shape.
#include <gtest/gtest.h>
#include <mach/vm_reclaim_private.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vmreclaim/ring.hpp>

#include <cerrno>
#include <vector>

#include "introspect/ring_copy.h"

namespace vmreclaim::test {
namespace {

using vmreclaim::introspect::query_copy;

// A copy whose image has `slots` entries, entry i = {0x1000 * (i + 1), 4096 * (i + 1), FREE}.
mach_vm_reclaim_ring_copy_s make_copy(uint32_t len, uint32_t max_len, uint64_t head, uint64_t tail, uint64_t slots) {
  mach_vm_reclaim_ring_copy_s c;
  c.slots = slots;
  c.image.assign((sizeof(mach_vm_reclaim_ring_s) + slots * sizeof(mach_vm_reclaim_entry_s)) / 8, 0);
  mach_vm_reclaim_ring_s* r = c.ring();
  r->len = len;
  r->max_len = max_len;
  r->head = r->busy = head;
  r->tail = tail;
  for (uint64_t i = 0; i < slots; i++) {
    r->entries[i].address = 0x1000 * (i + 1);
    r->entries[i].size = static_cast<uint32_t>(4096 * (i + 1));
    r->entries[i].behavior = VM_RECLAIM_FREE;
  }
  return c;
}

TEST(CopiedRingQuery, ReadsInIdOrderAcrossTheWrap) {
  auto c = make_copy(8, 8, 6, 10, 8);  // IDs 6..9 live in slots 6, 7, 0, 1
  mach_vm_reclaim_count_t n = 0;
  ASSERT_EQ(query_copy(c, nullptr, &n), VM_RECLAIM_SUCCESS);
  ASSERT_EQ(n, 4u);
  std::vector<mach_vm_reclaim_region_s> out(n);
  ASSERT_EQ(query_copy(c, out.data(), &n), VM_RECLAIM_SUCCESS);
  ASSERT_EQ(n, 4u);
  const uint64_t expect_slot[] = {6, 7, 0, 1};
  for (int i = 0; i < 4; i++) {
    EXPECT_EQ(out[i].vmrr_addr, 0x1000 * (expect_slot[i] + 1));
    EXPECT_EQ(out[i].vmrr_size, 4096 * (expect_slot[i] + 1));
    EXPECT_EQ(out[i].vmrr_behavior, VM_RECLAIM_FREE);
  }
}

TEST(CopiedRingQuery, ShortBufferGetsTheShortCount) {
  auto c = make_copy(8, 8, 0, 5, 8);
  std::vector<mach_vm_reclaim_region_s> out(5);
  mach_vm_reclaim_count_t n = 2;
  ASSERT_EQ(query_copy(c, out.data(), &n), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(out[1].vmrr_addr, 0x2000u);
  EXPECT_EQ(out[2].vmrr_addr, 0u) << "nothing written past the count";
}

TEST(CopiedRingQuery, CancelInFlightReadsAsEmpty) {
  auto c = make_copy(8, 8, 5, 3, 8);
  mach_vm_reclaim_count_t n = 99;
  EXPECT_EQ(query_copy(c, nullptr, &n), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(n, 0u);
}

TEST(CopiedRingQuery, MalformedCopiesGiveWhatCouldBeRead) {
  std::vector<mach_vm_reclaim_region_s> out(64);
  mach_vm_reclaim_count_t n;

  auto zero_len = make_copy(0, 8, 0, 4, 8);
  n = 64;
  EXPECT_EQ(query_copy(zero_len, out.data(), &n), VM_RECLAIM_INVALID_CAPACITY);
  EXPECT_EQ(n, 0u);

  // The header claims 16 slots but only 4 were readable: IDs 2, 3 are in
  // the image, ID 4 is not.
  auto short_image = make_copy(16, 16, 2, 9, 4);
  n = 64;
  EXPECT_EQ(query_copy(short_image, out.data(), &n), VM_RECLAIM_INVALID_CAPACITY);
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(out[0].vmrr_addr, 0x3000u);
  n = 0;
  EXPECT_EQ(query_copy(short_image, nullptr, &n), VM_RECLAIM_INVALID_CAPACITY);
  EXPECT_EQ(n, 2u);

  auto over_max = make_copy(8, 4, 0, 2, 8);
  n = 64;
  EXPECT_EQ(query_copy(over_max, out.data(), &n), VM_RECLAIM_INVALID_CAPACITY);
  EXPECT_EQ(n, 2u);

  // More IDs in flight than slots: each slot once.
  auto overfull = make_copy(8, 8, 0, 1000000, 8);
  n = 64;
  EXPECT_EQ(query_copy(overfull, out.data(), &n), VM_RECLAIM_INVALID_CAPACITY);
  EXPECT_EQ(n, 8u);

  // IDs near the top of the range.
  auto huge_ids = make_copy(8, 8, UINT64_MAX - 3, UINT64_MAX, 8);
  n = 64;
  EXPECT_EQ(query_copy(huge_ids, out.data(), &n), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(n, 3u);
}

TEST(CopiedRingApi, ChecksHandlesAndClearsOnFree) {
  mach_vm_reclaim_count_t n = 0;
  mach_vm_reclaim_ring_copy_t none = nullptr;
  EXPECT_EQ(mach_vm_reclaim_copied_ring_query(&none, nullptr, &n), VM_RECLAIM_INVALID_RING);
  EXPECT_EQ(mach_vm_reclaim_copied_ring_query(nullptr, nullptr, &n), VM_RECLAIM_INVALID_RING);
  EXPECT_EQ(mach_vm_reclaim_copied_ring_free(&none), VM_RECLAIM_INVALID_RING);
  EXPECT_EQ(mach_vm_reclaim_get_rings_for_task(::getpid(), nullptr, nullptr), VM_RECLAIM_INVALID_ARGUMENT);
  mach_vm_reclaim_ring_ref_s ref{};
  EXPECT_EQ(mach_vm_reclaim_ring_copy(::getpid(), nullptr, &none), VM_RECLAIM_INVALID_ARGUMENT);
  EXPECT_EQ(mach_vm_reclaim_ring_copy(::getpid(), &ref, nullptr), VM_RECLAIM_INVALID_ARGUMENT);
  EXPECT_EQ(mach_vm_reclaim_ring_copy(::getpid(), &ref, &none), VM_RECLAIM_INVALID_RING);  // size 0
}

TEST(CopiedRingApi, CopiesThisProcesssRingWithCancelledSlots) {
  auto ring = vmreclaim::Ring::allocate(64, 64);
  ASSERT_TRUE(ring) << ring.error().message();
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  void* mem = ::mmap(nullptr, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* p = static_cast<char*>(mem);
  const auto base = reinterpret_cast<uint64_t>(mem);
  vmreclaim::Id ids[4];
  for (int i = 0; i < 4; i++) {
    auto e = ring->try_enter(p + i * page, page, vmreclaim::Action::free);
    ASSERT_TRUE(e && e->entered());
    ids[i] = e->id;
  }
  auto c = ring->try_cancel(ids[1], p + page, page, vmreclaim::Action::free);
  ASSERT_TRUE(c && c->reusable());

  mach_vm_reclaim_ring_ref_s ref{};
  mach_vm_reclaim_count_t rings = 1;
  ASSERT_EQ(mach_vm_reclaim_get_rings_for_task(::getpid(), &ref, &rings), VM_RECLAIM_SUCCESS);
  ASSERT_EQ(rings, 1u);
  mach_vm_reclaim_ring_copy_t copy = nullptr;
  ASSERT_EQ(mach_vm_reclaim_ring_copy(::getpid(), &ref, &copy), VM_RECLAIM_SUCCESS);
  // The copy is a snapshot: later changes to the ring do not show in it.
  ASSERT_TRUE(ring->try_enter(p + 3 * page, page, vmreclaim::Action::free).has_value());
  mach_vm_reclaim_region_s out[8]{};
  mach_vm_reclaim_count_t n = 8;
  ASSERT_EQ(mach_vm_reclaim_copied_ring_query(&copy, out, &n), VM_RECLAIM_SUCCESS);
  ASSERT_EQ(n, 4u);
  EXPECT_EQ(out[0].vmrr_addr, base);
  EXPECT_EQ(out[1].vmrr_addr, 0u) << "a cancelled slot reads as zero";
  EXPECT_EQ(out[1].vmrr_size, 0u);
  EXPECT_EQ(out[2].vmrr_addr, base + 2 * page);
  EXPECT_EQ(out[3].vmrr_size, page);
  ASSERT_EQ(mach_vm_reclaim_copied_ring_free(&copy), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(copy, nullptr);
  ring->reset();
  ::munmap(mem, 4 * page);
}

TEST(CopiedRingApi, UnreadableAddressIsAnInvalidArgument) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  void* hole = ::mmap(nullptr, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(hole, MAP_FAILED);
  mach_vm_reclaim_ring_ref_s ref{reinterpret_cast<uint64_t>(hole), page};
  mach_vm_reclaim_ring_copy_t copy = nullptr;
  errno = 0;
  EXPECT_EQ(mach_vm_reclaim_ring_copy(::getpid(), &ref, &copy), VM_RECLAIM_INVALID_ARGUMENT);
  EXPECT_EQ(errno, EFAULT);
  EXPECT_EQ(copy, nullptr);
  ::munmap(hole, page);
}

TEST(CopiedRingApi, LyingHeaderIsBoundedByTheRef) {
  // A "ring" in ordinary memory whose header claims the maximum capacity:
  // the copy reads no more than the ref allows and the query says malformed.
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  void* mem = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* r = static_cast<mach_vm_reclaim_ring_s*>(mem);
  r->len = r->max_len = VM_RECLAIM_MAX_CAPACITY;
  r->head = 0;
  r->tail = 1000;
  mach_vm_reclaim_ring_ref_s ref{reinterpret_cast<uint64_t>(mem), page};
  mach_vm_reclaim_ring_copy_t copy = nullptr;
  ASSERT_EQ(mach_vm_reclaim_ring_copy(::getpid(), &ref, &copy), VM_RECLAIM_SUCCESS);
  const uint64_t fit = (page - sizeof(mach_vm_reclaim_ring_s)) / sizeof(mach_vm_reclaim_entry_s);
  EXPECT_EQ(copy->slots, fit);
  mach_vm_reclaim_count_t n = 0;
  EXPECT_EQ(mach_vm_reclaim_copied_ring_query(&copy, nullptr, &n), VM_RECLAIM_INVALID_CAPACITY);
  EXPECT_EQ(n, fit);
  EXPECT_EQ(mach_vm_reclaim_copied_ring_free(&copy), VM_RECLAIM_SUCCESS);
  ::munmap(mem, page);
}

}  // namespace
}  // namespace vmreclaim::test
