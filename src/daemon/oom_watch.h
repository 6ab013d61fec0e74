// The memory cgroup's own signals that its OOM killer is next (docs/daemon.md,
// "Drain all before the OOM killer"): v1 `memory.oom_control` (`under_oom 1`:
// a task of the cgroup waits for memory with the OOM killer disabled, or the
// kernel is choosing a victim now; `oom_kill` growing) and v2
// `memory.events` (`max`, `oom` or `oom_kill` growing). Read once per poll
// beside the cgroup's usage; on a signal the daemon drains every ring in the
// cgroup (cause `oom`), as Darwin drains all before jetsam.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "platform/linux/cgroup.h"

namespace vmreclaim::daemon {

// v1 memory.oom_control: "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"
// (oom_kill since Linux 4.13). Unknown lines are skipped; nullopt when
// under_oom is missing or any known value is not a number.
struct OomControlV1 {
  bool oom_kill_disable = false;
  bool under_oom = false;
  uint64_t oom_kill = 0;
};
std::optional<OomControlV1> parse_oom_control(std::string_view text) noexcept;

// v2 memory.events: "low N\nhigh N\nmax N\noom N\noom_kill N\n..." Unknown
// keys are skipped; nullopt when `oom` is missing or a known value is not a
// number.
struct MemoryEventsV2 {
  uint64_t low = 0, high = 0, max = 0, oom = 0, oom_kill = 0;
};
std::optional<MemoryEventsV2> parse_memory_events(std::string_view text) noexcept;

// One cgroup's OOM signals across polls. The first reading of the counters
// is the baseline (what happened before the daemon watched is not acted
// on); `under_oom` counts at once.
class OomWatch {
 public:
  // Reads the cgroup's file; returns why it is at the OOM killer's door
  // ("under_oom", "oom_kill", "max", "oom"), or nullopt. A file that cannot
  // be read or parsed (a cgroup removed, garbage) is no signal.
  std::optional<std::string> check(const platform::CgroupLocation& loc);
  // The same from a file's text (tests, fixtures): `version` 1 or 2.
  std::optional<std::string> check_text(int version, std::string_view text);

 private:
  bool have_baseline_ = false;
  uint64_t oom_kill_ = 0, max_ = 0, oom_ = 0;
};

}  // namespace vmreclaim::daemon
