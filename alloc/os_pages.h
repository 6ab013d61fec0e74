// The heap's only contact with the kernel's address space: map, unmap,
// and remap anonymous memory, all of it inside one reserved address range
// (address_range.h), so that "is `p` the heap's?" is a range test. Every
// call is counted, so the exit report can say how many system calls the
// layer itself made.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "address_range.h"

namespace vmreclaim::alloc {

struct OsCounters {
  std::atomic<uint64_t> maps{0}, unmaps{0}, remaps{0}, mincores{0};
  std::atomic<uint64_t> range_full{0};  // requests the range had no room for
  // madvise(MADV_HUGEPAGE) refused (EINVAL: a kernel without transparent
  // huge pages); the block works with small pages.
  std::atomic<uint64_t> hugepage_refusals{0};
};

class OsPages {
 public:
  // Blocks of at least this many bytes are advised for transparent huge
  // pages (when asked to): below it a huge page would be most of the block.
  static constexpr size_t kHugePageMin = size_t{2} << 20;

  // Blocks in `range` (the process's; nullptr: none, every map fails).
  OsPages(AddressRange* range, bool huge_pages) noexcept : range_(range), huge_pages_(huge_pages) {}
  // Blocks in a range of its own of `bytes`, wherever the kernel puts it
  // (unit tests).
  explicit OsPages(size_t bytes = size_t{16} << 30, bool huge_pages = false) noexcept;

  // Whether `p` lies in the range (a block, a part of one, or a part of the
  // range no block holds now): lock-free, exact.
  bool owns(const void* p) const noexcept { return range_ != nullptr && range_->contains(p); }
  const AddressRange* range() const noexcept { return range_; }

  // Fresh zeroed read-write memory, or nullptr (errno set; ENOMEM also when
  // the range has no room).
  void* map(size_t bytes) noexcept;
  // Fresh memory at an address that is a multiple of `align` (a power of
  // two larger than a page).
  void* map_aligned(size_t bytes, size_t align) noexcept;
  // Gives a block's memory back to the kernel and its addresses back to the
  // range. 0 or errno. Failure is reported once on stderr by the caller's policy.
  int unmap(void* addr, size_t bytes) noexcept;
  // Grow or shrink a mapping: in place if the range is free after it, else
  // moved within the range (the kernel moves page tables, never copies).
  // nullptr if that failed (the old mapping stays).
  void* remap(void* addr, size_t old_bytes, size_t new_bytes) noexcept;
  // Moves the pages of [from, from+bytes) onto [to, to+bytes) of another
  // mapping (mremap MREMAP_FIXED: page tables move, nothing is copied or
  // faulted); what was mapped at `to` is replaced and `from` goes back to
  // the range. 0 or errno (e.g. EFAULT: `from` spans two mappings). On
  // failure `from` is intact but [to, to+bytes) may have been unmapped
  // already (the kernel clears the target before it checks the source):
  // the caller unmaps the target block, which reserves all of it again
  // (MAP_FIXED over a hole is safe in the window: the kernel never places
  // a mapping there by itself).
  int move_onto(void* from, size_t bytes, void* to) noexcept;
  // Clears [addr, addr+bytes) of a mapping whose pages were released
  // (MADV_DONTNEED or MADV_FREE): only pages still resident can hold bytes,
  // so only those are written; the others read as zero and stay unfaulted.
  // Falls back to clearing everything if mincore() fails.
  void zero_resident(void* addr, size_t bytes) noexcept;
  // Memory for the heap's own bookkeeping (never from malloc).
  void* map_metadata(size_t bytes) noexcept;

  const OsCounters& counters() const noexcept { return counters_; }

 private:
  AddressRange own_;  // the unit tests' range (unused for the process's)
  // Whether a block of `bytes` gets MADV_HUGEPAGE.
  bool huge(size_t bytes) const noexcept { return huge_pages_ && bytes >= kHugePageMin; }
  // Maps read-write memory over [at, at + bytes) of the range (replacing
  // its reservation), advised as a block of `block_bytes`; false with errno
  // if the kernel refused.
  bool map_over(uintptr_t at, size_t bytes, size_t block_bytes) noexcept;
  void advise_huge(void* addr, size_t bytes) noexcept;

  AddressRange* range_;
  const bool huge_pages_ = false;
  OsCounters counters_;
};

}  // namespace vmreclaim::alloc
