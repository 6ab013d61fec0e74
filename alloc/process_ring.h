// The process's mach_vm_reclaim ring as the heap uses it. Allocated on first
// use. Cancelled IDs are kept in a pool and re-entered by ID, so a churning
// heap reuses slots instead of advancing the tail. When the ring fills it is
// grown (doubling up to its maximum; a resize reclaims every entry first),
// or, at its maximum, the oldest entries are flushed.
#pragma once

#include <mach/vm_reclaim.h>

#include <atomic>
#include <cstdint>

#include "reclaim_ring.h"

namespace vmreclaim::alloc {

struct RingCounters {
  uint64_t entered_new = 0;     // at the tail
  uint64_t entered_reused = 0;  // re-entered by a pooled ID
  uint64_t full = 0;            // enters that found the ring full
  uint64_t resizes = 0;
  uint64_t flushes = 0;
};

class ProcessRing final : public ReclaimRing {
 public:
  static constexpr uint32_t kInitialCapacity = 1020;  // 4 pages
  static constexpr uint32_t kMaxCapacity = 65532;     // 1 MiB

  // Allocates the ring if it is not yet allocated; false if the process
  // cannot have one (disabled, or the program allocated its own first).
  // Call without the heap lock: the library may allocate memory.
  bool ensure() noexcept override;
  bool ready() const noexcept { return ring_.load(std::memory_order_acquire) != nullptr; }
  bool unavailable() const noexcept { return failed_.load(std::memory_order_relaxed); }

  bool enter(uintptr_t addr, uint32_t size, uint64_t* id, bool* update) noexcept override;
  mach_vm_reclaim_state_t cancel(uint64_t id, uintptr_t addr, uint32_t size, bool* update) noexcept override;
  bool full() const noexcept override { return full_; }

  // Grow, or flush at the maximum. The caller has stopped every other
  // enter/cancel (but holds no lock the engine could wait for).
  void make_room() noexcept override;
  // Hand the accounting to the engine (no heap lock held).
  void update_accounting() noexcept override;

  mach_vm_reclaim_ring_t ring() const noexcept { return ring_.load(std::memory_order_acquire); }
  uint32_t capacity() const noexcept { return capacity_; }
  const RingCounters& counters() const noexcept { return counters_; }

 private:
  static constexpr uint32_t kPoolSize = 4096;

  std::atomic<mach_vm_reclaim_ring_t> ring_{nullptr};
  std::atomic<bool> failed_{false};
  std::atomic<bool> initializing_{false};
  uint32_t capacity_ = 0;
  bool full_ = false;
  uint32_t pooled_ = 0;
  uint64_t pool_[kPoolSize];  // cancelled IDs, newest last
  RingCounters counters_;
};

}  // namespace vmreclaim::alloc
