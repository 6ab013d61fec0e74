// std::error_code integration: mach_vm_reclaim_error_t values live in the
// "vm_reclaim" error category, and vmreclaim::errc compares against them.
#pragma once

#include <mach/vm_reclaim.h>

#include <string>
#include <system_error>

namespace vmreclaim {

enum class errc : int {
  invalid_argument = VM_RECLAIM_INVALID_ARGUMENT,
  not_supported = VM_RECLAIM_NOT_SUPPORTED,
  invalid_region_size = VM_RECLAIM_INVALID_REGION_SIZE,
  invalid_capacity = VM_RECLAIM_INVALID_CAPACITY,
  invalid_id = VM_RECLAIM_INVALID_ID,
  resource_shortage = VM_RECLAIM_RESOURCE_SHORTAGE,
  invalid_ring = VM_RECLAIM_INVALID_RING,
};

const std::error_category& vm_reclaim_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), vm_reclaim_category()};
}

// VM_RECLAIM_SUCCESS becomes an empty error_code.
inline std::error_code to_error_code(mach_vm_reclaim_error_t e) noexcept {
  return e == VM_RECLAIM_SUCCESS ? std::error_code() : std::error_code(e, vm_reclaim_category());
}

}  // namespace vmreclaim

template <>
struct std::is_error_code_enum<vmreclaim::errc> : std::true_type {};
