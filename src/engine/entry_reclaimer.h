// Reclaims a batch of entries copied out of the ring: page rounding, FREE
// through one batched release after a check that each entry is wholly
// mapped, DEALLOCATE through munmap after the same check, guard faults for
// what cannot be right (docs/policy.md, "Guard faults").
#pragma once

#include <cstdint>

#include "engine/config.h"
#include "engine/guard.h"
#include "platform/linux/vm_ops.h"
#include "ring/layout.h"

namespace vmreclaim::engine {

struct EntryBatchResult {
  uint32_t consumed = 0;  // entries taken off the ring, oldest first
  uint64_t bytes = 0;     // their sizes, as the user side counted them
  uint32_t free_failures = 0;
  uint32_t faults[kGuardFaultKinds] = {};
};

// Memory no entry may touch: the engine's own state, the ring, the
// library's image. An entry overlapping any of it is RECLAIM_ENGINE_OVERLAP.
struct EngineMemory {
  static constexpr uint32_t kMax = 6;
  platform::Span ranges[kMax] = {};
  uint32_t n = 0;

  void add(uint64_t addr, uint64_t len) noexcept;  // beyond kMax ranges: ignored
  bool overlaps(uint64_t start, uint64_t end) const noexcept;
};

// A range found wholly mapped by one probe earlier in the same engine call
// (probe_free_span): FREE entries inside it need no probe of their own. Any
// munmap of the engine's inside it ends it (a later FREE entry there must
// be probed again), and it lives no longer than that call.
struct MappedSpan {
  uint64_t start = 0, end = 0;

  bool covers(uint64_t s, uint64_t e) const noexcept { return start <= s && e <= end && s < e; }
  bool overlaps(uint64_t s, uint64_t e) const noexcept { return s < end && start < e; }
  void clear() noexcept { start = end = 0; }
};

// The pages the FREE entries among `entries` cover, if they lie close
// together (no gap over 1 MiB between neighbours: the same runs the
// per-chunk check merges) and one probe finds them all mapped; an empty
// span otherwise (the chunks are then checked on their own, as without it).
// The entries need not be claimed: they only choose what to probe.
MappedSpan probe_free_span(const ring::EntryWords* entries, uint32_t n, platform::VmOps& vm) noexcept;

// Consumes entries in order until their bytes reach `byte_target` (or all
// are consumed). Empty (cancelled) entries are consumed for free. FREE
// entries inside `*mapped` (if given) are not probed again.
EntryBatchResult reclaim_entries(const ring::EntryWords* entries, uint32_t n, uint64_t byte_target, platform::VmOps& vm,
                                 const Config& t, const EngineMemory& own = {},
                                 MappedSpan* mapped = nullptr) noexcept;

}  // namespace vmreclaim::engine
