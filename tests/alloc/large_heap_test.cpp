#include "large_heap.h"

#include <gtest/gtest.h>

#include <sys/mman.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fake_ring.h"
#include "process_ring.h"
#include "smaps.h"

namespace vmreclaim::alloc {
namespace {

using test::FakeRing;

bool all_zero(const void* p, size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i++) {
    if (b[i] != 0) return false;
  }
  return true;
}

// A mapping of this process from /proc/self/maps (what the kernel says is
// mapped, not what the heap believes).
struct Mapping {
  uintptr_t lo = 0, hi = 0;
  std::string perms;
};
std::vector<Mapping> mappings() {
  std::vector<Mapping> out;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    unsigned long long a = 0, b = 0;
    char perms[8] = {};
    if (std::sscanf(line.c_str(), "%llx-%llx %7s", &a, &b, perms) != 3) continue;
    out.push_back({static_cast<uintptr_t>(a), static_cast<uintptr_t>(b), perms});
  }
  return out;
}

// Whether any memory the program could use (readable or writable) overlaps
// [lo, hi): a block given back leaves only the range's reservation there.
bool anything_mapped(uintptr_t lo, uintptr_t hi) {
  for (const Mapping& m : mappings()) {
    if (m.lo < hi && lo < m.hi && m.perms.rfind("---", 0) != 0) return true;
  }
  return false;
}

// Whether all of [lo, hi) is mapped (usable or reserved): no hole.
bool no_hole(uintptr_t lo, uintptr_t hi) {
  uintptr_t at = lo;
  for (const Mapping& m : mappings()) {
    if (m.lo <= at && at < m.hi) at = m.hi;
  }
  return at >= hi;
}

class LargeHeapTest : public ::testing::Test {
 protected:
  OsPages os_;
  FakeRing ring_;
  LargeHeap heap_{os_, ring_, 256u << 20};
};

TEST_F(LargeHeapTest, FreedBlockIsReusedWithoutANewMapping) {
  void* p = heap_.allocate(300 * 1024, kPageSize, false);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kPageSize, 0u);
  std::memset(p, 1, 300 * 1024);
  ASSERT_TRUE(heap_.free(p));
  void* q = heap_.allocate(290 * 1024, kPageSize, false);
  EXPECT_EQ(q, p);
  HeapSnapshot s = heap_.snapshot();
  EXPECT_EQ(s.heap.fresh_maps, 1u);
  EXPECT_EQ(s.cache.hits_intact, 1u);
  EXPECT_EQ(os_.counters().maps.load(), 1u);
  ASSERT_TRUE(heap_.free(q));
}

TEST_F(LargeHeapTest, CallocOnAReusedBlockReadsAsZero) {
  const size_t n = 1u << 20;
  void* p = heap_.allocate(n, kPageSize, false);
  std::memset(p, 0xee, n);
  heap_.free(p);
  void* q = heap_.allocate(n, kPageSize, true);  // intact reuse: must be cleared
  ASSERT_EQ(q, p);
  EXPECT_TRUE(all_zero(q, n));
  std::memset(q, 0xdd, n);
  heap_.free(q);
  ring_.reclaim_all();  // FREED reuse: already zero
  void* r = heap_.allocate(n, kPageSize, true);
  ASSERT_EQ(r, p);
  EXPECT_TRUE(all_zero(r, n));
  EXPECT_EQ(heap_.snapshot().cache.hits_zeroed, 1u);
  heap_.free(r);
}

// MADV_FREE leaves the bytes in place until memory pressure: a block taken
// back FREED is not zero, and calloc must clear what is still resident.
TEST_F(LargeHeapTest, CallocOnABlockReleasedWithMadvFreeReadsAsZero) {
  const size_t n = 1u << 20;
  auto* p = static_cast<unsigned char*>(heap_.allocate(n, kPageSize, false));
  std::memset(p, 0xee, n);
  heap_.free(p);
  ring_.reclaim_all(MADV_FREE);
  ASSERT_EQ(p[n / 2], 0xee);  // still there: no memory pressure
  void* q = heap_.allocate(n, kPageSize, true);
  ASSERT_EQ(q, p);
  EXPECT_TRUE(all_zero(q, n));
  EXPECT_EQ(heap_.snapshot().cache.hits_zeroed, 1u);
  heap_.free(q);
}

TEST_F(LargeHeapTest, PointersItDoesNotOwnAreLeftToTheSystemAllocator) {
  alignas(4096) static char not_ours[4096];
  EXPECT_FALSE(heap_.free(not_ours));
  EXPECT_FALSE(heap_.free(not_ours + 16));
  EXPECT_EQ(heap_.usable_size(not_ours), 0u);
  bool ours = true;
  EXPECT_EQ(heap_.reallocate(not_ours, 1u << 20, &ours), nullptr);
  EXPECT_FALSE(ours);
}

