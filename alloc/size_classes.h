// Size classes of the large-block heap. A block's capacity is rounded up to
// its class so that a freed block fits many later requests; classes are
// exact below 16 pages, then eight per doubling (at most 12.5% rounding,
// which costs only address space: pages never touched are never resident).
#pragma once

#include <cstddef>
#include <cstdint>

namespace vmreclaim::alloc {

inline constexpr size_t kPageSize = 4096;
inline constexpr uint32_t kExactClasses = 15;  // 1..15 pages
inline constexpr uint32_t kSubClasses = 8;
// Ring entries hold 32-bit sizes: blocks past the last class are never cached.
inline constexpr uint32_t kClassCount = kExactClasses + (20 - 4) * kSubClasses;  // 16 pages .. 2^20 pages

inline constexpr size_t pages_of(size_t bytes) noexcept { return (bytes + kPageSize - 1) / kPageSize; }
inline constexpr size_t round_to_pages(size_t bytes) noexcept { return pages_of(bytes) * kPageSize; }

// Bytes of class `idx` (idx < kClassCount).
inline constexpr size_t class_bytes(uint32_t idx) noexcept {
  if (idx < kExactClasses) return (size_t{idx} + 1) * kPageSize;
  const uint32_t e = (idx - kExactClasses) / kSubClasses + 4;
  const uint32_t sub = (idx - kExactClasses) % kSubClasses;
  return (size_t{kSubClasses + sub} << (e - 3)) * kPageSize;
}

// The largest class not larger than `bytes` (bytes >= one page), or
// kClassCount if `bytes` is beyond every class.
uint32_t class_floor(size_t bytes) noexcept;

// The smallest class at least `bytes`, or kClassCount beyond every class.
uint32_t class_ceil(size_t bytes) noexcept;

// The capacity to map for a request of `bytes`: its class, or whole pages
// past the last class. 0 on overflow.
size_t capacity_for(size_t bytes) noexcept;

}  // namespace vmreclaim::alloc
