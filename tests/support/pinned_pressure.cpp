// Linked into the process test binary: pins the pressure level to
// "normal" (unless the environment already sets it) before the library reads
// its tunables. These tests assert exact ring contents; a live pressure change
// would let the engine thread trim or drain the ring in the middle of one.
// Live pressure has its own tests (tests/policy/). Helpers exec'd by the
// process tests get a clean environment of their own.
#include <gtest/gtest.h>

#include <cstdlib>

namespace {

class PinnedPressure : public ::testing::Environment {
 public:
  void SetUp() override { ::setenv("VMRECLAIM_PRESSURE", "normal", 0); }
};

[[maybe_unused]] ::testing::Environment* const kPinned = ::testing::AddGlobalTestEnvironment(new PinnedPressure);

}  // namespace
