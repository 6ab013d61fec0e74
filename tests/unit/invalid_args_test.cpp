// Every invalid argument gets its documented error and changes nothing: the
// ring's bytes (header and entries), the statistics and the regions are the
// same before and after the call.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "support/ring_fixture.h"

namespace vmreclaim::test {
namespace {

class InvalidArgs : public RingTest {
 protected:
  void SetUp() override {
    RingTest::SetUp();
    if (HasFatalFailure()) return;
    fill(a_.data(), a_.size(), 1);
    fill(b_.data(), b_.size(), 2);
    fill(c_.data(), c_.size(), 3);
    ia_ = enter(a_, VM_RECLAIM_FREE);
    ib_ = enter(b_, VM_RECLAIM_DEALLOCATE);
    ic_ = enter(c_, VM_RECLAIM_FREE);
    ASSERT_EQ(cancel(ic_, c_, VM_RECLAIM_FREE), VM_RECLAIM_UNRECLAIMED);  // a free slot to re-enter
  }
  void TearDown() override {
    // Leave the regions as they were entered, so destroy reclaims them.
    RingTest::TearDown();
    b_.release();
  }

  struct Call {
    std::string what;
    mach_vm_reclaim_error_t want;
    std::function<mach_vm_reclaim_error_t()> call;
  };

  // Runs each call and checks its error and that nothing changed.
  void expect_rejected(const std::vector<Call>& calls) {
    for (const Call& c : calls) {
      const auto ring_before = snapshot(ring_);
      const vmreclaim_ring_stats stats_before = stats();
      EXPECT_EQ(c.call(), c.want) << c.what;
      EXPECT_EQ(snapshot(ring_), ring_before) << c.what << " changed the ring";
      const vmreclaim_ring_stats stats_after = stats();
      EXPECT_EQ(std::memcmp(&stats_before, &stats_after, sizeof stats_after), 0) << c.what << " changed the stats";
    }
    EXPECT_TRUE(holds(a_.data(), a_.size(), 1));
    EXPECT_TRUE(holds(b_.data(), b_.size(), 2));
    EXPECT_TRUE(holds(c_.data(), c_.size(), 3));
  }

