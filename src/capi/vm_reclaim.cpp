// The extern "C" API: argument checks and error values, then one call into
// the ring protocol or the engine. Nothing else lives here, but for the one
// place the library is put together: the control endpoint is installed as
// the engine thread's service before the first ring is made.
#include <mach/vm_reclaim.h>
#include <mach/vm_reclaim_private.h>
#include <vmreclaim/vmreclaim.h>

#include "control/endpoint.h"
#include "platform/linux/copyio.h"
#include "process/registry.h"
#include "ring/protocol.h"

using vmreclaim::engine::Cause;
using vmreclaim::engine::Engine;
using vmreclaim::process::Registry;

namespace {

inline bool valid_action(mach_vm_reclaim_action_t a) { return a == VM_RECLAIM_FREE || a == VM_RECLAIM_DEALLOCATE; }

// One statistic from the engine's live counters into the C struct; an array
// only into an array of the same length (the same list, stats.def).
void copy_stat(uint64_t& out, const vmreclaim::engine::Counter& in) noexcept { out = in.get(); }
void copy_stat(uint64_t& out, const vmreclaim::engine::Gauge& in) noexcept { out = in.load(std::memory_order_relaxed); }
template <class T, size_t N>
void copy_stat(uint64_t (&out)[N], const T (&in)[N]) noexcept {
  for (size_t i = 0; i < N; i++) copy_stat(out[i], in[i]);
}

}  // namespace