// Any pointer into the heap's range that is not a live block's start is
// misuse, whatever the allocator underneath: the range holds nothing else.
TEST_F(LargeHeapTest, APointerIntoTheRangeThatNoBlockHoldsIsMisuse) {
  auto* p = static_cast<char*>(heap_.allocate(1u << 20, kPageSize, false));
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(os_.owns(p - (64u << 20)));  // blocks are placed from the top down
  EXPECT_DEATH(heap_.free(p - (64u << 20)), "vmreclaim-malloc: free of unmapped memory");
  EXPECT_DEATH(heap_.free(p + 16), "vmreclaim-malloc: free of interior pointer");
  EXPECT_DEATH(heap_.usable_size(p + 4096 + 8), "malloc_usable_size of interior pointer");
  bool ours = false;
  EXPECT_DEATH(heap_.reallocate(p - (64u << 20), 2u << 20, &ours), "realloc of unmapped memory");
  // A page-aligned pointer outside the range is the backend's.
  void* other = mmap(nullptr, kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(other, MAP_FAILED);
  EXPECT_FALSE(heap_.free(other));
  ASSERT_EQ(munmap(other, kPageSize), 0);
  EXPECT_FALSE(heap_.free(other));
  heap_.free(p);
}

// The range hands out the highest free part that fits, at its top (as the
// kernel places mappings), and merges what is handed back with its free
// neighbours and the free bottom.
TEST(AddressRangeTest, HighestFitAndMergesWhatIsGivenBack) {
  AddressRange r;
  ASSERT_TRUE(r.reserve(size_t{1} << 30, AddressRange::Placement::anywhere));
  const uintptr_t end = r.base() + r.bytes();
  const size_t mib = 1u << 20;
  const uintptr_t a = r.take(mib, kPageSize);
  const uintptr_t b = r.take(2 * mib, kPageSize);
  const uintptr_t c = r.take(mib, kPageSize);
  EXPECT_EQ(a, end - mib);
  EXPECT_EQ(b, end - 3 * mib);
  EXPECT_EQ(c, end - 4 * mib);
  r.give(b, 2 * mib);
  EXPECT_EQ(r.take(mib, kPageSize), b + mib);  // the freed part's top, not the bottom
  r.give(b + mib, mib);
  r.give(a, mib);  // merges with [b, b + 2 MiB): one part of 3 MiB
  EXPECT_EQ(r.take(3 * mib, kPageSize), b);
  EXPECT_FALSE(r.take_at(c, mib));  // taken
  r.give(c, mib);
  EXPECT_TRUE(r.take_at(c, mib));  // free again (merged into the bottom)
  // Aligned: the gap above stays free and is used first afterwards.
  const uintptr_t d = r.take(mib, size_t{64} << 20);
  EXPECT_EQ(d % (size_t{64} << 20), 0u);
  EXPECT_LT(d, c);
  EXPECT_EQ(r.take(mib, kPageSize), c - mib);
  EXPECT_EQ(r.take(size_t{2} << 30, kPageSize), 0u);  // larger than the range
  EXPECT_EQ(r.lost_bytes(), 0u);
}

// The process's range lies in the window free() tests with constants.
TEST(AddressRangeTest, TheProcessRangeLiesInTheWindow) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer's shadow memory is in the window (it aborts the process on a mapping there)";
#else
  AddressRange* r = process_range();
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(in_window(reinterpret_cast<void*>(r->base())));
  EXPECT_TRUE(in_window(reinterpret_cast<void*>(r->base() + r->bytes() - 1)));
  EXPECT_GE(r->bytes(), size_t{64} << 30);
  EXPECT_FALSE(anything_mapped(r->base(), r->base() + r->bytes()));  // nothing taken in this process
#endif
}

// A block given back leaves the range's reservation in its place: no hole
// another mapping could take, and no memory.
TEST(OsPagesTest, AnUnmappedBlockLeavesTheReservationNoHole) {
  OsPages os;
  const size_t n = 9u << 20;
  auto* p = static_cast<char*>(os.map(n));
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(os.owns(p));
  std::memset(p, 1, n);
  const auto a = reinterpret_cast<uintptr_t>(p);
  EXPECT_TRUE(anything_mapped(a, a + n));
  ASSERT_EQ(os.unmap(p, n), 0);
  EXPECT_FALSE(anything_mapped(a, a + n));
  EXPECT_TRUE(no_hole(a, a + n));
  EXPECT_TRUE(os.owns(p));
  EXPECT_EQ(os.map(n), p);  // its addresses are free again
}

