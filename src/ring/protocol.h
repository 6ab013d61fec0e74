// The user side of the ring protocol (SYSTEM.md §4): enter, cancel,
// re-enter by ID, query, and the byte accounting. No system calls, no locks,
// no allocation. Arguments are assumed valid (src/capi checks them); the
// ring's own contents are not trusted beyond what the protocol needs.
#pragma once

#include "ring/layout.h"

namespace vmreclaim::ring {

// Enter at the tail. Returns the new ID, or VM_RECLAIM_ID_NULL if the ring is full.
mach_vm_reclaim_id_t enter(Ring* r, uint64_t addr, uint32_t size, uint8_t action, bool* update) noexcept;

// Put a region back into the slot of an ID cancelled earlier. Returns `id`,
// or VM_RECLAIM_ID_NULL if that ID was reclaimed or is being reclaimed.
// VM_RECLAIM_INVALID_ID (and nothing changed) if the ID was never issued or
// its slot still holds a live entry.
mach_vm_reclaim_error_t reenter(Ring* r, mach_vm_reclaim_id_t* id, uint64_t addr, uint32_t size, uint8_t action,
                                bool* update) noexcept;

mach_vm_reclaim_error_t cancel(Ring* r, mach_vm_reclaim_id_t id, uint64_t addr, uint32_t size, uint8_t action,
                               mach_vm_reclaim_state_t* state, bool* update) noexcept;

mach_vm_reclaim_error_t query(const Ring* r, mach_vm_reclaim_id_t id, uint8_t action,
                              mach_vm_reclaim_state_t* state) noexcept;

// The state of a reclaimed ID follows from its action alone.
inline mach_vm_reclaim_state_t reclaimed_state(uint8_t action) noexcept {
  return action == VM_RECLAIM_FREE ? mach_vm_reclaim_state_t{VM_RECLAIM_FREED}
                                   : mach_vm_reclaim_state_t{VM_RECLAIM_DEALLOCATED};
}

// Subtracts bytes the engine reclaimed from the ring's count and lowers the
// minimum to match. Thread-safe.
void account_reclaimed(Ring* r, uint64_t bytes) noexcept;

// What a caller of update_kernel_accounting found due and claimed. Claiming
// swaps the deadline (or ceiling) to "never", so of a herd of callers only
// the first enters the engine for it; the engine publishes the next value.
enum Claim : unsigned { kClaimNone = 0, kClaimSample = 1, kClaimLimit = 2 };
unsigned claim_due_work(Ring* r, uint64_t now_ns) noexcept;

}  // namespace vmreclaim::ring
