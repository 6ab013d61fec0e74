#include "block_table.h"

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

Block* BlockTable::insert(uintptr_t addr, size_t capacity) noexcept {
  if (count_ + 1 > nbuckets_ && !grow() && nbuckets_ == 0) return nullptr;
  Block* b = new_record();
  if (b == nullptr) return nullptr;
  b->addr = addr;
  b->capacity = capacity;
  link(b);
  filter_.add(addr);
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

void BlockTable::rekey(Block* b, uintptr_t new_addr) noexcept {
  unlink(b);
  filter_.remove(b->addr);
  b->addr = new_addr;
  link(b);
  filter_.add(new_addr);
}

void BlockTable::detach(Block* b) noexcept {
  unlink(b);
  filter_.remove(b->addr);
  count_--;
}

void BlockTable::attach(Block* b) noexcept {
  link(b);
  filter_.add(b->addr);
  count_++;
}

void BlockTable::erase(Block* b) noexcept {
  unlink(b);
  filter_.remove(b->addr);
  count_--;
  b->hash_next = free_records_;
  free_records_ = b;
}

}  // namespace vmreclaim::alloc
