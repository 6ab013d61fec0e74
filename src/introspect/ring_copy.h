// A private snapshot of another process's ring: the opaque
// mach_vm_reclaim_ring_copy_t of the introspection API. It holds an image of
// the ring's first bytes exactly as they sat in the target (header, then the
// slots that could be read), so the query reads it like the ring itself
// while trusting none of its fields.
#pragma once

#include <mach/vm_reclaim_private.h>
#include <sys/types.h>

#include <cstdint>
#include <vector>

struct mach_vm_reclaim_ring_copy_s {
  uint64_t ring_addr = 0;       // where the ring lives in the target
  uint64_t ring_size = 0;       // its reservation, from the ref
  uint64_t slots = 0;           // entries present in the image after the header
  std::vector<uint64_t> image;  // header + `slots` entries (uint64_t: aligned)

  const mach_vm_reclaim_ring_s* ring() const noexcept {
    return reinterpret_cast<const mach_vm_reclaim_ring_s*>(image.data());
  }
  mach_vm_reclaim_ring_s* ring() noexcept { return reinterpret_cast<mach_vm_reclaim_ring_s*>(image.data()); }
};

namespace vmreclaim::introspect {

// Builds a copy of the ring at ref of process pid. Reads the header, then at
// most `len` slots, bounded by the ref's size, VM_RECLAIM_MAX_CAPACITY, and
// the first page that cannot be read, and `max_slots` (0: the header alone,
// enough for the counts). On failure errno tells why.
mach_vm_reclaim_error_t copy_ring(pid_t pid, const mach_vm_reclaim_ring_ref_s& ref, mach_vm_reclaim_ring_copy_s** out,
                                  uint64_t max_slots = UINT64_MAX) noexcept;

// mach_vm_reclaim_copied_ring_query on a copy (see vm_reclaim_private.h).
mach_vm_reclaim_error_t query_copy(const mach_vm_reclaim_ring_copy_s& copy, mach_vm_reclaim_region_t regions_out,
                                   mach_vm_reclaim_count_t* count_inout) noexcept;

}  // namespace vmreclaim::introspect
