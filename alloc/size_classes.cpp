#include "size_classes.h"

#include <bit>

namespace vmreclaim::alloc {

uint32_t class_floor(size_t bytes) noexcept {
  const size_t pages = bytes / kPageSize;
  if (pages == 0) return 0;
  if (pages <= kExactClasses) return static_cast<uint32_t>(pages - 1);  // exact
  const uint32_t e = static_cast<uint32_t>(std::bit_width(pages) - 1);  // floor(log2), >= 4
  const uint32_t idx = kExactClasses + (e - 4) * kSubClasses + static_cast<uint32_t>((pages >> (e - 3)) & 7);
  return idx < kClassCount ? idx : kClassCount;
}

uint32_t class_ceil(size_t bytes) noexcept {
  uint32_t idx = class_floor(bytes < kPageSize ? kPageSize : bytes);
  if (idx < kClassCount && class_bytes(idx) < bytes) idx++;
  return idx;
}

size_t capacity_for(size_t bytes) noexcept {
  if (bytes > SIZE_MAX - kPageSize) return 0;
  const uint32_t idx = class_ceil(bytes);
  return idx < kClassCount ? class_bytes(idx) : round_to_pages(bytes);
}

}  // namespace vmreclaim::alloc