// Growing: in place while the range after the block is free; moved within
// the range (pages, not bytes) when another block sits there. The old place
// is reserved again either way.
TEST(OsPagesTest, RemapGrowsInPlaceOrMovesWithinTheRange) {
  OsPages os;
  const size_t n = 1u << 20;
  auto* above = static_cast<unsigned char*>(os.map(8 * n));
  auto* p = static_cast<unsigned char*>(os.map(n));
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p + n, above);  // from the top down
  ASSERT_EQ(os.unmap(above, 8 * n), 0);
  for (size_t i = 0; i < n; i++) p[i] = static_cast<unsigned char>(i * 5);
  auto* q = static_cast<unsigned char*>(os.remap(p, n, 4 * n));
  ASSERT_EQ(q, p);  // in place, into the free part above
  q[4 * n - 1] = 1;
  auto* filler = static_cast<unsigned char*>(os.map(5 * n));
  ASSERT_EQ(filler, q + 4 * n);  // the rest of that part
  auto* r = static_cast<unsigned char*>(os.remap(q, 4 * n, 8 * n));
  ASSERT_NE(r, nullptr);
  EXPECT_NE(r, q);
  EXPECT_TRUE(os.owns(r));
  for (size_t i = 0; i < n; i++) ASSERT_EQ(r[i], static_cast<unsigned char>(i * 5)) << i;
  r[8 * n - 1] = 1;
  const auto old = reinterpret_cast<uintptr_t>(q);
  EXPECT_FALSE(anything_mapped(old, old + 4 * n));
  EXPECT_TRUE(no_hole(old, old + 4 * n));
  // Shrinking gives the tail back.
  EXPECT_EQ(os.remap(r, 8 * n, 2 * n), r);
  const auto tail = reinterpret_cast<uintptr_t>(r) + 2 * n;
  EXPECT_FALSE(anything_mapped(tail, tail + 6 * n));
  EXPECT_EQ(os.unmap(r, 2 * n), 0);
  EXPECT_EQ(os.unmap(filler, 5 * n), 0);
}

// Blocks of 2 MiB and more are advised for transparent huge pages when the
// layer asks for them (VMRECLAIM_MALLOC_HUGEPAGES, on by default): one fault
// per 2 MiB. Smaller blocks are not; a block growing past 2 MiB gets the
// advice, in place or moved, and stays one mapping.
TEST(OsPagesTest, BlocksOfTwoMiBAndMoreAreAdvisedForHugePages) {
  using test::smaps_of;
  const size_t mib = 1u << 20;
  OsPages os(size_t{16} << 30, /*huge_pages=*/true);
  auto* above = static_cast<char*>(os.map(8 * mib));
  auto* small = static_cast<char*>(os.map(mib));
  ASSERT_NE(above, nullptr);
  ASSERT_EQ(small + mib, above);  // from the top down
  if (os.counters().hugepage_refusals.load() != 0) GTEST_SKIP() << "this kernel refuses MADV_HUGEPAGE (no THP)";
  EXPECT_TRUE(smaps_of(above).huge_advised);
  EXPECT_FALSE(smaps_of(small).huge_advised);
  if (test::huge_pages_on_advice()) {
    // Writing the block faults in huge pages where it holds whole aligned
    // 2 MiB parts (an 8 MiB block holds at least three), unless the kernel
    // has none to give (fragmented memory: it counts a fallback).
    const unsigned long long fallbacks = test::thp_fault_fallbacks();
    std::memset(above, 1, 8 * mib);
    if (test::thp_fault_fallbacks() == fallbacks) {
      EXPECT_GE(smaps_of(above).anon_huge_kb, 2048u) << "no huge page backs an advised, written 8 MiB block";
    }
  }
  ASSERT_EQ(os.unmap(above, 8 * mib), 0);
  // Growing in place past 2 MiB, into the free part above.
  std::memset(small, 7, mib);
  auto* grown = static_cast<char*>(os.remap(small, mib, 3 * mib));
  ASSERT_EQ(grown, small);
  test::SmapsEntry g = smaps_of(grown);
  EXPECT_TRUE(g.huge_advised);
  EXPECT_LE(g.lo, reinterpret_cast<uintptr_t>(grown));
  EXPECT_GE(g.hi, reinterpret_cast<uintptr_t>(grown) + 3 * mib);  // one mapping
  // Moved when another block sits above: the moved pages and the new part
  // (a mapping of its own: moved pages keep their page offset, so the
  // kernel merges nothing) are both advised.
  auto* filler = static_cast<char*>(os.map(6 * mib));  // the rest of that part
  ASSERT_EQ(filler, grown + 3 * mib);
  auto* moved = static_cast<char*>(os.remap(grown, 3 * mib, 6 * mib));
  ASSERT_NE(moved, nullptr);
  ASSERT_NE(moved, grown);
  EXPECT_EQ(moved[mib - 1], 7);
  EXPECT_TRUE(smaps_of(moved).huge_advised);
  EXPECT_TRUE(smaps_of(moved + 6 * mib - 1).huge_advised);
  EXPECT_EQ(os.unmap(moved, 6 * mib), 0);
  EXPECT_EQ(os.unmap(filler, 6 * mib), 0);
  // Without the setting nothing is advised.
  OsPages plain;
  auto* p = static_cast<char*>(plain.map(8 * mib));
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(smaps_of(p).huge_advised);
  EXPECT_EQ(plain.unmap(p, 8 * mib), 0);
}

