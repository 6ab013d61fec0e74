// What the C shims (malloc_api.cpp) and the C++ operators (cxx_new.cpp)
// share: the fast-path test and the slow paths.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "backend.h"

// The built-in backend's functions, hidden (the layer's own, never bound to
// by the program), so that the calls below are direct jumps. Its C++ part
// needs these, included first so that the pragma does not reach them.
#include <memory>
#include <type_traits>
#include <utility>
#pragma GCC visibility push(hidden)
#include <mimalloc.h>
#pragma GCC visibility pop

namespace vmreclaim::alloc {

// The fast paths' calls into the backend: a direct jump to the built-in
// mimalloc when it serves them (HotPath::direct), else a jump through the
// backend's function pointer.
inline void* hot_malloc(size_t bytes) noexcept {
  if (g_hot.direct.load(std::memory_order_relaxed)) [[likely]] {
    return mi_malloc(bytes);
  }
  return g_hot.malloc.load(std::memory_order_relaxed)(bytes);
}
inline void hot_free(void* p) noexcept {
  if (g_hot.direct.load(std::memory_order_relaxed)) [[likely]] {
    mi_free(p);
    return;
  }
  g_hot.free.load(std::memory_order_relaxed)(p);
}
inline void hot_free_sized(void* p, size_t bytes) noexcept {
  if (g_hot.direct.load(std::memory_order_relaxed)) [[likely]] {
    mi_free_size(p, bytes);
    return;
  }
  g_hot.free_sized.load(std::memory_order_relaxed)(p, bytes);
}
inline void* hot_calloc(size_t n, size_t size) noexcept {
  if (g_hot.direct.load(std::memory_order_relaxed)) [[likely]] {
    return mi_calloc(n, size);
  }
  return g_hot.calloc.load(std::memory_order_relaxed)(n, size);
}
inline void* hot_realloc(void* p, size_t bytes) noexcept {
  if (g_hot.direct.load(std::memory_order_relaxed)) [[likely]] {
    return mi_realloc(p, bytes);
  }
  return g_hot.realloc.load(std::memory_order_relaxed)(p, bytes);
}
inline int hot_posix_memalign(void** out, size_t align, size_t bytes) noexcept {
  if (g_hot.direct.load(std::memory_order_relaxed)) [[likely]] {
    return mi_posix_memalign(out, align, bytes);
  }
  return g_hot.posix_memalign.load(std::memory_order_relaxed)(out, align, bytes);
}
inline size_t hot_usable_size(void* p) noexcept {
  if (g_hot.direct.load(std::memory_order_relaxed)) [[likely]] {
    return mi_usable_size(p);
  }
  return g_hot.usable_size.load(std::memory_order_relaxed)(p);
}

// The fast paths' test: a compare with a constant (backend.h,
// kFastPathLimit); the functions it leads to (g_hot) decide the rest.
inline bool fast_request(size_t bytes) noexcept { return bytes < kFastPathLimit; }

// The slow paths' test: below the threshold, and the backend is ready (the
// threshold reads 0 until then). Acquire: pairs with the release store of
// the threshold after the backend's functions (backend.cpp).
inline bool small_request(size_t bytes) noexcept { return bytes < g_hot.threshold.load(std::memory_order_acquire); }

// Everything that is not a small request to a ready backend: the arena
// while loading, the heap at or above the threshold, the backend for the
// layer's own bookkeeping. `align` is a power of two; nullptr if out of memory.
// The slow paths are never inlined into the shims: inlined, they would make
// the shims save registers and build a frame on the fast path too.
[[gnu::noinline]] void* alloc_slow(size_t bytes, size_t align, bool zero) noexcept;
// Every realloc but a small block of the backend's staying small.
[[gnu::noinline]] void* realloc_slow(void* p, size_t bytes) noexcept;
// A free of a pointer that is null, the arena's, or page-aligned.
[[gnu::noinline]] void free_slow(void* p) noexcept;
[[gnu::noinline]] size_t usable_size_slow(void* p) noexcept;
// Lock-free: whether `p` lies in the layer's address range (its blocks,
// live or freed, and the parts of the range between them).
bool maybe_large_block(const void* p) noexcept;

// For the exit report: large requests the backend served (no room in the
// range), and frees that took the slow path yet were the backend's (a
// pointer in the window but not in the range; every free where no range
// could be reserved).
extern std::atomic<uint64_t> g_large_to_backend __attribute__((visibility("hidden")));
extern std::atomic<uint64_t> g_slow_frees_to_backend __attribute__((visibility("hidden")));

}  // namespace vmreclaim::alloc
