// The engine's policy on a real Linux process (issue 3): suspend drain,
// idle give-back by the engine thread, pressure, limits (footprint limit and
// a real memory cgroup), the thread's life across fork and exit.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "child_process.h"
#include "platform/linux/cgroup.h"

namespace vmreclaim::test {
namespace {

// Sanitizer runtimes keep shadow memory for every page the program touched,
// in RssAnon, whatever the engine gives back; resident-size assertions (and
// a cgroup limit sized for the program alone) mean nothing there.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#define SKIP_IF_SANITIZED() \
  if (kSanitized) GTEST_SKIP() << "sanitizer shadow memory makes RssAnon meaningless in this build"

using Env = std::vector<std::pair<std::string, std::string>>;

ChildProcess::Options helper(std::vector<std::string> args, Env env = {}) {
  args.insert(args.begin(), VMRECLAIM_POLICY_HELPER);
  // A quiet machine for the test: no surprise trims from a 10 s period
  // expiring or from pressure elsewhere on the machine, unless asked for.
  env.insert(env.begin(), {"VMRECLAIM_PRESSURE", "normal"});
  return {args, env, ""};
}

long ready_rss(ChildProcess& c) {
  auto line = c.read_line(10000);
  if (!line || line->rfind("ready ", 0) != 0) return -1;
  return std::atol(line->c_str() + 6);
}

// Polls the child's RssAnon until it drops below `kb` or `ms` pass.
long wait_rss_below(ChildProcess& c, long kb, int ms) {
  long rss = c.rss_anon_kb();
  for (int t = 0; t < ms && rss >= kb; t += 20) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    rss = c.rss_anon_kb();
  }
  return rss;
}

TEST(SuspendDrain, SigtstpLowersRssByWhatTheRingHeld) {
  SKIP_IF_SANITIZED();
  ChildProcess c(helper({"hold", "128"}, {{"VMRECLAIM_SUSPEND_DRAIN", "1"}}));
  long before = ready_rss(c);
  ASSERT_GT(before, 120 * 1024) << "the ring should hold 128 MiB of touched memory";
  ASSERT_EQ(kill(c.pid(), SIGTSTP), 0);
  auto st = c.wait_stopped_or_exited(5000);
  ASSERT_TRUE(st && WIFSTOPPED(*st)) << "the process must stop after the drain";
  long after = c.rss_anon_kb();
  EXPECT_LT(after, before - 120 * 1024) << "stopped with " << after << " kB resident";
  ASSERT_EQ(kill(c.pid(), SIGCONT), 0);
  EXPECT_GE(c.ping(), 0) << "the process must run again after SIGCONT";
}

TEST(SuspendDrain, RepeatedStopContinueIsHarmless) {
  ChildProcess c(helper({"hold", "16"}, {{"VMRECLAIM_SUSPEND_DRAIN", "1"}}));
  ASSERT_GT(ready_rss(c), 0);
  for (int round = 0; round < 4; round++) {
    ASSERT_EQ(kill(c.pid(), SIGTSTP), 0);
    auto st = c.wait_stopped_or_exited(5000);
    ASSERT_TRUE(st && WIFSTOPPED(*st)) << "round " << round;
    ASSERT_EQ(kill(c.pid(), SIGCONT), 0);
    ASSERT_GE(c.ping(), 0) << "round " << round;
  }
  c.close_stdin();
  auto st = c.wait_exit(5000);
  ASSERT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0);
}

TEST(SuspendDrain, DoubleFreeFoundDuringSuspendKillsWithTheGapGuard) {
  ChildProcess c(helper({"gap"}, {{"VMRECLAIM_SUSPEND_DRAIN", "1"}}));
  ASSERT_GE(ready_rss(c), 0);
  ASSERT_EQ(kill(c.pid(), SIGTSTP), 0);
  auto st = c.wait_stopped_or_exited(5000);
  ASSERT_TRUE(st.has_value());
  ASSERT_TRUE(WIFSIGNALED(*st)) << "status " << *st;
  EXPECT_EQ(WTERMSIG(*st), SIGKILL);
  EXPECT_NE(c.stderr_text().find("DEALLOC_GAP"), std::string::npos);
}

TEST(EngineThread, IdleProcessGivesMemoryBackWithoutCalls) {
  SKIP_IF_SANITIZED();
  ChildProcess c(helper({"hold", "64"}, {{"VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS", "300000000"}}));
  long before = ready_rss(c);
  ASSERT_GT(before, 60 * 1024);
  // The WMA needs a few periods to believe the ring is idle; 6 s is 20.
  long after = wait_rss_below(c, 8 * 1024, 6000);
  EXPECT_LT(after, 8 * 1024) << "RssAnon stayed at " << after << " kB";
}

