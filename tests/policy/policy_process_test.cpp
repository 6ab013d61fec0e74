// The engine's policy on a real Linux process (issue 3): suspend drain,
// idle give-back by the engine thread, pressure, limits (footprint limit and
// a real memory cgroup), the thread's life across fork and exit.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "platform/linux/cgroup.h"
#include "support/child.h"
#include "support/sanitizers.h"

namespace vmreclaim::test {
namespace {

using namespace std::chrono_literals;

// The policy helper with `args`, talked to over its stdin and stdout; `env`
// "NAME=value" settings (of two with one name the later wins).
SpawnOptions helper(std::vector<std::string> args, std::vector<std::string> env = {}) {
  args.insert(args.begin(), VMRECLAIM_POLICY_HELPER);
  // A quiet machine for the test: no surprise trims from a 10 s period
  // expiring or from pressure elsewhere on the machine, unless asked for.
  env.insert(env.begin(), "VMRECLAIM_PRESSURE=normal");
  SpawnOptions o;
  o.argv = args;
  o.env = env;
  o.stdin_pipe = true;
  return o;
}

// "pong <RssAnon kB>" round trip with the helper; the number, or -1.
long ping(Child& c) {
  if (!c.write_line("ping")) return -1;
  auto line = c.read_line(5s);
  if (!line || line->rfind("pong ", 0) != 0) return -1;
  return std::strtol(line->c_str() + 5, nullptr, 10);
}

// What a helper that reports once and exits left: its report line (within
// `line_timeout`), its wait status (within `exit_timeout` after that), and
// what it wrote to stderr. nullopt where it did not.
struct Report {
  std::optional<std::string> line;
  std::optional<int> status;
  std::string err;
};
Report run_to_report(const SpawnOptions& o, std::chrono::milliseconds line_timeout,
                     std::chrono::milliseconds exit_timeout) {
  Report r;
  std::optional<Child> c = Child::spawn(o);
  if (!c) {
    r.err = "cannot start the helper";
    return r;
  }
  r.line = c->read_line(line_timeout);
  r.status = c->wait(exit_timeout);
  r.err = c->stderr_so_far();
  return r;
}

long ready_rss(Child& c) {
  auto line = c.read_line(10s);
  if (!line || line->rfind("ready ", 0) != 0) return -1;
  return std::atol(line->c_str() + 6);
}

// Polls the child's RssAnon until it drops below `kb` or `ms` pass; -1 as
// soon as the child is not alive (rss_anon_kb), which every caller asserts
// against: a dead child holds no memory and must not pass for one that gave
// its memory back.
long wait_rss_below(Child& c, long kb, int ms) {
  long rss = rss_anon_kb(c.pid());
  for (int t = 0; t < ms && rss >= kb; t += 20) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    rss = rss_anon_kb(c.pid());
  }
  return rss;
}

// The number after `key ` in a line of the helper's ("peak 123 ..."), or -1.
long field(const std::string& line, const std::string& key) {
  const auto at = line.find(key + " ");
  if (at == std::string::npos) return -1;
  char* end = nullptr;
  const char* start = line.c_str() + at + key.size() + 1;
  const long v = std::strtol(start, &end, 10);
  return end == start ? -1 : v;
}

TEST(SuspendDrain, SigtstpLowersRssByWhatTheRingHeld) {
  SKIP_IF_SANITIZED();
  std::optional<Child> spawned = Child::spawn(helper({"hold", "128"}, {"VMRECLAIM_SUSPEND_DRAIN=1"}));
  ASSERT_TRUE(spawned) << "cannot start the helper";
  Child& c = *spawned;
  long before = ready_rss(c);
  ASSERT_GT(before, 120 * 1024) << "the ring should hold 128 MiB of touched memory";
  ASSERT_EQ(kill(c.pid(), SIGTSTP), 0);
  auto st = c.wait(5000ms, /*stopped=*/true);
  ASSERT_TRUE(st && WIFSTOPPED(*st)) << "the process must stop after the drain";
  long after = rss_anon_kb(c.pid());
  ASSERT_GE(after, 0) << "the stopped child is not alive";
  EXPECT_LT(after, before - 120 * 1024) << "stopped with " << after << " kB resident";
  ASSERT_EQ(kill(c.pid(), SIGCONT), 0);
  EXPECT_GE(ping(c), 0) << "the process must run again after SIGCONT";
}

TEST(SuspendDrain, RepeatedStopContinueIsHarmless) {
  std::optional<Child> spawned = Child::spawn(helper({"hold", "16"}, {"VMRECLAIM_SUSPEND_DRAIN=1"}));
  ASSERT_TRUE(spawned) << "cannot start the helper";
  Child& c = *spawned;
  ASSERT_GT(ready_rss(c), 0);
  for (int round = 0; round < 4; round++) {
    ASSERT_EQ(kill(c.pid(), SIGTSTP), 0);
    auto st = c.wait(5000ms, /*stopped=*/true);
    ASSERT_TRUE(st && WIFSTOPPED(*st)) << "round " << round;
    ASSERT_EQ(kill(c.pid(), SIGCONT), 0);
    ASSERT_GE(ping(c), 0) << "round " << round;
  }
  c.close_stdin();
  auto st = c.wait(5000ms);
  ASSERT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0);
}