TEST_F(LargeHeapTest, DoubleFreeIsReportedAndAborts) {
  void* p = heap_.allocate(200 * 1024, kPageSize, false);
  heap_.free(p);
  EXPECT_DEATH(heap_.free(p), "vmreclaim-malloc: double free of large block");
  EXPECT_DEATH(heap_.usable_size(p), "after free");
}

TEST_F(LargeHeapTest, ReallocKeepsContentsGrowingAndShrinking) {
  const size_t n = 250 * 1024;  // capacity: 256 KiB
  auto* p = static_cast<unsigned char*>(heap_.allocate(n, kPageSize, false));
  for (size_t i = 0; i < n; i++) p[i] = static_cast<unsigned char>(i * 7);
  bool ours = false;
  // Within its capacity: same block.
  EXPECT_EQ(heap_.reallocate(p, n + 4000, &ours), p);
  EXPECT_TRUE(ours);
  auto* q = static_cast<unsigned char*>(heap_.reallocate(p, 16u << 20, &ours));
  ASSERT_NE(q, nullptr);
  for (size_t i = 0; i < n; i++) ASSERT_EQ(q[i], static_cast<unsigned char>(i * 7)) << i;
  EXPECT_EQ(heap_.snapshot().heap.realloc_remapped, 1u);
  q[(16u << 20) - 1] = 1;
  // Shrinking to a quarter: the block stays where it is and its tail becomes
  // a cached block of its own (still mapped, entered into the ring).
  auto* r = static_cast<unsigned char*>(heap_.reallocate(q, 4u << 20, &ours));
  EXPECT_EQ(r, q);
  EXPECT_EQ(heap_.usable_size(r), 4u << 20);
  HeapSnapshot s = heap_.snapshot();
  EXPECT_EQ(s.heap.realloc_tails_cached, 1u);
  EXPECT_EQ(s.cached_bytes, 12u << 20);
  EXPECT_EQ(ring_.entries(), 1u);
  EXPECT_TRUE(anything_mapped(reinterpret_cast<uintptr_t>(r), reinterpret_cast<uintptr_t>(r) + (16u << 20)));
  for (size_t i = 0; i < n; i++) ASSERT_EQ(r[i], static_cast<unsigned char>(i * 7)) << i;
  heap_.free(r);
  // Freed, the block takes its tail back: one 16 MiB block in the cache.
  s = heap_.snapshot();
  EXPECT_EQ(s.heap.tails_rejoined, 1u);
  EXPECT_EQ(s.cached_blocks, 1u);
  EXPECT_EQ(s.cached_bytes, 16u << 20);
}

// A shrunk block growing again takes its cached tail back: same address, no
// system call, the tail's pages still there.
TEST_F(LargeHeapTest, ReallocGrowsBackIntoItsCachedTail) {
  const size_t n = 8u << 20;
  auto* p = static_cast<unsigned char*>(heap_.allocate(n, kPageSize, false));
  std::memset(p, 0x11, n);
  bool ours = false;
  ASSERT_EQ(heap_.reallocate(p, 1u << 20, &ours), p);
  const uint64_t maps = os_.counters().maps.load(), remaps = os_.counters().remaps.load();
  auto* q = static_cast<unsigned char*>(heap_.reallocate(p, 6u << 20, &ours));
  EXPECT_EQ(q, p);
  EXPECT_EQ(os_.counters().maps.load(), maps);
  EXPECT_EQ(os_.counters().remaps.load(), remaps);
  HeapSnapshot s = heap_.snapshot();
  EXPECT_EQ(s.heap.realloc_absorbed, 1u);
  EXPECT_EQ(s.cache.hits_intact, 1u);
  EXPECT_EQ(ring_.entries(), 0u);
  EXPECT_GE(heap_.usable_size(q), 6u << 20);
  for (size_t i = 0; i < (1u << 20); i += 997) ASSERT_EQ(q[i], 0x11) << i;
  heap_.free(q);
}

