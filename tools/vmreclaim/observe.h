// What the observing subcommands (list, show, drain, trim, watch) share:
// reading a process's ring from outside, the exit codes, and formatting.
#pragma once

#include <mach/vm_reclaim_private.h>
#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace vmreclaim::tools {

// Exit codes of the observing subcommands (also in --help and docs/).
enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,            // the process answered with an error, or another failure
  kExitNoProcess = 3,         // no process with that pid
  kExitNoRing = 4,            // the process has no reclaim ring
  kExitPermissionDenied = 5,  // not the same user, nor CAP_SYS_PTRACE over the process
  kExitUnreachable = 6,       // the process does not answer on its control endpoint
};
inline constexpr const char* kExitCodesHelp =
    "Exit codes: 0 success, 1 failure, 3 no such process, 4 no reclaim ring, 5 permission denied, "
    "6 control endpoint unreachable; command-line errors use CLI11's codes (100 and up).";

// A ring as seen from outside: the target's header, read through the
// introspection API (process_vm_readv).
struct RingView {
  pid_t pid = 0;
  std::string command;
  std::optional<uint64_t> footprint;  // bytes; nullopt if /proc/PID/status is unreadable
  mach_vm_reclaim_ring_ref_s ref{};
  uint32_t capacity = 0, max_capacity = 0;
  uint64_t head = 0, busy = 0, tail = 0;
  uint64_t reclaimable_bytes = 0, reclaimable_bytes_min = 0;
  uint64_t last_sample_abs = 0, next_sample_deadline_abs = 0;
  uint64_t entries() const noexcept { return tail >= head ? tail - head : 0; }
};

struct Problem {
  int exit_code = kExitOk;
  std::string message;    // one line, without the "vmreclaim: " prefix
  const char* code = "";  // machine-readable: no_process, no_ring, permission_denied, ...
  explicit operator bool() const noexcept { return exit_code != kExitOk; }
};

struct Regions {
  std::vector<mach_vm_reclaim_region_s> list;
  bool malformed = false;  // the query said VM_RECLAIM_INVALID_CAPACITY
};

// The ring of `pid` (header only), or why there is none.
std::optional<RingView> read_ring(pid_t pid, Problem* problem);
// The regions of that ring; false (problem set) if the copy failed.
bool read_regions(const RingView& ring, Regions* out, Problem* problem);

// One line per problem on stderr; with `json`, the same as a JSON document on stdout.
int report(const Problem& p, pid_t pid, bool json);
// Prints a finished JSON document in one write, so stdout never holds half of one.
void print_json(const nlohmann::json& j, bool pretty = true);

nlohmann::json ring_json(const RingView& r);
const char* action_name(mach_vm_reclaim_action_t behavior, uint64_t addr, uint64_t size);
std::string human_bytes(uint64_t bytes);

// Columns of list and watch.
void print_ring_table(std::FILE* out, const std::vector<RingView>& rings);
// Every process with a ring that this user may read; counts the others.
std::vector<RingView> all_rings(size_t* unreadable);

}  // namespace vmreclaim::tools
