// Guard-fault scenarios (docs/design.md §7): a process that breaks the ring
// protocol in one specific way, then asks the engine to reclaim. Shared by
// the death tests (fatal mode: the process must die of SIGKILL after one
// stderr line naming the fault) and by the helper program, which runs them
// under VMRECLAIM_GUARD=log (the process must survive and count the fault).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace vmreclaim::test {

struct GuardScenario {
  const char* name;   // argument of `vmreclaim_test_helper guard NAME`
  const char* fault;  // the fault name the engine must report (an extended regular expression)
};

const std::vector<GuardScenario>& guard_scenarios();
inline void PrintTo(const GuardScenario& s, std::ostream* os) { *os << s.name; }

struct ScenarioOutcome {
  bool ok = false;     // log mode: the fault was counted and handled as documented
  std::string detail;  // what was seen, for the test's message
};

// Allocates this process's ring, breaks it as `name` says and calls into
// the engine. Fatal mode: never returns. Log mode: returns the outcome.
ScenarioOutcome run_guard_scenario(const std::string& name);

// The engine thread meets the unmapped ring asynchronously: the program
// unmaps its ring and stops (SIGTSTP), and the suspend drain runs on the
// engine thread. Must end in the RECLAIM_COPYIO_FAILURE kill; never returns
// in fatal mode unless the process survived.
ScenarioOutcome run_suspend_on_unmapped_ring();

}  // namespace vmreclaim::test
