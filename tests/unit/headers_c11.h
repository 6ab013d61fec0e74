// The C11 side of the header tests: functions compiled from headers_c11.c,
// a translation unit built as strict C11.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// The layout of the ring as a C compiler sees it.
struct c11_ring_layout {
  size_t entry_size, header_size;
  size_t entry_address, entry_size_field, entry_behavior;
  size_t len, max_len, last_sample_abs, next_sample_deadline_abs, reclaimable_bytes, reclaimable_bytes_min;
  size_t head, busy, tail, entries;
  uint32_t max_capacity;
};
void c11_get_ring_layout(struct c11_ring_layout* out);

// The API's constants as a C compiler sees them, in declaration order:
// SUCCESS, INVALID_ARGUMENT .. INVALID_RING, FREE, DEALLOCATE, UNRECLAIMED,
// FREED, DEALLOCATED, BUSY.
enum { C11_CONSTANTS = 14 };
void c11_get_constants(int64_t out[C11_CONSTANTS]);
uint64_t c11_id_null(void);
// A guard fault's name from <vmreclaim/guard_faults.def> as C sees it, NULL
// out of range.
const char* c11_guard_fault_name(int fault);

// Allocates a ring, enters `region` (private anonymous, writable), cancels,
// re-enters, flushes and destroys the ring, all from C. 0 on success, else
// the number of the step that failed.
int c11_ring_roundtrip(void* region, size_t len);

#ifdef __cplusplus
}
#endif
