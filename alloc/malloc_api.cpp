// The C allocation API, interposed with LD_PRELOAD. Requests at or above the
// threshold go to the large-block heap; everything else, and every pointer
// the heap does not own, goes to the backend (backend.h).
//
// The small path (fast_paths.h): in the default build, one compare with a
// loaded key and the built-in mimalloc's own fast path; in the generic
// build, a size compare with a constant and a jump through the backend's
// function pointer, no load ahead of the branch. No lock, no thread-local
// flag, no lookup. A pointer is the layer's only if it lies in the layer's
// address range (address_range.h), which sits in a fixed window of the
// address space: free() tests the window with a shift and a compare, true
// for none of the backend's pointers, and the slow path tests the range
// itself (the bootstrap arena is its first part).
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "api.h"
#include "backend.h"
#include "fast_paths.h"
#include "layer.h"
#include "reentry_guard.h"
#include "size_classes.h"

using vmreclaim::alloc::direct_request;
using vmreclaim::alloc::hot_calloc;
using vmreclaim::alloc::hot_posix_memalign;
using vmreclaim::alloc::hot_realloc;
using vmreclaim::alloc::hot_usable_size;
using vmreclaim::alloc::kPageSize;
using vmreclaim::alloc::pointer_malloc;
using vmreclaim::alloc::route_free;

namespace vmreclaim::alloc {

std::atomic<uint64_t> g_large_to_backend{0};
std::atomic<uint64_t> g_slow_frees_to_backend{0};

bool maybe_large_block(const void* p) noexcept {
  const Layer* l = layer_if_built();
  return l != nullptr && l->os.owns(p);
}

namespace {
// A block of the backend's, aligned and zeroed as asked.
void* backend_alloc(const Backend& b, size_t bytes, size_t align, bool zero) noexcept {
  if (align <= 16) return zero ? b.calloc(1, bytes) : b.malloc(bytes);
  void* p = nullptr;
  if (b.posix_memalign(&p, align, bytes) != 0) return nullptr;
  if (zero) memset(p, 0, bytes);
  return p;
}
}  // namespace

void* alloc_slow(size_t bytes, size_t align, bool zero) noexcept {
  const Backend* b = backend();
  if (b == nullptr) [[unlikely]] {
    return bootstrap_alloc(bytes, align);  // static memory: already zero
  }
  if (bytes < g_hot.threshold.load(std::memory_order_acquire) || in_layer()) {
    // Below the threshold (the backend became ready meanwhile, the request
    // is between kFastPathLimit and a larger threshold, or the threshold is
    // below kFastPathLimit), or the layer's own bookkeeping allocating: the
    // backend.
    return backend_alloc(*b, bytes, align, zero);
  }
  if (void* p = layer().heap.allocate(bytes, align < kPageSize ? kPageSize : align, zero)) return p;
  // No room in the layer's range (or it could not be reserved): the backend
  // serves the block. It lies outside the range, so every later call on it
  // goes to the backend too.
  g_large_to_backend.fetch_add(1, std::memory_order_relaxed);
  return backend_alloc(*b, bytes, align, zero);
}

void free_slow(void* p) noexcept {
  if (p == nullptr || in_bootstrap_arena(p)) return;  // arena blocks are never reused
  if (maybe_large_block(p) && layer().heap.free(p)) return;
  // In the window but not the layer's (or the range could not be reserved
  // and the fast paths come here for every pointer).
  g_slow_frees_to_backend.fetch_add(1, std::memory_order_relaxed);
  wait_for_backend().free(p);
}

size_t usable_size_slow(void* p) noexcept {
  if (p == nullptr) return 0;
  if (in_bootstrap_arena(p)) return bootstrap_usable_size(p);
  if (maybe_large_block(p)) {
    if (size_t n = layer().heap.usable_size(p); n != 0) return n;
  }
  return wait_for_backend().usable_size(p);
}

}  // namespace vmreclaim::alloc

using vmreclaim::alloc::alloc_slow;
using vmreclaim::alloc::fast_request;
using vmreclaim::alloc::free_slow;
using vmreclaim::alloc::realloc_slow;
using vmreclaim::alloc::usable_size_slow;

