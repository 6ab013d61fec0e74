#include "demo_allocators.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace vmreclaim::tools::demo {
namespace {

[[noreturn]] void fail(const std::string& what, int err) { throw std::runtime_error(what + ": " + std::strerror(err)); }

void* map_block(size_t size, uint64_t& syscalls) {
  syscalls++;
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) fail("mmap of " + std::to_string(size) + " bytes", errno);
  return p;
}

void unmap_block(void* addr, size_t size, uint64_t& syscalls) {
  syscalls++;
  if (::munmap(addr, size) != 0) fail("munmap", errno);
}

uint64_t first_word(const void* addr) noexcept { return *static_cast<const volatile uint64_t*>(addr); }

std::string error_text(std::error_code ec) { return ec.message(); }

}  // namespace

// ---- munmap ----

BlockAllocator::Block MunmapAllocator::allocate(uint32_t cls, size_t size) {
  return Block{map_block(size, syscalls_), size, cls};
}

void MunmapAllocator::release(const Block& block) { unmap_block(block.addr, block.size, syscalls_); }

// ---- madvise ----

BlockAllocator::Block MadviseAllocator::allocate(uint32_t cls, size_t size) {
  std::vector<void*>& kept = cache_[cls];
  if (kept.empty()) return Block{map_block(size, syscalls_), size, cls};
  void* addr = kept.back();
  kept.pop_back();
  return Block{addr, size, cls};
}

void MadviseAllocator::release(const Block& block) {
  std::vector<void*>& kept = cache_[block.cls];
  if (kept.size() >= kKeepPerClass) {
    unmap_block(block.addr, block.size, syscalls_);
    return;
  }
  syscalls_++;
  if (::madvise(block.addr, block.size, MADV_DONTNEED) != 0) fail("madvise(MADV_DONTNEED)", errno);
  kept.push_back(block.addr);
}

// ---- ring ----

RingAllocator::RingAllocator(size_t classes) : cache_(classes) {
  Result<Ring> r = Ring::allocate(kInitialCapacity, kMaxCapacity);
  if (!r) throw std::runtime_error("mach_vm_reclaim_ring_allocate: " + error_text(r.error()));
  ring_ = std::move(r.value());
}

void RingAllocator::update_accounting_if(bool asked) {
  if (!asked) return;
  counters_.accounting_updates++;
  if (std::error_code ec = ring_.update_accounting()) {
    throw std::runtime_error("mach_vm_reclaim_update_kernel_accounting: " + error_text(ec));
  }
}

BlockAllocator::Block RingAllocator::allocate(uint32_t cls, size_t size) {
  std::vector<Cached>& kept = cache_[cls];
  // Newest first: the engine reclaims oldest first, so these are the likeliest
  // to still be intact. Each cached block is tried at most once per call.
  for (size_t tries = kept.size(); tries > 0; tries--) {
    const Cached c = kept.back();
    kept.pop_back();
    Result<Cancelled> r = ring_.try_cancel(c.id, c.addr, size, Action::free);
    if (!r) throw std::runtime_error("mach_vm_reclaim_try_cancel: " + error_text(r.error()));
    update_accounting_if(r->update_accounting);
    switch (r->state) {
      case State::unreclaimed:
        if (first_word(c.addr) != c.first_word) {
          throw std::runtime_error("a block cancelled as UNRECLAIMED lost its contents");
        }
        counters_.reused_unreclaimed++;
        return Block{c.addr, size, cls, c.id};  // its slot can take it back on the next free
      case State::freed:
        // MADV_DONTNEED zero-fills; MADV_FREE (VMRECLAIM tunable) may leave the old data.
        if (first_word(c.addr) != 0 && first_word(c.addr) != c.first_word) {
          throw std::runtime_error("a block cancelled as FREED holds foreign data");
        }
        counters_.reused_freed++;
        return Block{c.addr, size, cls};
      case State::busy:
        // The engine is releasing its pages right now. A FREE entry keeps its
        // mapping, so the block stays ours: keep it, oldest, for a later try
        // (it will come back FREED, or UNRECLAIMED if the engine let go).
        counters_.found_busy++;
        kept.insert(kept.begin(), c);
        break;
      case State::deallocated: counters_.dropped++; break;  // unmapped: nothing left to reuse
    }
  }
  counters_.fresh_mappings++;
  return Block{map_block(size, syscalls_), size, cls};
}

void RingAllocator::release(const Block& block) {
  std::vector<Cached>& kept = cache_[block.cls];
  if (kept.size() >= kKeepPerClass) {
    // The cache is full: let the engine unmap it whenever it gets to it.
    enter(block.addr, block.size, Action::deallocate, block.ring_id);
    counters_.entered_deallocate++;
    return;
  }
  const uint64_t word = first_word(block.addr);
  const Id id = enter(block.addr, block.size, Action::free, block.ring_id);
  counters_.entered_free++;
  kept.push_back(Cached{block.addr, id, word});
}

Id RingAllocator::enter(void* addr, size_t size, Action action, Id reuse) {
  for (int attempt = 0;; attempt++) {
    Result<Entered> r = ring_.try_enter(addr, size, action, reuse);
    if (!r) throw std::runtime_error("mach_vm_reclaim_try_enter: " + error_text(r.error()));
    update_accounting_if(r->update_accounting);
    if (r->entered()) {
      if (reuse != null_id) counters_.reentered_by_id++;
      return r->id;
    }
    if (reuse != null_id) {
      reuse = null_id;  // that slot was reclaimed meanwhile: take a new one
      continue;
    }
    if (attempt > 2) throw std::runtime_error("the ring stays full after flushing");
    counters_.ring_full++;
    Result<uint32_t> cap = ring_.capacity();
    if (!cap) throw std::runtime_error("mach_vm_reclaim_ring_capacity: " + error_text(cap.error()));
    const uint32_t largest = Ring::round_capacity(kMaxCapacity);
    if (*cap < largest) {
      // Growing reclaims every entry first (IDs alias differently after it).
      counters_.resizes++;
      if (std::error_code ec = ring_.resize(std::min(*cap * 2, largest))) {
        throw std::runtime_error("mach_vm_reclaim_ring_resize: " + error_text(ec));
      }
    } else {
      // At its largest: make room by reclaiming the oldest quarter.
      counters_.flushes++;
      if (std::error_code ec = ring_.flush(*cap / 4)) {
        throw std::runtime_error("mach_vm_reclaim_ring_flush: " + error_text(ec));
      }
    }
  }
}

}  // namespace vmreclaim::tools::demo
