// Reading another process's /proc files whole. /proc/PID/maps of a large
// process runs to megabytes, so this reads until EOF under a generous cap
// rather than into a fixed buffer.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace vmreclaim::introspect {

// Files are cut at this size: enough for ~200k mappings, bounded for garbage.
inline constexpr size_t kMaxProcFileBytes = 16u << 20;

// The text of /proc/<pid>/<name>. nullopt with errno set on failure
// (ENOENT: no such process, EACCES/EPERM: not ours to read).
std::optional<std::string> read_proc_file(pid_t pid, const char* name);

}  // namespace vmreclaim::introspect
