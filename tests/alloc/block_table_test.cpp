#include "block_table.h"

#include "size_classes.h"

#include <gtest/gtest.h>

#include <vector>

namespace vmreclaim::alloc {
namespace {

TEST(BlockTable, FindsEveryInsertedBlockAcrossGrowthAndErase) {
  OsPages os;
  BlockTable t(os);
  std::vector<Block*> blocks;
  for (uintptr_t i = 1; i <= 5000; i++) {
    Block* b = t.insert(i * kPageSize * 3, kPageSize);
    ASSERT_NE(b, nullptr);
    blocks.push_back(b);
  }
  EXPECT_EQ(t.size(), 5000u);
  for (uintptr_t i = 1; i <= 5000; i++) ASSERT_EQ(t.find(i * kPageSize * 3), blocks[i - 1]);
  EXPECT_EQ(t.find(kPageSize), nullptr);
  for (size_t i = 0; i < blocks.size(); i += 2) t.erase(blocks[i]);
  EXPECT_EQ(t.size(), 2500u);
  for (uintptr_t i = 1; i <= 5000; i++) {
    Block* want = i % 2 == 1 ? nullptr : blocks[i - 1];
    ASSERT_EQ(t.find(i * kPageSize * 3), want) << i;
  }
}

TEST(BlockTable, RekeyAndDetachMoveTheRecord) {
  OsPages os;
  BlockTable t(os);
  Block* b = t.insert(0x10000, 2 * kPageSize);
  t.rekey(b, 0x40000);
  EXPECT_EQ(t.find(0x10000), nullptr);
  EXPECT_EQ(t.find(0x40000), b);
  t.detach(b);
  EXPECT_EQ(t.find(0x40000), nullptr);
  EXPECT_EQ(t.size(), 0u);
  b->addr = 0x80000;
  t.attach(b);
  EXPECT_EQ(t.find(0x80000), b);
  EXPECT_EQ(b->capacity, 2 * kPageSize);
}

}  // namespace
}  // namespace vmreclaim::alloc
