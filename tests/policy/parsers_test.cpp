// Parsers of the files the policy reads, from fixtures and from garbage:
// a malformed file is rejected (nullopt), never half-read, never a crash.
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "platform/linux/cgroup.h"
#include "platform/linux/meminfo.h"
#include "platform/linux/proc_file.h"
#include "platform/linux/psi.h"

namespace vmreclaim::platform {
namespace {

std::string fixture(const char* name) {
  std::ifstream f(std::string(VMRECLAIM_POLICY_FIXTURES) + "/" + name);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(PsiParser, ReadsSomeAndFull) {
  auto r = parse_psi(fixture("psi_ok.txt"));
  ASSERT_TRUE(r);
  EXPECT_DOUBLE_EQ(r->some_avg10, 12.5);
  EXPECT_DOUBLE_EQ(r->some_avg60, 3.0);
  EXPECT_DOUBLE_EQ(r->full_avg10, 1.25);
}

TEST(PsiParser, FullLineIsOptional) {
  auto r = parse_psi("some avg10=0.50 avg60=0.00 avg300=0.00 total=1\n");
  ASSERT_TRUE(r);
  EXPECT_DOUBLE_EQ(r->full_avg10, 0.0);
}

TEST(PsiParser, RejectsMalformed) {
  for (const char* bad : {"", "\n", "full avg10=1.00 avg60=0.00 avg300=0.00 total=1\n",
                          "some avg10=abc avg60=0.00 avg300=0.00 total=1\n", "some avg10=1.00\n",
                          "some avg10=101.00 avg60=0.00 avg300=0.00 total=1\n",
                          "some avg10=1..0 avg60=0.00 avg300=0.00 total=1\n",
                          "some avg10=1.00 avg60=0.00 avg300=0.00 total=1\ngarbage\n"}) {
    EXPECT_FALSE(parse_psi(bad)) << bad;
  }
}

TEST(MeminfoParser, ReadsTotalAndAvailable) {
  auto m = parse_meminfo(fixture("meminfo_ok.txt"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->total, 24600000ull << 10);
  EXPECT_EQ(m->available, 2000000ull << 10);
}

TEST(MeminfoParser, RejectsMissingOrInconsistent) {
  EXPECT_FALSE(parse_meminfo("MemTotal: 100 kB\n"));
  EXPECT_FALSE(parse_meminfo("MemTotal: 100 kB\nMemAvailable: 200 kB\n"));
  EXPECT_FALSE(parse_meminfo("MemTotal: 0 kB\nMemAvailable: 0 kB\n"));
  EXPECT_FALSE(parse_meminfo("MemTotal: 100 MB\nMemAvailable: 50 kB\n"));
  EXPECT_FALSE(parse_meminfo("MemTotal: 99999999999999999999999 kB\nMemAvailable: 1 kB\n"));
}

TEST(ProcFile, KeyedValuesAndCgroupNumbers) {
  EXPECT_EQ(find_keyed_u64("total_inactive_file 4096\nx 1\n", "total_inactive_file", false), 4096u);
  EXPECT_FALSE(find_keyed_u64("inactive_file_x 1\n", "inactive_file", false));
  EXPECT_FALSE(find_keyed_u64("inactive_file 12abc\n", "inactive_file", false));
  EXPECT_EQ(parse_u64_field("max\n"), UINT64_MAX);
  EXPECT_EQ(parse_u64_field("1234\n"), 1234u);
  EXPECT_FALSE(parse_u64_field("-1\n"));
  EXPECT_FALSE(parse_u64_field("12 34\n"));
  EXPECT_FALSE(parse_u64_field(""));
  EXPECT_EQ(normalize_v1_limit(9223372036854771712ull), UINT64_MAX);
  EXPECT_EQ(normalize_v1_limit(64ull << 20), 64ull << 20);
}

TEST(CgroupLocator, HybridLayoutUsesTheV1MemoryHierarchy) {
  auto loc = locate_memory_cgroup(fixture("cgroup_hybrid.txt"), fixture("mountinfo_hybrid.txt"));
  ASSERT_TRUE(loc);
  EXPECT_EQ(loc->version, 1);
  EXPECT_EQ(loc->dir, "/sys/fs/cgroup/memory/process_api/af52");
}

TEST(CgroupLocator, UnifiedOnly) {
  auto loc = locate_memory_cgroup("0::/user.slice/app\n",
                                  "40 1 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
  ASSERT_TRUE(loc);
  EXPECT_EQ(loc->version, 2);
  EXPECT_EQ(loc->dir, "/sys/fs/cgroup/user.slice/app");
}

TEST(CgroupLocator, ContainerMountedAtItsOwnRoot) {
  auto loc = locate_memory_cgroup("0::/docker/abc\n", "40 1 0:38 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
  ASSERT_TRUE(loc);
  EXPECT_EQ(loc->dir, "/sys/fs/cgroup");
}

TEST(CgroupLocator, RejectsGarbageAndEscapes) {
  EXPECT_FALSE(locate_memory_cgroup("", ""));
  EXPECT_FALSE(locate_memory_cgroup("garbage\n::\n", "nonsense - - -\n"));
  EXPECT_FALSE(locate_memory_cgroup("4:memory:/../../etc\n", fixture("mountinfo_hybrid.txt")));
  EXPECT_FALSE(locate_memory_cgroup("4:memory:/a\n", "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"));
}

TEST(Parsers, SurviveRandomBytes) {
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; i++) {
    std::string s(rng() % 300, '\0');
    for (char& c : s) c = "some avg10=.0123456789 full\n:kBMemTotalAvailable-/"[rng() % 48];
    (void)parse_psi(s);
    (void)parse_meminfo(s);
    (void)locate_memory_cgroup(s, s);
    (void)find_keyed_u64(s, "MemTotal", true);
  }
  SUCCEED();
}

}  // namespace
}  // namespace vmreclaim::platform