// Growing beyond its capacity into an intact cached block: the contents are
// copied into it (no mapping, no mremap) and the old block is cached.
TEST_F(LargeHeapTest, ReallocGrowsIntoAnIntactCachedBlock) {
  const size_t n = 1u << 20;
  auto* p = static_cast<unsigned char*>(heap_.allocate(n, kPageSize, false));
  for (size_t i = 0; i < n; i++) p[i] = static_cast<unsigned char>(i * 5);
  void* spare = heap_.allocate(4u << 20, kPageSize, false);
  std::memset(spare, 0x77, 4u << 20);
  heap_.free(spare);
  const uint64_t maps = os_.counters().maps.load(), remaps = os_.counters().remaps.load();
  bool ours = false;
  auto* q = static_cast<unsigned char*>(heap_.reallocate(p, 3u << 20, &ours));
  EXPECT_EQ(q, spare);
  for (size_t i = 0; i < n; i++) ASSERT_EQ(q[i], static_cast<unsigned char>(i * 5)) << i;
  EXPECT_EQ(os_.counters().maps.load(), maps);
  EXPECT_EQ(os_.counters().remaps.load(), remaps);
  HeapSnapshot s = heap_.snapshot();
  EXPECT_EQ(s.heap.realloc_into_cached, 1u);
  EXPECT_EQ(s.cached_blocks, 1u);  // the old block
  // The old pointer is now a cached block: using it again is caught.
  EXPECT_DEATH(heap_.free(p), "vmreclaim-malloc: double free of large block");
  heap_.free(q);
}

// Growing into a cached block the reclaimer released: its pages are gone, so
// the old pages move onto it (mremap MREMAP_FIXED) instead of being copied.
TEST_F(LargeHeapTest, ReallocMovesOntoAReleasedCachedBlock) {
  const size_t n = 1u << 20;
  auto* p = static_cast<unsigned char*>(heap_.allocate(n, kPageSize, false));
  for (size_t i = 0; i < n; i++) p[i] = static_cast<unsigned char>(i * 3);
  void* spare = heap_.allocate(4u << 20, kPageSize, false);
  heap_.free(spare);
  ring_.reclaim_all();
  bool ours = false;
  auto* q = static_cast<unsigned char*>(heap_.reallocate(p, 3u << 20, &ours));
  EXPECT_EQ(q, spare);
  for (size_t i = 0; i < n; i++) ASSERT_EQ(q[i], static_cast<unsigned char>(i * 3)) << i;
  HeapSnapshot s = heap_.snapshot();
  EXPECT_EQ(s.heap.realloc_moved, 1u);
  EXPECT_EQ(s.cached_blocks, 0u);
  // The old range is unmapped and remembered.
  EXPECT_FALSE(anything_mapped(reinterpret_cast<uintptr_t>(p), reinterpret_cast<uintptr_t>(p) + n));
  EXPECT_DEATH(heap_.free(p), "unmapped since");
  std::memset(q, 1, 3u << 20);
  heap_.free(q);
}

// The old block's mapping split in two: kernels before 6.17 refuse to move
// a range over two mappings (after they may have unmapped the target, so the
// target block is dropped and the realloc copies); later ones move both.
// Either way the contents arrive.
TEST_F(LargeHeapTest, ReallocOntoAReleasedBlockOfASplitMapping) {
  const size_t n = 1u << 20;
  auto* p = static_cast<unsigned char*>(heap_.allocate(n, kPageSize, false));
  for (size_t i = 0; i < n; i++) p[i] = static_cast<unsigned char>(i * 11);
  ASSERT_EQ(::madvise(p + n / 2, n / 2, MADV_DONTFORK), 0);
  void* spare = heap_.allocate(4u << 20, kPageSize, false);
  heap_.free(spare);
  ring_.reclaim_all();
  bool ours = false;
  auto* q = static_cast<unsigned char*>(heap_.reallocate(p, 3u << 20, &ours));
  ASSERT_NE(q, nullptr);
  for (size_t i = 0; i < n; i++) ASSERT_EQ(q[i], static_cast<unsigned char>(i * 11)) << i;
  std::memset(q, 2, 3u << 20);
  HeapSnapshot s = heap_.snapshot();
  EXPECT_EQ(s.heap.realloc_moved + s.heap.realloc_copied, 1u);
  heap_.free(q);
}

