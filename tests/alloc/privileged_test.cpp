// A privileged program reads no VMRECLAIM_* setting from its invoker's
// environment. Each test installs a set-user-ID-root copy of a program that
// uses the library (owned by root, mode 4755, in a fresh directory on a
// filesystem without nosuid), runs it as the user nobody with settings that
// would weaken it, and checks that the defaults held. The same program
// without the set-user-ID bit shows that the setting does reach an ordinary
// process, so the test observes the difference the privilege makes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "support/child.h"

namespace vmreclaim::test {
namespace {

namespace fs = std::filesystem;

ChildResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                std::optional<uid_t> as_uid) {
  return run_child({.argv = argv, .env = env, .drop_vmreclaim_env = true, .as_uid = as_uid}, std::chrono::seconds(60));
}

class Privileged : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef VMRECLAIM_ALLOC_SANITIZED
    GTEST_SKIP() << "sanitizer runtimes read their own options from the environment and do not run set-user-ID";
#endif
    if (::geteuid() != 0) GTEST_SKIP() << "making a set-user-ID-root copy needs root";
    char dir[] = "/tmp/vmreclaim-setuid-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    ASSERT_EQ(::chmod(dir, 0755), 0);  // nobody must reach the programs
    struct statvfs vfs {};
    ASSERT_EQ(::statvfs(dir, &vfs), 0);
    if ((vfs.f_flag & ST_NOSUID) != 0) GTEST_SKIP() << "/tmp is mounted nosuid: set-user-ID has no effect there";
    nobody_ = nobody_ids().first;
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  // A root-owned copy of `program`, mode 4755 if `setuid`, else 0755.
  std::string install(const char* program, const std::string& name, bool setuid) {
    std::string path = dir_ + "/" + name;
    std::error_code ec;
    fs::copy_file(program, path, fs::copy_options::overwrite_existing, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(::chown(path.c_str(), 0, 0), 0);
    EXPECT_EQ(::chmod(path.c_str(), setuid ? 04755 : 0755), 0);
    return path;
  }

  std::string dir_;
  uid_t nobody_ = 65534;
};

// VMRECLAIM_GUARD=log would turn a guard fault (a ring entry over a hole in
// the address space) from fatal into logged-and-skipped.
TEST_F(Privileged, SetuidProgramKeepsItsGuardFatalWhateverTheInvokerSets) {
  const std::string plain = install(VMRECLAIM_TEST_HELPER, "helper", false);
  const std::string suid = install(VMRECLAIM_TEST_HELPER, "helper-suid", true);
  const std::vector<std::string> env{"VMRECLAIM_GUARD=log"};

  // An ordinary process honours the setting: the fault is logged, it goes on.
  ChildResult ordinary = run({plain, "guard", "dealloc-gap"}, env, nobody_);
  ASSERT_TRUE(ordinary.exited_with(0)) << ordinary.describe();
  EXPECT_NE(ordinary.err.find("continuing"), std::string::npos) << ordinary.describe();

  // The set-user-ID one does not: the default, fatal, holds.
  ChildResult privileged = run({suid, "guard", "dealloc-gap"}, env, nobody_);
  EXPECT_TRUE(privileged.killed_by(SIGKILL)) << privileged.describe();
  EXPECT_NE(privileged.err.find("guard fault DEALLOC_GAP"), std::string::npos) << privileged.describe();
  EXPECT_NE(privileged.err.find("killing the process"), std::string::npos) << privileged.describe();
  EXPECT_EQ(privileged.err.find("continuing"), std::string::npos) << privileged.describe();
}

// The layer's settings: a lower threshold, and a report file a root process
// would create wherever the invoker says.
TEST_F(Privileged, SetuidProgramIgnoresTheLayerSettingsAndWritesNoReport) {
  const std::string plain = install(VMRECLAIM_LINKED_PROBE, "probe", false);
  const std::string suid = install(VMRECLAIM_LINKED_PROBE, "probe-suid", true);
  const std::string report_plain = dir_ + "/report-plain", report_suid = dir_ + "/report-suid";

  // Unprivileged as far as the kernel is concerned (no AT_SECURE): honoured.
  ChildResult ordinary = run(
      {plain, "settings"}, {"VMRECLAIM_MALLOC_THRESHOLD=16K", "VMRECLAIM_MALLOC_REPORT=" + report_plain}, std::nullopt);
  ASSERT_TRUE(ordinary.exited_with(0)) << ordinary.describe();
  EXPECT_NE(ordinary.out.find("layer_served_64k=1"), std::string::npos) << ordinary.describe();
  EXPECT_TRUE(fs::exists(report_plain)) << ordinary.describe();

  ChildResult privileged =
      run({suid, "settings"}, {"VMRECLAIM_MALLOC_THRESHOLD=16K", "VMRECLAIM_MALLOC_REPORT=" + report_suid}, nobody_);
  ASSERT_TRUE(privileged.exited_with(0)) << privileged.describe();
  EXPECT_NE(privileged.out.find("layer_served_64k=0"), std::string::npos) << privileged.describe();
  EXPECT_FALSE(fs::exists(report_suid)) << "a set-user-ID-root process wrote the invoker's report file\n"
                                        << privileged.describe();
}

// The built-in backend's own options (MIMALLOC_*, mimalloc's documented
// settings): MIMALLOC_VERBOSE makes it describe itself on stderr, and the
// same reading would take MIMALLOC_RESERVE_OS_MEMORY and the rest from
// whoever starts a privileged program.
TEST_F(Privileged, SetuidProgramIgnoresTheBuiltInMimallocsOptions) {
  const std::string plain = install(VMRECLAIM_LINKED_PROBE, "probe", false);
  const std::string suid = install(VMRECLAIM_LINKED_PROBE, "probe-suid", true);
  const std::vector<std::string> env{"MIMALLOC_VERBOSE=1"};

  ChildResult ordinary = run({plain, "settings"}, env, std::nullopt);
  ASSERT_TRUE(ordinary.exited_with(0)) << ordinary.describe();
  EXPECT_NE(ordinary.err.find("mimalloc: "), std::string::npos) << ordinary.describe();

  ChildResult privileged = run({suid, "settings"}, env, nobody_);
  ASSERT_TRUE(privileged.exited_with(0)) << privileged.describe();
  EXPECT_EQ(privileged.err.find("mimalloc"), std::string::npos) << privileged.describe();
}

}  // namespace
}  // namespace vmreclaim::test
