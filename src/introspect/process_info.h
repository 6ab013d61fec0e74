// What the tools show about a process besides its ring: the list of
// processes, each one's command name and memory footprint, read from /proc.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vmreclaim::introspect {

// Every numeric entry of /proc, ascending. Empty if /proc cannot be read.
std::vector<pid_t> list_pids();

// /proc/PID/comm without its newline; nullopt (errno set) if unreadable.
std::optional<std::string> process_command(pid_t pid);

// RssAnon + RssShmem + VmSwap of /proc/PID/status, in bytes (the footprint
// the engine's policy uses); nullopt if unreadable or malformed.
std::optional<uint64_t> process_footprint(pid_t pid);

}  // namespace vmreclaim::introspect
