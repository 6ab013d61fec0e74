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

// Whether any mapping of this process overlaps [lo, hi), from /proc/self/maps
// (what the kernel says is mapped, not what the heap believes).
bool anything_mapped(uintptr_t lo, uintptr_t hi) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    unsigned long long a = 0, b = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx", &a, &b) != 2) continue;
    if (a < hi && lo < b) return true;
  }
  return false;
}

// The process's address-space size (VmSize), in bytes; 0 if unreadable.
size_t vm_size() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmSize:", 0) == 0) return std::stoull(line.substr(7)) * 1024;
  }
  return 0;
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

// A page-aligned block of another allocator may start a mapping (nothing
// mapped in the page before it). Under glibc that cannot be a valid block
// (its header sits in the 16 bytes before), so the heap reports it; under
// any other backend it must be handed on, never reported.
TEST_F(LargeHeapTest, AForeignPageWithNothingBeforeItIsOnlyMisuseUnderGlibc) {
  auto* two =
      static_cast<char*>(mmap(nullptr, 2 * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(two, MAP_FAILED);
  ASSERT_EQ(munmap(two, kPageSize), 0);
  char* p = two + kPageSize;  // mapped; the page before is not
  EXPECT_DEATH(heap_.free(p), "vmreclaim-malloc: free of unmapped memory");
  heap_.set_backend_header_before_blocks(false);
  EXPECT_FALSE(heap_.free(p));
  EXPECT_EQ(heap_.usable_size(p), 0u);
  bool ours = true;
  EXPECT_EQ(heap_.reallocate(p, 1u << 20, &ours), nullptr);
  EXPECT_FALSE(ours);
  // Its own page unmapped: misuse whatever the backend.
  ASSERT_EQ(munmap(p, kPageSize), 0);
  EXPECT_DEATH(heap_.free(p), "vmreclaim-malloc: free of unmapped memory");
}

// Where blocks were ever mapped is remembered for their whole range and
// after they are gone, without false negatives.
TEST(OsPagesTest, RemembersEveryGranuleItMappedBlocksIn) {
  OsPages os;
  const size_t n = 9u << 20;
  auto* p = static_cast<char*>(os.map(n));
  ASSERT_NE(p, nullptr);
  for (size_t off = 0; off < n; off += kPageSize) EXPECT_TRUE(os.may_have_mapped(p + off)) << off;
  EXPECT_TRUE(os.may_have_mapped(p + n - 1));
  ASSERT_EQ(os.unmap(p, n), 0);
  EXPECT_TRUE(os.may_have_mapped(p));
  EXPECT_TRUE(os.may_have_mapped(p + n / 2));
  auto* q = static_cast<char*>(os.map(kPageSize));
  ASSERT_NE(q, nullptr);
  auto* r = static_cast<char*>(os.remap(q, kPageSize, n));
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(os.may_have_mapped(r + n - kPageSize));
  EXPECT_EQ(os.unmap(r, n), 0);
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

// A miss maps new memory; a cache holding more than the live blocks gives
// back as much as is mapped (oldest first), down to the live size: memory
// follows the working set, not the sizes the program stopped asking for.
TEST_F(LargeHeapTest, AMissGivesBackWhatTheCacheHoldsBeyondTheLiveBlocks) {
  void* live = heap_.allocate(1u << 20, kPageSize, false);
  void* old[4];
  for (void*& p : old) p = heap_.allocate(1u << 20, kPageSize, false);
  for (void* p : old) heap_.free(p);
  ASSERT_EQ(heap_.snapshot().cached_bytes, 4u << 20);
  void* big = heap_.allocate(8u << 20, kPageSize, false);  // fits no cached block
  ASSERT_NE(big, nullptr);
  HeapSnapshot s = heap_.snapshot();
  EXPECT_EQ(s.heap.miss_evictions, 3u);
  EXPECT_EQ(s.cached_bytes, 1u << 20);
  // The oldest went, and the kernel has them no more.
  EXPECT_FALSE(anything_mapped(reinterpret_cast<uintptr_t>(old[0]), reinterpret_cast<uintptr_t>(old[0]) + (1u << 20)));
  // A cache no larger than the live blocks is left alone.
  void* big2 = heap_.allocate(8u << 20, kPageSize, false);
  EXPECT_EQ(heap_.snapshot().cached_bytes, 1u << 20);
  heap_.free(big2);
  heap_.free(big);
  heap_.free(live);
}

// The same when a realloc grows by mapping new pages (mremap): the cache
// gives back what it holds beyond the live blocks.
TEST_F(LargeHeapTest, AReallocThatMapsNewPagesTrimsTheCacheToo) {
  void* live = heap_.allocate(1u << 20, kPageSize, false);
  void* old[4];
  for (void*& p : old) p = heap_.allocate(1u << 20, kPageSize, false);
  for (void* p : old) heap_.free(p);
  bool ours = false;
  void* grown = heap_.reallocate(live, 8u << 20, &ours);
  ASSERT_NE(grown, nullptr);
  HeapSnapshot s = heap_.snapshot();
  EXPECT_EQ(s.heap.realloc_remapped, 1u);
  EXPECT_EQ(s.heap.miss_evictions, 3u);
  EXPECT_EQ(s.cached_bytes, 1u << 20);
  heap_.free(grown);
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

// An alignment above a page maps size + alignment and gives both surplus
// ends back: the address space grows by the block, not by the alignment.
TEST_F(LargeHeapTest, AlignedBlocksGiveTheSurplusBack) {
  constexpr size_t kAlign = size_t{256} << 20;
  for (int i = 0; i < 3; i++) {
    const size_t before = vm_size();
    ASSERT_GT(before, 0u);
    void* p = heap_.allocate(300 * 1024, kAlign, false);
    ASSERT_NE(p, nullptr);
    const size_t after = vm_size();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kAlign, 0u);
    // Untrimmed, the growth would be at least 256 MiB; the block is 300 KiB
    // (slack for the test's own small allocations).
    EXPECT_LT(after - before, size_t{16} << 20) << "VmSize grew from " << before << " to " << after;
    heap_.free(p);
  }
}

// mremap refuses to move a range that spans two mappings; realloc then
// copies into a new block and frees the old one.
TEST_F(LargeHeapTest, ReallocCopiesWhenMremapFails) {
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
  EXPECT_EQ(s.heap.realloc_copied, 1u);
  EXPECT_EQ(s.heap.realloc_remapped, 0u);
  EXPECT_EQ(s.cached_blocks, 1u);  // the old block, freed into the cache
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
  OsPages os;
  static ProcessRing ring;  // the process has one ring; it outlives the test
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
