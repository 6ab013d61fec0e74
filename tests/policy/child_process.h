// Runs the policy helper as a real child process with a chosen environment,
// talking to it over pipes, and reading its state from /proc. Built on
// support/child.h.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/child.h"

namespace vmreclaim::test {

class ChildProcess {
 public:
  struct Options {
    std::vector<std::string> args;
    std::vector<std::pair<std::string, std::string>> env;
    std::string cgroup_procs;  // if set, the child joins this cgroup before exec
  };
  explicit ChildProcess(const Options& opts);

  pid_t pid() const { return child_ ? child_->pid() : -1; }
  // A line from the child's stdout (without the newline), or nullopt on
  // EOF or after timeout_ms.
  std::optional<std::string> read_line(int timeout_ms);
  bool write_line(const std::string& line) { return child_ && child_->write_line(line); }
  void close_stdin() {
    if (child_) child_->close_stdin();
  }
  // Waits for the child to stop (WUNTRACED) or end; the raw status.
  std::optional<int> wait_stopped_or_exited(int timeout_ms);
  // Waits for the child to end; the raw wait status, or nullopt on timeout.
  std::optional<int> wait_exit(int timeout_ms);
  std::string stderr_text() { return child_ ? child_->stderr_so_far() : std::string(); }
  // RssAnon of the child in kB from /proc/PID/status; -1 unless the child is
  // alive (not a zombie, not reaped) and the line is there and a number.
  long rss_anon_kb() const;
  // "pong <RssAnon kB>" round trip; the number, or -1.
  long ping(int timeout_ms = 5000);

 private:
  std::optional<Child> child_;
};

}  // namespace vmreclaim::test