// A request that no cached block of up to twice its size fits is cut from a
// larger cached block rather than mapped; the rest stays cached.
TEST_F(LargeHeapTest, AMissIsCutFromALargerCachedBlock) {
  void* big = heap_.allocate(16u << 20, kPageSize, false);
  heap_.free(big);
  const uint64_t maps = os_.counters().maps.load();
  void* p = heap_.allocate(1u << 20, kPageSize, false);
  EXPECT_EQ(p, big);
  EXPECT_EQ(os_.counters().maps.load(), maps);
  HeapSnapshot s = heap_.snapshot();
  EXPECT_EQ(s.cache.split_hits, 1u);
  EXPECT_EQ(s.cached_bytes, 15u << 20);
  EXPECT_EQ(heap_.usable_size(p), 1u << 20);
  heap_.free(p);
  EXPECT_EQ(heap_.snapshot().cached_bytes, 16u << 20);  // rejoined
}

// A miss maps new memory; a cache holding more than its bound (an eighth of
// the live blocks, at least 64 MiB) gives back as much as is mapped (oldest
// first), down to the bound: memory follows the working set, not the sizes
// the program stopped asking for.
TEST_F(LargeHeapTest, AMissGivesBackWhatTheCacheHoldsBeyondItsBound) {
  void* live = heap_.allocate(1u << 20, kPageSize, false);
  void* old[5];
  for (void*& p : old) p = heap_.allocate(16u << 20, kPageSize, false);
  for (void* p : old) heap_.free(p);
  ASSERT_EQ(heap_.snapshot().cached_bytes, 80u << 20);
  void* big = heap_.allocate(40u << 20, kPageSize, false);  // fits no cached block
  ASSERT_NE(big, nullptr);
  HeapSnapshot s = heap_.snapshot();
  EXPECT_EQ(s.heap.miss_evictions, 1u);
  EXPECT_EQ(s.cached_bytes, 64u << 20);
  // The oldest went, and the kernel has it no more.
  EXPECT_FALSE(anything_mapped(reinterpret_cast<uintptr_t>(old[0]), reinterpret_cast<uintptr_t>(old[0]) + (16u << 20)));
  EXPECT_TRUE(anything_mapped(reinterpret_cast<uintptr_t>(old[1]), reinterpret_cast<uintptr_t>(old[1]) + (16u << 20)));
  // A cache within its bound is left alone.
  void* big2 = heap_.allocate(40u << 20, kPageSize, false);
  EXPECT_EQ(heap_.snapshot().cached_bytes, 64u << 20);
  heap_.free(big2);
  heap_.free(big);
  heap_.free(live);
}

// Past 512 MiB of live blocks the bound is an eighth of them: beside 640 MiB
// live (bound 80 MiB), a cache of 128 MiB gives back as much as a miss maps
// (40 MiB), whole blocks, oldest first: three of 16 MiB.
TEST_F(LargeHeapTest, TheCacheBoundFollowsTheLiveBlocks) {
  void* live[10];
  for (void*& p : live) p = heap_.allocate(64u << 20, kPageSize, false);
  void* old[8];
  for (void*& p : old) p = heap_.allocate(16u << 20, kPageSize, false);
  for (void* p : old) heap_.free(p);
  ASSERT_EQ(heap_.snapshot().cached_bytes, 128u << 20);
  void* big = heap_.allocate(40u << 20, kPageSize, false);
  ASSERT_NE(big, nullptr);
  HeapSnapshot s = heap_.snapshot();
  EXPECT_EQ(s.heap.miss_evictions, 3u);
  EXPECT_EQ(s.cached_bytes, 80u << 20);
  heap_.free(big);
  for (void* p : live) heap_.free(p);
}

// The same when a realloc grows by mapping new pages (mremap): the cache
// gives back what it holds beyond its bound.
TEST_F(LargeHeapTest, AReallocThatMapsNewPagesTrimsTheCacheToo) {
  void* live = heap_.allocate(1u << 20, kPageSize, false);
  void* old[5];
  for (void*& p : old) p = heap_.allocate(16u << 20, kPageSize, false);
  for (void* p : old) heap_.free(p);
  bool ours = false;
  void* grown = heap_.reallocate(live, 40u << 20, &ours);
  ASSERT_NE(grown, nullptr);
  HeapSnapshot s = heap_.snapshot();
  EXPECT_EQ(s.heap.realloc_remapped, 1u);
  EXPECT_EQ(s.heap.miss_evictions, 1u);
  EXPECT_EQ(s.cached_bytes, 64u << 20);
  heap_.free(grown);
}