TEST(SuspendDrain, DoubleFreeFoundDuringSuspendKillsWithTheGapGuard) {
  std::optional<Child> spawned = Child::spawn(helper({"gap"}, {"VMRECLAIM_SUSPEND_DRAIN=1"}));
  ASSERT_TRUE(spawned) << "cannot start the helper";
  Child& c = *spawned;
  ASSERT_GE(ready_rss(c), 0);
  ASSERT_EQ(kill(c.pid(), SIGTSTP), 0);
  auto st = c.wait(5000ms, /*stopped=*/true);
  ASSERT_TRUE(st.has_value());
  ASSERT_TRUE(WIFSIGNALED(*st)) << "status " << *st;
  EXPECT_EQ(WTERMSIG(*st), SIGKILL);
  EXPECT_NE(c.stderr_so_far().find("DEALLOC_GAP"), std::string::npos);
}

TEST(EngineThread, IdleProcessGivesMemoryBackWithoutCalls) {
  SKIP_IF_SANITIZED();
  std::optional<Child> spawned =
      Child::spawn(helper({"hold", "64"}, {"VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS=300000000"}));
  ASSERT_TRUE(spawned) << "cannot start the helper";
  Child& c = *spawned;
  long before = ready_rss(c);
  ASSERT_GT(before, 60 * 1024);
  // The WMA needs a few periods to believe the ring is idle; 6 s is 20.
  long after = wait_rss_below(c, 8 * 1024, 6000);
  ASSERT_GE(after, 0) << "the child died: " << c.stderr_so_far();
  EXPECT_LT(after, 8 * 1024) << "RssAnon stayed at " << after << " kB";
  EXPECT_GE(ping(c), 0) << "the child must still answer";
}

// The idle trim (docs/policy.md, "Idle trim") is an opt-in for C API users:
// with VMRECLAIM_IDLE_TRIM_NS a ring nobody enters or cancels on is given
// back whole, long before the first working-set sample (a minute here:
// without the idle trim nothing would go for two of them) ...
TEST(EngineThread, IdleTrimGivesAQuietRingBackWhenAskedFor) {
  SKIP_IF_SANITIZED();
  std::optional<Child> spawned = Child::spawn(
      helper({"hold", "64"}, {"VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS=60000000000", "VMRECLAIM_IDLE_TRIM_NS=200000000"}));
  ASSERT_TRUE(spawned) << "cannot start the helper";
  Child& c = *spawned;
  ASSERT_GT(ready_rss(c), 60 * 1024);
  long after = wait_rss_below(c, 8 * 1024, 20000);
  ASSERT_GE(after, 0) << "the child died: " << c.stderr_so_far();
  EXPECT_LT(after, 8 * 1024) << "RssAnon stayed at " << after << " kB";
  EXPECT_GE(ping(c), 0) << "the child must still answer";
}

