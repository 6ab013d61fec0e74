#include "ring/layout.h"

#include <unistd.h>

namespace vmreclaim::ring {

uint64_t page_size() noexcept {
  static const uint64_t p = [] {
    long v = ::sysconf(_SC_PAGESIZE);
    return v > 0 ? static_cast<uint64_t>(v) : 4096ull;
  }();
  return p;
}

mach_vm_reclaim_count_t round_capacity(mach_vm_reclaim_count_t n) noexcept {
  uint64_t cap = (ring_bytes(n) - kHeaderBytes) / kEntryBytes;
  return cap > VM_RECLAIM_MAX_CAPACITY ? VM_RECLAIM_MAX_CAPACITY : static_cast<mach_vm_reclaim_count_t>(cap);
}

}  // namespace vmreclaim::ring
