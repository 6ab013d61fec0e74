// Finding rings among a process's mappings. The engine names the ring's
// reservation "vm_reclaim_ring": "[anon:vm_reclaim_ring]" on kernels with
// anonymous VMA names, else "/memfd:vm_reclaim_ring (deleted)". A ring spans
// several mappings (the accessible ring, then the PROT_NONE rest of its
// reservation); they are merged back into one range here.
#pragma once

#include <cstdint>
#include <vector>

#include "introspect/proc_maps.h"

namespace vmreclaim::introspect {

inline constexpr const char* kRingMappingName = "vm_reclaim_ring";

struct RingLocation {
  uint64_t addr = 0;
  uint64_t size = 0;            // the whole reservation
  uint64_t readable_bytes = 0;  // accessible from addr on: the live ring
};

// Rings in `maps`, in address order.
std::vector<RingLocation> locate_rings(const std::vector<Mapping>& maps);

}  // namespace vmreclaim::introspect
