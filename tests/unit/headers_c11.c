/* The public C headers must compile as strict C11 (-std=c11 -Wpedantic, no
 * feature-test macros) and give C the same values and layout as C++. */
#include "unit/headers_c11.h"

#include <mach/vm_reclaim.h>
#include <mach/vm_reclaim_private.h>
#include <stddef.h>
#include <vmreclaim/vmreclaim.h>

/* Darwin's numeric values, checked at compile time in C. */
_Static_assert(VM_RECLAIM_SUCCESS == 0, "success is 0");
_Static_assert(VM_RECLAIM_INVALID_ARGUMENT == 0x20004001, "err_vm|err_sub(1)|1");
_Static_assert(VM_RECLAIM_INVALID_RING == 0x20004007, "err_vm|err_sub(1)|7");
_Static_assert(sizeof(struct mach_vm_reclaim_entry_s) == 16, "16-byte entries");
_Static_assert(sizeof(mach_vm_reclaim_id_t) == 8 && sizeof(mach_vm_reclaim_count_t) == 4, "id and count widths");
_Static_assert(sizeof(mach_vm_reclaim_action_t) == 1, "action is a byte");

/* struct vmreclaim_ring_stats and its index constants are made from
 * <vmreclaim/stats.def>, causes.def and guard_faults.def. They are ABI: the
 * layout below, written out by hand as it was before the tables, must stay
 * what the tables make (a new statistic may only be appended, after
 * syscalls, with a new frozen copy here). */
