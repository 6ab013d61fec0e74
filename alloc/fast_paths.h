// The shims' fast paths' calls into the backend (malloc_api.cpp,
// cxx_new.cpp), in one of two builds (alloc/CMakeLists.txt, docs/allocator.md
// "Two builds of the layer"), chosen by VMRECLAIM_MALLOC_DIRECT:
//   1  libvmreclaim-malloc.so: straight into the built-in mimalloc when it
//      is the backend, decided by one compare with a loaded key (HotPath);
//      every other backend through its pointer after that compare.
//   0  libvmreclaim-malloc-generic.so: through the backend's pointer,
//      whichever it is, with no key to test.
// Only the shims include this: the rest of the layer is one compiled copy
// shared by both builds.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "address_range.h"
#include "api.h"
#include "backend.h"
#include "builtin_mimalloc.h"

#ifndef VMRECLAIM_MALLOC_DIRECT
#error "VMRECLAIM_MALLOC_DIRECT must be 0 or 1 (alloc/CMakeLists.txt)"
#endif

namespace vmreclaim::alloc {

inline constexpr bool kDirectPaths = VMRECLAIM_MALLOC_DIRECT != 0;

// Whether the built-in mimalloc serves the fast paths (HotPath::direct_below).
inline bool builtin_serves() noexcept {
  return kDirectPaths && g_hot.direct_below.load(std::memory_order_relaxed) != 0;
}

// malloc's and operator new's test: the built-in mimalloc takes `bytes`.
// One compare with a loaded key; false for every request with any other
// backend, whose fast path (fast_request, pointer_malloc) comes after it.
inline bool direct_request(size_t bytes) noexcept {
  return kDirectPaths && bytes < g_hot.direct_below.load(std::memory_order_relaxed);
}

// free's and operator delete's test, on the pointer's window_index
// (address_range.h): the pointer is the built-in mimalloc's (it is the
// backend, and the pointer lies outside the window). One compare with a
// loaded key (HotPath::direct_free_key): inside the window the index is 0,
// never above the key; below it the largest value, above the key 0 and not
// above UINTPTR_MAX. Where this is false, index 0 is the layer's pointer
// and any other the backend's (route_free).
inline bool direct_free(uintptr_t index) noexcept {
  return kDirectPaths && index > g_hot.direct_free_key.load(std::memory_order_relaxed);
}

// The built-in mimalloc's free, its fast path inlined into the caller (the
// shims, link-time optimised; builtin_mimalloc.c).
inline void builtin_free(void* p) noexcept { mi_free(p); }

// The backend's malloc and free through their pointers (HotPath): any
// backend, and the slow paths' functions until it is ready.
inline void* pointer_malloc(size_t bytes) noexcept { return g_hot.malloc.load(std::memory_order_relaxed)(bytes); }
inline void pointer_free(void* p) noexcept { g_hot.free.load(std::memory_order_relaxed)(p); }

// The fast paths' other calls into the backend: a direct jump to the
// built-in mimalloc when it serves them, else a jump through the backend's
// function pointer.
inline void hot_free_sized(void* p, size_t bytes) noexcept {
  if (builtin_serves()) [[likely]] {
    mi_free_size(p, bytes);
    return;
  }
  g_hot.free_sized.load(std::memory_order_relaxed)(p, bytes);
}
inline void* hot_calloc(size_t n, size_t size) noexcept {
  if (builtin_serves()) [[likely]] {
    return mi_calloc(n, size);
  }
  return g_hot.calloc.load(std::memory_order_relaxed)(n, size);
}
inline void* hot_realloc(void* p, size_t bytes) noexcept {
  if (builtin_serves()) [[likely]] {
    return mi_realloc(p, bytes);
  }
  return g_hot.realloc.load(std::memory_order_relaxed)(p, bytes);
}
inline int hot_posix_memalign(void** out, size_t align, size_t bytes) noexcept {
  if (builtin_serves()) [[likely]] {
    return mi_posix_memalign(out, align, bytes);
  }
  return g_hot.posix_memalign.load(std::memory_order_relaxed)(out, align, bytes);
}
inline size_t hot_usable_size(void* p) noexcept {
  if (builtin_serves()) [[likely]] {
    return mi_usable_size(p);
  }
  return g_hot.usable_size.load(std::memory_order_relaxed)(p);
}

// free's and operator delete's whole path: the built-in mimalloc's own
// (inlined), the backend's through its pointer, or the slow path for a
// pointer in the window (the layer's). Always inlined, so that each shim is
// this code with no call in between.
[[gnu::always_inline]] inline void route_free(void* p) noexcept {
  const uintptr_t index = window_index(p);
  if (direct_free(index)) [[likely]] {
    builtin_free(p);
    return;
  }
  if (index != 0) [[likely]] {
    pointer_free(p);
    return;
  }
  free_slow(p);
}

}  // namespace vmreclaim::alloc
