#include "process/subprocess.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace vmreclaim::test {

bool ChildResult::exited_with(int code) const { return WIFEXITED(status) && WEXITSTATUS(status) == code; }
bool ChildResult::killed_by(int sig) const { return WIFSIGNALED(status) && WTERMSIG(status) == sig; }
std::string ChildResult::describe() const {
  return describe_status(status) + "\n--- stdout ---\n" + out + "--- stderr ---\n" + err;
}

ChildResult run_helper(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  ChildResult r;
  SpawnOptions o;
  o.argv = {VMRECLAIM_TEST_HELPER};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.env = env;
  o.drop_vmreclaim_env = true;
  std::optional<Child> c = Child::spawn(o);
  if (!c) return r;
  r.status = c->communicate(&r.out, &r.err, std::chrono::minutes(5)).value_or(-1);
  return r;
}

pid_t fork_child(const std::function<void()>& fn) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    fn();
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(::testing::Test::HasFailure() ? 1 : 0);
  }
  return pid;
}

int wait_child(pid_t pid) {
  if (pid < 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

}  // namespace vmreclaim::test