// A cached block serves requests down to half its size; one used for a
// request that leaves a quarter of it or more unused keeps only what the
// request needs, and the spare goes back to the cache (resident and unused,
// it would otherwise be memory the cache's bound never sees). Freed again,
// the block takes its spare back.
TEST_F(LargeHeapTest, AReusedBlockGivesALargeSpareBackToTheCache) {
  void* a = heap_.allocate(8u << 20, kPageSize, false);
  heap_.free(a);
  void* p = heap_.allocate(5u << 20, kPageSize, false);
  ASSERT_EQ(p, a);
  HeapSnapshot s = heap_.snapshot();
  EXPECT_EQ(s.heap.spare_tails_cached, 1u);
  EXPECT_EQ(heap_.usable_size(p), 5u << 20);
  EXPECT_EQ(s.cached_bytes, 3u << 20);
  heap_.free(p);
  EXPECT_EQ(heap_.snapshot().cached_bytes, 8u << 20);  // rejoined
  // A spare under a quarter stays with the block.
  void* q = heap_.allocate(7u << 20, kPageSize, false);
  ASSERT_EQ(q, a);
  EXPECT_EQ(heap_.snapshot().heap.spare_tails_cached, 1u);
  EXPECT_EQ(heap_.usable_size(q), 8u << 20);
  heap_.free(q);
}

TEST_F(LargeHeapTest, AlignedBlocksHonourTheirAlignment) {
  for (size_t align : {size_t{4096}, size_t{65536}, size_t{1} << 21, size_t{1} << 24}) {
    void* p = heap_.allocate(300 * 1024, align, false);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u) << align;
    std::memset(p, 1, 300 * 1024);
    heap_.free(p);
  }
}

// An alignment above a page leaves a gap above the block in the range; the
// next blocks are placed in that gap, not below.
TEST_F(LargeHeapTest, AlignedBlocksLeaveNoUnusedGap) {
  constexpr size_t kAlign = size_t{256} << 20;
  void* first = heap_.allocate(300 * 1024, kPageSize, false);
  void* p = heap_.allocate(300 * 1024, kAlign, false);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kAlign, 0u);
  void* after = heap_.allocate(300 * 1024, kPageSize, false);
  ASSERT_NE(after, nullptr);
  EXPECT_GT(after, p);
  EXPECT_LT(after, first);
  heap_.free(after);
  heap_.free(p);
  heap_.free(first);
}

// A block over two mappings: kernels before 6.17 refuse to move it (mremap
// EFAULT) and realloc copies into a new block and frees the old one; later
// ones move both mappings (the move keeps its size). Either way the contents
// arrive.
TEST_F(LargeHeapTest, ReallocOfABlockOverTwoMappingsKeepsTheContents) {
  const size_t n = 1u << 20;
  auto* p = static_cast<unsigned char*>(heap_.allocate(n, kPageSize, false));
  ASSERT_NE(p, nullptr);
  for (size_t i = 0; i < n; i++) p[i] = static_cast<unsigned char>(i * 13);
  // Different flags on the second half split the block's mapping in two.
  ASSERT_EQ(::madvise(p + n / 2, n / 2, MADV_DONTFORK), 0);
  bool ours = false;
  auto* q = static_cast<unsigned char*>(heap_.reallocate(p, 8 * n, &ours));
  ASSERT_TRUE(ours);
  ASSERT_NE(q, nullptr);
  EXPECT_NE(q, p);
  for (size_t i = 0; i < n; i++) ASSERT_EQ(q[i], static_cast<unsigned char>(i * 13)) << i;
  q[8 * n - 1] = 1;
  HeapSnapshot s = heap_.snapshot();
  EXPECT_EQ(s.heap.realloc_copied + s.heap.realloc_remapped, 1u);
  // Copied, the old block was freed into the cache.
  EXPECT_EQ(s.cached_blocks, s.heap.realloc_copied);
  heap_.free(q);
}

TEST_F(LargeHeapTest, BlocksBeyondTheCacheCapAreUnmappedDirectly) {
  LargeHeap small{os_, ring_, 1u << 20};
  void* p = small.allocate(2u << 20, kPageSize, false);
  small.free(p);
  EXPECT_EQ(small.snapshot().heap.direct_unmaps, 1u);
  EXPECT_EQ(small.snapshot().cached_bytes, 0u);
  // Two 600 KiB blocks do not fit a 1 MiB cache: the older one is evicted.
  void* a = small.allocate(600 * 1024, kPageSize, false);
  void* b = small.allocate(600 * 1024, kPageSize, false);
  small.free(a);
  small.free(b);
  HeapSnapshot s = small.snapshot();
  EXPECT_EQ(s.cache.evictions, 1u);
  EXPECT_LE(s.cached_bytes, 1u << 20);
}

