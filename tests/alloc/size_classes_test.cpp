#include "size_classes.h"

#include <gtest/gtest.h>

namespace vmreclaim::alloc {
namespace {

TEST(SizeClasses, ExactBelowSixteenPagesThenEightPerDoubling) {
  for (uint32_t i = 0; i < kExactClasses; i++) EXPECT_EQ(class_bytes(i), (i + 1) * kPageSize);
  EXPECT_EQ(class_bytes(15), 16 * kPageSize);
  EXPECT_EQ(class_bytes(16), 18 * kPageSize);
  EXPECT_EQ(class_bytes(23), 32 * kPageSize);
  for (uint32_t i = 1; i < kClassCount; i++) {
    ASSERT_GT(class_bytes(i), class_bytes(i - 1)) << i;
    // At most 12.5% between neighbours past the exact classes.
    if (i > kExactClasses) {
      ASSERT_LE(class_bytes(i) * 8, class_bytes(i - 1) * 9) << i;
    }
  }
  // The largest class still fits a ring entry's 32-bit size.
  EXPECT_LE(class_bytes(kClassCount - 1), uint64_t{UINT32_MAX});
}

TEST(SizeClasses, FloorAndCeilBracketEverySize) {
  for (size_t bytes = kPageSize; bytes < (64u << 20); bytes = bytes * 17 / 16 + 1) {
    uint32_t f = class_floor(bytes), c = class_ceil(bytes);
    ASSERT_LT(c, kClassCount);
    EXPECT_LE(class_bytes(f), bytes) << bytes;
    EXPECT_GE(class_bytes(c), bytes) << bytes;
    if (f + 1 < kClassCount) {
      EXPECT_GT(class_bytes(f + 1), bytes) << bytes;
    }
    if (c > 0) {
      EXPECT_LT(class_bytes(c - 1), bytes) << bytes;
    }
  }
}

TEST(SizeClasses, CapacityIsTheClassOrWholePagesBeyondThem) {
  EXPECT_EQ(capacity_for(1), kPageSize);
  EXPECT_EQ(capacity_for(128 * 1024), 128 * 1024u);
  EXPECT_EQ(capacity_for(128 * 1024 + 1), 144 * 1024u);  // 36 pages: 9 << 2
  const size_t beyond = class_bytes(kClassCount - 1) + 3 * kPageSize + 5;
  EXPECT_EQ(capacity_for(beyond), round_to_pages(beyond));
  EXPECT_EQ(class_floor(size_t{1} << 40), kClassCount);
  EXPECT_EQ(capacity_for(SIZE_MAX), 0u);
}

}  // namespace
}  // namespace vmreclaim::alloc
