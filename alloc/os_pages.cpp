#include "os_pages.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace vmreclaim::alloc {
namespace {
constexpr auto relaxed = std::memory_order_relaxed;
constexpr size_t kPage = 4096;
}  // namespace

OsPages::OsPages(size_t bytes, bool huge_pages) noexcept : range_(&own_), huge_pages_(huge_pages) {
  // Unit tests: a failed reservation leaves a range that holds nothing, and
  // every map fails with ENOMEM.
  own_.reserve(bytes, AddressRange::Placement::anywhere);
}

bool OsPages::map_over(uintptr_t at, size_t bytes, size_t block_bytes) noexcept {
  void* p = ::mmap(reinterpret_cast<void*>(at), bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                   -1, 0);
  if (p == MAP_FAILED) return false;
  if (huge(block_bytes)) advise_huge(p, bytes);
  return true;
}

void OsPages::advise_huge(void* addr, size_t bytes) noexcept {
  // Advice only: refused, the block keeps small pages. The kernel's mode
  // decides the rest ("never" ignores it; "always" needs none).
  if (::madvise(addr, bytes, MADV_HUGEPAGE) != 0) counters_.hugepage_refusals.fetch_add(1, relaxed);
}

void* OsPages::map(size_t bytes) noexcept { return map_aligned(bytes, kPage); }

void* OsPages::map_aligned(size_t bytes, size_t align) noexcept {
  counters_.maps.fetch_add(1, relaxed);
  const uintptr_t at = range_ != nullptr ? range_->take(bytes, align < kPage ? kPage : align) : 0;
  if (at == 0) {
    counters_.range_full.fetch_add(1, relaxed);
    errno = ENOMEM;
    return nullptr;
  }
  if (!map_over(at, bytes, bytes)) {
    const int err = errno;
    // The part is still reserved, or MAP_FIXED unmapped it before failing:
    // either way the reservation goes over it again.
    range_->release(at, bytes);
    errno = err;
    return nullptr;
  }
  return reinterpret_cast<void*>(at);
}

int OsPages::unmap(void* addr, size_t bytes) noexcept {
  counters_.unmaps.fetch_add(1, relaxed);
  return range_->release(reinterpret_cast<uintptr_t>(addr), bytes);
}

void* OsPages::remap(void* addr, size_t old_bytes, size_t new_bytes) noexcept {
  const auto a = reinterpret_cast<uintptr_t>(addr);
  if (new_bytes <= old_bytes) {
    if (new_bytes < old_bytes && unmap(static_cast<char*>(addr) + new_bytes, old_bytes - new_bytes) != 0) {
      return nullptr;
    }
    return addr;
  }
  counters_.remaps.fetch_add(1, relaxed);
  // The range free right after it: the mapping grows there, nothing moves.
  // Grown by mremap, not by a second mapping: the block stays one mapping
  // (a second one would not merge with a block mremap had moved before, and
  // a later move of the two would fail, EFAULT, and copy). mremap grows only
  // into unmapped addresses, so the reservation there is unmapped first: a
  // hole for a moment, safe in the window (nothing else maps there).
  const size_t grow = new_bytes - old_bytes;
  if (range_->take_at(a + old_bytes, grow)) {
    if (::munmap(reinterpret_cast<void*>(a + old_bytes), grow) == 0 &&
        ::mremap(addr, old_bytes, new_bytes, 0) != MAP_FAILED) {
      // The grown part has the block's advice; a block grown past the
      // huge-page size gets it now.
      if (huge(new_bytes) && !huge(old_bytes)) advise_huge(addr, new_bytes);
      return addr;
    }
    range_->release(a + old_bytes, grow);  // reserved, or the hole made above
  }
  // Elsewhere in the range: the pages move there (the kernel moves page
  // tables); the rest of the new block is fresh, mapped first. The move
  // keeps its size: kernels from 6.17 move a range over several mappings
  // then (a block that absorbed its neighbour can be two), where a
  // resizing move fails with EFAULT and the caller copies.
  const uintptr_t to = range_->take(new_bytes, kPage);
  if (to == 0) {
    counters_.range_full.fetch_add(1, relaxed);
    return nullptr;
  }
  // The new part gets the advice the moved pages have (or get below): the
  // whole block is advised, though the two stay separate mappings (moved
  // pages keep their page offset, so the kernel does not merge them).
  if (!map_over(to + old_bytes, new_bytes - old_bytes, new_bytes)) {
    range_->release(to, new_bytes);
    return nullptr;
  }
  void* p = ::mremap(addr, old_bytes, old_bytes, MREMAP_MAYMOVE | MREMAP_FIXED, reinterpret_cast<void*>(to));
  if (p == MAP_FAILED) {
    // The target's first part may be unmapped now (the kernel clears it
    // before it checks the source): all of it is reserved again.
    range_->release(to, new_bytes);
    return nullptr;
  }
  // The old range is unmapped now: reserved again, unless something else
  // was mapped there in between (then it is lost to the range).
  range_->release_hole(a, old_bytes);
  if (huge(new_bytes) && !huge(old_bytes)) advise_huge(p, new_bytes);
  return p;
}

int OsPages::move_onto(void* from, size_t bytes, void* to) noexcept {
  counters_.remaps.fetch_add(1, relaxed);
  void* p = ::mremap(from, bytes, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, to);
  if (p == MAP_FAILED) return errno;
  range_->release_hole(reinterpret_cast<uintptr_t>(from), bytes);
  return 0;
}

void OsPages::zero_resident(void* addr, size_t bytes) noexcept {
  constexpr size_t kPagesPerCall = 4096;  // 16 MiB per mincore(), 4 KiB of stack
  unsigned char resident[kPagesPerCall];
  auto* p = static_cast<unsigned char*>(addr);
  while (bytes > 0) {
    const size_t pages = (bytes + kPage - 1) / kPage < kPagesPerCall ? (bytes + kPage - 1) / kPage : kPagesPerCall;
    const size_t span = pages * kPage < bytes ? pages * kPage : bytes;
    counters_.mincores.fetch_add(1, relaxed);
    if (::mincore(p, pages * kPage, resident) != 0) {
      std::memset(p, 0, span);  // cannot tell: clear it all
    } else {
      // Clear each run of resident pages with one memset.
      size_t i = 0;
      while (i < pages) {
        if ((resident[i] & 1) == 0) {
          i++;
          continue;
        }
        size_t j = i;
        while (j < pages && (resident[j] & 1) != 0) j++;
        const size_t from = i * kPage;
        const size_t to = j * kPage < span ? j * kPage : span;
        std::memset(p + from, 0, to - from);
        i = j;
      }
    }
    p += span;
    bytes -= span;
  }
}

void* OsPages::map_metadata(size_t bytes) noexcept {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

}  // namespace vmreclaim::alloc
