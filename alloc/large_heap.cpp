#include "large_heap.h"

#include <unistd.h>

#include <cerrno>
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

}  // namespace

void LargeHeap::bad_pointer(const char* what, const void* p, size_t capacity) noexcept {
  char line[160];
  int n = std::snprintf(line, sizeof line, "vmreclaim-malloc: %s of large block %p (%zu bytes): aborting\n", what, p,
                        capacity);
  if (n > 0) {
    ssize_t ignored = ::write(STDERR_FILENO, line, static_cast<size_t>(n) < sizeof line ? n : sizeof line - 1);
    (void)ignored;
  }
  std::abort();
}

void LargeHeap::note_live(int64_t delta) noexcept {
  counters_.live_bytes += static_cast<uint64_t>(delta);
  if (counters_.live_bytes > counters_.peak_live_bytes) counters_.peak_live_bytes = counters_.live_bytes;
}

Block* LargeHeap::live_block_locked(const void* p, const char* op) noexcept {
  const auto a = reinterpret_cast<uintptr_t>(p);
  if (a % kPageSize != 0) return nullptr;  // the heap only hands out page-aligned blocks
  Block* b = table_.find(a);
  if (b != nullptr && b->state == BlockState::cached) {
    pthread_mutex_unlock(&mu_);
    bad_pointer(op, p, b->capacity);
  }
  return b;
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
  {
    Locked lk(mu_);
    counters_.allocs++;
    if (!ring_exclusive_) hit = cache_.take(bytes, align, &update);
    if (hit != nullptr) {
      hit->size = bytes;
      dirty = hit->dirty;
      released = hit->released;
      note_live(static_cast<int64_t>(hit->capacity));
    }
  }
  if (update) ring_.update_accounting();
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
  if (reinterpret_cast<uintptr_t>(p) % kPageSize != 0) return false;
  Span unmap[kMaxEvictions + 1];
  size_t nunmap = 0;
  bool update = false;
  bool need_room = false;
  Block* held = nullptr;  // waits for room in the ring
  {
    Locked lk(mu_);
    Block* b = live_block_locked(p, "double free");
    if (b == nullptr) return false;
    counters_.frees++;
    note_live(-static_cast<int64_t>(b->capacity));
    b->dirty = true;
    BlockCache::PutResult r = BlockCache::PutResult::rejected;
    if (!ring_exclusive_) {
      Block* victims[kMaxEvictions];
      size_t n = cache_.evict_for(b->capacity, victims, kMaxEvictions, &update);
      for (size_t i = 0; i < n; i++) {
        unmap[nunmap++] = {reinterpret_cast<void*>(victims[i]->addr), victims[i]->capacity};
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
      table_.erase(b);
      counters_.direct_unmaps++;
    }
  }
  for (size_t i = 0; i < nunmap; i++) os_.unmap(unmap[i].addr, unmap[i].bytes);
  if (need_room) {
    ring_.make_room();
    Span rejected{nullptr, 0};
    {
      Locked lk(mu_);
      ring_exclusive_ = false;
      if (cache_.put(held, &update) != BlockCache::PutResult::cached) {
        rejected = {reinterpret_cast<void*>(held->addr), held->capacity};
        table_.erase(held);
        counters_.direct_unmaps++;
      }
    }
    if (rejected.addr != nullptr) os_.unmap(rejected.addr, rejected.bytes);
  }
  if (update) ring_.update_accounting();
  return true;
}

size_t LargeHeap::usable_size(const void* p) noexcept {
  Locked lk(mu_);
  Block* b = live_block_locked(p, "malloc_usable_size after free");
  return b != nullptr ? b->capacity : 0;
}

void* LargeHeap::reallocate(void* p, size_t bytes, bool* ours) noexcept {
  const size_t capacity = capacity_for(bytes);
  Block* b = nullptr;
  size_t old_capacity = 0;
  Span tail{nullptr, 0};
  {
    Locked lk(mu_);
    b = live_block_locked(p, "realloc after free");
    *ours = b != nullptr;
    if (b == nullptr) return nullptr;
    if (capacity == 0) {
      errno = ENOMEM;
      return nullptr;
    }
    if (bytes <= b->capacity) {
      counters_.realloc_in_place++;
      b->size = bytes;
      // A block that shrank to half its capacity or less gives the rest back.
      if (capacity <= b->capacity / 2) {
        tail = {reinterpret_cast<char*>(p) + capacity, b->capacity - capacity};
        note_live(-static_cast<int64_t>(tail.bytes));
        b->capacity = capacity;
      }
    } else {
      old_capacity = b->capacity;
      // Out of the index while its mapping moves: the old range may be
      // reused by another mapping before we re-index it.
      table_.detach(b);
    }
  }
  if (tail.addr != nullptr) os_.unmap(tail.addr, tail.bytes);
  if (old_capacity == 0) return p;

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
  // The caller may have used the whole usable size, not just what it asked for.
  std::memcpy(fresh, p, old_capacity < bytes ? old_capacity : bytes);
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
