// Counters per ring (docs/design.md §10). The engine's counters are atomics bumped
// by whichever thread reclaims. The user side's counters are bumped on the
// enter/cancel path, which the caller already serialises, so a relaxed load
// and store suffices there (no locked instruction on the hot path).
#pragma once

#include <atomic>
#include <cstdint>

#include "engine/guard.h"

namespace vmreclaim::engine {

enum class Cause : uint8_t { flush, trim, drain, resize, limit, suspend, background, count_ };
inline constexpr int kCauses = static_cast<int>(Cause::count_);
const char* cause_name(Cause cause) noexcept;

struct Counter {
  std::atomic<uint64_t> v{0};
  void add(uint64_t n) noexcept { v.fetch_add(n, std::memory_order_relaxed); }
  // Single writer at a time (the caller's lock): a plain increment.
  void bump_serial(uint64_t n = 1) noexcept {
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const noexcept { return v.load(std::memory_order_relaxed); }
};

struct Stats {
  // User side.
  Counter entered_entries, entered_bytes, reentered_entries, enter_full;
  Counter cancelled_unreclaimed, cancelled_busy, cancelled_freed, cancelled_deallocated, cancelled_bytes;
  // Engine.
  Counter reclaimed_entries[kCauses];
  Counter reclaimed_bytes[kCauses];
  Counter samples, trims, aborted_chunks, free_failures;
  Counter guard_faults[kGuardFaultKinds];
  std::atomic<uint64_t> wma_bytes{0}, last_min_bytes{0}, footprint_max{0};
};

}  // namespace vmreclaim::engine
