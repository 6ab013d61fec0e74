// The C allocation API, interposed with LD_PRELOAD. Requests at or above the
// threshold go to the large-block heap; everything else, and every pointer
// the heap does not own, goes to the next allocator (glibc's). Only
// page-aligned pointers can be the heap's, so most frees never look further.
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "layer.h"
#include "reentry_guard.h"
#include "size_classes.h"
#include "system_malloc.h"

using vmreclaim::alloc::bootstrap_alloc;
using vmreclaim::alloc::bootstrap_usable_size;
using vmreclaim::alloc::in_bootstrap_arena;
using vmreclaim::alloc::in_layer;
using vmreclaim::alloc::kPageSize;
using vmreclaim::alloc::layer;
using vmreclaim::alloc::layer_if_built;
using vmreclaim::alloc::system_malloc;

namespace {

std::atomic<size_t> g_threshold{0};

inline size_t threshold() noexcept {
  size_t t = g_threshold.load(std::memory_order_relaxed);
  if (t == 0) [[unlikely]] {
    t = vmreclaim::alloc::settings().threshold;
    g_threshold.store(t, std::memory_order_relaxed);
  }
  return t;
}

inline bool is_large(size_t bytes) noexcept { return bytes >= threshold() && !in_layer(); }

inline bool maybe_ours(const void* p) noexcept {
  return reinterpret_cast<uintptr_t>(p) % kPageSize == 0 && layer_if_built() != nullptr;
}

inline bool is_pow2(size_t x) noexcept { return x != 0 && (x & (x - 1)) == 0; }

inline size_t next_pow2(size_t x) noexcept {
  size_t p = 1;
  while (p < x && p != 0) p <<= 1;
  return p;
}

void* large_alloc(size_t bytes, size_t align, bool zero) noexcept {
  return layer().heap.allocate(bytes, align < kPageSize ? kPageSize : align, zero);
}

void* aligned_impl(size_t align, size_t bytes) noexcept {
  if (is_large(bytes)) return large_alloc(bytes, align, false);
  const auto* s = system_malloc();
  if (s == nullptr) return bootstrap_alloc(bytes, align);
  return s->memalign(align, bytes);
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) void* malloc(size_t bytes) noexcept {
  if (is_large(bytes)) return large_alloc(bytes, kPageSize, false);
  const auto* s = system_malloc();
  if (s == nullptr) [[unlikely]]
    return bootstrap_alloc(bytes, 16);
  return s->malloc(bytes);
}

__attribute__((visibility("default"))) void free(void* p) noexcept {
  if (p == nullptr) return;
  if (in_bootstrap_arena(p)) [[unlikely]]
    return;  // never reused
  if (maybe_ours(p)) {
    if (layer().heap.free(p)) return;
  }
  system_malloc()->free(p);
}

__attribute__((visibility("default"))) void* calloc(size_t n, size_t size) noexcept {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (is_large(bytes)) return large_alloc(bytes, kPageSize, true);
  const auto* s = system_malloc();
  if (s == nullptr) [[unlikely]]
    return bootstrap_alloc(bytes, 16);  // static memory: already zero
  return s->calloc(n, size);
}

__attribute__((visibility("default"))) void* realloc(void* p, size_t bytes) noexcept {
  if (p == nullptr) return malloc(bytes);
  if (bytes == 0) {
    // glibc's behaviour, which programs on Linux rely on.
    free(p);
    return nullptr;
  }
  if (in_bootstrap_arena(p)) [[unlikely]] {
    void* q = malloc(bytes);
    size_t old = bootstrap_usable_size(p);
    if (q != nullptr) memcpy(q, p, old < bytes ? old : bytes);
    return q;
  }
  if (maybe_ours(p)) {
    vmreclaim::alloc::Layer& l = layer();
    if (is_large(bytes)) {
      bool ours = false;
      void* q = l.heap.reallocate(p, bytes, &ours);
      if (ours) return q;
    } else if (size_t old = l.heap.usable_size(p, vmreclaim::alloc::LargeHeap::Use::realloc); old != 0) {
      // Below the threshold: move to the system allocator.
      void* q = system_malloc()->malloc(bytes);
      if (q == nullptr) return nullptr;
      memcpy(q, p, old < bytes ? old : bytes);
      free(p);
      return q;
    }
  }
  const auto* s = system_malloc();
  if (is_large(bytes)) {
    // Above the threshold now: move from the system allocator to the heap.
    size_t old = s->malloc_usable_size(p);
    void* q = large_alloc(bytes, kPageSize, false);
    if (q == nullptr) return nullptr;
    memcpy(q, p, old < bytes ? old : bytes);
    s->free(p);
    return q;
  }
  return s->realloc(p, bytes);
}

__attribute__((visibility("default"))) void* reallocarray(void* p, size_t n, size_t size) noexcept {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc(p, bytes);
}

__attribute__((visibility("default"))) int posix_memalign(void** out, size_t align, size_t bytes) noexcept {
  if (!is_pow2(align) || align % sizeof(void*) != 0) return EINVAL;
  void* p;
  if (is_large(bytes)) {
    p = large_alloc(bytes, align, false);
  } else {
    const auto* s = system_malloc();
    if (s != nullptr) return s->posix_memalign(out, align, bytes);
    p = bootstrap_alloc(bytes, align);
  }
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

__attribute__((visibility("default"))) void* aligned_alloc(size_t align, size_t bytes) noexcept {
  if (!is_pow2(align)) {
    errno = EINVAL;
    return nullptr;
  }
  return aligned_impl(align, bytes);
}

__attribute__((visibility("default"))) void* memalign(size_t align, size_t bytes) noexcept {
  // glibc rounds an alignment that is not a power of two up to one.
  if (!is_pow2(align)) align = next_pow2(align);
  if (align == 0) {
    errno = EINVAL;
    return nullptr;
  }
  return aligned_impl(align, bytes);
}

__attribute__((visibility("default"))) void* valloc(size_t bytes) noexcept { return aligned_impl(kPageSize, bytes); }

__attribute__((visibility("default"))) void* pvalloc(size_t bytes) noexcept {
  size_t rounded = bytes == 0 ? kPageSize : vmreclaim::alloc::round_to_pages(bytes);
  if (rounded < bytes) {
    errno = ENOMEM;
    return nullptr;
  }
  return aligned_impl(kPageSize, rounded);
}

__attribute__((visibility("default"))) size_t malloc_usable_size(void* p) noexcept {
  if (p == nullptr) return 0;
  if (in_bootstrap_arena(p)) return bootstrap_usable_size(p);
  if (maybe_ours(p)) {
    if (size_t n = layer().heap.usable_size(p); n != 0) return n;
  }
  return system_malloc()->malloc_usable_size(p);
}

}  // extern "C"
