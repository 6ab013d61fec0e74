// /proc/PID/maps parsing and ring location: fixtures for both ways the ring
// can be named, the live process's own maps, and garbage that must be skipped.
#include <gtest/gtest.h>
#include <mach/vm_reclaim_private.h>
#include <unistd.h>
#include <vmreclaim/ring.hpp>

#include <random>
#include <string>

#include "introspect/proc_maps.h"
#include "introspect/proc_reader.h"
#include "introspect/ring_locator.h"

namespace vmreclaim::introspect {
namespace {

TEST(ProcMaps, ParsesFieldsAndNamesWithSpaces) {
  const std::string maps =
      "55f5dd413000-55f5dd415000 r--p 00000000 fe:00 247134                     /usr/bin/cat\n"
      "7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n"
      "7f0000002000-7f0000003000 ---p 00001000 00:01 77   /memfd:vm_reclaim_ring (deleted)\n"
      "7ffc1000-7ffc2000 rw-p 00000000 00:00 0                          [stack]\n"
      "7f0000004000-7f0000005000 r-xp 00000000 fe:00 12 /opt/my app/lib x.so\n";
  auto m = parse_maps(maps);
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0].start, 0x55f5dd413000u);
  EXPECT_EQ(m[0].end, 0x55f5dd415000u);
  EXPECT_TRUE(m[0].readable);
  EXPECT_FALSE(m[0].writable);
  EXPECT_EQ(m[0].name, "/usr/bin/cat");
  EXPECT_EQ(m[1].name, "");
  EXPECT_FALSE(m[2].readable);
  EXPECT_EQ(m[2].offset, 0x1000u);
  EXPECT_EQ(m[2].name, "/memfd:vm_reclaim_ring (deleted)");
  EXPECT_EQ(m[3].name, "[stack]");
  EXPECT_EQ(m[4].name, "/opt/my app/lib x.so");
}

TEST(ProcMaps, SkipsMalformedLines) {
  const std::string maps =
      "7f0000001000-7f0000000000 rw-p 00000000 00:00 0 [anon:vm_reclaim_ring]\n"  // end before start
      "7f0000000000-7f0000001000 rw-p 00000000 00:00 [anon:vm_reclaim_ring]\n"    // no inode
      "7f0000000000 rw-p 00000000 00:00 0 [anon:vm_reclaim_ring]\n"               // no end
      "10000000000000000-10000000000000001 rw-p 0 00:00 0 x\n"                    // 17 hex digits
      "7f0000000000-7f0000001000 xy-p 00000000 00:00 0 x\n"                       // bad permissions
      "\n-\n \x01\xff\n"
      "1000-2000 rw-p 00000000 00:00 0 [anon:vm_reclaim_ring]";  // fine, even without a newline
  auto m = parse_maps(maps);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].start, 0x1000u);
  EXPECT_EQ(m[0].name, "[anon:vm_reclaim_ring]");
}

TEST(ProcMaps, SurvivesRandomGarbage) {
  std::mt19937_64 rng(42);
  const std::string alphabet = "0123456789abcdef- :rwxp[]/\n\t\x01\xfe";
  size_t lines = 0;
  for (int round = 0; round < 2000; round++) {
    std::string text(rng() % 300, ' ');
    for (char& c : text) c = alphabet[rng() % alphabet.size()];
    for (const Mapping& m : parse_maps(text)) {
      EXPECT_LT(m.start, m.end);
      lines++;
    }
    (void)locate_rings(parse_maps(text));
  }
  // Garbage must not look like mappings, except by rare accident.
  EXPECT_LT(lines, 20u);
}

TEST(RingLocator, MergesTheMemfdReservationFromOffsetZero) {
  const std::string maps =
      "7f0000000000-7f0000001000 rw-p 00000000 00:01 5 /memfd:vm_reclaim_ring (deleted)\n"
      "7f0000001000-7f0000010000 ---p 00001000 00:01 5 /memfd:vm_reclaim_ring (deleted)\n"
      "7f0000010000-7f0000011000 rw-p 00000000 00:00 0 \n"
      // A piece of a ring whose start was unmapped is not a ring.
      "7f0000020000-7f0000021000 ---p 00004000 00:01 6 /memfd:vm_reclaim_ring (deleted)\n"
      // A look-alike name is not a ring.
      "7f0000030000-7f0000031000 rw-p 00000000 00:01 7 /memfd:vm_reclaim_ring_other (deleted)\n";
  auto rings = locate_rings(parse_maps(maps));
  ASSERT_EQ(rings.size(), 1u);
  EXPECT_EQ(rings[0].addr, 0x7f0000000000u);
  EXPECT_EQ(rings[0].size, 0x10000u);
  EXPECT_EQ(rings[0].readable_bytes, 0x1000u);
}

TEST(RingLocator, MergesAdjacentAnonNamedMappings) {
  const std::string maps =
      "7f0000000000-7f0000002000 rw-p 00000000 00:00 0 [anon:vm_reclaim_ring]\n"
      "7f0000002000-7f0000008000 ---p 00000000 00:00 0 [anon:vm_reclaim_ring]\n"
      "7f0000009000-7f000000a000 rw-p 00000000 00:00 0 [anon:vm_reclaim_ring]\n";
  auto rings = locate_rings(parse_maps(maps));
  ASSERT_EQ(rings.size(), 2u);
  EXPECT_EQ(rings[0].addr, 0x7f0000000000u);
  EXPECT_EQ(rings[0].size, 0x8000u);
  EXPECT_EQ(rings[0].readable_bytes, 0x2000u);
  EXPECT_EQ(rings[1].addr, 0x7f0000009000u);
}

TEST(RingLocator, FindsThisProcesssRing) {
  auto ring = Ring::allocate(100, 5000);
  ASSERT_TRUE(ring) << ring.error().message();
  auto maps = read_proc_file(::getpid(), "maps");
  ASSERT_TRUE(maps);
  auto rings = locate_rings(parse_maps(*maps));
  ASSERT_EQ(rings.size(), 1u) << *maps;
  EXPECT_EQ(rings[0].addr, reinterpret_cast<uint64_t>(ring->native_handle()));
  // The whole reservation for 5000 entries, of which the live ring is readable.
  EXPECT_GE(rings[0].size, sizeof(mach_vm_reclaim_ring_s) + 5000 * sizeof(mach_vm_reclaim_entry_s));
  EXPECT_GE(rings[0].readable_bytes, sizeof(mach_vm_reclaim_ring_s) + 100 * sizeof(mach_vm_reclaim_entry_s));
  EXPECT_LT(rings[0].readable_bytes, rings[0].size);
  ring->reset();
  maps = read_proc_file(::getpid(), "maps");
  ASSERT_TRUE(maps);
  EXPECT_TRUE(locate_rings(parse_maps(*maps)).empty());
}

TEST(ProcReader, ReportsAMissingProcess) {
  errno = 0;
  EXPECT_FALSE(read_proc_file(0, "maps"));
  EXPECT_EQ(errno, ESRCH);
  EXPECT_FALSE(read_proc_file(INT32_MAX, "maps"));
  EXPECT_EQ(errno, ENOENT);
}

}  // namespace
}  // namespace vmreclaim::introspect
