// The large-block heap: every block is its own page-aligned mapping, known
// by an out-of-line record; a freed block goes into the cache (and the
// reclaim ring) rather than back to the kernel; an allocation reuses a cached
// block when one fits and maps new memory only when none does.
// Thread-safe: one lock guards the records and the cache; system calls that
// need no bookkeeping (mmap, munmap, mremap) run outside it.
#pragma once

#include <pthread.h>

#include <cstddef>
#include <cstdint>

#include "block_cache.h"
#include "block_table.h"
#include "os_pages.h"
#include "reclaim_ring.h"

namespace vmreclaim::alloc {

struct HeapCounters {
  uint64_t allocs = 0;
  uint64_t fresh_maps = 0;
  uint64_t map_failures = 0;
  uint64_t frees = 0;
  uint64_t direct_unmaps = 0;   // freed blocks the cache could not take
  uint64_t miss_evictions = 0;  // cached blocks given back because a request missed
  uint64_t realloc_in_place = 0;
  uint64_t realloc_remapped = 0;
  uint64_t realloc_copied = 0;
  uint64_t realloc_absorbed = 0;      // grew into the cached block after it
  uint64_t realloc_into_cached = 0;   // copied into an intact cached block
  uint64_t realloc_moved = 0;         // pages moved onto a released cached block (mremap MREMAP_FIXED)
  uint64_t realloc_tails_cached = 0;  // a shrunk block's tail entered into the cache
  uint64_t spare_tails_cached = 0;    // a reused block's spare tail entered into the cache
  uint64_t tails_rejoined = 0;        // a freed block took its cached tail back
  uint64_t live_bytes = 0;
  uint64_t peak_live_bytes = 0;
};

struct HeapSnapshot {
  HeapCounters heap;
  CacheCounters cache;
  size_t cached_bytes = 0;
  size_t cached_blocks = 0;
  size_t blocks = 0;
};

class LargeHeap {
 public:
  LargeHeap(OsPages& os, ReclaimRing& ring, size_t cache_max_bytes) noexcept
      : os_(os), ring_(ring), table_(os), cache_(ring, table_, cache_max_bytes) {}
  LargeHeap(const LargeHeap&) = delete;
  LargeHeap& operator=(const LargeHeap&) = delete;

  // A block of at least `bytes`, at a multiple of `align` (a power of two,
  // at least a page); zeroed if `zero`. nullptr with errno ENOMEM.
  void* allocate(size_t bytes, size_t align, bool zero) noexcept;

  // What the caller is doing with a pointer, for the misuse report.
  enum class Use { free, realloc, usable_size };

  // Misuse the heap can see is reported in one line on stderr and aborts
  // the process: any pointer into its address range that is not a live
  // block's start (a block already freed, cached or unmapped since; a
  // pointer into the middle of a block; a part of the range no block holds).
  // Pointers outside the range are never the heap's.

  // Frees one of the heap's blocks. False if `p` is outside the heap's
  // range (the caller hands it to the backend).
  bool free(void* p) noexcept;

  // The usable size of one of the heap's live blocks, 0 if `p` is outside
  // the heap's range.
  size_t usable_size(const void* p, Use use = Use::usable_size) noexcept;

  // Resizes one of the heap's blocks to `bytes` (at least the threshold),
  // through the cache where it can. Shrinking stays in place; a tail of half
  // the capacity or more becomes a cached block. Growing beyond the capacity,
  // in order: absorb the cached block right after it; move the pages onto a
  // cached block that fits (mremap MREMAP_FIXED: no copy, no fault); move the
  // mapping (mremap MREMAP_MAYMOVE: the new pages fault); copy.
  // *ours = false (and nullptr) if `p` is not the heap's.
  void* reallocate(void* p, size_t bytes, bool* ours) noexcept;

  HeapSnapshot snapshot() noexcept;

  // fork(): the lock is held across it, so the child never inherits it held.
  void lock_for_fork() noexcept { pthread_mutex_lock(&mu_); }
  void unlock_after_fork_parent() noexcept { pthread_mutex_unlock(&mu_); }
  void reset_after_fork_child() noexcept;

 private:
  struct Span {
    void* addr;
    size_t bytes;
  };
  static constexpr size_t kMaxEvictions = 8;
  static constexpr size_t kGoneBlocks = 64;

  // Under the lock: the block `p` starts, nullptr if none; aborts (after
  // unlocking) on a freed block or an interior pointer.
  Block* live_block_locked(const void* p, Use use) noexcept;
  // Without the lock, for a pointer in the range that is no block's.
  [[noreturn]] void report_stray(const void* p, Use use) noexcept;
  void note_gone_locked(uintptr_t addr, size_t capacity) noexcept;
  // Cuts `b` to its first `keep` bytes; the rest becomes a cached block
  // (counted in `cached`), or, when the cache cannot take it, *unmap (for
  // the caller, without the lock).
  void split_tail_locked(Block* b, size_t keep, uint64_t& cached, Span* unmap, bool* update) noexcept;
  // Before `incoming` bytes of new memory are mapped: a cache holding more
  // than its bound (cache_keep_bound in large_heap.cpp) gives back as much,
  // down to the bound. Fills `out` (kMaxEvictions) with what to unmap
  // without the lock; returns how many.
  size_t trim_for_miss_locked(size_t incoming, Span* out, bool* update) noexcept;
  void note_live(int64_t delta) noexcept;

  // Adaptive: the critical sections are a few hundred nanoseconds and make
  // no system calls, so a contended lock spins briefly instead of sleeping
  // in futex() (two churning threads otherwise made ~300 futex calls per
  // 4,000 operations, half the process's system calls).
  pthread_mutex_t mu_ = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
  OsPages& os_;
  ReclaimRing& ring_;
  BlockTable table_;
  BlockCache cache_;
  HeapCounters counters_;
  Span gone_[kGoneBlocks] = {};  // blocks the heap unmapped on free, newest at gone_next_ - 1
  size_t gone_next_ = 0;
  // Set while one thread grows/flushes the ring without the lock: nobody
  // else may enter or cancel meanwhile, so they bypass the cache.
  bool ring_exclusive_ = false;
};

}  // namespace vmreclaim::alloc
