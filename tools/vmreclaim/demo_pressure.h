// How the demo's timeline puts its process under memory pressure, for real:
//   - as root with a memory cgroup hierarchy mounted (v1 here, or v2): the
//     process moves into a memory cgroup of its own, and the squeeze lowers
//     that cgroup's limit to just above its usage — the cgroup working set
//     reaches the engine's "critical" band and its high watermark, the signal
//     a container near its limit gives;
//   - otherwise: the squeeze sets a footprint limit below the footprint
//     (vmreclaim_set_footprint_limit), the same limit path without a cgroup.
// The engine is not told which: it reads the cgroup files or the limit like
// in any other process.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace vmreclaim::tools::demo {

class MemorySqueeze {
 public:
  virtual ~MemorySqueeze() = default;
  // What is pressed on, for the report ("memory cgroup v1 limit", ...).
  virtual std::string describe() const = 0;
  // Applies the pressure; `ring_bytes` is what the ring holds now. Returns
  // an empty string, or why it could not.
  virtual std::string squeeze(uint64_t ring_bytes) = 0;
  // What the limit is measured against now (the cgroup's usage, or the
  // process's footprint), or nullopt if it cannot be read.
  virtual std::optional<uint64_t> pressed() const = 0;
  // After squeeze(): the limit's high watermark. Relief is `pressed()` back
  // at or under it — what the engine's answer to a limit aims for,
  // whichever of its wake-ups answered first.
  uint64_t relief_at() const { return relief_at_; }

 protected:
  uint64_t relief_at_ = 0;
};

// Picks the cgroup squeeze when it can be set up (joining the cgroup must
// happen before the ring is allocated: the engine finds its cgroup then),
// else the footprint limit; `why_not_cgroup` says why when it fell back.
std::unique_ptr<MemorySqueeze> make_memory_squeeze(std::string& why_not_cgroup);

}  // namespace vmreclaim::tools::demo
