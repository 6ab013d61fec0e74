// Linked into the unit test binary: the library runs caller-driven here, set
// before it reads its tunables (unless the environment already says
// otherwise):
//   - no engine thread: it samples on its own schedule and takes the sampling
//     deadline over from the callers, which these tests drive explicitly;
//   - pressure pinned to normal: a live change would let the engine trim or
//     drain a ring whose exact contents a test asserts.
// The engine thread and live pressure are tested in real processes
// (tests/process/environment_test.cpp, tests/policy/).
#include <gtest/gtest.h>

#include <cstdlib>

namespace {

class CallerDriven : public ::testing::Environment {
 public:
  void SetUp() override {
    ::setenv("VMRECLAIM_ENGINE_THREAD", "0", 0);
    ::setenv("VMRECLAIM_PRESSURE", "normal", 0);
  }
};

[[maybe_unused]] ::testing::Environment* const kCallerDriven = ::testing::AddGlobalTestEnvironment(new CallerDriven);

}  // namespace