// ... and without it the ring keeps what Darwin's sampling would keep: a
// program of the C API sees no change unless it opts in.
TEST(EngineThread, IdleTrimIsOffUnlessAskedFor) {
  SKIP_IF_SANITIZED();
  std::optional<Child> spawned =
      Child::spawn(helper({"hold", "64"}, {"VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS=60000000000"}));
  ASSERT_TRUE(spawned) << "cannot start the helper";
  Child& c = *spawned;
  ASSERT_GT(ready_rss(c), 60 * 1024);
  // Four times the quiet time of the first test, and more than the layer's default.
  long after = wait_rss_below(c, 8 * 1024, 2000);
  ASSERT_GE(after, 0) << "the child died: " << c.stderr_so_far();
  EXPECT_GT(after, 60 * 1024) << "RssAnon fell to " << after << " kB with no idle trim asked for";
}

TEST(EngineThread, RingCycledToEmptyKeepsEveryEntry) {
  // Empty about once per millisecond, sampled every 200 ms: the minimum of
  // every period is 0, so the estimator must never trim what the program is
  // about to reuse. The helper measures the longest time the ring went
  // without emptying: a run in which a busy machine descheduled it for a
  // good part of a period (so that a trim would be right) proves nothing
  // and is repeated, up to three times; a loss after short gaps fails.
  constexpr long kPeriodMs = 200;
  std::string last;
  for (int attempt = 0; attempt < 3; attempt++) {
    const Report r =
        run_to_report(helper({"cycle", "1500"}, {"VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS=200000000"}), 60s, 5s);
    const auto& line = r.line;
    const auto& st = r.status;
    ASSERT_TRUE(line.has_value()) << "no report: " << r.err;
    ASSERT_TRUE(st && WIFEXITED(*st)) << *line;
    last = *line;
    const long lost = field(*line, "lost"), samples = field(*line, "samples"), gap = field(*line, "maxgap_ms");
    ASSERT_GE(lost, 0) << *line;
    ASSERT_GE(gap, 0) << *line;
    // The estimator must have run, or "nothing lost" says nothing.
    ASSERT_GT(samples, 0) << *line;
    if (lost > 0 && gap >= kPeriodMs / 2) continue;  // descheduled: inconclusive
    EXPECT_EQ(lost, 0) << *line;
    EXPECT_EQ(WEXITSTATUS(*st), 0) << *line;
    return;
  }
  FAIL() << "three runs in a row were descheduled for half a sampling period or more: " << last;
}

TEST(EngineThread, CriticalPressureDrainsWithoutCalls) {
  SKIP_IF_SANITIZED();
  auto opts = helper({"hold", "64"});
  opts.env.push_back("VMRECLAIM_PRESSURE=critical");  // later wins
  std::optional<Child> spawned = Child::spawn(opts);
  ASSERT_TRUE(spawned) << "cannot start the helper";
  Child& c = *spawned;
  ASSERT_GT(ready_rss(c), 0);
  long after = wait_rss_below(c, 8 * 1024, 3000);
  ASSERT_GE(after, 0) << "the child died: " << c.stderr_so_far();
  EXPECT_LT(after, 8 * 1024);
  EXPECT_GE(ping(c), 0) << "the child must still answer";
}

TEST(EngineThread, NamedRestartedInForkedChildAndNeverKeepsTheProcessAlive) {
  std::optional<Child> spawned = Child::spawn(helper({"threads"}));
  ASSERT_TRUE(spawned) << "cannot start the helper";
  Child& c = *spawned;
  auto parent = c.read_line(5000ms);
  auto child = c.read_line(5000ms);
  ASSERT_TRUE(parent && child);
  EXPECT_NE(parent->find("vm_reclaim"), std::string::npos) << *parent;
  EXPECT_NE(child->find("vm_reclaim"), std::string::npos) << *child;
  auto st = c.wait(5000ms);
  ASSERT_TRUE(st.has_value()) << "returning from main must end the process";
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0);
}

