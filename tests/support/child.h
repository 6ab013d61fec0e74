// Real child processes for tests: fork + execve with pipes to stdin, stdout
// and stderr, an environment of our choosing, optionally another uid or a
// cgroup to join first. Everything the child needs is built before fork(),
// so between fork and exec it only makes async-signal-safe calls (the test
// process has the engine thread running).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vmreclaim::test {

struct SpawnOptions {
  std::vector<std::string> argv;    // argv[0] is a path
  std::vector<std::string> env;     // "NAME=value", added to (or replacing) the inherited ones
  bool drop_vmreclaim_env = false;  // leave out inherited VMRECLAIM_* settings
  std::optional<uid_t> as_uid;      // become this uid (gid = uid, no groups) first
  std::string cgroup_procs;         // join this cgroup first (write our pid to the file)
  bool stdin_pipe = false;          // else stdin is /dev/null
  bool capture_stderr = true;       // else the child writes to our stderr
  // Put the child in a process group of its own. The kernel discards
  // SIGTSTP's default action (stop) in an orphaned process group, and the
  // test runner's group can be one (a CI runner that started it in a session
  // of its own, a shell that has exited); a group whose only member's parent
  // (this process) is in another group of the same session never is.
  bool own_process_group = false;
};

class Child {
 public:
  // nullopt (errno set) if the pipes or the fork failed. A child that cannot
  // exec exits 127 (126: cannot change uid, 120: cannot join the cgroup,
  // 121: cannot make its own process group)
  // after a line on its stderr.
  static std::optional<Child> spawn(const SpawnOptions& opts);
  Child(Child&& o) noexcept;
  Child& operator=(Child&&) = delete;
  Child(const Child&) = delete;
  ~Child();  // kills and reaps a child still running

  pid_t pid() const noexcept { return pid_; }
  // One line of stdout without its newline; nullopt on EOF or timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  bool write_line(const std::string& line);
  void close_stdin() noexcept;
  // What the child wrote to stderr so far, without waiting.
  std::string stderr_so_far();
  // Reads stdout and stderr to their end and reaps the child; after
  // `timeout` kills it. The wait status, or nullopt if it timed out.
  std::optional<int> communicate(std::string* out, std::string* err, std::chrono::milliseconds timeout);
  // Waits for the child to end (or, with `stopped`, to stop); the wait
  // status, or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout, bool stopped = false);

 private:
  Child(pid_t pid, int in, int out, int err) noexcept : pid_(pid), in_(in), out_(out), err_(err) {}
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  bool reaped_ = false;
  std::string buffered_;
};

// "exited 0", "killed by signal 9", ...
std::string describe_status(int status);

// Changes to `uid` (group `gid`, no supplementary groups) and marks the
// process dumpable again, so that only the uid stands between it and another
// user. Async-signal-safe. False (errno set) on failure.
bool become_user(uid_t uid, gid_t gid);

// The user nobody's uid and gid (65534 when there is no passwd entry).
std::pair<uid_t, gid_t> nobody_ids();

}  // namespace vmreclaim::test
