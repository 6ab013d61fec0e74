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

// Interior pointers are found by address order: the block whose range holds
// the address, whatever order blocks were inserted, moved or erased in.
TEST(BlockTable, ContainingFindsTheBlockAroundAnAddress) {
  OsPages os;
  BlockTable t(os);
  std::vector<Block*> blocks(2000);
  // Inserted in a scrambled order; block i spans [i*8 pages, i*8 + 1 + i%4 pages).
  for (uintptr_t k = 0; k < blocks.size(); k++) {
    const uintptr_t i = (k * 7919) % blocks.size() + 1;
    blocks[i - 1] = t.insert(i * 8 * kPageSize, (1 + i % 4) * kPageSize);
    ASSERT_NE(blocks[i - 1], nullptr);
  }
  for (uintptr_t i = 1; i <= blocks.size(); i++) {
    const uintptr_t start = i * 8 * kPageSize, end = start + (1 + i % 4) * kPageSize;
    ASSERT_EQ(t.containing(start), blocks[i - 1]) << i;
    ASSERT_EQ(t.containing(start + 16), blocks[i - 1]) << i;
    ASSERT_EQ(t.containing(end - 1), blocks[i - 1]) << i;
    ASSERT_EQ(t.containing(end), nullptr) << i;  // the gap after it
    ASSERT_EQ(t.containing(start - 1), nullptr) << i;
  }
  EXPECT_EQ(t.containing(0), nullptr);
  for (size_t i = 0; i < blocks.size(); i += 3) t.erase(blocks[i]);
  t.rekey(blocks[1], 1u << 30);
  t.detach(blocks[4]);
  for (uintptr_t i = 1; i <= blocks.size(); i++) {
    const Block* want = (i - 1) % 3 == 0 || i == 2 || i == 5 ? nullptr : blocks[i - 1];
    ASSERT_EQ(t.containing(i * 8 * kPageSize + 100), want) << i;
  }
  EXPECT_EQ(t.containing((1u << 30) + kPageSize + 5), blocks[1]);
  blocks[4]->addr = 1u << 31;
  t.attach(blocks[4]);
  EXPECT_EQ(t.containing((1u << 31) + 5), blocks[4]);
}

}  // namespace
}  // namespace vmreclaim::alloc
