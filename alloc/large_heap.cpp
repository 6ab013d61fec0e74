#include "large_heap.h"

#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "size_classes.h"

namespace vmreclaim::alloc {
namespace {

class Locked {
 public:
  explicit Locked(pthread_mutex_t& mu) noexcept : mu_(mu) { pthread_mutex_lock(&mu_); }
  ~Locked() { pthread_mutex_unlock(&mu_); }
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;

 private:
  pthread_mutex_t& mu_;
};

// On a miss the cache gives back what it holds beyond an eighth of the live
// blocks' size, and never below 64 MiB: a busy program's resident memory
// stays within about 1.125x of what it keeps alive (the live size itself
// let a 1-64 MiB churn peak at 1.4x glibc's), while a small program keeps
// enough cached for its reallocs to grow into (docs/allocator.md, "Peak
// memory").
constexpr size_t kCacheLiveShare = 8;
constexpr size_t kCacheKeepFloor = size_t{64} << 20;

size_t cache_keep_bound(size_t live_bytes) noexcept {
  return live_bytes / kCacheLiveShare > kCacheKeepFloor ? live_bytes / kCacheLiveShare : kCacheKeepFloor;
}

// A reused block whose spare (capacity beyond the request's) is a quarter
// of it or more keeps only what the request needs; the spare goes back to
// the cache, where the bound above sees it.
bool worth_splitting(size_t have, size_t need) noexcept { return have - need >= have / 4; }

[[noreturn, gnu::format(printf, 1, 2)]] void misuse(const char* fmt, ...) noexcept {
  char line[256];
  int n = std::snprintf(line, sizeof line, "vmreclaim-malloc: ");
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(line + n, sizeof line - static_cast<size_t>(n), fmt, ap);
  va_end(ap);
  size_t len = static_cast<size_t>(n) + (m > 0 ? static_cast<size_t>(m) : 0);
  if (len > sizeof line - 14) len = sizeof line - 14;
  std::memcpy(line + len, ": aborting\n", 12);
  len += 11;
  ssize_t ignored = ::write(STDERR_FILENO, line, len);
  (void)ignored;
  std::abort();
}

const char* after_free(LargeHeap::Use use) noexcept {
  switch (use) {
    case LargeHeap::Use::free: return "double free";
    case LargeHeap::Use::realloc: return "realloc after free";
    case LargeHeap::Use::usable_size: break;
  }
  return "malloc_usable_size after free";
}

const char* verb(LargeHeap::Use use) noexcept {
  switch (use) {
    case LargeHeap::Use::free: return "free";
    case LargeHeap::Use::realloc: return "realloc";
    case LargeHeap::Use::usable_size: break;
  }
  return "malloc_usable_size";
}

}  // namespace

void LargeHeap::note_live(int64_t delta) noexcept {
  counters_.live_bytes += static_cast<uint64_t>(delta);
  if (counters_.live_bytes > counters_.peak_live_bytes) counters_.peak_live_bytes = counters_.live_bytes;
}

Block* LargeHeap::live_block_locked(const void* p, Use use) noexcept {
  const auto a = reinterpret_cast<uintptr_t>(p);
  Block* b = a % kPageSize == 0 ? table_.find(a) : nullptr;  // blocks are page-aligned
  if (b != nullptr && b->state == BlockState::cached) {
    const size_t capacity = b->capacity;
    pthread_mutex_unlock(&mu_);
    misuse("%s of large block %p (%zu bytes)", after_free(use), p, capacity);
  }
  if (b == nullptr) {
    if (const Block* c = table_.containing(a)) {
      const uintptr_t start = c->addr;
      const size_t capacity = c->capacity;
      const char* state = c->state == BlockState::cached ? "freed" : "live";
      pthread_mutex_unlock(&mu_);
      misuse("%s of interior pointer %p into %s large block %p (%zu bytes)", verb(use), p, state,
             reinterpret_cast<void*>(start), capacity);
    }
  }
  return b;
}

void LargeHeap::report_stray(const void* p, Use use) noexcept {
  size_t gone = 0;
  {
    Locked lk(mu_);
    for (size_t i = 0; i < kGoneBlocks && gone == 0; i++) {
      const Span& s = gone_[(gone_next_ + kGoneBlocks - 1 - i) % kGoneBlocks];
      if (s.addr == p) gone = s.bytes;
    }
  }
  if (gone != 0) misuse("%s of large block %p (%zu bytes, unmapped since)", after_free(use), p, gone);
  misuse("%s of unmapped memory %p (the layer's range, no block there)", verb(use), p);
}

void LargeHeap::note_gone_locked(uintptr_t addr, size_t capacity) noexcept {
  gone_[gone_next_] = {reinterpret_cast<void*>(addr), capacity};
  gone_next_ = (gone_next_ + 1) % kGoneBlocks;
}

size_t LargeHeap::trim_for_miss_locked(size_t incoming, Span* out, bool* update) noexcept {
  // What the cache holds did not fit, and `incoming` bytes of new memory are
  // about to be mapped. A cache larger than its bound (cache_keep_bound)
  // gives back as much (its oldest blocks, not below the bound), so memory
  // follows the working set rather than the sizes the program stopped
  // asking for.
  const size_t cached = cache_.cached_bytes();
  const size_t keep = cache_keep_bound(counters_.live_bytes);
  if (cached <= keep) return 0;
  Block* victims[kMaxEvictions];
  const size_t target = cached - keep > incoming ? cached - incoming : keep;
  const size_t n = cache_.evict_down_to(target, victims, kMaxEvictions, update);
  for (size_t i = 0; i < n; i++) {
    out[i] = {reinterpret_cast<void*>(victims[i]->addr), victims[i]->capacity};
    note_gone_locked(victims[i]->addr, victims[i]->capacity);
    table_.erase(victims[i]);
  }
  counters_.miss_evictions += n;
  return n;
}

void* LargeHeap::allocate(size_t bytes, size_t align, bool zero) noexcept {
  const size_t capacity = capacity_for(bytes);
  if (capacity == 0) {
    errno = ENOMEM;
    return nullptr;
  }
  bool update = false;
  Block* hit = nullptr;
  bool dirty = false;
  bool released = false;
  Span tail{nullptr, 0};
  Span evicted[kMaxEvictions];
  size_t nevicted = 0;
  {
    Locked lk(mu_);
    counters_.allocs++;
    if (!ring_exclusive_) {
      hit = cache_.take(bytes, align, &update);
      // Rather than map new memory, cut what is needed from a larger
      // cached block (split below: its spare is more than half of it).
      if (hit == nullptr) hit = cache_.take_larger(bytes, align, &update);
      // A block with a large spare gives it back to the cache: resident,
      // unused and out of the cache's reach it would be memory no bound
      // sees (a block serves requests down to half its size).
      if (hit != nullptr && worth_splitting(hit->capacity, capacity)) {
        // split_tail_locked() takes the tail off the live bytes; what is
        // kept is counted below with every other hit (no peak in between).
        counters_.live_bytes += hit->capacity;
        split_tail_locked(hit, capacity, counters_.spare_tails_cached, &tail, &update);
        counters_.live_bytes -= hit->capacity;
      }
    }
    if (hit != nullptr) {
      hit->size = bytes;
      dirty = hit->dirty;
      released = hit->released;
      note_live(static_cast<int64_t>(hit->capacity));
    } else if (!ring_exclusive_) {
      nevicted = trim_for_miss_locked(capacity, evicted, &update);
    }
  }
  for (size_t i = 0; i < nevicted; i++) os_.unmap(evicted[i].addr, evicted[i].bytes);
  if (update) ring_.update_accounting();
  if (tail.addr != nullptr) os_.unmap(tail.addr, tail.bytes);
  if (hit != nullptr) {
    void* p = reinterpret_cast<void*>(hit->addr);
    if (zero && dirty) {
      // An intact block is cleared; a released one only where pages are
      // still resident (MADV_FREE keeps them, with their bytes, until memory
      // pressure): the pages MADV_DONTNEED dropped are not faulted in.
      if (released) {
        os_.zero_resident(p, bytes);
      } else {
        std::memset(p, 0, bytes);
      }
    }
    return p;
  }

  // The ring is allocated before the first block can be freed into it,
  // outside the lock (the reclaim library allocates memory of its own).
  ring_.ensure();
  void* p = align > kPageSize ? os_.map_aligned(capacity, align) : os_.map(capacity);
  Locked lk(mu_);
  if (p == nullptr) {
    counters_.map_failures++;
    errno = ENOMEM;
    return nullptr;
  }
  Block* b = table_.insert(reinterpret_cast<uintptr_t>(p), capacity);
  if (b == nullptr) {
    os_.unmap(p, capacity);
    counters_.map_failures++;
    errno = ENOMEM;
    return nullptr;
  }
  b->size = bytes;
  counters_.fresh_maps++;
  note_live(static_cast<int64_t>(capacity));
  return p;
}

bool LargeHeap::free(void* p) noexcept {
  if (!os_.owns(p)) return false;
  Span unmap[kMaxEvictions + 1];
  size_t nunmap = 0;
  bool update = false;
  bool need_room = false;
  Block* held = nullptr;  // waits for room in the ring
  bool foreign = false;
  {
    Locked lk(mu_);
    Block* b = live_block_locked(p, Use::free);
    foreign = b == nullptr;
    if (!foreign) {
      counters_.frees++;
      note_live(-static_cast<int64_t>(b->capacity));
      b->dirty = true;
      // A tail split off this block and still cached joins it again.
      if (!ring_exclusive_) {
        Block* next = table_.find(b->addr + b->capacity);
        if (next != nullptr && next->state == BlockState::cached && next->split_tail &&
            cache_.take_block(next, &update)) {
          b->capacity += next->capacity;
          table_.erase(next);
          counters_.tails_rejoined++;
        }
      }
      BlockCache::PutResult r = BlockCache::PutResult::rejected;
      if (!ring_exclusive_) {
        Block* victims[kMaxEvictions];
        size_t n = cache_.evict_for(b->capacity, victims, kMaxEvictions, &update);
        for (size_t i = 0; i < n; i++) {
          unmap[nunmap++] = {reinterpret_cast<void*>(victims[i]->addr), victims[i]->capacity};
          note_gone_locked(victims[i]->addr, victims[i]->capacity);
          table_.erase(victims[i]);
        }
        if (cache_.cached_bytes() + b->capacity <= cache_.max_bytes()) r = cache_.put(b, &update);
      }
      if (r == BlockCache::PutResult::ring_full) {
        ring_exclusive_ = true;
        need_room = true;
        held = b;
      } else if (r == BlockCache::PutResult::rejected) {
        unmap[nunmap++] = {p, b->capacity};
        note_gone_locked(b->addr, b->capacity);
        table_.erase(b);
        counters_.direct_unmaps++;
      }
    }
  }
  if (foreign) report_stray(p, Use::free);
  for (size_t i = 0; i < nunmap; i++) os_.unmap(unmap[i].addr, unmap[i].bytes);
  if (need_room) {
    ring_.make_room();
    Span rejected{nullptr, 0};
    {
      Locked lk(mu_);
      ring_exclusive_ = false;
      if (cache_.put(held, &update) != BlockCache::PutResult::cached) {
        rejected = {reinterpret_cast<void*>(held->addr), held->capacity};
        note_gone_locked(held->addr, held->capacity);
        table_.erase(held);
        counters_.direct_unmaps++;
      }
    }
    if (rejected.addr != nullptr) os_.unmap(rejected.addr, rejected.bytes);
  }
  if (update) ring_.update_accounting();
  return true;
}

size_t LargeHeap::usable_size(const void* p, Use use) noexcept {
  if (!os_.owns(p)) return 0;
  size_t n = 0;
  {
    Locked lk(mu_);
    Block* b = live_block_locked(p, use);
    if (b != nullptr) {
      n = b->capacity;
      // The program may now write all of it: a move copies all of it.
      if (use == Use::usable_size) b->size = n;
    }
  }
  if (n == 0) report_stray(p, use);
  return n;
}

void LargeHeap::split_tail_locked(Block* b, size_t keep, uint64_t& cached, Span* unmap, bool* update) noexcept {
  const uintptr_t at = b->addr + keep;
  const size_t bytes = b->capacity - keep;
  b->capacity = keep;
  note_live(-static_cast<int64_t>(bytes));
  // The tail stays mapped and goes around the ring like any freed block: a
  // later request (or this block growing again) takes it back without a
  // fault, and the reclaimer releases it if nobody does.
  Block* t = ring_exclusive_ ? nullptr : table_.insert(at, bytes);
  if (t != nullptr) {
    t->dirty = true;
    t->split_tail = true;
    if (cache_.cached_bytes() + bytes <= cache_.max_bytes() && cache_.put(t, update) == BlockCache::PutResult::cached) {
      cached++;
      return;
    }
    table_.erase(t);
  }
  *unmap = {reinterpret_cast<void*>(at), bytes};
}

void* LargeHeap::reallocate(void* p, size_t bytes, bool* ours) noexcept {
  *ours = os_.owns(p);
  if (!*ours) return nullptr;
  const size_t capacity = capacity_for(bytes);
  Block* b = nullptr;
  Block* onto = nullptr;  // a cached block the contents move onto
  size_t old_capacity = 0;
  size_t old_size = 0;
  Span tail{nullptr, 0};
  bool update = false;
  bool copy = false;
  Span evicted[kMaxEvictions];
  size_t nevicted = 0;
  void* done = nullptr;
  {
    Locked lk(mu_);
    b = live_block_locked(p, Use::realloc);
    if (b != nullptr) {
      if (capacity == 0) {
        errno = ENOMEM;
        return nullptr;
      }
      if (bytes <= b->capacity) {
        counters_.realloc_in_place++;
        b->size = bytes;
        // A block that shrank to half its capacity or less hands the rest
        // to the cache.
        if (capacity <= b->capacity / 2) split_tail_locked(b, capacity, counters_.realloc_tails_cached, &tail, &update);
        done = p;
      } else if (!ring_exclusive_) {
        // The block right after it is cached and together they are enough:
        // take it back and grow in place (no system call, no copy, and no
        // fault if the reclaimer had not released it).
        Block* next = table_.find(b->addr + b->capacity);
        if (next != nullptr && next->state == BlockState::cached && b->capacity + next->capacity >= bytes &&
            cache_.take_block(next, &update)) {
          const size_t add = next->capacity;
          table_.erase(next);
          b->capacity += add;
          b->size = bytes;
          note_live(static_cast<int64_t>(add));
          counters_.realloc_absorbed++;
          if (capacity <= b->capacity / 2) {
            split_tail_locked(b, capacity, counters_.realloc_tails_cached, &tail, &update);
          }
          done = p;
        } else if ((onto = cache_.take(bytes, kPageSize, &update)) != nullptr) {
          // A cached block that fits.
          onto->size = bytes;
          note_live(static_cast<int64_t>(onto->capacity));
          copy = !onto->released;
        }
      }
      if (done == nullptr && onto == nullptr && !ring_exclusive_) {
        // New pages are about to be mapped (mremap): as for a miss.
        nevicted = trim_for_miss_locked(capacity - b->capacity, evicted, &update);
      }
      if (done == nullptr) {
        old_capacity = b->capacity;
        old_size = b->size;
        // Out of the index while its mapping moves: the old range may be
        // reused by another mapping before we re-index it.
        if (!copy) table_.detach(b);
      }
    }
  }
  if (b == nullptr) report_stray(p, Use::realloc);
  if (update) ring_.update_accounting();
  if (tail.addr != nullptr) os_.unmap(tail.addr, tail.bytes);
  for (size_t i = 0; i < nevicted; i++) os_.unmap(evicted[i].addr, evicted[i].bytes);
  if (done != nullptr) return done;
  update = false;
  tail = {nullptr, 0};

  if (copy) {
    // Its pages are intact: the contents are copied into them and the old
    // block goes to the cache, resident, for the next request. Copying
    // costs less than the faults of the pages it keeps resident, and the
    // memory mapped stays the same (moving the pages instead would unmap
    // the old range, and a later request would map and fault it again).
    // What the program may have written: what it asked for (the whole
    // capacity once it asked malloc_usable_size).
    std::memcpy(reinterpret_cast<void*>(onto->addr), p, old_size);
    free(p);
    Locked lk(mu_);
    counters_.realloc_into_cached++;
    return reinterpret_cast<void*>(onto->addr);
  }
  if (onto != nullptr) {
    // Released by the reclaimer: its pages would fault if written, so the
    // old pages move onto its start instead (mremap MREMAP_FIXED: page
    // tables move, nothing is copied, the moved pages stay resident; the
    // rest of the block faults as fresh memory would). The old range goes
    // back to the heap's address range.
    const int err = os_.move_onto(p, old_capacity, reinterpret_cast<void*>(onto->addr));
    Span lost{nullptr, 0};
    {
      Locked lk(mu_);
      if (err == 0) {
        note_live(-static_cast<int64_t>(old_capacity));
        note_gone_locked(b->addr, old_capacity);
        table_.discard_detached(b);
        counters_.realloc_moved++;
        if (capacity <= onto->capacity / 2) {
          split_tail_locked(onto, capacity, counters_.realloc_tails_cached, &tail, &update);
        }
        done = reinterpret_cast<void*>(onto->addr);
      } else {
        // The kernel may have unmapped the target already: drop that block.
        lost = {reinterpret_cast<void*>(onto->addr), onto->capacity};
        note_live(-static_cast<int64_t>(onto->capacity));
        table_.erase(onto);
      }
    }
    if (update) ring_.update_accounting();
    if (tail.addr != nullptr) os_.unmap(tail.addr, tail.bytes);
    if (done != nullptr) return done;
    os_.unmap(lost.addr, lost.bytes);
  }

  void* q = os_.remap(p, old_capacity, capacity);
  if (q != nullptr) {
    Locked lk(mu_);
    b->addr = reinterpret_cast<uintptr_t>(q);
    b->capacity = capacity;
    b->size = bytes;
    table_.attach(b);
    counters_.realloc_remapped++;
    note_live(static_cast<int64_t>(capacity - old_capacity));
    return q;
  }
  {
    Locked lk(mu_);
    table_.attach(b);
  }
  void* fresh = allocate(bytes, kPageSize, false);
  if (fresh == nullptr) return nullptr;  // the old block stays valid
  std::memcpy(fresh, p, old_size);
  free(p);
  {
    Locked lk(mu_);
    counters_.realloc_copied++;
  }
  return fresh;
}

HeapSnapshot LargeHeap::snapshot() noexcept {
  Locked lk(mu_);
  HeapSnapshot s;
  s.heap = counters_;
  s.cache = cache_.counters();
  s.cached_bytes = cache_.cached_bytes();
  s.cached_blocks = cache_.cached_blocks();
  s.blocks = table_.size();
  return s;
}

void LargeHeap::reset_after_fork_child() noexcept {
  // The thread that was growing the ring does not exist in the child; the
  // engine's own fork handler made sure the ring itself is consistent.
  ring_exclusive_ = false;
  pthread_mutex_unlock(&mu_);
}

}  // namespace vmreclaim::alloc