namespace {

inline bool is_pow2(size_t x) noexcept { return x != 0 && (x & (x - 1)) == 0; }

inline size_t next_pow2(size_t x) noexcept {
  size_t p = 1;
  while (p < x && p != 0) p <<= 1;
  return p;
}

// Whether `p` may need more than the backend: the arena's or the heap's.
inline bool special_pointer(const void* p) noexcept { return vmreclaim::alloc::needs_owner_check(p); }

void* aligned_impl(size_t align, size_t bytes) noexcept {
  if (fast_request(bytes)) {
    void* p = nullptr;
    int rc = hot_posix_memalign(&p, align < sizeof(void*) ? sizeof(void*) : align, bytes);
    if (rc != 0) {
      errno = rc;
      return nullptr;
    }
    return p;
  }
  return alloc_slow(bytes, align, false);
}

// Moves a block's contents to a new home of `bytes` and frees the old one.
void* move_block(void* p, size_t old, size_t bytes) noexcept {
  void* q = malloc(bytes);
  if (q == nullptr) return nullptr;  // the old block stays valid
  memcpy(q, p, old < bytes ? old : bytes);
  free(p);
  return q;
}

}  // namespace

// Kept out of line so the shim's fast path saves no registers.
void* vmreclaim::alloc::realloc_slow(void* p, size_t bytes) noexcept {
  if (p == nullptr) return malloc(bytes);
  if (bytes == 0) {
    // glibc's behaviour, which programs on Linux rely on, whatever the backend.
    free(p);
    return nullptr;
  }
  if (in_bootstrap_arena(p)) [[unlikely]] {
    return move_block(p, bootstrap_usable_size(p), bytes);
  }
  if (maybe_large_block(p)) {
    vmreclaim::alloc::Layer& l = layer();
    if (!small_request(bytes) && !in_layer()) {
      bool ours = false;
      void* q = l.heap.reallocate(p, bytes, &ours);
      if (q != nullptr) return q;
      // No room in the layer's range: the data moves to a new block (the
      // backend's, unless room was made meanwhile); out of memory, the old
      // block stays.
      if (ours) return move_block(p, l.heap.usable_size(p, vmreclaim::alloc::LargeHeap::Use::realloc), bytes);
    } else if (size_t old = l.heap.usable_size(p, vmreclaim::alloc::LargeHeap::Use::realloc); old != 0) {
      // Below the threshold now: the data moves to the backend.
      return move_block(p, old, bytes);
    }
  }
  // The backend's block.
  if (!small_request(bytes) && !in_layer()) {
    // At or above the threshold now: the data moves to the heap. The whole
    // usable size is copied: the caller may have used all of it.
    return move_block(p, vmreclaim::alloc::wait_for_backend().usable_size(p), bytes);
  }
  // Below the threshold: the backend's realloc (g_hot.realloc may be the
  // slow one, which would come back here).
  const Backend* b = backend();
  if (b == nullptr) [[unlikely]] {
    // Still loading, on this thread: only glibc can own `p`.
    return move_block(p, vmreclaim::alloc::wait_for_backend().usable_size(p), bytes);
  }
  return b->realloc(p, bytes);
}

extern "C" {

__attribute__((visibility("default"))) void* malloc(size_t bytes) noexcept {
  if (direct_request(bytes)) [[likely]] {
    return mi_malloc(bytes);
  }
  if (fast_request(bytes)) [[likely]] {
    return pointer_malloc(bytes);
  }
  return alloc_slow(bytes, 16, false);
}

__attribute__((visibility("default"))) void free(void* p) noexcept { route_free(p); }

__attribute__((visibility("default"))) void* calloc(size_t n, size_t size) noexcept {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (fast_request(bytes)) [[likely]] {
    return hot_calloc(n, size);
  }
  return alloc_slow(bytes, 16, true);
}

__attribute__((visibility("default"))) void* realloc(void* p, size_t bytes) noexcept {
  if (bytes != 0 && fast_request(bytes) && p != nullptr && !special_pointer(p)) [[likely]] {
    return hot_realloc(p, bytes);
  }
  return realloc_slow(p, bytes);
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
  if (fast_request(bytes)) [[likely]] {
    return hot_posix_memalign(out, align, bytes);
  }
  void* p = alloc_slow(bytes, align, false);
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
  if (p != nullptr && !special_pointer(p)) [[likely]] {
    return hot_usable_size(p);
  }
  return usable_size_slow(p);
}

}  // extern "C"
