// Running real child processes from tests: the helper program under a
// chosen environment (fork + execve, output captured), and plain fork()
// children whose gtest failures become a non-zero exit status.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "support/child.h"

namespace vmreclaim::test {

struct ChildResult {
  int status = -1;  // as from waitpid()
  std::string out, err;

  bool exited_with(int code) const;
  bool killed_by(int sig) const;
  std::string describe() const;  // for failure messages
};

// Runs the helper program with `args` in the current environment minus every
// VMRECLAIM_* variable, plus `env` ("NAME=value" each).
ChildResult run_helper(const std::vector<std::string>& args, const std::vector<std::string>& env = {});

// fork(); the child runs fn and exits 0, or 1 if the test recorded a failure
// in the child (its messages appear on the child's stdout).
pid_t fork_child(const std::function<void()>& fn);
// waitpid() for it; the wait status, or -1.
int wait_child(pid_t pid);

}  // namespace vmreclaim::test