// The public API is the library's only exported surface (-fvisibility=hidden).
#pragma GCC visibility push(default)
extern "C" {

mach_vm_reclaim_count_t mach_vm_reclaim_round_capacity(mach_vm_reclaim_count_t capacity) {
  return vmreclaim::ring::round_capacity(capacity);
}

mach_vm_reclaim_error_t mach_vm_reclaim_ring_allocate(mach_vm_reclaim_ring_t* ring,
                                                      mach_vm_reclaim_count_t initial_capacity,
                                                      mach_vm_reclaim_count_t max_capacity) {
  Registry& r = Registry::get();
  r.set_loop_service(&vmreclaim::control::Endpoint::get());
  return r.allocate(ring, initial_capacity, max_capacity);
}

mach_vm_reclaim_error_t mach_vm_reclaim_ring_resize(mach_vm_reclaim_ring_t ring, mach_vm_reclaim_count_t capacity) {
  Engine* e = Registry::get().lookup(ring);
  if (e == nullptr) return VM_RECLAIM_INVALID_RING;
  if (capacity == 0) return VM_RECLAIM_INVALID_CAPACITY;
  // Against the maximum as the caller gave it, and exactly the capacity
  // asked for: rounding is the caller's choice, as on Darwin.
  if (capacity > e->max_capacity()) return VM_RECLAIM_INVALID_CAPACITY;
  return e->resize(capacity);
}

mach_vm_reclaim_error_t mach_vm_reclaim_ring_capacity(mach_vm_reclaim_ring_t ring, mach_vm_reclaim_count_t* capacity) {
  Engine* e = Registry::get().lookup(ring);
  if (e == nullptr) return VM_RECLAIM_INVALID_RING;
  if (capacity == nullptr) return VM_RECLAIM_INVALID_ARGUMENT;
  *capacity = e->capacity();
  return VM_RECLAIM_SUCCESS;
}

mach_vm_reclaim_error_t mach_vm_reclaim_ring_flush(mach_vm_reclaim_ring_t ring,
                                                   mach_vm_reclaim_count_t num_entries_to_reclaim) {
  Engine* e = Registry::get().lookup(ring);
  if (e == nullptr) return VM_RECLAIM_INVALID_RING;
  if (num_entries_to_reclaim == 0) return VM_RECLAIM_INVALID_ARGUMENT;
  return e->flush(num_entries_to_reclaim);
}

mach_vm_reclaim_error_t mach_vm_reclaim_try_enter(mach_vm_reclaim_ring_t ring, mach_vm_address_t region_start,
                                                  mach_vm_size_t region_size, mach_vm_reclaim_action_t action,
                                                  mach_vm_reclaim_id_t* id, bool* should_update_kernel_accounting) {
  vmreclaim::engine::Stats* st = vmreclaim::process::current_ring_stats(ring);
  if (st == nullptr) return VM_RECLAIM_INVALID_RING;
  // Darwin's order and values: a missing ID pointer is an invalid ID.
  if (id == nullptr) return VM_RECLAIM_INVALID_ID;
  if (should_update_kernel_accounting == nullptr || !valid_action(action)) return VM_RECLAIM_INVALID_ARGUMENT;
  if (region_size > VM_RECLAIM_REGION_SIZE_MAX || region_size == 0) {
    *id = VM_RECLAIM_ID_NULL;
    return VM_RECLAIM_INVALID_REGION_SIZE;
  }
  const auto size = static_cast<uint32_t>(region_size);
  if (*id == VM_RECLAIM_ID_NULL) {
    *id = vmreclaim::ring::enter(ring, region_start, size, action, should_update_kernel_accounting);
    if (*id == VM_RECLAIM_ID_NULL) {
      st->enter_full.bump_serial();
      return VM_RECLAIM_SUCCESS;
    }
  } else {
    mach_vm_reclaim_error_t err =
        vmreclaim::ring::reenter(ring, id, region_start, size, action, should_update_kernel_accounting);
    if (err != VM_RECLAIM_SUCCESS || *id == VM_RECLAIM_ID_NULL) return err;
    st->reentered_entries.bump_serial();
  }
  st->entered_entries.bump_serial();
  st->entered_bytes.bump_serial(size);
  return VM_RECLAIM_SUCCESS;
}

mach_vm_reclaim_error_t mach_vm_reclaim_try_cancel(mach_vm_reclaim_ring_t ring, mach_vm_reclaim_id_t id,
                                                   mach_vm_address_t region_start, mach_vm_size_t region_size,
                                                   mach_vm_reclaim_action_t action, mach_vm_reclaim_state_t* state,
                                                   bool* should_update_kernel_accounting) {
  vmreclaim::engine::Stats* st = vmreclaim::process::current_ring_stats(ring);
  if (st == nullptr) return VM_RECLAIM_INVALID_RING;
  // Darwin's order: the null ID before the out-pointers.
  if (id == VM_RECLAIM_ID_NULL) return VM_RECLAIM_INVALID_ID;
  if (state == nullptr || should_update_kernel_accounting == nullptr || !valid_action(action)) {
    return VM_RECLAIM_INVALID_ARGUMENT;
  }
  if (region_size > VM_RECLAIM_REGION_SIZE_MAX || region_size == 0) return VM_RECLAIM_INVALID_REGION_SIZE;
  const auto size = static_cast<uint32_t>(region_size);
  mach_vm_reclaim_error_t err =
      vmreclaim::ring::cancel(ring, id, region_start, size, action, state, should_update_kernel_accounting);
  if (err != VM_RECLAIM_SUCCESS) return err;
  switch (*state) {
    case VM_RECLAIM_UNRECLAIMED:
      st->cancelled_unreclaimed.bump_serial();
      st->cancelled_bytes.bump_serial(size);
      break;
    case VM_RECLAIM_BUSY: st->cancelled_busy.bump_serial(); break;
    case VM_RECLAIM_FREED: st->cancelled_freed.bump_serial(); break;
    default: st->cancelled_deallocated.bump_serial(); break;
  }
  return VM_RECLAIM_SUCCESS;
}

mach_vm_reclaim_error_t mach_vm_reclaim_query_state(mach_vm_reclaim_ring_t ring, mach_vm_reclaim_id_t id,
                                                    mach_vm_reclaim_action_t action, mach_vm_reclaim_state_t* state) {
  if (vmreclaim::process::current_ring_stats(ring) == nullptr) return VM_RECLAIM_INVALID_RING;
  // Darwin's order: the null ID before the action.
  if (id == VM_RECLAIM_ID_NULL) return VM_RECLAIM_INVALID_ID;
  if (state == nullptr || !valid_action(action)) return VM_RECLAIM_INVALID_ARGUMENT;
  return vmreclaim::ring::query(ring, id, action, state);
}

bool mach_vm_reclaim_is_reusable(mach_vm_reclaim_state_t state) {
  return state == VM_RECLAIM_FREED || state == VM_RECLAIM_UNRECLAIMED;
}

mach_vm_reclaim_error_t mach_vm_reclaim_update_kernel_accounting(mach_vm_reclaim_ring_t ring) {
  Engine* e = Registry::get().lookup(ring);
  if (e == nullptr) return VM_RECLAIM_INVALID_RING;
  return e->update_accounting();
}

// ---- Linux extensions ----

mach_vm_reclaim_error_t vmreclaim_ring_drain(mach_vm_reclaim_ring_t ring, uint64_t* bytes_reclaimed) {
  Engine* e = Registry::get().lookup(ring);
  if (e == nullptr) return VM_RECLAIM_INVALID_RING;
  return e->drain(Cause::drain, bytes_reclaimed);
}

mach_vm_reclaim_error_t vmreclaim_ring_trim(mach_vm_reclaim_ring_t ring, uint64_t bytes, uint64_t* bytes_reclaimed) {
  Engine* e = Registry::get().lookup(ring);
  if (e == nullptr) return VM_RECLAIM_INVALID_RING;
  if (bytes == 0) return VM_RECLAIM_INVALID_ARGUMENT;
  return e->trim(bytes, Cause::trim, bytes_reclaimed);
}

mach_vm_reclaim_error_t vmreclaim_ring_get_stats(mach_vm_reclaim_ring_t ring, struct vmreclaim_ring_stats* out) {
  Engine* e = Registry::get().lookup(ring);
  if (e == nullptr) return VM_RECLAIM_INVALID_RING;
  if (out == nullptr) return VM_RECLAIM_INVALID_ARGUMENT;
  const vmreclaim::engine::Stats& s = e->stats();
  *out = {};
  out->capacity = e->capacity();
  out->max_capacity = e->max_capacity();
  // The ring is the program's memory and may be gone (stats are most wanted
  // right after a guard fault in VMRECLAIM_GUARD=log mode): read it guarded,
  // and report what lives in it as 0 if it cannot be read.
  uint64_t head = 0, tail = 0, reclaimable = 0;
  if (vmreclaim::platform::copyio([&] {
        head = vmreclaim::ring::load(ring->head);
        tail = vmreclaim::ring::load(ring->tail);
        reclaimable = vmreclaim::ring::load(ring->reclaimable_bytes);
      })) {
    out->entries = tail >= head ? tail - head : 0;
    out->reclaimable_bytes = reclaimable;
  }
  out->unreported_bytes = e->unreported_bytes();
  // The engine's counters and gauges, each under its own name (stats.def).
#define VMR_COPY_CALL(name)
#define VMR_COPY_COUNTER(name) copy_stat(out->name, s.name);
#define VMR_COPY_GAUGE(name) copy_stat(out->name, s.name);
#define VMRECLAIM_STAT(SHAPE, type, name, SOURCE, meaning) VMR_COPY_##SOURCE(name)
#include <vmreclaim/stats.def>
#undef VMR_COPY_CALL
#undef VMR_COPY_COUNTER
#undef VMR_COPY_GAUGE
  out->syscalls = Registry::get().vm().syscalls();
  return VM_RECLAIM_SUCCESS;
}

mach_vm_reclaim_error_t vmreclaim_ring_destroy(mach_vm_reclaim_ring_t ring) { return Registry::get().destroy(ring); }

mach_vm_reclaim_ring_t vmreclaim_ring_current(void) { return Registry::get().current(); }

void vmreclaim_set_footprint_limit(uint64_t bytes) { Registry::get().set_footprint_limit(bytes); }

uint64_t vmreclaim_get_footprint_limit(void) { return Registry::get().footprint_limit(); }

void vmreclaim_set_control_default(int serve) { Registry::get().set_control_default(serve != 0); }
void vmreclaim_set_idle_trim_default(uint64_t ns) { Registry::get().set_idle_trim_default(ns); }

const char* vmreclaim_strerror(mach_vm_reclaim_error_t err) {
  switch (err) {
    case VM_RECLAIM_SUCCESS: return "VM_RECLAIM_SUCCESS";
    case VM_RECLAIM_INVALID_ARGUMENT: return "VM_RECLAIM_INVALID_ARGUMENT";
    case VM_RECLAIM_NOT_SUPPORTED: return "VM_RECLAIM_NOT_SUPPORTED";
    case VM_RECLAIM_INVALID_REGION_SIZE: return "VM_RECLAIM_INVALID_REGION_SIZE";
    case VM_RECLAIM_INVALID_CAPACITY: return "VM_RECLAIM_INVALID_CAPACITY";
    case VM_RECLAIM_INVALID_ID: return "VM_RECLAIM_INVALID_ID";
    case VM_RECLAIM_RESOURCE_SHORTAGE: return "VM_RECLAIM_RESOURCE_SHORTAGE";
    case VM_RECLAIM_INVALID_RING: return "VM_RECLAIM_INVALID_RING";
    case KERN_PROTECTION_FAILURE: return "KERN_PROTECTION_FAILURE (permission denied)";
    default: return "unknown vm_reclaim error";
  }
}

}  // extern "C"
#pragma GCC visibility pop
