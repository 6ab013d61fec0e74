// The size-indexed cache of freed large blocks. A freed block is entered into
// the reclaim ring and listed under its size class; an allocation cancels the
// entry of a listed block that fits and reuses it (UNRECLAIMED: no system
// call, no fault; FREED: the mapping is kept, released pages fault back in as
// zeros, pages the kernel has not yet taken after MADV_FREE keep their bytes). The reclaimer, not the cache, decides
// when cached memory goes back to the system; the cache only bounds how much it may hold. Not thread-safe: the heap's
// lock guards it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "block_table.h"
#include "reclaim_ring.h"
#include "size_classes.h"

namespace vmreclaim::alloc {

struct CacheCounters {
  uint64_t hits_intact = 0;  // UNRECLAIMED: reused without a syscall or a fault
  uint64_t hits_zeroed = 0;  // FREED: reused, released pages fault back in
  uint64_t busy_skips = 0;   // being reclaimed at that moment
  uint64_t lost = 0;         // DEALLOCATED: forgotten
  uint64_t misses = 0;
  uint64_t split_hits = 0;  // a miss served from a larger block, split (counted in the hits too)
  uint64_t puts = 0;
  uint64_t put_failures = 0;  // ring full or absent: the caller unmapped
  uint64_t evictions = 0;     // over the byte cap: unmapped by the heap
};

class BlockCache {
 public:
  // A cached block may be up to 2^(kSearchClasses/8) times the request.
  static constexpr uint32_t kSearchClasses = 8;

  BlockCache(ReclaimRing& ring, BlockTable& table, size_t max_bytes) noexcept
      : ring_(ring), table_(table), max_bytes_(max_bytes) {}

  // A cached block with capacity >= bytes whose address is a multiple of
  // `align` (a power of two), taken out of the ring and the cache, marked
  // live; nullptr if none fits. *update as for ReclaimRing.
  Block* take(size_t bytes, size_t align, bool* update) noexcept;

  // The smallest cached block beyond take()'s reach (more than
  // 2^(kSearchClasses/8) times `bytes`) at a multiple of `align`, taken as
  // take() does; the caller splits off what it does not need. nullptr if
  // none.
  Block* take_larger(size_t bytes, size_t align, bool* update) noexcept;

  // Takes one particular cached block out of the ring and the cache (a
  // realloc growing into its neighbour). True if it is now live (UNRECLAIMED
  // or FREED, with `released` set as for take()); false if the reclaimer is
  // busy with it (it stays cached) or it was lost (its record is erased:
  // `b` must not be used again).
  bool take_block(Block* b, bool* update) noexcept;

  enum class PutResult { cached, rejected, ring_full };
  // Caches a freed block (its size and dirty flag are set by the caller).
  // rejected/ring_full: the block stays live and the caller disposes of it.
  PutResult put(Block* b, bool* update) noexcept;

  // Takes oldest blocks out until `incoming` more bytes fit under the cap;
  // fills `out` (at most `max_out`) with the blocks to unmap, still in the
  // table. Returns how many.
  size_t evict_for(size_t incoming, Block** out, size_t max_out, bool* update) noexcept;
  // The same, until the cache holds at most `target` bytes.
  size_t evict_down_to(size_t target, Block** out, size_t max_out, bool* update) noexcept;

  size_t cached_bytes() const noexcept { return cached_bytes_; }
  size_t cached_blocks() const noexcept { return cached_blocks_; }
  size_t max_bytes() const noexcept { return max_bytes_; }
  const CacheCounters& counters() const noexcept { return counters_; }

  // Takes a block out of the lists without touching the ring (the ring
  // already gave up on it, or it is being evicted).
  void unlist(Block* b) noexcept;

 private:
  void list(Block* b) noexcept;
  Block* take_from(uint32_t first, uint32_t last, size_t bytes, size_t align, bool* update) noexcept;

  ReclaimRing& ring_;
  BlockTable& table_;
  const size_t max_bytes_;
  size_t cached_bytes_ = 0;
  size_t cached_blocks_ = 0;
  Block* classes_[kClassCount] = {};
  Block* newest_ = nullptr;  // the age list, newest to oldest
  Block* oldest_ = nullptr;
  CacheCounters counters_;
};

}  // namespace vmreclaim::alloc
