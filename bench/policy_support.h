// What the policy harness (policy_latency.cpp) needs around its child
// processes: starting one with a chosen environment (optionally inside a
// memory cgroup), talking to it over pipes, reading its RssAnon and its
// engine thread's CPU time and context switches from /proc, and a scratch
// memory cgroup whose limit the harness can lower.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vmreclaim::bench {

uint64_t now_ns();
void sleep_ns(uint64_t ns);

// A child running this program's hidden "child" subcommand. Killed and
// reaped on destruction.
class ChildProcess {
 public:
  struct Options {
    std::vector<std::string> args;                         // after argv[0]
    std::vector<std::pair<std::string, std::string>> env;  // VMRECLAIM_* to set
    std::string cgroup_procs;                              // join this cgroup first, if set
  };

  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts /proc/self/exe with `opts`; every VMRECLAIM_* variable of this
  // process is removed from the child's environment first. False (and a
  // message on stderr) on failure.
  bool start(const Options& opts);
  pid_t pid() const { return pid_; }

  // Sends one line to the child's stdin.
  bool send(const std::string& line);
  // One line from the child's stdout (without newline), or nullopt on EOF
  // or after `timeout_ns`.
  std::optional<std::string> read_line(uint64_t timeout_ns);
  void kill_and_reap();

 private:
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::string buffered_;
};

// RssAnon of a process in bytes, or nullopt.
std::optional<uint64_t> rss_anon(pid_t pid);

// The thread of `pid` named `comm` (e.g. "vm_reclaim"), or nullopt.
std::optional<pid_t> find_thread(pid_t pid, const std::string& comm);

// What one thread has used so far.
struct ThreadUsage {
  uint64_t run_ns = 0;    // on-CPU time from schedstat (ns precision)
  uint64_t ticks = 0;     // utime + stime, in clock ticks
  uint64_t switches = 0;  // voluntary + involuntary context switches
};
std::optional<ThreadUsage> thread_usage(pid_t pid, pid_t tid);

// A scratch memory cgroup (v1) under the cgroup this process runs in,
// removed on destruction (its processes must be gone by then).
class ScratchMemoryCgroup {
 public:
  ScratchMemoryCgroup() = default;
  ~ScratchMemoryCgroup();
  ScratchMemoryCgroup(const ScratchMemoryCgroup&) = delete;
  ScratchMemoryCgroup& operator=(const ScratchMemoryCgroup&) = delete;

  // False with a reason in why() if it cannot be created.
  bool create(const std::string& name);
  const std::string& why() const { return why_; }
  std::string procs_file() const { return dir_ + "/cgroup.procs"; }

  bool set_limit(uint64_t bytes);  // errno kept on failure
  std::optional<uint64_t> usage();
  // usage minus inactive page cache, as the engine's pressure monitor sees it.
  std::optional<uint64_t> working_set();

 private:
  std::string dir_;
  std::string why_;
};

}  // namespace vmreclaim::bench
