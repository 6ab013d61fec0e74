#include "block_cache.h"

namespace vmreclaim::alloc {

void BlockCache::list(Block* b) noexcept {
  b->state = BlockState::cached;
  b->class_prev = nullptr;
  b->class_next = classes_[b->cls];
  if (b->class_next != nullptr) b->class_next->class_prev = b;
  classes_[b->cls] = b;
  b->age_prev = nullptr;
  b->age_next = newest_;
  if (newest_ != nullptr) newest_->age_prev = b;
  newest_ = b;
  if (oldest_ == nullptr) oldest_ = b;
  cached_bytes_ += b->capacity;
  cached_blocks_++;
}

void BlockCache::unlist(Block* b) noexcept {
  if (b->class_prev != nullptr) {
    b->class_prev->class_next = b->class_next;
  } else {
    classes_[b->cls] = b->class_next;
  }
  if (b->class_next != nullptr) b->class_next->class_prev = b->class_prev;
  if (b->age_prev != nullptr) {
    b->age_prev->age_next = b->age_next;
  } else {
    newest_ = b->age_next;
  }
  if (b->age_next != nullptr) {
    b->age_next->age_prev = b->age_prev;
  } else {
    oldest_ = b->age_prev;
  }
  b->class_prev = b->class_next = b->age_prev = b->age_next = nullptr;
  b->state = BlockState::live;
  cached_bytes_ -= b->capacity;
  cached_blocks_--;
}

Block* BlockCache::take(size_t bytes, size_t align, bool* update) noexcept {
  const uint32_t first = class_ceil(bytes);
  if (first >= kClassCount || cached_blocks_ == 0) {
    counters_.misses++;
    return nullptr;
  }
  const uint32_t last = first + kSearchClasses < kClassCount ? first + kSearchClasses : kClassCount - 1;
  if (Block* b = take_from(first, last, bytes, align, update)) return b;
  counters_.misses++;
  return nullptr;
}

Block* BlockCache::take_larger(size_t bytes, size_t align, bool* update) noexcept {
  const uint32_t first = class_ceil(bytes) + kSearchClasses + 1;
  if (first >= kClassCount || cached_blocks_ == 0) return nullptr;
  Block* b = take_from(first, kClassCount - 1, bytes, align, update);
  if (b != nullptr) counters_.split_hits++;
  return b;
}

Block* BlockCache::take_from(uint32_t first, uint32_t last, size_t bytes, size_t align, bool* update) noexcept {
  for (uint32_t c = first; c <= last; c++) {
    for (Block* b = classes_[c]; b != nullptr;) {
      Block* next = b->class_next;
      if (b->capacity < bytes || b->addr % align != 0) {
        b = next;
        continue;
      }
      switch (ring_.cancel(b->ring_id, b->addr, static_cast<uint32_t>(b->capacity), update)) {
        case VM_RECLAIM_UNRECLAIMED:
          unlist(b);
          b->released = false;
          counters_.hits_intact++;
          return b;
        case VM_RECLAIM_FREED:
          unlist(b);
          // Released, but not necessarily zero: MADV_DONTNEED drops the
          // pages, MADV_FREE lets them keep their bytes until the kernel
          // needs the memory. Only pages still resident can be stale.
          b->released = true;
          counters_.hits_zeroed++;
          return b;
        case VM_RECLAIM_BUSY:
          counters_.busy_skips++;  // ask again next time; it will be FREED
          break;
        default:
          // Unmapped behind our back: nothing left to reuse or unmap.
          unlist(b);
          table_.erase(b);
          counters_.lost++;
          break;
      }
      b = next;
    }
  }
  return nullptr;
}

bool BlockCache::take_block(Block* b, bool* update) noexcept {
  switch (ring_.cancel(b->ring_id, b->addr, static_cast<uint32_t>(b->capacity), update)) {
    case VM_RECLAIM_UNRECLAIMED:
      unlist(b);
      b->released = false;
      counters_.hits_intact++;
      return true;
    case VM_RECLAIM_FREED:
      unlist(b);
      b->released = true;
      counters_.hits_zeroed++;
      return true;
    case VM_RECLAIM_BUSY: counters_.busy_skips++; return false;
    default:
      unlist(b);
      table_.erase(b);
      counters_.lost++;
      return false;
  }
}

BlockCache::PutResult BlockCache::put(Block* b, bool* update) noexcept {
  if (b->capacity > max_bytes_ || b->capacity > VM_RECLAIM_REGION_SIZE_MAX) {
    counters_.put_failures++;
    return PutResult::rejected;
  }
  const uint32_t cls = class_floor(b->capacity);
  if (cls >= kClassCount) {
    counters_.put_failures++;
    return PutResult::rejected;
  }
  uint64_t id = 0;
  if (!ring_.enter(b->addr, static_cast<uint32_t>(b->capacity), &id, update)) {
    counters_.put_failures++;
    return ring_.full() ? PutResult::ring_full : PutResult::rejected;
  }
  b->ring_id = id;
  b->cls = cls;
  list(b);
  counters_.puts++;
  return PutResult::cached;
}

size_t BlockCache::evict_for(size_t incoming, Block** out, size_t max_out, bool* update) noexcept {
  return evict_down_to(incoming >= max_bytes_ ? 0 : max_bytes_ - incoming, out, max_out, update);
}

size_t BlockCache::evict_down_to(size_t target, Block** out, size_t max_out, bool* update) noexcept {
  size_t n = 0;
  for (Block* b = oldest_; b != nullptr && n < max_out && cached_bytes_ > target;) {
    Block* older_to_newer = b->age_prev;
    mach_vm_reclaim_state_t s = ring_.cancel(b->ring_id, b->addr, static_cast<uint32_t>(b->capacity), update);
    if (s != VM_RECLAIM_BUSY) {
      unlist(b);
      if (s == VM_RECLAIM_DEALLOCATED) {
        table_.erase(b);
        counters_.lost++;
      } else {
        out[n++] = b;
        counters_.evictions++;
      }
    }
    b = older_to_newer;
  }
  return n;
}

}  // namespace vmreclaim::alloc
