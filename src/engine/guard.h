// Guard faults: what the engine does when the user side broke
// the protocol. Fatal by default, like Darwin's guard exceptions: one line on
// stderr naming the fault, then SIGKILL. VMRECLAIM_GUARD=log makes them
// non-fatal: logged, counted, and the offending entry or operation skipped.
#pragma once

#include <cstdint>

#include "engine/config.h"

namespace vmreclaim::engine {

enum class GuardFault : uint8_t {
  dealloc_gap,         // a DEALLOCATE entry covers unmapped pages (double free)
  copyio_failure,      // the engine could not read or write the ring
  index_failure,       // busy < head, busy - head > chunk, or tail beyond capacity
  deallocate_failure,  // unknown action, or munmap failed for another reason
  accounting_failure,  // reclaimed more bytes than the ring claims to hold
  free_gap,            // a FREE entry covers unmapped pages (nothing of it is released)
  engine_overlap,      // an entry covers the engine's own memory (its state, the ring, the library)
  count_
};

inline constexpr int kGuardFaultKinds = static_cast<int>(GuardFault::count_);

// The one list of guard fault names (logs, stats, the control endpoint).
const char* guard_name(GuardFault fault) noexcept;

// Fatal mode: does not return. Log mode: logs and returns.
void raise_guard(GuardFault fault, uint64_t addr, GuardMode mode, const char* context) noexcept;

}  // namespace vmreclaim::engine
