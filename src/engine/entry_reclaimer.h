// Reclaims a batch of entries copied out of the ring (SYSTEM.md §5): page
// rounding, FREE through one batched release, DEALLOCATE through munmap
// after a gap check, guard faults for what cannot be right.
#pragma once

#include <cstdint>

#include "engine/guard.h"
#include "platform/linux/vm_ops.h"
#include "policy/tunables.h"
#include "ring/layout.h"

namespace vmreclaim::engine {

struct EntryBatchResult {
  uint32_t consumed = 0;  // entries taken off the ring, oldest first
  uint64_t bytes = 0;     // their sizes, as the user side counted them
  uint32_t free_failures = 0;
  uint32_t faults[kGuardFaultKinds] = {};
};

// Consumes entries in order until their bytes reach `byte_target` (or all
// are consumed). Empty (cancelled) entries are consumed for free.
EntryBatchResult reclaim_entries(const ring::EntryWords* entries, uint32_t n, uint64_t byte_target,
                                 platform::VmOps& vm, const policy::Tunables& t) noexcept;

}  // namespace vmreclaim::engine
