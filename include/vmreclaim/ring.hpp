// The C++ API: an owning ring handle with typed actions, states and results.
// Every call forwards to the C API (one code path for both); enter, cancel
// and query neither throw nor allocate.
#pragma once

#include <mach/vm_reclaim.h>
#include <vmreclaim/vmreclaim.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "vmreclaim/error.hpp"
#include "vmreclaim/result.hpp"

namespace vmreclaim {

enum class Action : uint8_t { free = VM_RECLAIM_FREE, deallocate = VM_RECLAIM_DEALLOCATE };

enum class State : uint32_t {
  unreclaimed = VM_RECLAIM_UNRECLAIMED,
  freed = VM_RECLAIM_FREED,
  deallocated = VM_RECLAIM_DEALLOCATED,
  busy = VM_RECLAIM_BUSY,
};

inline bool is_reusable(State s) noexcept { return s == State::unreclaimed || s == State::freed; }

using Id = mach_vm_reclaim_id_t;
inline constexpr Id null_id = VM_RECLAIM_ID_NULL;

struct Entered {
  Id id = null_id;              // null_id: the ring was full, or the reused ID was gone
  bool update_accounting = false;  // call Ring::update_accounting() (after dropping locks)
  bool entered() const noexcept { return id != null_id; }
};

struct Cancelled {
  State state = State::busy;
  bool update_accounting = false;
  bool reusable() const noexcept { return is_reusable(state); }
};

using Stats = vmreclaim_ring_stats;

// Keep the process footprint under `bytes` (0: no limit) by reclaiming ring
// entries before the kernel would kill the process.
inline void set_footprint_limit(uint64_t bytes) noexcept { vmreclaim_set_footprint_limit(bytes); }
inline uint64_t footprint_limit() noexcept { return vmreclaim_get_footprint_limit(); }

class Ring {
 public:
  // Allocates the process's ring (one per process).
  static Result<Ring> allocate(uint32_t initial_capacity, uint32_t max_capacity) noexcept {
    mach_vm_reclaim_ring_t r = nullptr;
    mach_vm_reclaim_error_t e = mach_vm_reclaim_ring_allocate(&r, initial_capacity, max_capacity);
    if (e != VM_RECLAIM_SUCCESS) return to_error_code(e);
    return Ring(r);
  }
  static uint32_t round_capacity(uint32_t n) noexcept { return mach_vm_reclaim_round_capacity(n); }

  Ring() noexcept = default;
  // Takes ownership of a ring allocated through the C API.
  explicit Ring(mach_vm_reclaim_ring_t native) noexcept : ring_(native) {}
  Ring(Ring&& o) noexcept : ring_(std::exchange(o.ring_, nullptr)) {}
  Ring& operator=(Ring&& o) noexcept {
    if (this != &o) {
      reset();
      ring_ = std::exchange(o.ring_, nullptr);
    }
    return *this;
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  // Reclaims everything in the ring and unmaps it.
  ~Ring() { reset(); }

  void reset() noexcept {
    if (ring_ != nullptr) (void)vmreclaim_ring_destroy(std::exchange(ring_, nullptr));
  }
  // Gives up ownership: the ring stays for the life of the process.
  mach_vm_reclaim_ring_t release() noexcept { return std::exchange(ring_, nullptr); }
  mach_vm_reclaim_ring_t native_handle() const noexcept { return ring_; }
  explicit operator bool() const noexcept { return ring_ != nullptr; }

  // Enters a freed region; reuse = the ID of an entry this caller cancelled.
  Result<Entered> try_enter(const void* addr, std::size_t size, Action action, Id reuse = null_id) noexcept {
    Entered out{reuse, false};
    mach_vm_reclaim_error_t e = mach_vm_reclaim_try_enter(ring_, reinterpret_cast<mach_vm_address_t>(addr), size,
                                                          static_cast<mach_vm_reclaim_action_t>(action), &out.id,
                                                          &out.update_accounting);
    if (e != VM_RECLAIM_SUCCESS) return to_error_code(e);
    return out;
  }

  Result<Cancelled> try_cancel(Id id, const void* addr, std::size_t size, Action action) noexcept {
    Cancelled out;
    mach_vm_reclaim_state_t st = 0;
    mach_vm_reclaim_error_t e =
        mach_vm_reclaim_try_cancel(ring_, id, reinterpret_cast<mach_vm_address_t>(addr), size,
                                   static_cast<mach_vm_reclaim_action_t>(action), &st, &out.update_accounting);
    if (e != VM_RECLAIM_SUCCESS) return to_error_code(e);
    out.state = static_cast<State>(st);
    return out;
  }

  Result<State> query(Id id, Action action) const noexcept {
    mach_vm_reclaim_state_t st = 0;
    mach_vm_reclaim_error_t e =
        mach_vm_reclaim_query_state(ring_, id, static_cast<mach_vm_reclaim_action_t>(action), &st);
    if (e != VM_RECLAIM_SUCCESS) return to_error_code(e);
    return static_cast<State>(st);
  }

  std::error_code update_accounting() noexcept {
    return to_error_code(mach_vm_reclaim_update_kernel_accounting(ring_));
  }
  std::error_code flush(uint32_t entries) noexcept { return to_error_code(mach_vm_reclaim_ring_flush(ring_, entries)); }
  std::error_code resize(uint32_t capacity) noexcept {
    return to_error_code(mach_vm_reclaim_ring_resize(ring_, capacity));
  }
  Result<uint32_t> capacity() const noexcept {
    mach_vm_reclaim_count_t c = 0;
    mach_vm_reclaim_error_t e = mach_vm_reclaim_ring_capacity(ring_, &c);
    if (e != VM_RECLAIM_SUCCESS) return to_error_code(e);
    return c;
  }
  // Reclaims everything now; the bytes reclaimed.
  Result<uint64_t> drain() noexcept {
    uint64_t bytes = 0;
    mach_vm_reclaim_error_t e = vmreclaim_ring_drain(ring_, &bytes);
    if (e != VM_RECLAIM_SUCCESS) return to_error_code(e);
    return bytes;
  }
  // Reclaims the oldest entries until at least `bytes` are reclaimed.
  Result<uint64_t> trim(uint64_t bytes) noexcept {
    uint64_t got = 0;
    mach_vm_reclaim_error_t e = vmreclaim_ring_trim(ring_, bytes, &got);
    if (e != VM_RECLAIM_SUCCESS) return to_error_code(e);
    return got;
  }
  Result<Stats> stats() const noexcept {
    Stats s{};
    mach_vm_reclaim_error_t e = vmreclaim_ring_get_stats(ring_, &s);
    if (e != VM_RECLAIM_SUCCESS) return to_error_code(e);
    return s;
  }

 private:
  mach_vm_reclaim_ring_t ring_ = nullptr;
};

}  // namespace vmreclaim
