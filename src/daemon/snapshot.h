// What the daemon knows about the machine at one instant: the one data model
// its status request, `vmreclaim status`/`top` and the /metrics endpoint all
// render, so the three views cannot disagree. Serialised as JSON on the
// daemon's socket (nlohmann's adl_serializer through the macros below).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vmreclaim::daemon {

// One process with a ring the daemon watches.
struct ProcessView {
  int64_t pid = 0;
  std::string comm;
  std::string cgroup;              // memory cgroup path as /proc/PID/cgroup names it; "/" for the root
  uint64_t reclaimable_bytes = 0;  // bytes in the ring not yet reclaimed
  uint64_t stalest_bytes = 0;      // of those, bytes unused over the whole sampling window
  std::string pressure;            // level the daemon publishes to it: normal, warning, urgent, critical
  std::string last_action;         // none, trim, drain, scavenge
  std::string last_cause;          // deficit, stale, oom, stopped, request
  uint64_t last_action_bytes = 0;
  double last_action_unix_s = 0;                          // wall-clock time of the last action, 0 if none
  bool registered = false;                                // false: found by discovery and not (yet) registered
  bool stopped = false;                                   // SIGSTOP'ed or frozen when last looked at
  std::map<std::string, uint64_t> reclaimed_bytes_total;  // by cause, by the daemon's requests
};

// One memory cgroup that holds at least one watched process (or the machine, path "").
struct CgroupView {
  std::string path;
  uint64_t usage_bytes = 0;
  uint64_t limit_bytes = 0;  // 0: no limit
  uint64_t high_watermark_bytes = 0;
  uint64_t low_watermark_bytes = 0;
  uint64_t reclaimable_bytes = 0;  // sum over its watched processes
  std::string pressure;
};

struct DaemonCounters {
  uint64_t polls = 0;
  uint64_t registrations = 0;
  uint64_t refused_registrations = 0;
  uint64_t actions = 0;                                   // requests sent to processes
  std::map<std::string, uint64_t> reclaimed_bytes_total;  // by cause, over all processes
  uint64_t deficit_bytes_last = 0;                        // the last deficit computed
};

struct Snapshot {
  double unix_s = 0;
  uint32_t poll_ms = 0;
  std::string machine_pressure;
  uint64_t mem_available_bytes = 0;
  std::vector<ProcessView> processes;
  std::vector<CgroupView> cgroups;
  DaemonCounters daemon;
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ProcessView, pid, comm, cgroup, reclaimable_bytes, stalest_bytes,
                                                pressure, last_action, last_cause, last_action_bytes,
                                                last_action_unix_s, registered, stopped, reclaimed_bytes_total)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CgroupView, path, usage_bytes, limit_bytes, high_watermark_bytes,
                                                low_watermark_bytes, reclaimable_bytes, pressure)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DaemonCounters, polls, registrations, refused_registrations, actions,
                                                reclaimed_bytes_total, deficit_bytes_last)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Snapshot, unix_s, poll_ms, machine_pressure, mem_available_bytes,
                                                processes, cgroups, daemon)

// The daemon's socket (support/daemon_socket.h says where): SOCK_SEQPACKET, one JSON object per message.
// Requests: {"op":"register","pid":N} (from the process itself, checked against SO_PEERCRED),
//           {"op":"status"} -> a Snapshot filtered to what the asker could drain itself.
inline constexpr uint32_t kMaxMessageBytes = 1u << 20;

}  // namespace vmreclaim::daemon