TEST(EngineThread, RingCycledToEmptyKeepsEveryEntry) {
  // Empty once per millisecond, sampled every 50 ms: the minimum is always 0,
  // so the estimator must never trim what the program is about to reuse.
  ChildProcess c(helper({"cycle", "400"}, {{"VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS", "50000000"}}));
  auto line = c.read_line(20000);
  ASSERT_TRUE(line.has_value());
  EXPECT_NE(line->find("lost 0 "), std::string::npos) << *line;
  auto st = c.wait_exit(5000);
  ASSERT_TRUE(st && WIFEXITED(*st));
  EXPECT_EQ(WEXITSTATUS(*st), 0) << *line;
}

TEST(EngineThread, CriticalPressureDrainsWithoutCalls) {
  SKIP_IF_SANITIZED();
  auto opts = helper({"hold", "64"});
  opts.env.push_back({"VMRECLAIM_PRESSURE", "critical"});  // later wins
  ChildProcess c(opts);
  ASSERT_GT(ready_rss(c), 0);
  long after = wait_rss_below(c, 8 * 1024, 3000);
  EXPECT_LT(after, 8 * 1024);
}

TEST(EngineThread, NamedRestartedInForkedChildAndNeverKeepsTheProcessAlive) {
  ChildProcess c(helper({"threads"}));
  auto parent = c.read_line(5000);
  auto child = c.read_line(5000);
  ASSERT_TRUE(parent && child);
  EXPECT_NE(parent->find("vm_reclaim"), std::string::npos) << *parent;
  EXPECT_NE(child->find("vm_reclaim"), std::string::npos) << *child;
  auto st = c.wait_exit(5000);
  ASSERT_TRUE(st.has_value()) << "returning from main must end the process";
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0);
}

TEST(Limits, FootprintLimitFromTheEnvironmentHolds) {
  SKIP_IF_SANITIZED();
  // 512 MiB pass through the ring; 64 MiB may be resident at most.
  ChildProcess c(helper({"churn", "512"}, {{"VMRECLAIM_FOOTPRINT_LIMIT", "64M"}}));
  auto line = c.read_line(30000);
  ASSERT_TRUE(line.has_value());
  long peak = std::atol(line->c_str() + 5);
  EXPECT_GT(peak, 0) << *line;
  EXPECT_LE(peak, 64 * 1024) << *line;
  auto st = c.wait_exit(5000);
  ASSERT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0);
}

// A memory cgroup of our own, under the cgroup this test runs in.
class MemoryCgroupDir {
 public:
  explicit MemoryCgroupDir(uint64_t limit) {
    // Where the library itself looks: the v1 memory hierarchy, else v2.
    auto cg = platform::MemoryCgroup::discover();
    if (!cg) {
      why_ = "this process has no memory cgroup";
      return;
    }
    const std::string base = cg->location().dir;
    const std::string limit_file = cg->location().version == 1 ? "memory.limit_in_bytes" : "memory.max";
    dir_ = base + "/vmreclaim-test-" + std::to_string(getpid());
    if (mkdir(dir_.c_str(), 0755) != 0) {
      why_ = "cannot create " + dir_ + ": " + std::strerror(errno);
      dir_.clear();
      return;
    }
    std::ofstream(dir_ + "/" + limit_file) << limit;
    std::ifstream check(dir_ + "/" + limit_file);
    uint64_t got = 0;
    check >> got;
    if (got == 0 || got > limit) why_ = "cannot set " + limit_file + " in " + dir_;
  }
  ~MemoryCgroupDir() {
    if (!dir_.empty()) rmdir(dir_.c_str());
  }
  bool usable() const { return !dir_.empty() && why_.empty(); }
  const std::string& why() const { return why_; }
  std::string procs() const { return dir_ + "/cgroup.procs"; }

 private:
  std::string dir_, why_;
};

TEST(Limits, MemoryInTheRingIsReclaimedBeforeACgroupOomKill) {
  SKIP_IF_SANITIZED();
  MemoryCgroupDir cg(64ull << 20);
  if (!cg.usable()) GTEST_SKIP() << "memory cgroups unavailable: " << cg.why();
  {
    // Control: a client that ignores should_update_kernel_accounting and
    // has no engine thread leaves everything in the ring and is OOM-killed,
    // so this setup really presses on the limit.
    auto opts = helper({"churn-noupdate", "512"}, {{"VMRECLAIM_ENGINE_THREAD", "0"}});
    opts.cgroup_procs = cg.procs();
    ChildProcess c(opts);
    auto st = c.wait_exit(30000);
    ASSERT_TRUE(st.has_value());
    ASSERT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL) << "expected an OOM kill, status " << *st;
  }
  auto opts = helper({"churn", "512"});
  opts.cgroup_procs = cg.procs();
  ChildProcess c(opts);
  auto line = c.read_line(30000);
  auto st = c.wait_exit(30000);
  ASSERT_TRUE(st.has_value());
  ASSERT_TRUE(WIFEXITED(*st)) << "killed by signal " << (WIFSIGNALED(*st) ? WTERMSIG(*st) : 0);
  EXPECT_EQ(WEXITSTATUS(*st), 0);
  ASSERT_TRUE(line.has_value());
  EXPECT_NE(line->find("limit-reclaimed"), std::string::npos);
}

}  // namespace
}  // namespace vmreclaim::test
