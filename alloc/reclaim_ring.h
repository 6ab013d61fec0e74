// What the block cache needs from a deferred-reclamation ring: enter a freed
// block, cancel its entry to reuse it. The process's real ring implements it
// (process_ring.h); unit tests substitute a scripted one. Callers serialise
// enter and cancel (the ring protocol requires it): the heap's lock.
#pragma once

#include <mach/vm_reclaim.h>

#include <cstdint>

namespace vmreclaim::alloc {

class ReclaimRing {
 public:
  virtual ~ReclaimRing() = default;
  // Enters [addr, addr+size) with the FREE action (the mapping stays, so the
  // block can be reused even after the reclaimer released its pages).
  // Returns false if it could not be entered (no ring, or the ring is full;
  // see full()). *update: call update_accounting() once the lock is dropped.
  virtual bool enter(uintptr_t addr, uint32_t size, uint64_t* id, bool* update) noexcept = 0;
  // Takes the entry back. UNRECLAIMED: contents intact; FREED: pages were
  // released (zero once the kernel took them; after MADV_FREE a page still
  // resident keeps its old bytes); BUSY: being reclaimed now, not reusable yet; DEALLOCATED: gone.
  virtual mach_vm_reclaim_state_t cancel(uint64_t id, uintptr_t addr, uint32_t size, bool* update) noexcept = 0;
  // Whether the last failed enter() was for want of room (make_room() helps).
  virtual bool full() const noexcept = 0;

  // Called without the heap's lock:
  // Makes the ring usable (allocates it on first use); false if there is none.
  virtual bool ensure() noexcept { return true; }
  // Grow or flush a full ring. No enter/cancel runs meanwhile.
  virtual void make_room() noexcept {}
  // Hand the ring's accounting to the reclaimer (after enter/cancel asked).
  virtual void update_accounting() noexcept {}
};

}  // namespace vmreclaim::alloc
