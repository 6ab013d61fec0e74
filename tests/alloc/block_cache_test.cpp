#include "block_cache.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>

#include "fake_ring.h"

namespace vmreclaim::alloc {
namespace {

using test::FakeRing;

class BlockCacheTest : public ::testing::Test {
 protected:
  Block* map_block(size_t bytes) {
    void* p = os_.map(bytes);
    EXPECT_NE(p, nullptr);
    Block* b = table_.insert(reinterpret_cast<uintptr_t>(p), bytes);
    b->dirty = true;
    return b;
  }
  void TearDown() override {
    // Every block still known is unmapped, cached or not.
    for (Block* b : mapped_) os_.unmap(reinterpret_cast<void*>(b->addr), b->capacity);
  }
  Block* tracked(size_t bytes) {
    Block* b = map_block(bytes);
    mapped_.push_back(b);
    return b;
  }

  OsPages os_;
  BlockTable table_{os_};
  FakeRing ring_;
  BlockCache cache_{ring_, table_, 64u << 20};
  std::vector<Block*> mapped_;
};

TEST_F(BlockCacheTest, UnreclaimedBlockComesBackIntactWithoutAnyMapping) {
  Block* b = tracked(256 * 1024);
  std::memset(reinterpret_cast<void*>(b->addr), 0x5a, b->capacity);
  bool update = false;
  ASSERT_EQ(cache_.put(b, &update), BlockCache::PutResult::cached);
  EXPECT_EQ(cache_.cached_bytes(), b->capacity);
  EXPECT_EQ(ring_.entries(), 1u);

  Block* got = cache_.take(200 * 1024, kPageSize, &update);
  ASSERT_EQ(got, b);
  EXPECT_EQ(got->state, BlockState::live);
  EXPECT_TRUE(got->dirty);  // a calloc must clear it
  EXPECT_EQ(static_cast<unsigned char*>(reinterpret_cast<void*>(got->addr))[4096], 0x5a);
  EXPECT_EQ(cache_.counters().hits_intact, 1u);
  EXPECT_EQ(cache_.cached_bytes(), 0u);
  EXPECT_EQ(ring_.entries(), 0u);
  EXPECT_EQ(os_.counters().maps.load(), 1u);
}

// FREED says the pages were released, not that they are zero (MADV_FREE
// keeps the bytes until memory pressure): the block is marked released so
// that calloc clears what is still resident.
TEST_F(BlockCacheTest, FreedBlockIsReusedAndMarkedReleased) {
  Block* b = tracked(512 * 1024);
  std::memset(reinterpret_cast<void*>(b->addr), 0x77, b->capacity);
  bool update = false;
  ASSERT_EQ(cache_.put(b, &update), BlockCache::PutResult::cached);
  ring_.reclaim_all();
  Block* got = cache_.take(512 * 1024, kPageSize, &update);
  ASSERT_EQ(got, b);
  EXPECT_TRUE(got->released);
  // This fake released them with MADV_DONTNEED: zero.
  const auto* bytes = reinterpret_cast<const unsigned char*>(got->addr);
  for (size_t i = 0; i < got->capacity; i += 1024) ASSERT_EQ(bytes[i], 0) << i;
  EXPECT_EQ(cache_.counters().hits_zeroed, 1u);
}

TEST_F(BlockCacheTest, BusyBlockIsSkippedAndStaysCached) {
  Block* b = tracked(256 * 1024);
  bool update = false;
  ASSERT_EQ(cache_.put(b, &update), BlockCache::PutResult::cached);
  ring_.set_state_all(VM_RECLAIM_BUSY);
  EXPECT_EQ(cache_.take(256 * 1024, kPageSize, &update), nullptr);
  EXPECT_EQ(cache_.counters().busy_skips, 1u);
  EXPECT_EQ(cache_.cached_blocks(), 1u);
  ring_.set_state_all(VM_RECLAIM_FREED);
  EXPECT_EQ(cache_.take(256 * 1024, kPageSize, &update), b);
}

TEST_F(BlockCacheTest, DeallocatedBlockIsForgotten) {
  Block* b = map_block(256 * 1024);
  const auto addr = b->addr;
  bool update = false;
  ASSERT_EQ(cache_.put(b, &update), BlockCache::PutResult::cached);
  ring_.set_state_all(VM_RECLAIM_DEALLOCATED);
  EXPECT_EQ(cache_.take(256 * 1024, kPageSize, &update), nullptr);
  EXPECT_EQ(cache_.counters().lost, 1u);
  EXPECT_EQ(table_.find(addr), nullptr);
  os_.unmap(reinterpret_cast<void*>(addr), 256 * 1024);
}

TEST_F(BlockCacheTest, OnlyBlocksUpToTwiceTheRequestAndOfTheRightAlignmentFit) {
  Block* big = tracked(4u << 20);
  bool update = false;
  ASSERT_EQ(cache_.put(big, &update), BlockCache::PutResult::cached);
  EXPECT_EQ(cache_.take(1u << 20, kPageSize, &update), nullptr);  // 4x: too wasteful
  EXPECT_EQ(cache_.take(5u << 20, kPageSize, &update), nullptr);  // too small
  const size_t align = big->addr % (1u << 21) == 0 ? (1u << 22) : (1u << 21);
  if (big->addr % align != 0) {
    EXPECT_EQ(cache_.take(3u << 20, align, &update), nullptr);
  }
  EXPECT_EQ(cache_.take(3u << 20, kPageSize, &update), big);
}

TEST_F(BlockCacheTest, EvictionTakesTheOldestBlocksFirst) {
  BlockCache small{ring_, table_, 1u << 20};
  Block* a = tracked(512 * 1024);
  Block* b = tracked(512 * 1024);
  bool update = false;
  ASSERT_EQ(small.put(a, &update), BlockCache::PutResult::cached);
  ASSERT_EQ(small.put(b, &update), BlockCache::PutResult::cached);
  Block* out[4];
  ASSERT_EQ(small.evict_for(256 * 1024, out, 4, &update), 1u);
  EXPECT_EQ(out[0], a);
  EXPECT_EQ(small.cached_bytes(), 512 * 1024u);
  EXPECT_EQ(small.counters().evictions, 1u);
  // A block larger than the whole cap is never cached.
  Block* huge = tracked(2u << 20);
  EXPECT_EQ(small.put(huge, &update), BlockCache::PutResult::rejected);
}

TEST_F(BlockCacheTest, AFullRingIsReportedSoTheHeapCanMakeRoom) {
  ring_.capacity = 1;
  Block* a = tracked(256 * 1024);
  Block* b = tracked(256 * 1024);
  bool update = false;
  ASSERT_EQ(cache_.put(a, &update), BlockCache::PutResult::cached);
  EXPECT_EQ(cache_.put(b, &update), BlockCache::PutResult::ring_full);
  EXPECT_EQ(b->state, BlockState::live);
}

}  // namespace
}  // namespace vmreclaim::alloc