TEST_F(LargeHeapTest, AFullRingIsGrownAndTheBlockStillCached) {
  ring_.capacity = 1;
  void* a = heap_.allocate(200 * 1024, kPageSize, false);
  void* b = heap_.allocate(200 * 1024, kPageSize, false);
  heap_.free(a);
  heap_.free(b);
  EXPECT_EQ(ring_.rooms, 1);
  EXPECT_EQ(heap_.snapshot().cached_blocks, 2u);
}

// calloc's clearing of a released block: resident pages (kept by MADV_FREE,
// or never released) are cleared, released ones are not faulted back in.
// 20 MiB, beyond the 16 MiB one mincore() call covers, ending mid-page.
TEST(OsPagesTest, ZeroResidentClearsResidentPagesAndFaultsNothingIn) {
  OsPages os;
  constexpr size_t kPages = 5121;  // the last page (5120 % 3 == 2) is never released
  const size_t bytes = kPages * kPageSize - 100;
  auto* p = static_cast<unsigned char*>(os.map(kPages * kPageSize));
  ASSERT_NE(p, nullptr);
  std::memset(p, 0x3c, kPages * kPageSize);
  // Page i: i % 3 == 0 dropped (MADV_DONTNEED), == 1 lazily freed
  // (MADV_FREE: keeps its bytes), == 2 left alone.
  for (size_t i = 0; i < kPages; i++) {
    if (i % 3 == 2) continue;
    ASSERT_EQ(::madvise(p + i * kPageSize, kPageSize, i % 3 == 0 ? MADV_DONTNEED : MADV_FREE), 0);
  }
  os.zero_resident(p, bytes);
  std::vector<unsigned char> resident(kPages);
  ASSERT_EQ(::mincore(p, kPages * kPageSize, resident.data()), 0);
  size_t faulted_in = 0;
  for (size_t i = 0; i < kPages; i += 3) faulted_in += resident[i] & 1;
  EXPECT_EQ(faulted_in, 0u);
  EXPECT_TRUE(all_zero(p, bytes));
  EXPECT_EQ(p[bytes], 0x3c);  // past the requested bytes: untouched
  EXPECT_EQ(os.counters().mincores.load(), 2u);
  os.unmap(p, kPages * kPageSize);
}

// The heap on the process's real ring, several threads, contents checked.
TEST(LargeHeapOnProcessRing, ConcurrentChurnKeepsEveryBlockIntact) {
  static ProcessRing ring;  // the process has one ring; it outlives the test
  // So do the blocks its entries describe: the range is never unmapped under
  // the engine, which may reclaim them after the test (a hole there is a
  // guard fault that kills the process).
  static OsPages& os = *new OsPages;
  LargeHeap heap{os, ring, 64u << 20};
  constexpr int kThreads = 4, kSlots = 6, kOps = 400;
  std::vector<std::thread> ts;
  std::atomic<int> bad{0};
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&, t] {
      unsigned char* blocks[kSlots] = {};
      size_t sizes[kSlots] = {};
      unsigned seed = 12345u + static_cast<unsigned>(t);
      for (int i = 0; i < kOps; i++) {
        seed = seed * 1103515245u + 12345u;
        int s = static_cast<int>(seed >> 16) % kSlots;
        if (blocks[s] != nullptr) {
          const auto tag = static_cast<unsigned char>(blocks[s][0]);
          for (size_t j = 0; j < sizes[s]; j += 4096) {
            if (blocks[s][j] != tag) bad++;
          }
          heap.free(blocks[s]);
        }
        sizes[s] = 128 * 1024 + (seed % 16) * 64 * 1024;
        const bool zero = i % 3 == 0;
        blocks[s] = static_cast<unsigned char*>(heap.allocate(sizes[s], kPageSize, zero));
        if (blocks[s] == nullptr) {
          bad++;
          continue;
        }
        if (zero && !all_zero(blocks[s], sizes[s])) bad++;
        std::memset(blocks[s], t * 16 + i % 16, sizes[s]);
      }
      for (auto* b : blocks) {
        if (b != nullptr) heap.free(b);
      }
    });
  }
  for (auto& th : ts) th.join();
  EXPECT_EQ(bad.load(), 0);
  HeapSnapshot s = heap.snapshot();
  EXPECT_EQ(s.heap.allocs, static_cast<uint64_t>(kThreads * kOps));
  EXPECT_GT(s.cache.hits_intact + s.cache.hits_zeroed, 0u);
  EXPECT_TRUE(ring.ready());
}

}  // namespace
}  // namespace vmreclaim::alloc
