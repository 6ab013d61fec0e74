// A fixture for tests that run a program under the preloaded layer and read
// the layer's exit report (VMRECLAIM_MALLOC_REPORT): a private directory for
// the report, removed afterwards. Skipped in sanitizer builds, where an
// LD_PRELOAD malloc cannot share the process with the sanitizer's runtime.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

namespace vmreclaim::test {

class ReportDir : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef VMRECLAIM_ALLOC_SANITIZED
    GTEST_SKIP() << "an LD_PRELOAD malloc cannot run in the same process as the ASan/TSan runtime";
#endif
    char dir[] = "/tmp/vmreclaim-report-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    report_ = dir_ + "/report";
  }
  void TearDown() override {
    if (!report_.empty()) unlink(report_.c_str());
    if (!dir_.empty()) rmdir(dir_.c_str());
  }
  std::string dir_, report_;
};

}  // namespace vmreclaim::test