  Mapping a_ = Mapping::pages(1), b_ = Mapping::pages(2), c_ = Mapping::pages(1);
  mach_vm_reclaim_id_t ia_ = 0, ib_ = 0, ic_ = 0;
};

constexpr mach_vm_size_t kTooBig = mach_vm_size_t{UINT32_MAX} + 1;

TEST_F(InvalidArgs, TryEnter) {
  const mach_vm_address_t addr = c_.address();
  const mach_vm_size_t size = c_.size();
  mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
  bool update = false;
  auto enter_with = [&](mach_vm_size_t sz, mach_vm_reclaim_action_t action, mach_vm_reclaim_id_t want_id) {
    return [&, sz, action, want_id] {
      id = want_id;
      return mach_vm_reclaim_try_enter(ring_, addr, sz, action, &id, &update);
    };
  };
  expect_rejected({
      // As on Darwin: a missing ID pointer is an invalid ID, checked first.
      {"null id", VM_RECLAIM_INVALID_ID,
       [&] { return mach_vm_reclaim_try_enter(ring_, addr, size, VM_RECLAIM_FREE, nullptr, &update); }},
      {"null id, bad action", VM_RECLAIM_INVALID_ID,
       [&] { return mach_vm_reclaim_try_enter(ring_, addr, size, 9, nullptr, &update); }},
      {"null update flag", VM_RECLAIM_INVALID_ARGUMENT,
       [&] {
         id = VM_RECLAIM_ID_NULL;
         return mach_vm_reclaim_try_enter(ring_, addr, size, VM_RECLAIM_FREE, &id, nullptr);
       }},
      {"action 0", VM_RECLAIM_INVALID_ARGUMENT, enter_with(size, 0, VM_RECLAIM_ID_NULL)},
      {"action 3", VM_RECLAIM_INVALID_ARGUMENT, enter_with(size, 3, VM_RECLAIM_ID_NULL)},
      {"action 255", VM_RECLAIM_INVALID_ARGUMENT, enter_with(size, 255, VM_RECLAIM_ID_NULL)},
      {"size > UINT32_MAX", VM_RECLAIM_INVALID_REGION_SIZE, enter_with(kTooBig, VM_RECLAIM_FREE, VM_RECLAIM_ID_NULL)},
      {"size > UINT32_MAX, re-enter", VM_RECLAIM_INVALID_REGION_SIZE, enter_with(kTooBig, VM_RECLAIM_FREE, ic_)},
      {"size UINT64_MAX", VM_RECLAIM_INVALID_REGION_SIZE, enter_with(UINT64_MAX, VM_RECLAIM_FREE, VM_RECLAIM_ID_NULL)},
      {"re-enter a never-issued id", VM_RECLAIM_INVALID_ID, enter_with(size, VM_RECLAIM_FREE, 3)},
      {"re-enter over a live entry", VM_RECLAIM_INVALID_ID, enter_with(size, VM_RECLAIM_FREE, ia_)},
  });
  // A too-large region says "no ID", whatever the caller asked for.
  id = ic_;
  EXPECT_EQ(mach_vm_reclaim_try_enter(ring_, addr, kTooBig, VM_RECLAIM_FREE, &id, &update),
            VM_RECLAIM_INVALID_REGION_SIZE);
  EXPECT_EQ(id, VM_RECLAIM_ID_NULL);
  // The largest size is accepted.
  id = VM_RECLAIM_ID_NULL;
  EXPECT_EQ(mach_vm_reclaim_try_enter(ring_, addr, UINT32_MAX, VM_RECLAIM_FREE, &id, &update), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(id, 3u);
  mach_vm_reclaim_state_t st = 0;
  EXPECT_EQ(mach_vm_reclaim_try_cancel(ring_, id, addr, UINT32_MAX, VM_RECLAIM_FREE, &st, &update), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(st, VM_RECLAIM_UNRECLAIMED);
}

TEST_F(InvalidArgs, TryCancel) {
  const mach_vm_address_t addr = a_.address();
  const mach_vm_size_t size = a_.size();
  mach_vm_reclaim_state_t st = 0;
  bool update = false;
  expect_rejected({
      {"null state", VM_RECLAIM_INVALID_ARGUMENT,
       [&] { return mach_vm_reclaim_try_cancel(ring_, ia_, addr, size, VM_RECLAIM_FREE, nullptr, &update); }},
      {"null update flag", VM_RECLAIM_INVALID_ARGUMENT,
       [&] { return mach_vm_reclaim_try_cancel(ring_, ia_, addr, size, VM_RECLAIM_FREE, &st, nullptr); }},
      {"action 0", VM_RECLAIM_INVALID_ARGUMENT,
       [&] { return mach_vm_reclaim_try_cancel(ring_, ia_, addr, size, 0, &st, &update); }},
      {"action 9", VM_RECLAIM_INVALID_ARGUMENT,
       [&] { return mach_vm_reclaim_try_cancel(ring_, ia_, addr, size, 9, &st, &update); }},
      {"id null", VM_RECLAIM_INVALID_ID,
       [&] {
         return mach_vm_reclaim_try_cancel(ring_, VM_RECLAIM_ID_NULL, addr, size, VM_RECLAIM_FREE, &st, &update);
       }},
      // As on Darwin, the null ID is checked before the out-pointers.
      {"id null, null state", VM_RECLAIM_INVALID_ID,
       [&] {
         return mach_vm_reclaim_try_cancel(ring_, VM_RECLAIM_ID_NULL, addr, size, VM_RECLAIM_FREE, nullptr, &update);
       }},
      {"never-issued id", VM_RECLAIM_INVALID_ID,
       [&] { return mach_vm_reclaim_try_cancel(ring_, 3, addr, size, VM_RECLAIM_FREE, &st, &update); }},
      {"far future id", VM_RECLAIM_INVALID_ID,
       [&] { return mach_vm_reclaim_try_cancel(ring_, 1u << 30, addr, size, VM_RECLAIM_FREE, &st, &update); }},
      {"size > UINT32_MAX", VM_RECLAIM_INVALID_REGION_SIZE,
       [&] { return mach_vm_reclaim_try_cancel(ring_, ia_, addr, kTooBig, VM_RECLAIM_FREE, &st, &update); }},
  });
}

TEST_F(InvalidArgs, QueryFlushResizeCapacity) {
  mach_vm_reclaim_state_t st = 0;
  expect_rejected({
      {"query: null state", VM_RECLAIM_INVALID_ARGUMENT,
       [&] { return mach_vm_reclaim_query_state(ring_, ia_, VM_RECLAIM_FREE, nullptr); }},
      {"query: action 7", VM_RECLAIM_INVALID_ARGUMENT, [&] { return mach_vm_reclaim_query_state(ring_, ia_, 7, &st); }},
      {"query: id null", VM_RECLAIM_INVALID_ID,
       [&] { return mach_vm_reclaim_query_state(ring_, VM_RECLAIM_ID_NULL, VM_RECLAIM_FREE, &st); }},
      // As on Darwin, the null ID is checked before the action.
      {"query: id null, action 7", VM_RECLAIM_INVALID_ID,
       [&] { return mach_vm_reclaim_query_state(ring_, VM_RECLAIM_ID_NULL, 7, &st); }},
      {"flush 0", VM_RECLAIM_INVALID_ARGUMENT, [&] { return mach_vm_reclaim_ring_flush(ring_, 0); }},
      {"resize 0", VM_RECLAIM_INVALID_CAPACITY, [&] { return mach_vm_reclaim_ring_resize(ring_, 0); }},
      {"resize above max", VM_RECLAIM_INVALID_CAPACITY,
       [&] { return mach_vm_reclaim_ring_resize(ring_, ring_->max_len + 1); }},
      {"capacity: null", VM_RECLAIM_INVALID_ARGUMENT, [&] { return mach_vm_reclaim_ring_capacity(ring_, nullptr); }},
      {"trim 0", VM_RECLAIM_INVALID_ARGUMENT, [&] { return vmreclaim_ring_trim(ring_, 0, nullptr); }},
      {"stats: null", VM_RECLAIM_INVALID_ARGUMENT, [&] { return vmreclaim_ring_get_stats(ring_, nullptr); }},
  });
}

TEST_F(InvalidArgs, BadRingHandles) {
  // A copy of the header elsewhere looks like a ring but is not this process's.
  alignas(64) unsigned char lookalike[sizeof(mach_vm_reclaim_ring_s) + 16 * 4] = {};
  std::memcpy(lookalike, ring_, sizeof lookalike);
  const mach_vm_reclaim_ring_t bad_rings[] = {
      nullptr,
      reinterpret_cast<mach_vm_reclaim_ring_t>(lookalike),
      reinterpret_cast<mach_vm_reclaim_ring_t>(reinterpret_cast<char*>(ring_) + 16),
      reinterpret_cast<mach_vm_reclaim_ring_t>(uintptr_t{0x1000}),
  };
  for (mach_vm_reclaim_ring_t bad : bad_rings) {
    mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
    mach_vm_reclaim_state_t st = 0;
    mach_vm_reclaim_count_t cap = 0;
    bool update = false;
    uint64_t n = 0;
    vmreclaim_ring_stats s{};
    const auto addr = a_.address();
    const auto size = a_.size();
    expect_rejected({
        {"try_enter", VM_RECLAIM_INVALID_RING,
         [&] { return mach_vm_reclaim_try_enter(bad, addr, size, VM_RECLAIM_FREE, &id, &update); }},
        {"try_cancel", VM_RECLAIM_INVALID_RING,
         [&] { return mach_vm_reclaim_try_cancel(bad, ia_, addr, size, VM_RECLAIM_FREE, &st, &update); }},
        {"query", VM_RECLAIM_INVALID_RING, [&] { return mach_vm_reclaim_query_state(bad, ia_, VM_RECLAIM_FREE, &st); }},
        {"flush", VM_RECLAIM_INVALID_RING, [&] { return mach_vm_reclaim_ring_flush(bad, 1); }},
        {"resize", VM_RECLAIM_INVALID_RING, [&] { return mach_vm_reclaim_ring_resize(bad, 1); }},
        {"capacity", VM_RECLAIM_INVALID_RING, [&] { return mach_vm_reclaim_ring_capacity(bad, &cap); }},
        {"update accounting", VM_RECLAIM_INVALID_RING, [&] { return mach_vm_reclaim_update_kernel_accounting(bad); }},
        {"drain", VM_RECLAIM_INVALID_RING, [&] { return vmreclaim_ring_drain(bad, &n); }},
        {"trim", VM_RECLAIM_INVALID_RING, [&] { return vmreclaim_ring_trim(bad, 1, &n); }},
        {"stats", VM_RECLAIM_INVALID_RING, [&] { return vmreclaim_ring_get_stats(bad, &s); }},
        {"destroy", VM_RECLAIM_INVALID_RING, [&] { return vmreclaim_ring_destroy(bad); }},
    });
    EXPECT_EQ(id, VM_RECLAIM_ID_NULL);
    EXPECT_EQ(vmreclaim_ring_current(), ring_);
  }
}

TEST(StaleRing, HandleOfADestroyedRingIsInvalid) {
  ASSERT_EQ(vmreclaim_ring_current(), nullptr);
  mach_vm_reclaim_ring_t ring = nullptr;
  ASSERT_EQ(mach_vm_reclaim_ring_allocate(&ring, 1, 1), VM_RECLAIM_SUCCESS);
  ASSERT_EQ(vmreclaim_ring_destroy(ring), VM_RECLAIM_SUCCESS);
  mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
  mach_vm_reclaim_state_t st = 0;
  bool update = false;
  Mapping m = Mapping::pages(1);
  EXPECT_EQ(mach_vm_reclaim_try_enter(ring, m.address(), m.size(), VM_RECLAIM_FREE, &id, &update),
            VM_RECLAIM_INVALID_RING);
  EXPECT_EQ(mach_vm_reclaim_try_cancel(ring, 0, m.address(), m.size(), VM_RECLAIM_FREE, &st, &update),
            VM_RECLAIM_INVALID_RING);
  EXPECT_EQ(mach_vm_reclaim_query_state(ring, 0, VM_RECLAIM_FREE, &st), VM_RECLAIM_INVALID_RING);
  EXPECT_EQ(mach_vm_reclaim_ring_flush(ring, 1), VM_RECLAIM_INVALID_RING);
  EXPECT_EQ(mach_vm_reclaim_update_kernel_accounting(ring), VM_RECLAIM_INVALID_RING);
  EXPECT_EQ(vmreclaim_ring_destroy(ring), VM_RECLAIM_INVALID_RING);
}

}  // namespace
}  // namespace vmreclaim::test
