// Counters per ring (docs/design.md §10). The engine's counters are atomics bumped
// by whichever thread reclaims. The user side's counters are bumped on the
// enter/cancel path, which the caller already serialises, so a relaxed load
// and store suffices there (no locked instruction on the hot path).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "engine/guard.h"

namespace vmreclaim::engine {

// The causes of <vmreclaim/causes.def>, in its order: Cause::x is VMRECLAIM_CAUSE_X.
enum class Cause : uint8_t {
#define VMRECLAIM_CAUSE(ID, name, what) name,
#include <vmreclaim/causes.def>
  count_
};
inline constexpr int kCauses = static_cast<int>(Cause::count_);

constexpr const char* cause_name(Cause cause) noexcept {
  constexpr const char* kNames[] = {
#define VMRECLAIM_CAUSE(ID, name, what) #name,
#include <vmreclaim/causes.def>
  };
  static_assert(sizeof kNames / sizeof kNames[0] == kCauses);
  const auto i = static_cast<size_t>(cause);
  return i < static_cast<size_t>(kCauses) ? kNames[i] : "unknown";
}

struct Counter {
  std::atomic<uint64_t> v{0};
  void add(uint64_t n) noexcept { v.fetch_add(n, std::memory_order_relaxed); }
  // Single writer at a time (the caller's lock): a plain increment.
  void bump_serial(uint64_t n = 1) noexcept {
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const noexcept { return v.load(std::memory_order_relaxed); }
};

// A value the engine sets at each working-set sample.
using Gauge = std::atomic<uint64_t>;

// The COUNTER and GAUGE statistics of <vmreclaim/stats.def>, under the same
// names (the CALL ones are read when asked: vmreclaim_ring_get_stats).
struct Stats {
#define VMR_STAT_DIM_VALUE
#define VMR_STAT_DIM_BY_CAUSE [kCauses]
#define VMR_STAT_DIM_BY_GUARD [kGuardFaultKinds]
#define VMR_STAT_FIELD_CALL(dim, name)
#define VMR_STAT_FIELD_COUNTER(dim, name) Counter name dim{};
#define VMR_STAT_FIELD_GAUGE(dim, name) Gauge name dim{};
#define VMRECLAIM_STAT(SHAPE, type, name, SOURCE, meaning) VMR_STAT_FIELD_##SOURCE(VMR_STAT_DIM_##SHAPE, name)
#include <vmreclaim/stats.def>
#undef VMR_STAT_FIELD_CALL
#undef VMR_STAT_FIELD_COUNTER
#undef VMR_STAT_FIELD_GAUGE
#undef VMR_STAT_DIM_VALUE
#undef VMR_STAT_DIM_BY_CAUSE
#undef VMR_STAT_DIM_BY_GUARD
};

}  // namespace vmreclaim::engine
