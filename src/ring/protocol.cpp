#include "ring/protocol.h"

#include <cstdlib>

#include "platform/linux/clock.h"
#include "support/log.h"

namespace vmreclaim::ring {
namespace {

constexpr auto relaxed = std::memory_order_relaxed;
constexpr auto acquire = std::memory_order_acquire;
constexpr auto release = std::memory_order_release;

}  // namespace

void trap_mismatch(mach_vm_reclaim_id_t id, uint64_t addr, uint32_t size, uint8_t action, EntryWords e) noexcept {
  support::log_always(
      "try_cancel(id=%llu, addr=%#llx, size=%u, action=%u) does not match the entry "
      "(addr=%#llx, size=%u, action=%u): the caller cancelled twice or passed the wrong region",
      static_cast<unsigned long long>(id), static_cast<unsigned long long>(addr), size, action,
      static_cast<unsigned long long>(e.address), e.size(), e.behavior());
  __builtin_trap();
}

mach_vm_reclaim_error_t query(const Ring* r, mach_vm_reclaim_id_t id, uint8_t action,
                              mach_vm_reclaim_state_t* state) noexcept {
  if (id < load(r->head, acquire)) {
    *state = reclaimed_state(action);
    return VM_RECLAIM_SUCCESS;
  }
  // No check against the tail: a cancel on another thread pulls it back for
  // a moment, and a query must not fail for a valid ID because of that.
  if (id < load(r->busy, acquire)) {
    *state = id < load(r->head, acquire) ? reclaimed_state(action) : mach_vm_reclaim_state_t{VM_RECLAIM_BUSY};
    return VM_RECLAIM_SUCCESS;
  }
  *state = VM_RECLAIM_UNRECLAIMED;
  return VM_RECLAIM_SUCCESS;
}

void account_reclaimed(Ring* r, uint64_t bytes) noexcept {
  if (bytes == 0) return;
  uint64_t now = ref(r->reclaimable_bytes).fetch_sub(bytes, relaxed) - bytes;
  lower_min(r, now);
}

unsigned claim_due_work(Ring* r, uint64_t now_ns) noexcept {
  unsigned claimed = kClaimNone;
  auto ceiling = ref(r->reclaimable_bytes_ceiling);
  uint64_t c = ceiling.load(relaxed);
  if (c != UINT64_MAX && load(r->reclaimable_bytes) > c &&
      ceiling.compare_exchange_strong(c, UINT64_MAX, relaxed, relaxed)) {
    claimed |= kClaimLimit;
  }
  auto deadline = ref(r->next_sample_deadline_abs);
  uint64_t d = deadline.load(relaxed);
  if (d == kDeadlineFill) {
    // The engine thread sleeps on what was an empty ring: back to "no
    // deadline" (the thread samples on its own), and the caller wakes it.
    if (deadline.compare_exchange_strong(d, kNoDeadline, relaxed, relaxed)) claimed |= kClaimFill;
  } else if (d < kNoDeadline && now_ns >= d &&
             deadline.compare_exchange_strong(d, kDeadlineClaimed, relaxed, relaxed)) {
    claimed |= kClaimSample;
  }
  return claimed;
}

}  // namespace vmreclaim::ring
