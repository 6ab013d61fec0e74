// `vmreclaim demo --mode herd` on a small herd: real processes with real
// rings in a real v1 memory cgroup, squeezed by a lowered limit. Checks what
// the demo reports against what must hold whatever the timing: the engines
// give back memory, nobody is OOM-killed, and the pages given back fault in
// again when the herd reuses them. (How much and how fast is the
// benchmark's business: bench/herd/.)
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/child.h"
#include "support/sanitizers.h"

namespace vmreclaim::test {
namespace {

using nlohmann::json;

#ifdef VMRECLAIM_CLI
TEST(HerdDemo, ALoweredLimitMakesTheEnginesGiveBackAndReuseFaultsThePagesIn) {
  SKIP_IF_SANITIZED();
  struct stat st {};
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the demo creates a memory cgroup and sets its limit";
  if (::stat("/sys/fs/cgroup/memory/memory.limit_in_bytes", &st) != 0) {
    GTEST_SKIP() << "no cgroup v1 memory controller at /sys/fs/cgroup/memory";
  }
  // 3 x (48 unused + 4 live) MiB; the limit 2 MiB above usage puts usage
  // above the high watermark (limit - limit/16) at once.
  SpawnOptions o;
  o.argv = {VMRECLAIM_CLI,
            "demo",
            "--mode",
            "herd",
            "--processes",
            "3",
            "--unused-mib",
            "48",
            "--live-mib",
            "4",
            "--limit-headroom-mib",
            "2",
            "--squeeze",
            "limit",
            "--settle-seconds",
            "1",
            "--json"};
  auto child = Child::spawn(o);
  ASSERT_TRUE(child);
  std::string out, err;
  auto status = child->communicate(&out, &err, std::chrono::seconds(100));
  ASSERT_TRUE(status) << "timed out: " << err;
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_status(*status) << err;
  const json j = json::parse(out);
  ASSERT_EQ(j["runs"].size(), 1u) << "no --daemon: the no-daemon run only";
  EXPECT_NE(j["daemon_note"].get<std::string>().find("no --daemon"), std::string::npos);
  const json& r = j["runs"][0];
  ASSERT_TRUE(r["ok"].get<bool>()) << r["error"];
  const uint64_t limit = r["limit_bytes"], usage = r["usage_before_bytes"];
  EXPECT_GT(usage, limit - limit / 16) << "the squeeze puts usage above the high watermark";
  EXPECT_EQ(r["deficit_bytes"].get<uint64_t>(), usage - (limit - limit / 8));
  const uint64_t reclaimed = r["reclaimed_bytes"];
  EXPECT_GE(reclaimed, r["deficit_bytes"].get<uint64_t>()) << "the engines gave back at least the deficit";
  EXPECT_FALSE(r["relief_seconds"].is_null()) << "usage came back under the high watermark";
  EXPECT_EQ(r["oom_kills"], 0);
  // Each page given back faults in once when reused (a 1 MiB block is 256 pages).
  EXPECT_GE(r["minor_faults_after"].get<uint64_t>(), reclaimed / 4096);
  EXPECT_FALSE(r["points"].empty());
  // The cgroup is gone.
  EXPECT_NE(::stat(("/sys/fs/cgroup/memory/vmreclaim-herd-" + std::to_string(child->pid()) + "-0").c_str(), &st), 0);
}
TEST(HerdDemo, WithoutRootItSaysSoAndCreatesNothing) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  SpawnOptions o;
  o.argv = {VMRECLAIM_CLI, "demo", "--mode", "herd", "--processes", "2", "--unused-mib", "8"};
  o.as_uid = nobody_ids().first;
  auto child = Child::spawn(o);
  ASSERT_TRUE(child);
  std::string out, err;
  auto status = child->communicate(&out, &err, std::chrono::seconds(60));
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << describe_status(*status);
  EXPECT_NE(err.find("needs root"), std::string::npos) << err;
  struct stat st {};
  EXPECT_NE(::stat(("/sys/fs/cgroup/memory/vmreclaim-herd-" + std::to_string(child->pid()) + "-0").c_str(), &st), 0);
}

TEST(HerdDemo, BadOptionsAreRefusedBeforeAnythingStarts) {
  for (std::vector<std::string> bad : {std::vector<std::string>{"--squeeze", "sideways"},
                                       {"--processes", "0"},
                                       {"--poll-ms", "5"},
                                       {"--neighbour-rate", "-3"}}) {
    SpawnOptions o;
    o.argv = {VMRECLAIM_CLI, "demo", "--mode", "herd"};
    o.argv.insert(o.argv.end(), bad.begin(), bad.end());
    auto child = Child::spawn(o);
    ASSERT_TRUE(child);
    std::string out, err;
    auto status = child->communicate(&out, &err, std::chrono::seconds(60));
    ASSERT_TRUE(status);
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) >= 100) << bad[0] << ": " << err;
    EXPECT_NE(err.find(bad[0]), std::string::npos) << err;
    EXPECT_EQ(err.find("herd, limit squeeze"), std::string::npos) << "nothing ran";
  }
}
#endif  // VMRECLAIM_CLI

}  // namespace
}  // namespace vmreclaim::test
