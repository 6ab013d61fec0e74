// Running programs for the observability tests: a long-lived target that
// holds a ring, and short commands whose output and exit code are checked.
// Built on support/child.h.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "support/child.h"

namespace vmreclaim::testing {

using test::become_user;
using test::nobody_ids;

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

  pid_t pid() const noexcept { return child_.pid(); }
  // One line of its stdout (without the newline); nullopt on EOF or timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return child_.read_line(timeout);
  }
  // Closes its stdin and reaps it; its exit code, or -1 if it had to be killed.
  int stop();

 private:
  explicit Process(test::Child child) : child_(std::move(child)) {}
  test::Child child_;
};

}  // namespace vmreclaim::testing
