// The memory cgroup this process is charged to: its limit, its usage and
// how much of that is easily reclaimable page cache. Works on cgroup v1
// (memory controller on its own hierarchy, as on this project's machines)
// and v2 (the unified hierarchy).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vmreclaim::platform {

struct CgroupLocation {
  int version = 0;    // 1 or 2
  std::string dir;    // e.g. /sys/fs/cgroup/memory/a/b
  std::string mount;  // the hierarchy's mount point, to walk up to
};

struct CgroupMemory {
  uint64_t limit = UINT64_MAX;  // the tightest of max/high (v2) or the hierarchical limit (v1)
  uint64_t usage = 0;           // charged bytes, page cache included
  uint64_t inactive_file = 0;   // page cache the kernel drops first
  // What the cgroup's limit really presses on: usage minus inactive page cache.
  uint64_t working_set() const noexcept { return usage > inactive_file ? usage - inactive_file : 0; }
  bool limited() const noexcept { return limit != UINT64_MAX; }
};

// From the texts of /proc/self/cgroup and /proc/self/mountinfo. Prefers the
// v1 memory hierarchy when one is mounted (a hybrid layout charges memory
// there), else the v2 cgroup.
std::optional<CgroupLocation> locate_memory_cgroup(std::string_view proc_cgroup, std::string_view mountinfo);

// v1 reports "no limit" as a huge page-aligned number; anything at or above
// 2^62 means unlimited.
uint64_t normalize_v1_limit(uint64_t v) noexcept;

class MemoryCgroup {
 public:
  // The cgroup of this process, or nullopt (no memory controller, unreadable /proc).
  static std::optional<MemoryCgroup> discover();
  explicit MemoryCgroup(CgroupLocation loc) : loc_(std::move(loc)) {}

  const CgroupLocation& location() const noexcept { return loc_; }
  // nullopt if the files cannot be read or parsed; errno-style reason in last_error().
  std::optional<CgroupMemory> read();
  int last_error() const noexcept { return last_error_; }
  // v2 only: the cgroup's PSI file path, else empty.
  std::string pressure_path() const { return loc_.version == 2 ? loc_.dir + "/memory.pressure" : std::string(); }
  // v1 only: an eventfd that becomes readable when usage crosses `bytes`
  // (cgroup.event_control); -1 if not possible. The caller closes it.
  int open_usage_threshold(uint64_t bytes) noexcept;
  // v1 only: an eventfd that becomes readable when the kernel reclaims
  // memory charged to this cgroup (memory.pressure_level, level "low": at
  // most one event per 512 pages scanned); -1 if not possible. The caller
  // closes it.
  int open_reclaim_events() noexcept;

 private:
  // Registers an eventfd on `file` with `arg` through cgroup.event_control.
  int open_event(const char* file, const char* arg) noexcept;
  std::optional<CgroupMemory> read_v1();
  std::optional<CgroupMemory> read_v2();
  CgroupLocation loc_;
  int last_error_ = 0;
};

}  // namespace vmreclaim::platform
