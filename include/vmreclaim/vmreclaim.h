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

/* Why the engine reclaimed: indices of the per-cause arrays below, in the
 * order of <vmreclaim/causes.def> (VMRECLAIM_CAUSE_FLUSH = 0, ...). */
enum {
#define VMRECLAIM_CAUSE(ID, name, what) VMRECLAIM_CAUSE_##ID,
#include <vmreclaim/causes.def>
  VMRECLAIM_CAUSE_COUNT
};

/* Guard fault kinds: indices of guard_faults[] below, in the order of
 * <vmreclaim/guard_faults.def> (VMRECLAIM_GUARD_DEALLOC_GAP = 0, ...). */
enum {
#define VMRECLAIM_GUARD_FAULT(ID, key, NAME, when) VMRECLAIM_GUARD_##ID,
#include <vmreclaim/guard_faults.def>
  VMRECLAIM_GUARD_COUNT
};

/* The statistics of a ring, field by field as <vmreclaim/stats.def> lists
 * and explains them: capacity, max_capacity, entries, reclaimable_bytes,
 * unreported_bytes, the user side's counters, reclaimed_entries[] and
 * reclaimed_bytes[] by cause, the engine's counters, guard_faults[] by
 * fault, wma_bytes, last_min_bytes, footprint_max, syscalls. */
#define VMRECLAIM_STAT_VALUE_(type, name) type name;
#define VMRECLAIM_STAT_BY_CAUSE_(type, name) type name[VMRECLAIM_CAUSE_COUNT];
#define VMRECLAIM_STAT_BY_GUARD_(type, name) type name[VMRECLAIM_GUARD_COUNT];
#define VMRECLAIM_STAT(SHAPE, type, name, SOURCE, meaning) VMRECLAIM_STAT_##SHAPE##_(type, name)
struct vmreclaim_ring_stats {
#include <vmreclaim/stats.def>
};
#undef VMRECLAIM_STAT_VALUE_
#undef VMRECLAIM_STAT_BY_CAUSE_
#undef VMRECLAIM_STAT_BY_GUARD_

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

/*
 * The idle trim's quiet time, in nanoseconds, when the environment does not
 * say (VMRECLAIM_IDLE_TRIM_NS unset): once the ring has seen no enter,
 * re-enter or cancel for this long, the engine thread gives back everything
 * it holds, once per quiet spell. 0 (the default) turns it off: the working-set
 * sampling alone decides, as on Darwin. The preloaded large-allocation layer
 * sets 500 ms before its ring exists. Takes effect when the ring is
 * allocated (and in a forked child, whose engine thread keeps the value).
 */
void vmreclaim_set_idle_trim_default(uint64_t ns);

/* This process's ring, or NULL if it has none. */
mach_vm_reclaim_ring_t vmreclaim_ring_current(void);

/* The library's own name for an error value ("VM_RECLAIM_INVALID_ID", ...). */
const char *vmreclaim_strerror(mach_vm_reclaim_error_t err);

__END_DECLS

#endif /* VMRECLAIM_VMRECLAIM_H */
