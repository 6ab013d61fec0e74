// Guard faults: what the engine does when the user side broke
// the protocol. Fatal by default, like Darwin's guard exceptions: one line on
// stderr naming the fault, then SIGKILL. VMRECLAIM_GUARD=log makes them
// non-fatal: logged, counted, and the offending entry or operation skipped.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/config.h"

namespace vmreclaim::engine {

// The faults of <vmreclaim/guard_faults.def>, in its order:
// GuardFault::x is VMRECLAIM_GUARD_X.
enum class GuardFault : uint8_t {
#define VMRECLAIM_GUARD_FAULT(ID, key, NAME, when) key,
#include <vmreclaim/guard_faults.def>
  count_
};

inline constexpr int kGuardFaultKinds = static_cast<int>(GuardFault::count_);

// The fault's name (logs, stats, the control endpoint): "DEALLOC_GAP", ...
constexpr const char* guard_name(GuardFault fault) noexcept {
  constexpr const char* kNames[] = {
#define VMRECLAIM_GUARD_FAULT(ID, key, NAME, when) NAME,
#include <vmreclaim/guard_faults.def>
  };
  static_assert(sizeof kNames / sizeof kNames[0] == kGuardFaultKinds);
  const auto i = static_cast<size_t>(fault);
  return i < static_cast<size_t>(kGuardFaultKinds) ? kNames[i] : "UNKNOWN";
}

// Fatal mode: does not return. Log mode: logs and returns.
void raise_guard(GuardFault fault, uint64_t addr, GuardMode mode, const char* context) noexcept;

}  // namespace vmreclaim::engine
