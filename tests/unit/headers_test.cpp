// The public headers: Darwin's numeric values, the ring layout, C11 and C++
// agreeing on both, and the C++ error integration.
#include <gtest/gtest.h>
#include <mach/vm_reclaim.h>
#include <mach/vm_reclaim_private.h>
#include <vmreclaim/vmreclaim.h>

#include <cstddef>
#include <string>
#include <system_error>
#include <vmreclaim/error.hpp>
#include <vmreclaim/result.hpp>
#include <vmreclaim/ring.hpp>

#include "control/stats_json.h"
#include "engine/stats.h"
#include "support/memory.h"
#include "unit/headers_c11.h"

namespace vmreclaim::test {
namespace {

TEST(Headers, ErrorValuesAreDarwins) {
  EXPECT_EQ(VM_RECLAIM_SUCCESS, 0);
  EXPECT_EQ(VM_RECLAIM_INVALID_ARGUMENT, 0x20004001);
  EXPECT_EQ(VM_RECLAIM_NOT_SUPPORTED, 0x20004002);
  EXPECT_EQ(VM_RECLAIM_INVALID_REGION_SIZE, 0x20004003);
  EXPECT_EQ(VM_RECLAIM_INVALID_CAPACITY, 0x20004004);
  EXPECT_EQ(VM_RECLAIM_INVALID_ID, 0x20004005);
  EXPECT_EQ(VM_RECLAIM_RESOURCE_SHORTAGE, 0x20004006);
  EXPECT_EQ(VM_RECLAIM_INVALID_RING, 0x20004007);
  // The Mach error composition the values come from.
  EXPECT_EQ(err_vm, 0x8 << 26);
  EXPECT_EQ(err_sub(1), 1 << 14);
  EXPECT_EQ(err_vm_reclaim(5), VM_RECLAIM_INVALID_ID);
}

TEST(Headers, ActionAndStateValuesAreDarwins) {
  EXPECT_EQ(VM_RECLAIM_FREE, 1);
  EXPECT_EQ(VM_RECLAIM_DEALLOCATE, 2);
  EXPECT_EQ(VM_RECLAIM_UNRECLAIMED, 1);
  EXPECT_EQ(VM_RECLAIM_FREED, 2);
  EXPECT_EQ(VM_RECLAIM_DEALLOCATED, 3);
  EXPECT_EQ(VM_RECLAIM_BUSY, 4);
  EXPECT_EQ(VM_RECLAIM_ID_NULL, UINT64_MAX);
  EXPECT_EQ(VM_RECLAIM_REGION_SIZE_MAX, uint64_t{UINT32_MAX});
  EXPECT_EQ(sizeof(mach_vm_reclaim_action_t), 1u);
  EXPECT_EQ(sizeof(mach_vm_reclaim_state_t), 4u);
  EXPECT_EQ(sizeof(mach_vm_reclaim_error_t), 4u);
}

TEST(Headers, IsReusable) {
  EXPECT_TRUE(mach_vm_reclaim_is_reusable(VM_RECLAIM_UNRECLAIMED));
  EXPECT_TRUE(mach_vm_reclaim_is_reusable(VM_RECLAIM_FREED));
  EXPECT_FALSE(mach_vm_reclaim_is_reusable(VM_RECLAIM_DEALLOCATED));
  EXPECT_FALSE(mach_vm_reclaim_is_reusable(VM_RECLAIM_BUSY));
  EXPECT_FALSE(mach_vm_reclaim_is_reusable(0));
  EXPECT_TRUE(vmreclaim::is_reusable(vmreclaim::State::freed));
  EXPECT_FALSE(vmreclaim::is_reusable(vmreclaim::State::busy));
}

TEST(Headers, RingLayout) {
  EXPECT_EQ(sizeof(mach_vm_reclaim_entry_s), 16u);
  EXPECT_EQ(sizeof(mach_vm_reclaim_ring_s) % 16, 0u);
  EXPECT_EQ(sizeof(mach_vm_reclaim_ring_s), 80u);
  EXPECT_EQ(offsetof(mach_vm_reclaim_entry_s, address), 0u);
  EXPECT_EQ(offsetof(mach_vm_reclaim_entry_s, size), 8u);
  EXPECT_EQ(offsetof(mach_vm_reclaim_entry_s, behavior), 12u);
  EXPECT_EQ(offsetof(mach_vm_reclaim_ring_s, entries), sizeof(mach_vm_reclaim_ring_s));
  // The largest ring, header included, is 128 MiB.
  EXPECT_EQ(sizeof(mach_vm_reclaim_ring_s) + uint64_t{VM_RECLAIM_MAX_CAPACITY} * 16, 128ull << 20);
}

TEST(Headers, C11SeesTheSameLayoutAsCxx) {
  c11_ring_layout c{};
  c11_get_ring_layout(&c);
  EXPECT_EQ(c.entry_size, sizeof(mach_vm_reclaim_entry_s));
  EXPECT_EQ(c.header_size, sizeof(mach_vm_reclaim_ring_s));
  EXPECT_EQ(c.entry_address, offsetof(mach_vm_reclaim_entry_s, address));
  EXPECT_EQ(c.entry_size_field, offsetof(mach_vm_reclaim_entry_s, size));
  EXPECT_EQ(c.entry_behavior, offsetof(mach_vm_reclaim_entry_s, behavior));
  EXPECT_EQ(c.len, offsetof(mach_vm_reclaim_ring_s, len));
  EXPECT_EQ(c.max_len, offsetof(mach_vm_reclaim_ring_s, max_len));
  EXPECT_EQ(c.last_sample_abs, offsetof(mach_vm_reclaim_ring_s, last_sample_abs));
  EXPECT_EQ(c.next_sample_deadline_abs, offsetof(mach_vm_reclaim_ring_s, next_sample_deadline_abs));
  EXPECT_EQ(c.reclaimable_bytes, offsetof(mach_vm_reclaim_ring_s, reclaimable_bytes));
  EXPECT_EQ(c.reclaimable_bytes_min, offsetof(mach_vm_reclaim_ring_s, reclaimable_bytes_min));
  EXPECT_EQ(c.head, offsetof(mach_vm_reclaim_ring_s, head));
  EXPECT_EQ(c.busy, offsetof(mach_vm_reclaim_ring_s, busy));
  EXPECT_EQ(c.tail, offsetof(mach_vm_reclaim_ring_s, tail));
  EXPECT_EQ(c.entries, offsetof(mach_vm_reclaim_ring_s, entries));
  EXPECT_EQ(c.max_capacity, VM_RECLAIM_MAX_CAPACITY);
}

TEST(Headers, C11SeesTheSameConstantsAsCxx) {
  int64_t c[C11_CONSTANTS];
  c11_get_constants(c);
  const int64_t cxx[C11_CONSTANTS] = {
      VM_RECLAIM_SUCCESS,
      VM_RECLAIM_INVALID_ARGUMENT,
      VM_RECLAIM_NOT_SUPPORTED,
      VM_RECLAIM_INVALID_REGION_SIZE,
      VM_RECLAIM_INVALID_CAPACITY,
      VM_RECLAIM_INVALID_ID,
      VM_RECLAIM_RESOURCE_SHORTAGE,
      VM_RECLAIM_INVALID_RING,
      VM_RECLAIM_FREE,
      VM_RECLAIM_DEALLOCATE,
      VM_RECLAIM_UNRECLAIMED,
      VM_RECLAIM_FREED,
      VM_RECLAIM_DEALLOCATED,
      VM_RECLAIM_BUSY,
  };
  for (int i = 0; i < C11_CONSTANTS; i++) EXPECT_EQ(c[i], cxx[i]) << "constant #" << i;
  EXPECT_EQ(c11_id_null(), VM_RECLAIM_ID_NULL);
}

TEST(Headers, C11ProgramUsesTheApi) {
  Mapping region = Mapping::pages(2);
  ASSERT_TRUE(region.ok());
  EXPECT_EQ(c11_ring_roundtrip(region.data(), region.size()), 0);
  EXPECT_EQ(vmreclaim_ring_current(), nullptr);
}

TEST(Headers, C11AndTheEngineNameTheGuardFaultsAlike) {
  // One table (guard_faults.def) for C, the engine and the control endpoint.
  for (int f = 0; f < VMRECLAIM_GUARD_COUNT; f++) {
    ASSERT_NE(c11_guard_fault_name(f), nullptr) << f;
    EXPECT_STREQ(c11_guard_fault_name(f), vmreclaim::engine::guard_name(static_cast<vmreclaim::engine::GuardFault>(f)));
    EXPECT_STREQ(c11_guard_fault_name(f), vmreclaim::control::guard_fault_name(f));
  }
  EXPECT_EQ(c11_guard_fault_name(VMRECLAIM_GUARD_COUNT), nullptr);
  EXPECT_STREQ(vmreclaim::engine::guard_name(vmreclaim::engine::GuardFault::dealloc_gap), "DEALLOC_GAP");
  EXPECT_STREQ(vmreclaim::engine::guard_name(vmreclaim::engine::GuardFault::engine_overlap), "RECLAIM_ENGINE_OVERLAP");
  EXPECT_STREQ(vmreclaim::control::cause_name(VMRECLAIM_CAUSE_BACKGROUND), "background");
  EXPECT_STREQ(vmreclaim::engine::cause_name(vmreclaim::engine::Cause::flush), "flush");
  EXPECT_STREQ(vmreclaim::control::cause_name(VMRECLAIM_CAUSE_COUNT), "unknown");
}

TEST(Headers, ErrorCategory) {
  const std::error_category& cat = vmreclaim::vm_reclaim_category();
  EXPECT_STREQ(cat.name(), "vm_reclaim");
  std::error_code ec = vmreclaim::errc::invalid_id;
  EXPECT_EQ(ec.value(), VM_RECLAIM_INVALID_ID);
  EXPECT_EQ(&ec.category(), &cat);
  EXPECT_FALSE(ec.message().empty());
  EXPECT_EQ(vmreclaim::to_error_code(VM_RECLAIM_INVALID_RING), vmreclaim::errc::invalid_ring);
  EXPECT_NE(vmreclaim::to_error_code(VM_RECLAIM_INVALID_RING), vmreclaim::errc::invalid_id);
  EXPECT_FALSE(vmreclaim::to_error_code(VM_RECLAIM_SUCCESS));
  // Each value has its own name, in C and through the category.
  for (int e = VM_RECLAIM_INVALID_ARGUMENT; e <= VM_RECLAIM_INVALID_RING; e++) {
    std::string name = vmreclaim_strerror(e);
    EXPECT_EQ(name.rfind("VM_RECLAIM_", 0), 0u) << name;
    EXPECT_NE(cat.message(e), cat.message(e == VM_RECLAIM_INVALID_RING ? VM_RECLAIM_INVALID_ARGUMENT : e + 1));
  }
  EXPECT_STREQ(vmreclaim_strerror(VM_RECLAIM_INVALID_CAPACITY), "VM_RECLAIM_INVALID_CAPACITY");
}

TEST(Headers, ResultHoldsValueOrError) {
  vmreclaim::Result<int> ok = 5;
  EXPECT_TRUE(ok.has_value());
  EXPECT_EQ(*ok, 5);
  vmreclaim::Result<int> bad = std::error_code(vmreclaim::errc::invalid_argument);
  EXPECT_FALSE(bad);
  EXPECT_EQ(bad.error(), vmreclaim::errc::invalid_argument);
  EXPECT_EQ(bad.value_or(7), 7);
}

}  // namespace
}  // namespace vmreclaim::test
