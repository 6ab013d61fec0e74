#include "block_table.h"

#include <cstring>
#include <new>

namespace vmreclaim::alloc {
namespace {

constexpr size_t kInitialBuckets = 1024;
constexpr size_t kRecordSlabBytes = 64 * 1024;

}  // namespace

size_t BlockTable::bucket_of(uintptr_t addr) const noexcept {
  // Blocks are page-aligned: drop the zero bits, then mix.
  uint64_t h = (addr >> 12) * 0x9E3779B97F4A7C15ull;
  return static_cast<size_t>(h >> 32) & (nbuckets_ - 1);
}

void BlockTable::link(Block* b) noexcept {
  Block*& head = buckets_[bucket_of(b->addr)];
  b->hash_next = head;
  head = b;
}

void BlockTable::unlink(Block* b) noexcept {
  for (Block** p = &buckets_[bucket_of(b->addr)]; *p != nullptr; p = &(*p)->hash_next) {
    if (*p == b) {
      *p = b->hash_next;
      b->hash_next = nullptr;
      return;
    }
  }
}

bool BlockTable::grow() noexcept {
  const size_t n = nbuckets_ == 0 ? kInitialBuckets : nbuckets_ * 2;
  auto** fresh = static_cast<Block**>(os_.map_metadata(n * sizeof(Block*)));
  if (fresh == nullptr) return false;  // keep the old table; chains just get longer
  Block** old = buckets_;
  const size_t old_n = nbuckets_;
  buckets_ = fresh;  // mmap memory is zeroed: all chains empty
  nbuckets_ = n;
  for (size_t i = 0; i < old_n; i++) {
    for (Block* b = old[i]; b != nullptr;) {
      Block* next = b->hash_next;
      link(b);
      b = next;
    }
  }
  if (old != nullptr) os_.unmap(old, old_n * sizeof(Block*));
  return true;
}

Block* BlockTable::new_record() noexcept {
  if (free_records_ == nullptr) {
    auto* slab = static_cast<Block*>(os_.map_metadata(kRecordSlabBytes));
    if (slab == nullptr) return nullptr;
    for (size_t i = 0; i < kRecordSlabBytes / sizeof(Block); i++) {
      Block* b = new (&slab[i]) Block;
      b->hash_next = free_records_;
      free_records_ = b;
    }
  }
  Block* b = free_records_;
  free_records_ = b->hash_next;
  *b = Block{};
  return b;
}

size_t BlockTable::lower_bound(uintptr_t addr) const noexcept {
  size_t lo = 0, hi = count_;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (ordered_[mid]->addr < addr) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

bool BlockTable::order_insert(Block* b) noexcept {
  if (count_ + 1 > ordered_cap_) {
    const size_t cap = ordered_cap_ == 0 ? 512 : ordered_cap_ * 2;
    auto** fresh = static_cast<Block**>(os_.map_metadata(cap * sizeof(Block*)));
    if (fresh == nullptr) return false;
    if (count_ > 0) std::memcpy(fresh, ordered_, count_ * sizeof(Block*));
    if (ordered_ != nullptr) os_.unmap(ordered_, ordered_cap_ * sizeof(Block*));
    ordered_ = fresh;
    ordered_cap_ = cap;
  }
  const size_t i = lower_bound(b->addr);
  std::memmove(ordered_ + i + 1, ordered_ + i, (count_ - i) * sizeof(Block*));
  ordered_[i] = b;
  return true;
}

void BlockTable::order_erase(Block* b) noexcept {
  size_t i = lower_bound(b->addr);
  while (i < count_ && ordered_[i] != b) i++;  // addresses are unique; defensive
  if (i == count_) return;
  std::memmove(ordered_ + i, ordered_ + i + 1, (count_ - i - 1) * sizeof(Block*));
}

Block* BlockTable::insert(uintptr_t addr, size_t capacity) noexcept {
  if (count_ + 1 > nbuckets_ && !grow() && nbuckets_ == 0) return nullptr;
  Block* b = new_record();
  if (b == nullptr) return nullptr;
  b->addr = addr;
  b->capacity = capacity;
  if (!order_insert(b)) {
    b->hash_next = free_records_;
    free_records_ = b;
    return nullptr;
  }
  link(b);
  count_++;
  return b;
}

Block* BlockTable::find(uintptr_t addr) const noexcept {
  if (nbuckets_ == 0) return nullptr;
  for (Block* b = buckets_[bucket_of(addr)]; b != nullptr; b = b->hash_next) {
    if (b->addr == addr) return b;
  }
  return nullptr;
}

Block* BlockTable::containing(uintptr_t addr) const noexcept {
  // The last block starting at or below addr.
  size_t i = lower_bound(addr + 1);
  if (i == 0) return nullptr;
  Block* b = ordered_[i - 1];
  return addr - b->addr < b->capacity ? b : nullptr;
}

void BlockTable::rekey(Block* b, uintptr_t new_addr) noexcept {
  order_erase(b);
  unlink(b);
  count_--;
  b->addr = new_addr;
  attach(b);
}

void BlockTable::detach(Block* b) noexcept {
  order_erase(b);
  unlink(b);
  count_--;
}

void BlockTable::attach(Block* b) noexcept {
  order_insert(b);  // room kept since detach(): cannot fail
  link(b);
  count_++;
}

void BlockTable::discard_detached(Block* b) noexcept {
  b->hash_next = free_records_;
  free_records_ = b;
}

void BlockTable::erase(Block* b) noexcept {
  order_erase(b);
  unlink(b);
  count_--;
  b->hash_next = free_records_;
  free_records_ = b;
}

}  // namespace vmreclaim::alloc
