// The daemon's reading of a memory cgroup's OOM signals (src/daemon/
// oom_watch.h): v1 memory.oom_control and v2 memory.events as the kernel
// writes them (fixtures), and garbage, which is no signal and no crash.
#include "daemon/oom_watch.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace vmreclaim::test {
namespace {

using vmreclaim::daemon::MemoryEventsV2;
using vmreclaim::daemon::OomControlV1;
using vmreclaim::daemon::OomWatch;
using vmreclaim::daemon::parse_memory_events;
using vmreclaim::daemon::parse_oom_control;

// Linux 6.1, a v1 memory cgroup with the OOM killer disabled and a task
// waiting for memory.
constexpr const char* kV1UnderOom = "oom_kill_disable 1\nunder_oom 1\noom_kill 0\n";
constexpr const char* kV1Quiet = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
// Linux 6.1, cgroup v2 memory.events.
constexpr const char* kV2Quiet = "low 0\nhigh 12\nmax 40\noom 1\noom_kill 1\noom_group_kill 0\n";
constexpr const char* kV2Killed = "low 0\nhigh 12\nmax 41\noom 2\noom_kill 2\noom_group_kill 0\n";

TEST(OomWatch, ParsesV1OomControl) {
  std::optional<OomControlV1> c = parse_oom_control(kV1UnderOom);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->oom_kill_disable);
  EXPECT_TRUE(c->under_oom);
  EXPECT_EQ(c->oom_kill, 0u);
  c = parse_oom_control(kV1Quiet);
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->under_oom);
  EXPECT_EQ(c->oom_kill, 3u);
  // Before Linux 4.13 there is no oom_kill line.
  c = parse_oom_control("oom_kill_disable 0\nunder_oom 0\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->oom_kill, 0u);
}

TEST(OomWatch, ParsesV2MemoryEvents) {
  std::optional<MemoryEventsV2> e = parse_memory_events(kV2Killed);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->high, 12u);
  EXPECT_EQ(e->max, 41u);
  EXPECT_EQ(e->oom, 2u);
  EXPECT_EQ(e->oom_kill, 2u);
}

TEST(OomWatch, RefusesGarbage) {
  for (const char* bad : {"", "\n", "under_oom\n", "under_oom yes\n", "under_oom -1\n", "oom_kill_disable 0\n",
                          "under_oom 99999999999999999999999\n", "oom_kill_disable 0\nunder_oom 0\noom_kill x\n"}) {
    EXPECT_FALSE(parse_oom_control(bad)) << '"' << bad << '"';
  }
  for (const char* bad : {"", "low 0\nhigh 0\nmax 0\n", "oom\n", "oom 1x\n", "low 0\noom -2\n", "oom_kill 1\n"}) {
    EXPECT_FALSE(parse_memory_events(bad)) << '"' << bad << '"';
  }
  // Unknown keys are skipped.
  EXPECT_TRUE(parse_memory_events("future_key zz\noom 0\n"));
  EXPECT_TRUE(parse_oom_control("future_key zz\nunder_oom 0\n"));
}

TEST(OomWatch, SurvivesRandomBytes) {
  std::mt19937 rng(12);
  std::uniform_int_distribution<int> byte(0, 255), len(0, 300);
  OomWatch w1, w2;
  for (int i = 0; i < 20000; i++) {
    std::string s(static_cast<size_t>(len(rng)), '\0');
    for (char& c : s) c = static_cast<char>(byte(rng));
    if (i % 3 == 0) s = "under_oom " + s;
    (void)parse_oom_control(s);
    (void)parse_memory_events(s);
    (void)w1.check_text(1, s);
    (void)w2.check_text(2, s);
  }
  EXPECT_FALSE(OomWatch().check_text(3, kV1UnderOom)) << "not a cgroup version";
}

TEST(OomWatch, UnderOomSignalsAtOnceCountersWhenTheyGrow) {
  OomWatch v1;
  EXPECT_FALSE(v1.check_text(1, kV1Quiet)) << "oom_kill 3 before the daemon watched is not acted on";
  EXPECT_EQ(v1.check_text(1, "oom_kill_disable 1\nunder_oom 1\noom_kill 3\n").value_or(""), "under_oom");
  EXPECT_FALSE(v1.check_text(1, kV1Quiet));
  EXPECT_EQ(v1.check_text(1, "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n").value_or(""), "oom_kill");

  OomWatch v2;
  EXPECT_FALSE(v2.check_text(2, kV2Quiet)) << "what happened before the daemon watched is not acted on";
  EXPECT_FALSE(v2.check_text(2, kV2Quiet));
  EXPECT_EQ(v2.check_text(2, kV2Killed).value_or(""), "oom_kill");
  EXPECT_FALSE(v2.check_text(2, kV2Killed));
  EXPECT_EQ(v2.check_text(2, "low 0\nhigh 12\nmax 42\noom 2\noom_kill 2\n").value_or(""), "max");
  // A garbled reading changes nothing: the next real one compares with the last good one.
  EXPECT_FALSE(v2.check_text(2, "oom x\n"));
  EXPECT_FALSE(v2.check_text(2, "low 0\nhigh 12\nmax 42\noom 2\noom_kill 2\n"));
  // A counter that went down (a new cgroup at the path) is a new baseline.
  EXPECT_FALSE(v2.check_text(2, "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"));
}

TEST(OomWatch, AMissingFileIsNoSignal) {
  OomWatch w;
  vmreclaim::platform::CgroupLocation loc;
  loc.version = 1;
  loc.dir = "/sys/fs/cgroup/memory/no-such-cgroup-for-vmreclaim";
  EXPECT_FALSE(w.check(loc));
  loc.version = 2;
  EXPECT_FALSE(w.check(loc));
}

}  // namespace
}  // namespace vmreclaim::test
