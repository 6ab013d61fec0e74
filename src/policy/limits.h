// Keeping the footprint under a limit before the kernel OOM-kills
// (docs/design.md §6, "footprint nears a limit"). Two limits are watched: the
// memory cgroup's, against its working set, and a footprint limit the
// process sets (VMRECLAIM_FOOTPRINT_LIMIT or vmreclaim_set_footprint_limit).
// Above the high watermark (limit − limit/16) the engine reclaims ring
// entries until usage is back at the low watermark (limit − limit/8): the
// gap is hysteresis, so a process hovering near its limit is not reclaimed
// on every call. The decision also yields a byte ceiling for the ring: the
// user side asks for an accounting update once reclaimable_bytes passes it,
// which catches a fast-growing ring without a syscall per enter.
#pragma once

#include <cstdint>
#include <optional>

#include <atomic>

#include "platform/linux/cgroup.h"
#include "platform/linux/footprint.h"

namespace vmreclaim::policy {

struct LimitInputs {
  std::optional<uint64_t> footprint;        // this process
  std::optional<uint64_t> footprint_limit;  // set by the process
  std::optional<platform::CgroupMemory> cgroup;
  uint64_t ring_bytes = 0;  // what the ring holds now (reclaimable)
};

struct LimitDecision {
  uint64_t reclaim_bytes = 0;     // reclaim at least this much now
  uint64_t ceiling = UINT64_MAX;  // ring bytes at which to check again
  bool limited = false;           // some limit applies
  bool unreachable = false;       // even an empty ring leaves usage above the limit
};

inline uint64_t high_watermark(uint64_t limit) noexcept { return limit - limit / 16; }
inline uint64_t low_watermark(uint64_t limit) noexcept { return limit - limit / 8; }

LimitDecision decide_limits(const LimitInputs& in) noexcept;

// Where the engine thread's cgroup v1 usage threshold goes, so that the
// kernel wakes it when the working set reaches the high watermark: the
// threshold watches usage, which counts the inactive page cache as well, so
// it sits that much above the watermark (with the cache as it is when armed),
// and never closer to the limit than limit/128, its cap (a crossing must come
// before the limit). Armed at the watermark itself, a cgroup holding some
// cache was woken while its working set was still below it, found nothing to
// do, and was never woken again: usage stayed above the threshold until the
// OOM kill. UINT64_MAX: no limit, nothing to arm.
inline uint64_t usage_threshold_cap(uint64_t limit) noexcept { return limit - limit / 128; }

// Whether the threshold sits at its cap: more inactive cache than the room
// between the watermark and the cap (a 256 MiB cgroup: 14 MiB, a 4 GiB one:
// 224 MiB).
inline bool usage_threshold_capped(const platform::CgroupMemory& m) noexcept {
  return m.limited() && m.inactive_file >= usage_threshold_cap(m.limit) - high_watermark(m.limit);
}

inline uint64_t usage_threshold(const platform::CgroupMemory& m) noexcept {
  if (!m.limited()) return UINT64_MAX;
  return usage_threshold_capped(m) ? usage_threshold_cap(m.limit) : high_watermark(m.limit) + m.inactive_file;
}

// Whether the threshold cannot tell when the working set reaches the high
// watermark: at its cap, usage crosses it, and stays above it, while the
// working set is still below the watermark; and wherever it sits, usage that
// is already above it crosses it no more (a cgroup at its limit: the kernel
// reclaims the cache as the working set grows into it, usage stays put). A
// threshold moved down below usage as that cache shrinks never fires. While
// this holds, the engine thread listens for the cgroup's reclaim instead
// (v1 memory.pressure_level; engine_thread.cpp, arm_cgroup_events).
inline bool usage_threshold_blind(const platform::CgroupMemory& m) noexcept {
  return m.limited() && (usage_threshold_capped(m) || m.usage >= usage_threshold(m));
}

// Supplies inputs to the engine's limit checks; the engine passes what the
// ring holds, the source adds what it reads.
class LimitSource {
 public:
  virtual ~LimitSource() = default;
  virtual LimitDecision decide(uint64_t ring_bytes) = 0;
};

}  // namespace vmreclaim::policy

namespace vmreclaim::policy {

// The process's own limits: its footprint against the footprint limit, and
// its memory cgroup.
class ProcessLimits final : public LimitSource {
 public:
  // Takes its own copy of the cgroup reader: the engine reads limits under
  // its lock, while the pressure monitor reads the same files on its thread.
  ProcessLimits(platform::FootprintSource& footprint, std::optional<platform::MemoryCgroup> cgroup,
                std::optional<uint64_t> footprint_limit) noexcept
      : footprint_(footprint), cgroup_(std::move(cgroup)), footprint_limit_(footprint_limit.value_or(0)) {}

  // 0 removes the limit.
  void set_footprint_limit(uint64_t bytes) noexcept { footprint_limit_.store(bytes, std::memory_order_relaxed); }
  uint64_t footprint_limit() const noexcept { return footprint_limit_.load(std::memory_order_relaxed); }
  LimitDecision decide(uint64_t ring_bytes) override;
  // [daemon hook] While vmreclaimd watches the cgroup (policy/daemon_link.h)
  // its headroom is the daemon's to restore, by deficit across the cgroup's
  // processes: the engine leaves it alone (its own footprint limit stays).
  void set_cgroup_delegated(bool on) noexcept { cgroup_delegated_.store(on, std::memory_order_relaxed); }

 private:
  platform::FootprintSource& footprint_;
  std::optional<platform::MemoryCgroup> cgroup_;
  std::atomic<uint64_t> footprint_limit_;
  std::atomic<bool> cgroup_delegated_{false};
};

}  // namespace vmreclaim::policy
