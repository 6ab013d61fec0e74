/*
 * vmreclaim — the shared ring layout, for allocators, tools and tests.
 *
 * The ring is one page-aligned mapping: this header, then `len` entries of 16
 * bytes. IDs increase forever; an ID lives in slot `id % len`.
 *   head  every ID below it has been reclaimed        (written by the engine)
 *   busy  IDs in [head, busy) are being reclaimed now (written by the engine)
 *   tail  one past the newest entry                   (written by the user side)
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
  uint64_t _reserved; /* keeps the header a whole number of entries */
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

__END_DECLS

#endif /* __LP64__ */

#endif /* _VM_RECLAIM_PRIVATE_H_ */
