#include "process_ring.h"

#include <vmreclaim/vmreclaim.h>

#include "reentry_guard.h"
#include "settings.h"

namespace vmreclaim::alloc {

bool ProcessRing::ensure() noexcept {
  if (ready()) return true;
  if (failed_.load(std::memory_order_relaxed)) return false;
  bool expected = false;
  if (!initializing_.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
    // Another thread is allocating it; the caller treats the ring as absent
    // for this one call rather than wait.
    return false;
  }
  mach_vm_reclaim_ring_t r = nullptr;
  mach_vm_reclaim_error_t err;
  {
    // The library allocates (its registry, settings): those requests must
    // not come back into the large heap.
    ReentryGuard guard;
    // Before the ring exists: its engine thread reads it when it is made.
    // A program whose large requests stop gets its cache back within a
    // second, not after the sampling periods (VMRECLAIM_IDLE_TRIM_NS wins).
    vmreclaim_set_idle_trim_default(settings().idle_trim_ns);
    err = mach_vm_reclaim_ring_allocate(&r, kInitialCapacity, kMaxCapacity);
  }
  if (err != VM_RECLAIM_SUCCESS) {
    failed_.store(true, std::memory_order_relaxed);
    return false;
  }
  mach_vm_reclaim_count_t cap = 0;
  capacity_ = mach_vm_reclaim_ring_capacity(r, &cap) == VM_RECLAIM_SUCCESS ? cap : kInitialCapacity;
  ring_.store(r, std::memory_order_release);
  return true;
}

bool ProcessRing::enter(uintptr_t addr, uint32_t size, uint64_t* id, bool* update) noexcept {
  full_ = false;
  mach_vm_reclaim_ring_t r = ring();
  if (r == nullptr) return false;
  // Newest pooled IDs first: they are the least likely to be reclaimed.
  while (pooled_ > 0) {
    uint64_t want = pool_[--pooled_];
    bool upd = false;
    if (mach_vm_reclaim_try_enter(r, addr, size, VM_RECLAIM_FREE, &want, &upd) == VM_RECLAIM_SUCCESS &&
        want != VM_RECLAIM_ID_NULL) {
      *update = *update || upd;
      *id = want;
      counters_.entered_reused++;
      return true;
    }
    // Reclaimed meanwhile (or no longer valid): drop it, try the next.
  }
  uint64_t fresh = VM_RECLAIM_ID_NULL;
  bool upd = false;
  if (mach_vm_reclaim_try_enter(r, addr, size, VM_RECLAIM_FREE, &fresh, &upd) != VM_RECLAIM_SUCCESS) return false;
  *update = *update || upd;
  if (fresh == VM_RECLAIM_ID_NULL) {
    full_ = true;
    counters_.full++;
    return false;
  }
  *id = fresh;
  counters_.entered_new++;
  return true;
}

mach_vm_reclaim_state_t ProcessRing::cancel(uint64_t id, uintptr_t addr, uint32_t size, bool* update) noexcept {
  mach_vm_reclaim_ring_t r = ring();
  mach_vm_reclaim_state_t state = VM_RECLAIM_DEALLOCATED;
  bool upd = false;
  if (r == nullptr ||
      mach_vm_reclaim_try_cancel(r, id, addr, size, VM_RECLAIM_FREE, &state, &upd) != VM_RECLAIM_SUCCESS) {
    // An ID the ring no longer knows (e.g. from before a resize) was reclaimed.
    return VM_RECLAIM_FREED;
  }
  *update = *update || upd;
  // The slot of an entry taken back is free for the next enter.
  if (state == VM_RECLAIM_UNRECLAIMED && pooled_ < kPoolSize) pool_[pooled_++] = id;
  return state;
}

void ProcessRing::make_room() noexcept {
  mach_vm_reclaim_ring_t r = ring();
  if (r == nullptr) return;
  pooled_ = 0;  // a resize or flush may reclaim every pooled slot
  if (capacity_ < kMaxCapacity) {
    uint32_t want = capacity_ * 2 < kMaxCapacity ? capacity_ * 2 : kMaxCapacity;
    if (mach_vm_reclaim_ring_resize(r, want) == VM_RECLAIM_SUCCESS) {
      mach_vm_reclaim_count_t cap = 0;
      if (mach_vm_reclaim_ring_capacity(r, &cap) == VM_RECLAIM_SUCCESS) capacity_ = cap;
      counters_.resizes++;
      return;
    }
  }
  // At the maximum: the oldest entries go (cancelled slots cost nothing).
  if (mach_vm_reclaim_ring_flush(r, capacity_ / 8 + 1) == VM_RECLAIM_SUCCESS) counters_.flushes++;
}

void ProcessRing::update_accounting() noexcept {
  if (mach_vm_reclaim_ring_t r = ring()) mach_vm_reclaim_update_kernel_accounting(r);
}

}  // namespace vmreclaim::alloc