struct frozen_ring_stats_v1 {
  uint32_t capacity, max_capacity;
  uint64_t entries, reclaimable_bytes, unreported_bytes;
  uint64_t entered_entries, entered_bytes, reentered_entries, enter_full;
  uint64_t cancelled_unreclaimed, cancelled_busy, cancelled_freed, cancelled_deallocated, cancelled_bytes;
  uint64_t reclaimed_entries[7];
  uint64_t reclaimed_bytes[7];
  uint64_t samples, trims, aborted_chunks, free_failures;
  uint64_t guard_faults[7];
  uint64_t wma_bytes, last_min_bytes, footprint_max, syscalls;
};
#define SAME_FIELD(f)                                                                                              \
  _Static_assert(offsetof(struct vmreclaim_ring_stats, f) == offsetof(struct frozen_ring_stats_v1, f) &&           \
                     sizeof(((struct vmreclaim_ring_stats*)0)->f) == sizeof(((struct frozen_ring_stats_v1*)0)->f), \
                 "vmreclaim_ring_stats." #f " moved or changed size");
SAME_FIELD(capacity)
SAME_FIELD(max_capacity)
SAME_FIELD(entries)
SAME_FIELD(reclaimable_bytes)
SAME_FIELD(unreported_bytes)
SAME_FIELD(entered_entries)
SAME_FIELD(entered_bytes)
SAME_FIELD(reentered_entries)
SAME_FIELD(enter_full)
SAME_FIELD(cancelled_unreclaimed)
SAME_FIELD(cancelled_busy)
SAME_FIELD(cancelled_freed)
SAME_FIELD(cancelled_deallocated)
SAME_FIELD(cancelled_bytes)
SAME_FIELD(reclaimed_entries)
SAME_FIELD(reclaimed_bytes)
SAME_FIELD(samples)
SAME_FIELD(trims)
SAME_FIELD(aborted_chunks)
SAME_FIELD(free_failures)
SAME_FIELD(guard_faults)
SAME_FIELD(wma_bytes)
SAME_FIELD(last_min_bytes)
SAME_FIELD(footprint_max)
SAME_FIELD(syscalls)
#undef SAME_FIELD
_Static_assert(sizeof(struct vmreclaim_ring_stats) == sizeof(struct frozen_ring_stats_v1), "stats size");
_Static_assert(VMRECLAIM_CAUSE_FLUSH == 0 && VMRECLAIM_CAUSE_TRIM == 1 && VMRECLAIM_CAUSE_DRAIN == 2 &&
                   VMRECLAIM_CAUSE_RESIZE == 3 && VMRECLAIM_CAUSE_LIMIT == 4 && VMRECLAIM_CAUSE_SUSPEND == 5 &&
                   VMRECLAIM_CAUSE_BACKGROUND == 6 && VMRECLAIM_CAUSE_COUNT == 7,
               "cause indices");
_Static_assert(VMRECLAIM_GUARD_DEALLOC_GAP == 0 && VMRECLAIM_GUARD_COPYIO_FAILURE == 1 &&
                   VMRECLAIM_GUARD_INDEX_FAILURE == 2 && VMRECLAIM_GUARD_DEALLOCATE_FAILURE == 3 &&
                   VMRECLAIM_GUARD_ACCOUNTING_FAILURE == 4 && VMRECLAIM_GUARD_FREE_GAP == 5 &&
                   VMRECLAIM_GUARD_ENGINE_OVERLAP == 6 && VMRECLAIM_GUARD_COUNT == 7,
               "guard fault indices");

/* The tables also compile where a C program uses them itself. */
static const char* const guard_names[] = {
#define VMRECLAIM_GUARD_FAULT(ID, key, NAME, when) NAME,
#include <vmreclaim/guard_faults.def>
};
_Static_assert(sizeof guard_names / sizeof guard_names[0] == VMRECLAIM_GUARD_COUNT, "one name per fault");

const char* c11_guard_fault_name(int fault) {
  return fault >= 0 && fault < VMRECLAIM_GUARD_COUNT ? guard_names[fault] : NULL;
}

void c11_get_ring_layout(struct c11_ring_layout* out) {
  out->entry_size = sizeof(struct mach_vm_reclaim_entry_s);
  out->header_size = sizeof(struct mach_vm_reclaim_ring_s);
  out->entry_address = offsetof(struct mach_vm_reclaim_entry_s, address);
  out->entry_size_field = offsetof(struct mach_vm_reclaim_entry_s, size);
  out->entry_behavior = offsetof(struct mach_vm_reclaim_entry_s, behavior);
  out->len = offsetof(struct mach_vm_reclaim_ring_s, len);
  out->max_len = offsetof(struct mach_vm_reclaim_ring_s, max_len);
  out->last_sample_abs = offsetof(struct mach_vm_reclaim_ring_s, last_sample_abs);
  out->next_sample_deadline_abs = offsetof(struct mach_vm_reclaim_ring_s, next_sample_deadline_abs);
  out->reclaimable_bytes = offsetof(struct mach_vm_reclaim_ring_s, reclaimable_bytes);
  out->reclaimable_bytes_min = offsetof(struct mach_vm_reclaim_ring_s, reclaimable_bytes_min);
  out->head = offsetof(struct mach_vm_reclaim_ring_s, head);
  out->busy = offsetof(struct mach_vm_reclaim_ring_s, busy);
  out->tail = offsetof(struct mach_vm_reclaim_ring_s, tail);
  out->entries = offsetof(struct mach_vm_reclaim_ring_s, entries);
  out->max_capacity = VM_RECLAIM_MAX_CAPACITY;
}

void c11_get_constants(int64_t out[C11_CONSTANTS]) {
  const int64_t v[C11_CONSTANTS] = {
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
  for (int i = 0; i < C11_CONSTANTS; i++) out[i] = v[i];
}

uint64_t c11_id_null(void) { return VM_RECLAIM_ID_NULL; }

int c11_ring_roundtrip(void* region, size_t len) {
  unsigned char* p = region;
  mach_vm_reclaim_ring_t ring = NULL;
  if (mach_vm_reclaim_ring_allocate(&ring, 1, 1) != VM_RECLAIM_SUCCESS || ring == NULL) return 1;
  p[0] = 42;
  mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
  bool update = false;
  if (mach_vm_reclaim_try_enter(ring, (mach_vm_address_t)p, len, VM_RECLAIM_FREE, &id, &update) != VM_RECLAIM_SUCCESS ||
      id != 0)
    return 3;
  mach_vm_reclaim_state_t state = 0;
  if (mach_vm_reclaim_try_cancel(ring, id, (mach_vm_address_t)p, len, VM_RECLAIM_FREE, &state, &update) !=
          VM_RECLAIM_SUCCESS ||
      state != VM_RECLAIM_UNRECLAIMED || !mach_vm_reclaim_is_reusable(state) || p[0] != 42)
    return 4;
  if (mach_vm_reclaim_try_enter(ring, (mach_vm_address_t)p, len, VM_RECLAIM_FREE, &id, &update) != VM_RECLAIM_SUCCESS ||
      id != 0)
    return 5; /* re-entered into the slot it was cancelled from */
  if (mach_vm_reclaim_ring_flush(ring, 1) != VM_RECLAIM_SUCCESS) return 6;
  if (mach_vm_reclaim_query_state(ring, id, VM_RECLAIM_FREE, &state) != VM_RECLAIM_SUCCESS ||
      state != VM_RECLAIM_FREED || p[0] != 0)
    return 7;
  struct vmreclaim_ring_stats stats;
  if (vmreclaim_ring_get_stats(ring, &stats) != VM_RECLAIM_SUCCESS || stats.reclaimable_bytes != 0 ||
      stats.reclaimed_entries[VMRECLAIM_CAUSE_FLUSH] != 1)
    return 8;
  if (vmreclaim_ring_destroy(ring) != VM_RECLAIM_SUCCESS || vmreclaim_ring_current() != NULL) return 9;
  return 0;
}
