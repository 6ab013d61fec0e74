/*
 * vmreclaim — deferred memory reclamation rings for Linux.
 *
 * Source-compatible with Darwin's <mach/vm_reclaim.h>: the same names, types
 * and numeric values. An allocator enters freed regions into a ring; a
 * reclaimer (here: an engine inside the process) frees them later, oldest
 * first, unless the allocator cancels the entry and reuses the memory first.
 * See README.md and docs/ for the semantics of each call on Linux.
 */
#ifndef _VM_RECLAIM_H_
#define _VM_RECLAIM_H_

#if defined(__LP64__)

#include <mach/vm_reclaim_compat.h>
#include <stdbool.h>
#include <stdint.h>

__BEGIN_DECLS

/* What the reclaimer does with an entry. */
__enum_decl(mach_vm_reclaim_action_t, uint8_t, {
  VM_RECLAIM_FREE = 1,       /* release the pages, keep the mapping */
  VM_RECLAIM_DEALLOCATE = 2, /* unmap the range */
});

/* Where a region stands after a cancel or a query. */
__enum_decl(mach_vm_reclaim_state_t, uint32_t, {
  VM_RECLAIM_UNRECLAIMED = 1, /* still in the ring, contents intact */
  VM_RECLAIM_FREED = 2,       /* pages released, mapping kept */
  VM_RECLAIM_DEALLOCATED = 3, /* unmapped */
  VM_RECLAIM_BUSY = 4,        /* being reclaimed right now */
});

#define err_vm_reclaim(e) (err_vm | err_sub(1) | (e))

__enum_decl(mach_vm_reclaim_error_t, mach_error_t, {
  VM_RECLAIM_SUCCESS = ERR_SUCCESS,
  VM_RECLAIM_INVALID_ARGUMENT = err_vm_reclaim(1),
  VM_RECLAIM_NOT_SUPPORTED = err_vm_reclaim(2),
  VM_RECLAIM_INVALID_REGION_SIZE = err_vm_reclaim(3),
  VM_RECLAIM_INVALID_CAPACITY = err_vm_reclaim(4),
  VM_RECLAIM_INVALID_ID = err_vm_reclaim(5),
  VM_RECLAIM_RESOURCE_SHORTAGE = err_vm_reclaim(6),
  VM_RECLAIM_INVALID_RING = err_vm_reclaim(7),
});

typedef struct mach_vm_reclaim_ring_s *mach_vm_reclaim_ring_t;
typedef uint32_t mach_vm_reclaim_count_t;
typedef uint64_t mach_vm_reclaim_id_t;

#if !defined(KERNEL) || !KERNEL
#define VM_RECLAIM_ID_NULL UINT64_MAX
#define VM_RECLAIM_REGION_SIZE_MAX ((mach_vm_size_t)UINT32_MAX)

/* Allocate this process's ring (one per process). Capacities are entry counts. */
__SPI_AVAILABLE(macos(15.4), ios(18.4), tvos(18.4), visionos(2.4))
mach_vm_reclaim_error_t mach_vm_reclaim_ring_allocate(mach_vm_reclaim_ring_t *ring,
                                                      mach_vm_reclaim_count_t initial_capacity,
                                                      mach_vm_reclaim_count_t max_capacity);

/* Reclaim every entry, then change the ring's length. Caller serialises with enter/cancel. */
__SPI_AVAILABLE(macos(15.4), ios(18.4), tvos(18.4), visionos(2.4))
mach_vm_reclaim_error_t mach_vm_reclaim_ring_resize(mach_vm_reclaim_ring_t ring,
                                                    mach_vm_reclaim_count_t capacity);

__SPI_AVAILABLE(macos(15.4), ios(18.4), tvos(18.4), visionos(2.4))
mach_vm_reclaim_error_t mach_vm_reclaim_ring_capacity(mach_vm_reclaim_ring_t ring,
                                                      mach_vm_reclaim_count_t *capacity);

/* The largest capacity whose ring fits the same whole number of pages. */
__SPI_AVAILABLE(macos(15.4), ios(18.4), tvos(18.4), visionos(2.4))
mach_vm_reclaim_count_t mach_vm_reclaim_round_capacity(mach_vm_reclaim_count_t capacity);

/* Synchronously reclaim at least this many entries (or all). Thread-safe. */
__SPI_AVAILABLE(macos(15.4), ios(18.4), tvos(18.4), visionos(2.4))
mach_vm_reclaim_error_t mach_vm_reclaim_ring_flush(mach_vm_reclaim_ring_t ring,
                                                   mach_vm_reclaim_count_t num_entries_to_reclaim);

/*
 * Enter a freed region. *id == VM_RECLAIM_ID_NULL takes a new slot at the tail;
 * any other value re-uses the slot of an entry this caller cancelled. On a
 * full ring or an unavailable id, *id becomes VM_RECLAIM_ID_NULL.
 */
__SPI_AVAILABLE(macos(15.4), ios(18.4), tvos(18.4), visionos(2.4))
mach_vm_reclaim_error_t mach_vm_reclaim_try_enter(mach_vm_reclaim_ring_t ring,
                                                  mach_vm_address_t region_start,
                                                  mach_vm_size_t region_size,
                                                  mach_vm_reclaim_action_t action,
                                                  mach_vm_reclaim_id_t *id,
                                                  bool *should_update_kernel_accounting);

/* Take an entry back; *state says whether its memory is reusable. */
__SPI_AVAILABLE(macos(15.4), ios(18.4), tvos(18.4), visionos(2.4))
mach_vm_reclaim_error_t mach_vm_reclaim_try_cancel(mach_vm_reclaim_ring_t ring,
                                                   mach_vm_reclaim_id_t id,
                                                   mach_vm_address_t region_start,
                                                   mach_vm_size_t region_size,
                                                   mach_vm_reclaim_action_t action,
                                                   mach_vm_reclaim_state_t *state,
                                                   bool *should_update_kernel_accounting);

/* Read-only and racy by nature; thread-safe. */
mach_vm_reclaim_error_t mach_vm_reclaim_query_state(mach_vm_reclaim_ring_t ring,
                                                    mach_vm_reclaim_id_t id,
                                                    mach_vm_reclaim_action_t action,
                                                    mach_vm_reclaim_state_t *state);

bool mach_vm_reclaim_is_reusable(mach_vm_reclaim_state_t state);

/* Hand the ring's accounting to the engine, which may sample and trim now. */
__SPI_AVAILABLE(macos(15.4), ios(18.4), tvos(18.4), visionos(2.4))
mach_vm_reclaim_error_t mach_vm_reclaim_update_kernel_accounting(mach_vm_reclaim_ring_t ring);

#endif /* !KERNEL */

__END_DECLS

#endif /* __LP64__ */

#endif /* _VM_RECLAIM_H_ */
