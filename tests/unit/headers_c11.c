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
