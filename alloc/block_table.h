// The heap's out-of-line record of every large block it owns, found by the
// block's address. Records live outside the blocks, so a block's pages can
// be released by the reclaimer without losing what the heap knows about it,
// and free() can tell its own pointers (and double frees) from others'.
// Not thread-safe: the heap's lock guards it. Never calls malloc.
#pragma once

#include <cstddef>
#include <cstdint>

#include "os_pages.h"

namespace vmreclaim::alloc {

enum class BlockState : uint8_t { live, cached };

struct Block {
  uintptr_t addr = 0;
  size_t capacity = 0;   // bytes mapped (whole pages)
  size_t size = 0;       // bytes the program may have written: asked for by the last allocation
                         // or realloc, the whole capacity once it asked malloc_usable_size
  uint64_t ring_id = 0;  // while cached: its ring entry
  BlockState state = BlockState::live;
  bool dirty = false;       // while cached: may hold non-zero bytes
  bool split_tail = false;  // split off the block before it, in the same mapping
  bool released = false;    // taken back FREED: pages that are still resident may hold
                            // the old bytes (MADV_FREE keeps them until memory pressure)
  uint32_t cls = 0;         // while cached: its cache list
  Block* hash_next = nullptr;
  Block* class_prev = nullptr;  // cache lists (one per class, and the age list)
  Block* class_next = nullptr;
  Block* age_prev = nullptr;
  Block* age_next = nullptr;
};

class BlockTable {
 public:
  explicit BlockTable(OsPages& os) noexcept : os_(os) {}
  BlockTable(const BlockTable&) = delete;
  BlockTable& operator=(const BlockTable&) = delete;

  // A new record for a block at `addr`, indexed; nullptr if out of memory.
  Block* insert(uintptr_t addr, size_t capacity) noexcept;
  Block* find(uintptr_t addr) const noexcept;
  // The block whose [addr, addr + capacity) holds `addr`, or nullptr
  // (binary search over the records ordered by address).
  Block* containing(uintptr_t addr) const noexcept;
  // Moves a record to a new address (after mremap moved the block).
  void rekey(Block* b, uintptr_t new_addr) noexcept;
  // Forgets the block and recycles its record.
  void erase(Block* b) noexcept;
  // Takes a record out of the index without recycling it (while its block
  // is being moved), and puts it back. attach() cannot fail: detach() keeps
  // the index's room.
  void detach(Block* b) noexcept;
  void attach(Block* b) noexcept;
  // Recycles a detached record whose block is gone (moved onto another).
  void discard_detached(Block* b) noexcept;

  size_t size() const noexcept { return count_; }

 private:
  size_t bucket_of(uintptr_t addr) const noexcept;
  void link(Block* b) noexcept;
  void unlink(Block* b) noexcept;
  bool grow() noexcept;
  Block* new_record() noexcept;
  // The address-ordered index: every indexed block once, by addr. Changes
  // only when a block is mapped, unmapped or moved (each a system call of
  // its own), never on the cache's take/put, so its O(n) insert is cheap
  // next to the mmap it follows.
  size_t lower_bound(uintptr_t addr) const noexcept;
  bool order_insert(Block* b) noexcept;
  void order_erase(Block* b) noexcept;

  OsPages& os_;
  Block** buckets_ = nullptr;
  size_t nbuckets_ = 0;  // a power of two
  size_t count_ = 0;
  Block* free_records_ = nullptr;  // chained through hash_next
  Block** ordered_ = nullptr;      // count_ entries, ascending addr
  size_t ordered_cap_ = 0;
};

}  // namespace vmreclaim::alloc
