// A test fixture that owns the process's ring for the length of one test
// (allocated in SetUp, destroyed in TearDown so the next test can allocate),
// with thin wrappers over the C API that fail the test on an error.
#pragma once

#include <gtest/gtest.h>
#include <mach/vm_reclaim.h>
#include <mach/vm_reclaim_private.h>
#include <vmreclaim/vmreclaim.h>

#include <cstdint>

#include "ring/layout.h"
#include "support/memory.h"

namespace vmreclaim::test {

class RingTest : public ::testing::Test {
 protected:
  // By default one page of entries: the capacities a ring keeps are exactly
  // the ones given, so the fixture rounds them as a caller would.
  RingTest(uint32_t initial = mach_vm_reclaim_round_capacity(1), uint32_t max = mach_vm_reclaim_round_capacity(1))
      : initial_(initial), max_(max) {}

  void SetUp() override {
    ASSERT_EQ(vmreclaim_ring_current(), nullptr) << "an earlier test kept its ring";
    ASSERT_EQ(mach_vm_reclaim_ring_allocate(&ring_, initial_, max_), VM_RECLAIM_SUCCESS);
    ASSERT_NE(ring_, nullptr);
  }
  void TearDown() override {
    if (ring_ != nullptr) {
      // The test body's mappings are unmapped by now: forget the entries it
      // left rather than have destroy reclaim them (a FREE entry over pages
      // that are no longer mapped is the guard fault FREE_GAP).
      const uint64_t len = ring::load(ring_->len);
      for (uint64_t id = ring::load(ring_->head); len != 0 && id < ring::load(ring_->tail); id++) {
        ring::store_entry(ring_, id % len, {0, 0});
      }
      EXPECT_EQ(vmreclaim_ring_destroy(ring_), VM_RECLAIM_SUCCESS);
    }
    ring_ = nullptr;
  }

  mach_vm_reclaim_id_t enter(const void* addr, uint64_t size, mach_vm_reclaim_action_t action,
                             mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL) {
    bool update = false;
    EXPECT_EQ(mach_vm_reclaim_try_enter(ring_, reinterpret_cast<mach_vm_address_t>(addr), size, action, &id, &update),
              VM_RECLAIM_SUCCESS);
    return id;
  }
  mach_vm_reclaim_id_t enter(const Mapping& m, mach_vm_reclaim_action_t action) {
    return enter(m.data(), m.size(), action);
  }
  mach_vm_reclaim_state_t cancel(mach_vm_reclaim_id_t id, const void* addr, uint64_t size,
                                 mach_vm_reclaim_action_t action) {
    mach_vm_reclaim_state_t state = 0;
    bool update = false;
    EXPECT_EQ(
        mach_vm_reclaim_try_cancel(ring_, id, reinterpret_cast<mach_vm_address_t>(addr), size, action, &state, &update),
        VM_RECLAIM_SUCCESS);
    return state;
  }
  mach_vm_reclaim_state_t cancel(mach_vm_reclaim_id_t id, const Mapping& m, mach_vm_reclaim_action_t action) {
    return cancel(id, m.data(), m.size(), action);
  }
  mach_vm_reclaim_state_t query(mach_vm_reclaim_id_t id, mach_vm_reclaim_action_t action) {
    mach_vm_reclaim_state_t state = 0;
    EXPECT_EQ(mach_vm_reclaim_query_state(ring_, id, action, &state), VM_RECLAIM_SUCCESS);
    return state;
  }
  uint32_t capacity() {
    mach_vm_reclaim_count_t c = 0;
    EXPECT_EQ(mach_vm_reclaim_ring_capacity(ring_, &c), VM_RECLAIM_SUCCESS);
    return c;
  }
  vmreclaim_ring_stats stats() {
    vmreclaim_ring_stats s{};
    EXPECT_EQ(vmreclaim_ring_get_stats(ring_, &s), VM_RECLAIM_SUCCESS);
    return s;
  }

  // The shared header, read as the user side may (atomically).
  uint64_t head() const { return ring::load(ring_->head); }
  uint64_t busy() const { return ring::load(ring_->busy); }
  uint64_t tail() const { return ring::load(ring_->tail); }
  uint64_t bytes() const { return ring::load(ring_->reclaimable_bytes); }
  uint64_t min_bytes() const { return ring::load(ring_->reclaimable_bytes_min); }
  const mach_vm_reclaim_entry_s& entry(mach_vm_reclaim_id_t id) const { return ring_->entries[id % ring_->len]; }

  mach_vm_reclaim_ring_t ring_ = nullptr;
  uint32_t initial_, max_;
};

}  // namespace vmreclaim::test
