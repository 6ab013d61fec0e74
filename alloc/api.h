// What the C shims (malloc_api.cpp) and the C++ operators (cxx_new.cpp)
// share with the rest of the layer: the fast-path test and the slow paths.
// The calls the fast paths make are fast_paths.h.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "backend.h"

namespace vmreclaim::alloc {

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
