#include "os_pages.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace vmreclaim::alloc {
namespace {
constexpr auto relaxed = std::memory_order_relaxed;
}

void OsPages::note_mapped(const void* addr, size_t bytes) noexcept {
  const uintptr_t first = reinterpret_cast<uintptr_t>(addr) >> kGranuleShift;
  const uintptr_t last = (reinterpret_cast<uintptr_t>(addr) + bytes - 1) >> kGranuleShift;
  for (uintptr_t g = first; g <= last; g++) {
    const size_t bit = granule_bit(g);
    // Relaxed: see may_have_mapped().
    granules_[bit / 64].fetch_or(uint64_t{1} << (bit % 64), relaxed);
  }
}

void* OsPages::map(size_t bytes) noexcept {
  counters_.maps.fetch_add(1, relaxed);
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  note_mapped(p, bytes);
  return p;
}

void* OsPages::map_aligned(size_t bytes, size_t align) noexcept {
  if (bytes > SIZE_MAX - align) {
    errno = ENOMEM;
    return nullptr;
  }
  const size_t span = bytes + align;
  auto* base = static_cast<char*>(map(span));
  if (base == nullptr) return nullptr;
  const auto b = reinterpret_cast<uintptr_t>(base);
  char* aligned = base + ((align - b % align) % align);
  // Failing to trim only wastes address space; the block itself is fine.
  if (aligned > base) unmap(base, static_cast<size_t>(aligned - base));
  char* end = aligned + bytes;
  if (end < base + span) unmap(end, static_cast<size_t>(base + span - end));
  return aligned;
}

int OsPages::unmap(void* addr, size_t bytes) noexcept {
  counters_.unmaps.fetch_add(1, relaxed);
  return ::munmap(addr, bytes) == 0 ? 0 : errno;
}

void* OsPages::remap(void* addr, size_t old_bytes, size_t new_bytes) noexcept {
  counters_.remaps.fetch_add(1, relaxed);
  void* p = ::mremap(addr, old_bytes, new_bytes, MREMAP_MAYMOVE);
  if (p == MAP_FAILED) return nullptr;
  note_mapped(p, new_bytes);
  return p;
}

int OsPages::move_onto(void* from, size_t bytes, void* to) noexcept {
  counters_.remaps.fetch_add(1, relaxed);
  void* p = ::mremap(from, bytes, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, to);
  return p == MAP_FAILED ? errno : 0;
}

void OsPages::zero_resident(void* addr, size_t bytes) noexcept {
  constexpr size_t kPage = 4096;
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

int OsPages::mapped(const void* addr, size_t bytes) noexcept {
  unsigned char resident[8];
  if (bytes > sizeof resident * 4096) return EINVAL;
  counters_.mincores.fetch_add(1, relaxed);
  return ::mincore(const_cast<void*>(addr), bytes, resident) == 0 ? 0 : errno;
}

void* OsPages::map_metadata(size_t bytes) noexcept {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

}  // namespace vmreclaim::alloc
