// Real child processes for tests, the one helper every test directory uses:
// fork + execve with pipes to stdin, stdout and stderr, an environment of our
// choosing, optionally another uid or a cgroup to join first. Everything the
// child needs is built before fork(), so between fork and exec it only makes
// async-signal-safe calls (the test process has the engine thread running).
//   Child::spawn   a running child to talk to (lines in, lines out)
//   run_child      a command run to its end: status, exit code and output
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vmreclaim::test {

struct SpawnOptions {
  std::vector<std::string> argv{};  // argv[0] is a path
  std::vector<std::string> env{};   // "NAME=value", added to (or replacing) the inherited ones
  bool drop_vmreclaim_env = false;  // leave out inherited VMRECLAIM_* settings
  std::optional<uid_t> as_uid{};    // become this uid (gid = uid, no groups) first
  std::string cgroup_procs{};       // join this cgroup first (write our pid to the file)
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
  // A program that runs until its stdin closes (stop()): stdin a pipe, its
  // stderr ours (its log lines belong in the test's output); `env` as in
  // SpawnOptions.
  static std::optional<Child> start(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});
  Child(Child&& o) noexcept;
  Child& operator=(Child&&) = delete;
  Child(const Child&) = delete;
  ~Child();  // kills and reaps a child still running

  pid_t pid() const noexcept { return pid_; }
  // One line of stdout without its newline; nullopt on EOF or timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // The first line of stdout that starts with `prefix` (the lines before it
  // are skipped); nullopt on EOF or timeout (each line waited for up to it).
  std::optional<std::string> read_line_starting(const std::string& prefix,
                                                std::chrono::milliseconds timeout = std::chrono::seconds(20));
  bool write_line(const std::string& line);
  void close_stdin() noexcept;
  // What the child wrote to stderr so far, without waiting.
  std::string stderr_so_far();
  // Reads stderr, appending it to `log`, until `log` holds `text`; false
  // after `timeout` or at its end. (stderr_so_far() hands out only what is
  // new: `log` keeps what came before, for the next wait and the message.)
  bool wait_stderr(const std::string& text, std::chrono::milliseconds timeout, std::string* log);
  // Reads stdout and stderr to their end and reaps the child; after
  // `timeout` kills it. The wait status, or nullopt if it timed out.
  std::optional<int> communicate(std::string* out, std::string* err, std::chrono::milliseconds timeout);
  // Waits for the child to end (or, with `stopped`, to stop); the wait
  // status, or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout, bool stopped = false);
  // Closes its stdin (a program that serves until then exits) and reaps it;
  // its exit code, or -1 if it was killed by a signal or, after `grace`, by us.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  Child(pid_t pid, int in, int out, int err) noexcept : pid_(pid), in_(in), out_(out), err_(err) {}
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  bool reaped_ = false;
  std::string buffered_;
};

// "exited 0", "killed by signal 9", ...
std::string describe_status(int status);

// What a child run to its end left.
struct ChildResult {
  int status = -1;     // as from waitpid(); -1 if it could not start or timed out
  int exit_code = -1;  // -1: killed by a signal, timed out or never started
  bool timed_out = false;
  std::string out, err;

  bool exited_with(int code) const;
  bool killed_by(int sig) const;
  std::string describe() const;  // status and output, for failure messages
};

// Spawns the child, reads its stdout and stderr to their end and reaps it;
// after `timeout` kills it.
ChildResult run_child(const SpawnOptions& opts, std::chrono::milliseconds timeout = std::chrono::seconds(20));

// waitpid() for a plain fork() child, through EINTR; the wait status, or -1.
int wait_child(pid_t pid);

#ifdef VMRECLAIM_TEST_HELPER
// The helper program (tests/process/helper.cpp) with `args`, in this
// environment minus every VMRECLAIM_* variable, plus `env` ("NAME=value"
// each), run to its end.
inline ChildResult run_helper(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  SpawnOptions o;
  o.argv = {VMRECLAIM_TEST_HELPER};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.env = env;
  o.drop_vmreclaim_env = true;
  return run_child(o, std::chrono::minutes(5));
}
#endif

// RssAnon of process `pid` in kB from /proc/PID/status; -1 unless it is alive
// (not a zombie, not being reaped) and the line is there and a number.
long rss_anon_kb(pid_t pid);

// Changes to `uid` (group `gid`, no supplementary groups) and marks the
// process dumpable again, so that only the uid stands between it and another
// user. Async-signal-safe. False (errno set) on failure.
bool become_user(uid_t uid, gid_t gid);

// The user nobody's uid and gid (65534 when there is no passwd entry).
std::pair<uid_t, gid_t> nobody_ids();

}  // namespace vmreclaim::test