TEST(Limits, FootprintLimitFromTheEnvironmentHolds) {
  SKIP_IF_SANITIZED();
  // 512 MiB pass through the ring; 64 MiB may be resident at most.
  std::optional<Child> spawned = Child::spawn(helper({"churn", "512"}, {"VMRECLAIM_FOOTPRINT_LIMIT=64M"}));
  ASSERT_TRUE(spawned) << "cannot start the helper";
  Child& c = *spawned;
  auto line = c.read_line(30000ms);
  ASSERT_TRUE(line.has_value()) << c.stderr_so_far();
  // The helper reads RssAnon after touching each block, before the enter
  // that may trigger the reclaim, and again after it: the peak is the real one.
  long peak = field(*line, "peak");
  EXPECT_GT(peak, 0) << *line;
  EXPECT_LE(peak, 64 * 1024) << *line;
  EXPECT_GT(field(*line, "limit-reclaimed"), 0) << "the limit must be what reclaimed: " << *line;
  auto st = c.wait(5000ms);
  ASSERT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0);
}

// vmreclaim_set_footprint_limit() applies at once (include/vmreclaim/vmreclaim.h):
// the ring is reclaimed in the call, for the limit, and the limit reads back;
// 0 removes it.
TEST(Limits, SetFootprintLimitReclaimsInTheCall) {
  SKIP_IF_SANITIZED();
  std::optional<Child> spawned = Child::spawn(helper({"hold", "64"}));
  ASSERT_TRUE(spawned) << "cannot start the helper";
  Child& c = *spawned;
  const long before = ready_rss(c);
  ASSERT_GT(before, 60 * 1024) << c.stderr_so_far();
  constexpr unsigned long long kLimit = 16ull << 20;
  ASSERT_TRUE(c.write_line("limit " + std::to_string(kLimit)));
  auto line = c.read_line(10000ms);
  ASSERT_TRUE(line && line->rfind("limited ", 0) == 0) << (line ? *line : "no answer: " + c.stderr_so_far());
  long rss = -1, reclaimed = -1;
  unsigned long long got = 0;
  ASSERT_EQ(std::sscanf(line->c_str(), "limited %ld %llu %ld", &rss, &got, &reclaimed), 3) << *line;
  EXPECT_EQ(got, kLimit) << *line;
  EXPECT_LE(rss, static_cast<long>(kLimit / 1024)) << "RssAnon right after the call: " << *line;
  EXPECT_GT(reclaimed, 0) << "the limit must be what reclaimed: " << *line;
  const long outside = rss_anon_kb(c.pid());
  ASSERT_GE(outside, 0) << "the child is not alive";
  EXPECT_LE(outside, static_cast<long>(kLimit / 1024));
  ASSERT_TRUE(c.write_line("limit 0"));
  line = c.read_line(10000ms);
  ASSERT_TRUE(line.has_value());
  ASSERT_EQ(std::sscanf(line->c_str(), "limited %ld %llu %ld", &rss, &got, &reclaimed), 3) << *line;
  EXPECT_EQ(got, 0u) << "0 removes the limit";
}

