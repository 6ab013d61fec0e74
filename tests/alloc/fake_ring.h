// A scripted ReclaimRing for the cache and heap unit tests: entries are kept
// in a table, and the test decides what the "reclaimer" did to each one
// (nothing, released its pages, is busy with it, unmapped it).
#pragma once

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <map>

#include "reclaim_ring.h"

namespace vmreclaim::test {

class FakeRing final : public alloc::ReclaimRing {
 public:
  struct Entry {
    uintptr_t addr;
    uint32_t size;
    mach_vm_reclaim_state_t state;
  };

  bool enter(uintptr_t addr, uint32_t size, uint64_t* id, bool* update) noexcept override {
    full_ = entries_.size() >= capacity;
    if (full_) return false;
    *id = next_id_++;
    entries_[*id] = {addr, size, VM_RECLAIM_UNRECLAIMED};
    *update = update_on_enter;
    return true;
  }
  mach_vm_reclaim_state_t cancel(uint64_t id, uintptr_t addr, uint32_t size, bool*) noexcept override {
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.addr != addr || it->second.size != size) {
      mismatches++;
      return VM_RECLAIM_DEALLOCATED;
    }
    mach_vm_reclaim_state_t s = it->second.state;
    if (s != VM_RECLAIM_BUSY) entries_.erase(it);
    cancels++;
    return s;
  }
  bool full() const noexcept override { return full_; }
  void make_room() noexcept override {
    rooms++;
    capacity *= 2;
  }
  void update_accounting() noexcept override { updates++; }

  // The reclaimer at work: FREE releases the pages with `advice`, as the
  // engine does (MADV_DONTNEED: they read as zero; MADV_FREE: they keep
  // their bytes until memory pressure).
  void reclaim_all(int advice = MADV_DONTNEED) {
    for (auto& [id, e] : entries_) {
      if (e.state == VM_RECLAIM_UNRECLAIMED) {
        if (::madvise(reinterpret_cast<void*>(e.addr), e.size, advice) != 0) ::abort();
        e.state = VM_RECLAIM_FREED;
      }
    }
  }
  void set_state_all(mach_vm_reclaim_state_t s) {
    for (auto& [id, e] : entries_) e.state = s;
  }
  size_t entries() const { return entries_.size(); }

  size_t capacity = 1u << 20;
  bool update_on_enter = false;
  int cancels = 0, mismatches = 0, rooms = 0, updates = 0;

 private:
  std::map<uint64_t, Entry> entries_;
  uint64_t next_id_ = 0;
  bool full_ = false;
};

}  // namespace vmreclaim::test
