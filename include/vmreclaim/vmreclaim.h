/*
 * vmreclaim — Linux extensions to the Darwin-compatible API (C11).
 *
 * Darwin's kernel decides on its own when to drain a ring; on Linux a program
 * (or an operator, through the tools) can also ask for it, read statistics,
 * and release the ring. Everything here works on the ring returned by
 * mach_vm_reclaim_ring_allocate().
 */
#ifndef VMRECLAIM_VMRECLAIM_H
#define VMRECLAIM_VMRECLAIM_H

#include <mach/vm_reclaim.h>
#include <stdint.h>

__BEGIN_DECLS

/* Why the engine reclaimed: indices of the per-cause arrays below. */
enum {
  VMRECLAIM_CAUSE_FLUSH = 0,
  VMRECLAIM_CAUSE_TRIM = 1,
  VMRECLAIM_CAUSE_DRAIN = 2,
  VMRECLAIM_CAUSE_RESIZE = 3,
  VMRECLAIM_CAUSE_LIMIT = 4,
  VMRECLAIM_CAUSE_SUSPEND = 5,
  VMRECLAIM_CAUSE_BACKGROUND = 6,
  VMRECLAIM_CAUSE_COUNT = 7
};

/* Guard fault kinds: indices of guard_faults[] below. */
enum {
  VMRECLAIM_GUARD_DEALLOC_GAP = 0,
  VMRECLAIM_GUARD_COPYIO_FAILURE = 1,
  VMRECLAIM_GUARD_INDEX_FAILURE = 2,
  VMRECLAIM_GUARD_DEALLOCATE_FAILURE = 3,
  VMRECLAIM_GUARD_ACCOUNTING_FAILURE = 4,
  VMRECLAIM_GUARD_FREE_GAP = 5,       /* a FREE entry covers unmapped pages */
  VMRECLAIM_GUARD_ENGINE_OVERLAP = 6, /* an entry covers the engine's own memory */
  VMRECLAIM_GUARD_COUNT = 7
};

struct vmreclaim_ring_stats {
  uint32_t capacity;      /* current length, in entries */
  uint32_t max_capacity;  /* length the ring may grow to */
  uint64_t entries;       /* IDs in [head, tail): live or cancelled slots */
  uint64_t reclaimable_bytes;
  uint64_t unreported_bytes; /* reclaimed by the engine, not yet settled */
  /* user side */
  uint64_t entered_entries, entered_bytes, reentered_entries, enter_full;
  uint64_t cancelled_unreclaimed, cancelled_busy, cancelled_freed, cancelled_deallocated, cancelled_bytes;
  /* engine */
  uint64_t reclaimed_entries[VMRECLAIM_CAUSE_COUNT];
  uint64_t reclaimed_bytes[VMRECLAIM_CAUSE_COUNT];
  uint64_t samples, trims, aborted_chunks, free_failures;
  uint64_t guard_faults[VMRECLAIM_GUARD_COUNT];
  uint64_t wma_bytes;      /* working-set estimate of unneeded bytes */
  uint64_t last_min_bytes; /* the minimum seen at the last sample */
  uint64_t footprint_max;  /* lifetime maximum footprint seen by the engine */
  uint64_t syscalls;       /* system calls the engine has issued */
};

/* Reclaim every entry now. *bytes_reclaimed (may be NULL) gets the bytes. */
mach_vm_reclaim_error_t vmreclaim_ring_drain(mach_vm_reclaim_ring_t ring, uint64_t *bytes_reclaimed);

/* Reclaim the oldest entries until at least `bytes` bytes are reclaimed. */
mach_vm_reclaim_error_t vmreclaim_ring_trim(mach_vm_reclaim_ring_t ring, uint64_t bytes, uint64_t *bytes_reclaimed);

/* Statistics of the ring (a consistent-enough snapshot of live counters). */
mach_vm_reclaim_error_t vmreclaim_ring_get_stats(mach_vm_reclaim_ring_t ring, struct vmreclaim_ring_stats *stats);

/*
 * Reclaim every entry and unmap the ring; the process may then allocate a new
 * one. No other thread may use the ring during or after this call.
 */
mach_vm_reclaim_error_t vmreclaim_ring_destroy(mach_vm_reclaim_ring_t ring);

/*
 * Keep this process's footprint (anonymous + shmem resident + swapped) under
 * `bytes` by reclaiming ring entries before the kernel would have to kill it.
 * 0 removes the limit. Overrides VMRECLAIM_FOOTPRINT_LIMIT. Applies at once.
 */
void vmreclaim_set_footprint_limit(uint64_t bytes);
/* The footprint limit in force, or 0. */
uint64_t vmreclaim_get_footprint_limit(void);

/*
 * Whether the ring's control endpoint (what `vmreclaim show/trim/drain` talk
 * to: a listening socket and an epoll descriptor) is served when the
 * environment does not say (VMRECLAIM_CONTROL unset). 1 by default; the
 * preloaded large-allocation layer sets 0 before its ring exists, so a program
 * that knows nothing of the library gains no descriptor unless asked
 * (`vmreclaim run` sets VMRECLAIM_CONTROL=1). Takes effect when the endpoint
 * is next opened (at mach_vm_reclaim_ring_allocate, in a forked child); an
 * endpoint already open stays.
 */
void vmreclaim_set_control_default(int serve);

/* This process's ring, or NULL if it has none. */
mach_vm_reclaim_ring_t vmreclaim_ring_current(void);

/* The library's own name for an error value ("VM_RECLAIM_INVALID_ID", ...). */
const char *vmreclaim_strerror(mach_vm_reclaim_error_t err);

__END_DECLS

#endif /* VMRECLAIM_VMRECLAIM_H */
