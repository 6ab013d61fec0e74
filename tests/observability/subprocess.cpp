#include "subprocess.h"

#include <signal.h>
#include <sys/wait.h>

#include <utility>

namespace vmreclaim::testing {

RunResult run(const std::vector<std::string>& argv, std::optional<uid_t> as_uid, std::chrono::milliseconds timeout) {
  RunResult r;
  test::SpawnOptions o;
  o.argv = argv;
  o.as_uid = as_uid;
  std::optional<test::Child> c = test::Child::spawn(o);
  if (!c) return r;
  std::optional<int> st = c->communicate(&r.out, &r.err, timeout);
  r.timed_out = !st.has_value();
  r.exit_code = st && WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
  return r;
}

std::optional<Process> Process::start(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  test::SpawnOptions o;
  o.argv = argv;
  o.env = env;
  o.stdin_pipe = true;
  o.capture_stderr = false;  // its log lines belong in the test's output
  std::optional<test::Child> c = test::Child::spawn(o);
  if (!c) return std::nullopt;
  return Process(std::move(*c));
}

int Process::stop() {
  // The target exits when its stdin closes; give it a moment, then insist
  // (the Child's destructor kills what is left).
  child_.close_stdin();
  std::optional<int> st = child_.wait(std::chrono::seconds(5));
  if (!st) {
    ::kill(child_.pid(), SIGKILL);
    child_.wait(std::chrono::hours(1));
    return -1;
  }
  return WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
}

}  // namespace vmreclaim::testing
