// The footprint parser (anonymous + shmem resident + swapped, from
// /proc/PID/status text): real-looking fixtures, malformed ones give
// nullopt, and no input (truncated, scribbled, binary) can crash it.
#include "platform/linux/footprint.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

namespace vmreclaim::test {
namespace {

using vmreclaim::platform::parse_status_footprint;

// Shaped like /proc/self/status on Linux 6.x.
const std::string kStatus =
    "Name:\tcat\n"
    "Umask:\t0022\n"
    "State:\tR (running)\n"
    "Tgid:\t4242\n"
    "Pid:\t4242\n"
    "VmPeak:\t    8624 kB\n"
    "VmSize:\t    8624 kB\n"
    "VmLck:\t       0 kB\n"
    "VmHWM:\t    1024 kB\n"
    "VmRSS:\t    1024 kB\n"
    "RssAnon:\t      96 kB\n"
    "RssFile:\t     928 kB\n"
    "RssShmem:\t      12 kB\n"
    "VmData:\t     360 kB\n"
    "VmSwap:\t       4 kB\n"
    "HugetlbPages:\t       0 kB\n"
    "Threads:\t1\n"
    "voluntary_ctxt_switches:\t0\n";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  size_t pos = s.find(from);
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

TEST(Footprint, SumsAnonShmemAndSwap) { EXPECT_EQ(parse_status_footprint(kStatus), uint64_t{96 + 12 + 4} << 10); }

TEST(Footprint, MissingOptionalFieldsCountAsZero) {
  std::string s = replace(kStatus, "RssShmem:\t      12 kB\n", "");
  s = replace(s, "VmSwap:\t       4 kB\n", "");
  EXPECT_EQ(parse_status_footprint(s), uint64_t{96} << 10);
  EXPECT_EQ(parse_status_footprint("RssAnon:\t1 kB"), 1024u) << "no final newline";
}

TEST(Footprint, RssFileAndLookalikeKeysDoNotCount) {
  EXPECT_EQ(parse_status_footprint("RssAnonymous:\t5 kB\nRssAnon:\t1 kB\n"), 1024u);
  EXPECT_EQ(parse_status_footprint("XRssAnon:\t5 kB\n"), std::nullopt);
  EXPECT_EQ(parse_status_footprint("RssFile:\t5 kB\n"), std::nullopt);
}

TEST(Footprint, MalformedGivesNullopt) {
  const std::string bad[] = {
      "", "\n\n\n", replace(kStatus, "RssAnon:\t      96 kB\n", ""),  // no RssAnon
      replace(kStatus, "RssAnon:\t      96 kB", "RssAnon:\t  abc kB"),
      replace(kStatus, "RssAnon:\t      96 kB", "RssAnon:\t      96 MB"),
      replace(kStatus, "RssAnon:\t      96 kB", "RssAnon:\t      96"),
      replace(kStatus, "RssAnon:\t      96 kB", "RssAnon:\t      96kB"),
      replace(kStatus, "RssAnon:\t      96 kB", "RssAnon:\t      -96 kB"),
      replace(kStatus, "RssAnon:\t      96 kB", "RssAnon:"), replace(kStatus, "RssAnon:\t      96 kB", "RssAnon:\t"),
      replace(kStatus, "RssAnon:\t      96 kB", "RssAnon:\t99999999999999999999999 kB"),
      replace(kStatus, "RssAnon:\t      96 kB", "RssAnon:\t18014398509481984 kB"),  // 2^54 kB: overflows bytes
      // Present but malformed optional fields spoil the reading rather than lowering it.
      replace(kStatus, "RssShmem:\t      12 kB", "RssShmem:\t  twelve kB"),
      replace(kStatus, "VmSwap:\t       4 kB", "VmSwap:\t       4 pages"),
      "RssAnon:\t18014398509481983 kB\nVmSwap:\t18014398509481983 kB\n",  // the sum overflows
  };
  for (const std::string& s : bad) EXPECT_EQ(parse_status_footprint(s), std::nullopt) << s;
}

TEST(Footprint, EveryTruncationIsSafe) {
  // A read cut short anywhere gives a value or nullopt, never a crash or a
  // value from a half-read number.
  for (size_t n = 0; n <= kStatus.size(); n++) {
    const std::string cut = kStatus.substr(0, n);
    auto v = parse_status_footprint(cut);
    if (v) {
      EXPECT_GE(*v, uint64_t{96} << 10) << n;
      EXPECT_LE(*v, uint64_t{96 + 12 + 4} << 10) << n;
    }
  }
}

TEST(Footprint, ScribbledInputIsSafe) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 2000; round++) {
    std::string s = kStatus;
    const int flips = 1 + round % 8;
    for (int i = 0; i < flips; i++) s[static_cast<size_t>(rng()) % s.size()] = static_cast<char>(byte(rng));
    (void)parse_status_footprint(s);
    std::string noise(static_cast<size_t>(rng() % 64), '\0');
    for (char& c : noise) c = static_cast<char>(byte(rng));
    (void)parse_status_footprint("RssAnon:" + noise);
  }
  SUCCEED();
}

TEST(Footprint, ThisProcessHasOne) {
  vmreclaim::platform::ProcFootprint fp;
  auto v = fp.footprint_bytes();
  ASSERT_TRUE(v.has_value());
  EXPECT_GT(*v, 0u);
  EXPECT_EQ(*v % 1024, 0u);
}

}  // namespace
}  // namespace vmreclaim::test
