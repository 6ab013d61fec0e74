/*
 * vmreclaim — the shared ring layout, for allocators, tools and tests.
 *
 * The ring is one page-aligned mapping: this header, then `len` entries of 16
 * bytes. IDs increase forever; an ID lives in slot `id % len`.
 *   head  every ID below it has been reclaimed        (written by the engine)
 *   busy  IDs in [head, busy) are being reclaimed now (written by the engine)
 *   tail  one past the newest entry                   (written by the user side)
 * user_ops counts the user side's enters, re-enters and cancels; the engine
 * reads it to tell a ring in use from an idle one (VMRECLAIM_IDLE_TRIM_NS).
 * Fields shared between the user side and the engine are accessed atomically;
 * they are plain integers here so that the header is valid C11 and C++20.
 */
#ifndef _VM_RECLAIM_PRIVATE_H_
#define _VM_RECLAIM_PRIVATE_H_

#include <mach/vm_reclaim.h>

#if defined(__LP64__)

__BEGIN_DECLS

typedef struct mach_vm_reclaim_entry_s {
  mach_vm_address_t address;
  uint32_t size;
  mach_vm_reclaim_action_t behavior;
  uint8_t _unused[3];
} *mach_vm_reclaim_entry_t;

struct mach_vm_reclaim_ring_s {
  mach_vm_reclaim_count_t len;     /* current capacity, in entries */
  mach_vm_reclaim_count_t max_len; /* capacity the mapping was reserved for */
  uint64_t last_sample_abs;        /* CLOCK_MONOTONIC ns of the engine's last sample */
  uint64_t next_sample_deadline_abs; /* the user side asks for an update once past it */
  uint64_t reclaimable_bytes_ceiling; /* ... or once reclaimable_bytes exceeds this */
  uint64_t reclaimable_bytes;      /* bytes in the ring, as the user side counts them */
  uint64_t reclaimable_bytes_min;  /* minimum of the above since the last sample */
  uint64_t head;
  uint64_t busy;
  uint64_t tail;
  uint64_t user_ops;  /* enters, re-enters and cancels so far (written by the user side) */
  struct mach_vm_reclaim_entry_s entries[];
};

/* The largest ring is 128 MiB (on 4 KiB pages) including its header. */
#define VM_RECLAIM_MAX_RING_BYTES (128ull << 20)
#define VM_RECLAIM_MAX_CAPACITY                                           \
  ((mach_vm_reclaim_count_t)((VM_RECLAIM_MAX_RING_BYTES -                 \
                              sizeof(struct mach_vm_reclaim_ring_s)) /    \
                             sizeof(struct mach_vm_reclaim_entry_s)))

#if defined(__cplusplus)
static_assert(sizeof(struct mach_vm_reclaim_entry_s) == 16, "entry is 16 bytes");
static_assert(sizeof(struct mach_vm_reclaim_ring_s) % 16 == 0, "header is whole entries");
#else
_Static_assert(sizeof(struct mach_vm_reclaim_entry_s) == 16, "entry is 16 bytes");
_Static_assert(sizeof(struct mach_vm_reclaim_ring_s) % 16 == 0, "header is whole entries");
#endif

/*
 * Introspection: find, copy and read another process's ring. On Linux a task
 * is a pid (task_read_t), and reading a ring needs the permission to read the
 * process's memory: the same user, or CAP_SYS_PTRACE.
 *
 *   count = 0;  mach_vm_reclaim_get_rings_for_task(pid, NULL, &count);
 *   mach_vm_reclaim_get_rings_for_task(pid, &ref, &count);
 *   mach_vm_reclaim_ring_copy(pid, &ref, &copy);
 *   mach_vm_reclaim_copied_ring_query(&copy, NULL, &n);     (how many)
 *   mach_vm_reclaim_copied_ring_query(&copy, regions, &n);  (what)
 *   mach_vm_reclaim_copied_ring_free(&copy);
 *
 * Errors besides the VM_RECLAIM_* values: a process that does not exist gives
 * VM_RECLAIM_INVALID_ARGUMENT with errno ESRCH; one the caller may not read
 * gives KERN_PROTECTION_FAILURE with errno EACCES or EPERM.
 */
#ifndef KERN_PROTECTION_FAILURE
#define KERN_PROTECTION_FAILURE 2
#endif

/* A reclaimable region as it sits in a copied ring. */
typedef struct mach_vm_reclaim_region_s {
  mach_vm_address_t vmrr_addr;
  mach_vm_size_t vmrr_size;
  mach_vm_reclaim_action_t vmrr_behavior;
  uint8_t _vmrr_unused[7];
} *mach_vm_reclaim_region_t;

/* Where a process's ring lives in that process: its reserved address range. */
typedef struct mach_vm_reclaim_ring_ref_s {
  mach_vm_address_t addr;
  mach_vm_size_t size;
} *mach_vm_reclaim_ring_ref_t;

/* A private snapshot of another process's ring (opaque). */
typedef struct mach_vm_reclaim_ring_copy_s *mach_vm_reclaim_ring_copy_t;

/*
 * The rings of process `task`: with refs_out == NULL, *count_inout becomes
 * their number (0 or 1 on Linux); otherwise up to *count_inout refs are
 * written and *count_inout becomes the number of rings.
 */
mach_vm_reclaim_error_t mach_vm_reclaim_get_rings_for_task(task_read_t task, mach_vm_reclaim_ring_ref_t refs_out,
                                                           mach_vm_reclaim_count_t *count_inout);

/* Copies the header and live entries of the ring `ref` of process `task`. */
mach_vm_reclaim_error_t mach_vm_reclaim_ring_copy(task_read_t task, mach_vm_reclaim_ring_ref_t ref,
                                                  mach_vm_reclaim_ring_copy_t *ring_out);

/*
 * The regions in [head, tail) of a copy, oldest first (cancelled slots read as
 * zeroed regions). regions_out == NULL: *count_inout becomes their number.
 * Otherwise at most *count_inout are written and *count_inout becomes the
 * number written. A malformed copy (length 0, larger than its maximum or than
 * what was mapped) gives VM_RECLAIM_INVALID_CAPACITY after writing what could
 * be read, and *count_inout says how many.
 */
mach_vm_reclaim_error_t mach_vm_reclaim_copied_ring_query(mach_vm_reclaim_ring_copy_t *ring_copy,
                                                          mach_vm_reclaim_region_t regions_out,
                                                          mach_vm_reclaim_count_t *count_inout);

/* Frees a copy and sets *ring_copy to NULL. */
mach_vm_reclaim_error_t mach_vm_reclaim_copied_ring_free(mach_vm_reclaim_ring_copy_t *ring_copy);

#if defined(__cplusplus)
static_assert(sizeof(struct mach_vm_reclaim_region_s) == 24, "region is 24 bytes");
#else
_Static_assert(sizeof(struct mach_vm_reclaim_region_s) == 24, "region is 24 bytes");
#endif

__END_DECLS

#endif /* __LP64__ */

#endif /* _VM_RECLAIM_PRIVATE_H_ */
