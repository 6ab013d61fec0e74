// The three ways the demo gives large blocks back to the system:
//   munmap  — unmap at once, map afresh on the next allocation;
//   madvise — MADV_DONTNEED at once, keep a few mappings per size class;
//   ring    — enter the block into the reclamation ring and keep it cached;
//             an allocation cancels a cached entry and reuses the memory.
#pragma once

#include <vmreclaim/ring.hpp>

#include <cstdint>
#include <vector>

#include "demo_workload.h"

namespace vmreclaim::tools::demo {

class MunmapAllocator final : public BlockAllocator {
 public:
  Block allocate(uint32_t cls, size_t size) override;
  void release(const Block& block) override;
  uint64_t syscalls() const noexcept override { return syscalls_; }

 private:
  uint64_t syscalls_ = 0;
};

class MadviseAllocator final : public BlockAllocator {
 public:
  // Mappings kept per size class; a free beyond that unmaps.
  static constexpr size_t kKeepPerClass = 4;

  explicit MadviseAllocator(size_t classes) : cache_(classes) {}
  Block allocate(uint32_t cls, size_t size) override;
  void release(const Block& block) override;
  uint64_t syscalls() const noexcept override { return syscalls_; }

 private:
  std::vector<std::vector<void*>> cache_;
  uint64_t syscalls_ = 0;
};

// What the ring allocator did, beyond what the ring's statistics say.
struct RingAllocatorCounters {
  uint64_t fresh_mappings = 0;
  uint64_t reused_unreclaimed = 0;  // cancelled in time: no fault, contents intact
  uint64_t reused_freed = 0;        // the engine had released the pages: they fault again
  uint64_t found_busy = 0;          // being reclaimed: kept in the cache for a later try
  uint64_t dropped = 0;             // DEALLOCATED: the mapping is gone
  uint64_t entered_free = 0;
  uint64_t entered_deallocate = 0;
  uint64_t reentered_by_id = 0;
  uint64_t ring_full = 0;
  uint64_t resizes = 0;
  uint64_t flushes = 0;
  uint64_t accounting_updates = 0;
};

class RingAllocator final : public BlockAllocator {
 public:
  // Cached blocks kept per size class; a free beyond that is entered with
  // DEALLOCATE and forgotten (the engine unmaps it).
  static constexpr size_t kKeepPerClass = 16;
  static constexpr uint32_t kInitialCapacity = 1;  // rounded up to one page of entries
  static constexpr uint32_t kMaxCapacity = 1024;

  // Allocates the process's ring; throws std::runtime_error if it cannot.
  explicit RingAllocator(size_t classes);
  Block allocate(uint32_t cls, size_t size) override;
  void release(const Block& block) override;
  uint64_t syscalls() const noexcept override { return syscalls_; }

  Ring& ring() noexcept { return ring_; }
  const RingAllocatorCounters& counters() const noexcept { return counters_; }

 private:
  struct Cached {
    void* addr;
    Id id;
    uint64_t first_word;  // what the block held when freed, checked on reuse
  };

  // Enters the block (re-using `reuse`'s slot if possible), growing or
  // flushing the ring when it is full.
  Id enter(void* addr, size_t size, Action action, Id reuse);
  void update_accounting_if(bool asked);

  Ring ring_;
  std::vector<std::vector<Cached>> cache_;  // per size class, newest last
  RingAllocatorCounters counters_;
  uint64_t syscalls_ = 0;
};

}  // namespace vmreclaim::tools::demo
