// The heap's only contact with the kernel's address space: map, unmap,
// and remap anonymous memory. Every call is counted, so the exit
// report can say how many system calls the layer itself made.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace vmreclaim::alloc {

struct OsCounters {
  std::atomic<uint64_t> maps{0}, unmaps{0}, remaps{0}, mincores{0};
};

class OsPages {
 public:
  // Fresh zeroed read-write memory, or nullptr (errno set).
  void* map(size_t bytes) noexcept;
  // Fresh memory at an address that is a multiple of `align` (a power of two
  // larger than a page); the surplus around it is unmapped.
  void* map_aligned(size_t bytes, size_t align) noexcept;
  // 0 or errno. Failure is reported once on stderr by the caller's policy.
  int unmap(void* addr, size_t bytes) noexcept;
  // Grow or shrink a mapping; may move it (the kernel moves page tables,
  // never copies). nullptr if the kernel refused (the old mapping stays).
  void* remap(void* addr, size_t old_bytes, size_t new_bytes) noexcept;
  // Moves the pages of [from, from+bytes) onto [to, to+bytes) of another
  // mapping (mremap MREMAP_FIXED: page tables move, nothing is copied or
  // faulted); what was mapped at `to` is replaced and `from` is unmapped.
  // 0 or errno (e.g. EFAULT: `from` spans two mappings). On failure `from`
  // is intact but [to, to+bytes) may have been unmapped already (the kernel
  // clears the target before it checks the source).
  int move_onto(void* from, size_t bytes, void* to) noexcept;
  // Clears [addr, addr+bytes) of a mapping whose pages were released
  // (MADV_DONTNEED or MADV_FREE): only pages still resident can hold bytes,
  // so only those are written; the others read as zero and stay unfaulted.
  // Falls back to clearing everything if mincore() fails.
  void zero_resident(void* addr, size_t bytes) noexcept;
  // Whether every page of [addr, addr+bytes) (page-aligned) is mapped: 0 if
  // so, ENOMEM if some page is not, another errno if the kernel cannot say.
  int mapped(const void* addr, size_t bytes) noexcept;
  // Memory for the heap's own bookkeeping (never from malloc).
  void* map_metadata(size_t bytes) noexcept;

  const OsCounters& counters() const noexcept { return counters_; }

  // Lock-free "may `p` lie in memory that map(), map_aligned() or remap()
  // ever returned?": one bit per hashed 2 MiB granule of the address space,
  // set when a block's memory is mapped and never cleared, so it also
  // answers yes for blocks unmapped since and for interior pointers. No
  // false negatives; false positives (other memory in the same granule, or
  // a granule hashing to the same bit) only cost the caller a closer look.
  // Relaxed: a pointer reaching free() was returned by the mapping call
  // that set its bit, and the program's own hand-over of the pointer orders
  // that store before this load.
  bool may_have_mapped(const void* p) const noexcept {
    const size_t g = granule_bit(reinterpret_cast<uintptr_t>(p) >> kGranuleShift);
    return (granules_[g / 64].load(std::memory_order_relaxed) >> (g % 64) & 1) != 0;
  }

 private:
  static constexpr unsigned kGranuleShift = 21;  // 2 MiB
  static constexpr size_t kGranuleBits = size_t{1} << 17;
  static size_t granule_bit(uintptr_t granule) noexcept {
    return static_cast<size_t>((granule * 0x9E3779B97F4A7C15ull) >> 47);  // 64 - 17 bits
  }
  void note_mapped(const void* addr, size_t bytes) noexcept;

  OsCounters counters_;
  std::atomic<uint64_t> granules_[kGranuleBits / 64] = {};
};

}  // namespace vmreclaim::alloc
