#include "policy/limits.h"

#include <algorithm>

namespace vmreclaim::policy {

LimitDecision decide_limits(const LimitInputs& in) noexcept {
  LimitDecision d;
  uint64_t need = 0;
  uint64_t headroom = UINT64_MAX;  // smallest room left under any high watermark
  uint64_t hysteresis = UINT64_MAX;
  auto consider = [&](uint64_t usage, uint64_t limit) {
    d.limited = true;
    const uint64_t high = high_watermark(limit), low = low_watermark(limit);
    if (usage > high) {
      need = std::max(need, usage - low);
      headroom = std::min(headroom, high - low);  // after reclaiming down to low
    } else {
      headroom = std::min(headroom, high - usage);
    }
    hysteresis = std::min(hysteresis, std::max<uint64_t>(limit / 16, 1));
  };
  if (in.footprint_limit && in.footprint) consider(*in.footprint, *in.footprint_limit);
  if (in.cgroup && in.cgroup->limited()) consider(in.cgroup->working_set(), in.cgroup->limit);
  if (!d.limited) return d;

  d.reclaim_bytes = std::min(need, in.ring_bytes);
  const uint64_t ring_after = in.ring_bytes - d.reclaim_bytes;
  if (need > in.ring_bytes) {
    // The live footprint alone exceeds the limit: everything reclaimable
    // goes, and the next check waits for real growth instead of spinning.
    d.unreachable = true;
    d.ceiling = ring_after + hysteresis;
  } else {
    d.ceiling = ring_after + std::max<uint64_t>(headroom, 1);
  }
  return d;
}

}  // namespace vmreclaim::policy

namespace vmreclaim::policy {

LimitDecision ProcessLimits::decide(uint64_t ring_bytes) {
  LimitInputs in;
  in.ring_bytes = ring_bytes;
  if (uint64_t l = footprint_limit(); l != 0) {
    in.footprint_limit = l;
    in.footprint = footprint_.footprint_bytes();
  }
  if (cgroup_ && !cgroup_delegated_.load(std::memory_order_relaxed)) in.cgroup = cgroup_->read();  // [daemon hook]
  return decide_limits(in);
}

}  // namespace vmreclaim::policy