// docs/policy.md, "The engine thread and an empty ring": a thread that went
// to sleep with the ring empty is woken by the accounting call the first
// enter into that ring asks for, and checks the limits at once; not a
// sampling period (here a minute) later. The program allocates live memory
// after the ring, so the ring's byte ceiling (published while the ring was
// empty and the headroom large) is not what triggers: 40 MiB live plus
// 32 MiB in the ring stay under that ceiling but over the 64 MiB limit. No
// control endpoint: a client elsewhere on the machine must not wake the thread.
TEST(Limits, AnEngineThreadAsleepOnAnEmptyRingWakesWhenItFills) {
  SKIP_IF_SANITIZED();
  const Report r = run_to_report(
      helper({"fill-late", "40", "32"}, {"VMRECLAIM_FOOTPRINT_LIMIT=64M", "VMRECLAIM_PRESSURE_POLL_NS=50000000",
                                         "VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS=60000000000", "VMRECLAIM_CONTROL=0"}),
      30s, 10s);
  ASSERT_TRUE(r.line.has_value()) << "no report: " << r.err;
  const std::string& line = *r.line;
  ASSERT_TRUE(r.status && WIFEXITED(*r.status) && WEXITSTATUS(*r.status) == 0) << line << r.err;
  // Asleep on the empty ring: no wake-up while the program mapped its memory.
  EXPECT_EQ(field(line, "asleep-wakeups"), 0) << line;
  // The limit reclaimed (the helper waits up to 5 s for it; the thread's
  // next sample, the only other wake-up it has, is a minute away).
  EXPECT_GT(field(line, "limit-reclaimed"), 0) << "the engine thread slept through the ring filling: " << line;
  EXPECT_GT(field(line, "fill-wakeups"), 0) << line;
  const long rss = field(line, "rss");
  EXPECT_GT(rss, 0) << line;
  EXPECT_LE(rss, 64 * 1024) << "back under the limit: " << line;
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
    version_ = cg->location().version;
    const std::string limit_file = version_ == 1 ? "memory.limit_in_bytes" : "memory.max";
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
  int version() const { return version_; }
  // A memory.stat field ("inactive_file"), in bytes; 0 if absent.
  uint64_t stat(const std::string& key) const {
    std::ifstream f(dir_ + "/memory.stat");
    std::string k;
    uint64_t v = 0;
    while (f >> k >> v) {
      if (k == key) return v;
    }
    return 0;
  }

 private:
  std::string dir_, why_;
  int version_ = 0;
};

TEST(Limits, MemoryInTheRingIsReclaimedBeforeACgroupOomKill) {
  SKIP_IF_SANITIZED();
  MemoryCgroupDir cg(64ull << 20);
  if (!cg.usable()) GTEST_SKIP() << "memory cgroups unavailable: " << cg.why();
  {
    // Control: a client that ignores should_update_kernel_accounting and
    // has no engine thread leaves everything in the ring and is OOM-killed,
    // so this setup really presses on the limit.
    auto opts = helper({"churn-noupdate", "512"}, {"VMRECLAIM_ENGINE_THREAD=0"});
    opts.cgroup_procs = cg.procs();
    std::optional<Child> spawned = Child::spawn(opts);
    ASSERT_TRUE(spawned) << "cannot start the helper";
    Child& c = *spawned;
    auto st = c.wait(30000ms);
    ASSERT_TRUE(st.has_value());
    ASSERT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL) << "expected an OOM kill, status " << *st;
  }
  auto opts = helper({"churn", "512"});
  opts.cgroup_procs = cg.procs();
  const Report r = run_to_report(opts, 30s, 30s);
  const auto& line = r.line;
  const auto& st = r.status;
  ASSERT_TRUE(st.has_value()) << r.err;
  ASSERT_TRUE(WIFEXITED(*st)) << "killed by signal " << (WIFSIGNALED(*st) ? WTERMSIG(*st) : 0);
  EXPECT_EQ(WEXITSTATUS(*st), 0);
  ASSERT_TRUE(line.has_value());
  EXPECT_GT(field(*line, "limit-reclaimed"), 0) << "the cgroup limit must be what reclaimed: " << *line;
}

