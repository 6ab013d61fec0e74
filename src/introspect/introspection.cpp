// The extern "C" introspection API of <mach/vm_reclaim_private.h>: argument
// checks and error values around the locator and the copy.
#include <mach/vm_reclaim_private.h>

#include <cerrno>
#include <new>

#include "introspect/proc_maps.h"
#include "introspect/proc_reader.h"
#include "introspect/ring_copy.h"
#include "introspect/ring_locator.h"

#pragma GCC visibility push(default)
extern "C" {

mach_vm_reclaim_error_t mach_vm_reclaim_get_rings_for_task(task_read_t task, mach_vm_reclaim_ring_ref_t refs_out,
                                                           mach_vm_reclaim_count_t* count_inout) {
  namespace introspect = vmreclaim::introspect;
  if (count_inout == nullptr) return VM_RECLAIM_INVALID_ARGUMENT;
  if (task <= 0) {
    errno = ESRCH;
    return VM_RECLAIM_INVALID_ARGUMENT;
  }
  try {
    auto maps = introspect::read_proc_file(task, "maps");
    if (!maps) {
      if (errno == EACCES || errno == EPERM) return KERN_PROTECTION_FAILURE;
      if (errno == ENOENT) errno = ESRCH;
      return VM_RECLAIM_INVALID_ARGUMENT;
    }
    std::vector<introspect::RingLocation> rings = introspect::locate_rings(introspect::parse_maps(*maps));
    if (refs_out != nullptr) {
      for (size_t i = 0; i < rings.size() && i < *count_inout; i++) refs_out[i] = {rings[i].addr, rings[i].size};
    }
    *count_inout = static_cast<mach_vm_reclaim_count_t>(rings.size());
    return VM_RECLAIM_SUCCESS;
  } catch (const std::bad_alloc&) {
    errno = ENOMEM;
    return VM_RECLAIM_RESOURCE_SHORTAGE;
  }
}

mach_vm_reclaim_error_t mach_vm_reclaim_ring_copy(task_read_t task, mach_vm_reclaim_ring_ref_t ref,
                                                  mach_vm_reclaim_ring_copy_t* ring_out) {
  if (ref == nullptr || ring_out == nullptr) return VM_RECLAIM_INVALID_ARGUMENT;
  if (task <= 0) {
    errno = ESRCH;
    return VM_RECLAIM_INVALID_ARGUMENT;
  }
  return vmreclaim::introspect::copy_ring(task, *ref, ring_out);
}

mach_vm_reclaim_error_t mach_vm_reclaim_copied_ring_query(mach_vm_reclaim_ring_copy_t* ring_copy,
                                                          mach_vm_reclaim_region_t regions_out,
                                                          mach_vm_reclaim_count_t* count_inout) {
  if (ring_copy == nullptr || *ring_copy == nullptr) return VM_RECLAIM_INVALID_RING;
  if (count_inout == nullptr) return VM_RECLAIM_INVALID_ARGUMENT;
  return vmreclaim::introspect::query_copy(**ring_copy, regions_out, count_inout);
}

mach_vm_reclaim_error_t mach_vm_reclaim_copied_ring_free(mach_vm_reclaim_ring_copy_t* ring_copy) {
  if (ring_copy == nullptr || *ring_copy == nullptr) return VM_RECLAIM_INVALID_RING;
  delete *ring_copy;
  *ring_copy = nullptr;
  return VM_RECLAIM_SUCCESS;
}

}  // extern "C"
#pragma GCC visibility pop
