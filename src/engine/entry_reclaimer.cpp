#include "engine/entry_reclaimer.h"

#include <cerrno>

#include "support/probes.h"

namespace vmreclaim::engine {

EntryBatchResult reclaim_entries(const ring::EntryWords* entries, uint32_t n, uint64_t byte_target,
                                 platform::VmOps& vm, const policy::Tunables& t) noexcept {
  EntryBatchResult res;
  platform::Span spans[policy::Tunables::kMaxChunk];
  int errs[policy::Tunables::kMaxChunk];
  uint32_t nspans = 0;
  const uint64_t mask = ring::page_size() - 1;
  auto fault = [&](GuardFault f, uint64_t addr, const char* what) {
    res.faults[static_cast<int>(f)]++;
    raise_guard(f, addr, t.guard, what);  // returns only in log mode: skip the entry
  };

  for (uint32_t i = 0; i < n && res.bytes < byte_target; i++) {
    const ring::EntryWords& e = entries[i];
    res.consumed++;
    if (e.empty()) continue;  // cancelled
    res.bytes += e.size();
    if (e.behavior() != VM_RECLAIM_FREE && e.behavior() != VM_RECLAIM_DEALLOCATE) {
      fault(GuardFault::deallocate_failure, e.address, "reclaim (unknown action)");
      continue;
    }
    // A zero-size entry frees nothing, wherever it points (the user side
    // never enters one; only a scribbled ring has them).
    if (e.size() == 0) continue;
    // Truncate the start, round the end up (SYSTEM.md §5).
    const uint64_t start = e.address & ~mask;
    const uint64_t end = (e.address + e.size() + mask) & ~mask;
    VMR_PROBE3(vm_reclaim_entry, e.address, e.size(), e.behavior());
    if (end <= start || e.address + e.size() < e.address) {
      fault(GuardFault::deallocate_failure, e.address, "reclaim (range wraps the address space)");
      continue;
    }
    switch (e.behavior()) {
      case VM_RECLAIM_FREE:
        spans[nspans++] = {start, end - start};
        break;
      case VM_RECLAIM_DEALLOCATE: {
        int probe = vm.probe_mapped(start, end - start);
        if (probe == ENOMEM) {
          fault(GuardFault::dealloc_gap, e.address, "reclaim of a DEALLOCATE entry (part of it is not mapped)");
          break;
        }
        int err = vm.unmap(start, end - start);
        if (err != 0) fault(GuardFault::deallocate_failure, e.address, "munmap of a DEALLOCATE entry");
        break;
      }
    }
  }
  if (nspans > 0) {
    vm.release(spans, nspans, t.free_advice, errs);
    for (uint32_t i = 0; i < nspans; i++) res.free_failures += errs[i] != 0 ? 1 : 0;
  }
  return res;
}

}  // namespace vmreclaim::engine