// docs/policy.md: the engine thread wakes on the v1 usage threshold and
// covers a client that never calls. The pressure and limit poll is a minute
// here and the sampling period 10 s, so in this run only the threshold's
// eventfd can wake the thread; the client maps a 4 MiB block every 20 ms
// (time for a woken thread on a loaded 2-core machine; at 3 ms it was
// OOM-killed under load) and never asks for an update. Without the wake-up
// the cgroup OOM-kills it, as the control in
// MemoryInTheRingIsReclaimedBeforeACgroupOomKill shows.
//
// The cgroup holds page cache first (a file written by a process in it), as
// a real one does: the limit check compares the working set (usage less the
// inactive cache) with the high watermark, while the kernel's threshold
// watches usage. Armed at the watermark itself, the threshold woke the
// thread while the working set was still below it, the thread found nothing
// to do, and no second crossing came before the OOM kill. Armed that much
// higher, but at most at its cap (limit - limit/128, limits.h), the same
// happened once the cache exceeded the room below the cap (14 MiB here): the
// helper's own binary and libraries, charged to the cgroup when no other
// cgroup had them cached, were enough with the 8 MiB file. There, and once
// usage is above the threshold wherever it sits, only the kernel's reclaim
// of that cache (memory.pressure_level) can wake the thread (a first version
// stopped listening when the shrinking cache moved the threshold below usage,
// and was OOM-killed in 3 of 11 runs).
void threshold_wakes_with_page_cache(int cache_mib) {
  MemoryCgroupDir cg(256ull << 20);
  if (!cg.usable()) GTEST_SKIP() << "memory cgroups unavailable: " << cg.why();
  if (cg.version() != 1) GTEST_SKIP() << "the usage threshold is cgroup v1's (cgroup.event_control); this is v2";
  // Beside this test's binary: a disk-backed directory (a tmpfs file would be
  // shared memory, not page cache).
  char exe[4096] = {};
  ASSERT_GT(readlink("/proc/self/exe", exe, sizeof exe - 1), 0);
  const std::string dir(exe, std::strrchr(exe, '/'));
  const std::string cache = dir + "/cgroup-cache-" + std::to_string(getpid());
  SpawnOptions writer;
  writer.argv = {"/bin/dd",    "if=/dev/zero", "of=" + cache, "bs=1M", "count=" + std::to_string(cache_mib),
                 "conv=fsync", "status=none"};
  writer.cgroup_procs = cg.procs();
  std::optional<Child> w = Child::spawn(writer);
  ASSERT_TRUE(w) << "cannot start dd";
  auto ws = w->wait(30000ms);
  ASSERT_TRUE(ws && WIFEXITED(*ws) && WEXITSTATUS(*ws) == 0) << w->stderr_so_far();
  const uint64_t inactive = cg.stat("inactive_file");
  if (inactive < (static_cast<uint64_t>(cache_mib) << 20) * 3 / 4) {
    unlink(cache.c_str());
    GTEST_SKIP() << "the file left " << inactive << " bytes of inactive page cache in the cgroup, not " << cache_mib
                 << " MiB (" << dir << " on a tmpfs?)";
  }
  auto opts = helper({"churn-noupdate", "512", "20000"}, {"VMRECLAIM_PRESSURE_POLL_NS=60000000000"});
  opts.cgroup_procs = cg.procs();
  const Report r = run_to_report(opts, 30s, 30s);
  unlink(cache.c_str());
  const auto& line = r.line;
  const auto& st = r.status;
  ASSERT_TRUE(st.has_value()) << r.err;
  ASSERT_TRUE(WIFEXITED(*st)) << "killed by signal " << (WIFSIGNALED(*st) ? WTERMSIG(*st) : 0)
                              << " (an OOM kill: the threshold did not wake the engine thread); its stderr: " << r.err;
  EXPECT_EQ(WEXITSTATUS(*st), 0);
  ASSERT_TRUE(line.has_value());
  EXPECT_GT(field(*line, "limit-reclaimed"), 0) << *line;
}

TEST(Limits, CgroupV1ThresholdWakesTheEngineThreadForAClientThatNeverCalls) {
  SKIP_IF_SANITIZED();
  threshold_wakes_with_page_cache(8);
}

// 48 MiB of cache: more than the room below the threshold's cap whatever
// else the cgroup holds. Both cases were OOM-killed before the engine thread
// listened for the cgroup's reclaim.
TEST(Limits, CgroupV1WakesTheEngineThreadWithMorePageCacheThanTheThresholdsCap) {
  SKIP_IF_SANITIZED();
  threshold_wakes_with_page_cache(48);
}

}  // namespace
}  // namespace vmreclaim::test
