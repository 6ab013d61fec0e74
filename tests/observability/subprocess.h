// Running programs for the observability tests: a long-lived target that
// holds a ring, and short commands whose output and exit code are checked.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace vmreclaim::testing {

// Changes to `uid` (group `gid`, no supplementary groups) and marks the
// process dumpable again, so that the only thing standing between it and
// another user is the uid. Returns false (errno set) on failure.
bool become_user(uid_t uid, gid_t gid);

// The user nobody's uid and gid (65534 when there is no passwd entry).
std::pair<uid_t, gid_t> nobody_ids();

struct RunResult {
  int exit_code = -1;  // -1: killed by a signal or timed out
  bool timed_out = false;
  std::string out, err;
};

// Runs argv[0] with its arguments, optionally as another user, and waits at
// most `timeout` (then kills it).
RunResult run(const std::vector<std::string>& argv, std::optional<uid_t> as_uid = std::nullopt,
              std::chrono::milliseconds timeout = std::chrono::seconds(20));

// A running program with a pipe to its stdin (closing it asks the ring
// target to exit) and one from its stdout.
class Process {
 public:
  // `env`: "NAME=value" settings added to this process's environment.
  static std::optional<Process> start(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});
  Process(Process&& o) noexcept;
  Process& operator=(Process&&) = delete;
  Process(const Process&) = delete;
  ~Process();

  pid_t pid() const noexcept { return pid_; }
  // One line of its stdout (without the newline); nullopt on EOF or timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Closes its stdin and reaps it; its exit code, or -1 if it had to be killed.
  int stop();

 private:
  Process(pid_t pid, int in, int out) noexcept : pid_(pid), in_(in), out_(out) {}
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  std::string buffered_;
};

}  // namespace vmreclaim::testing
