// The replaceable global C++ allocation operators (plain, array, nothrow,
// sized, aligned, and their combinations), interposed like the C API: a
// request at or above the threshold is a large block of the heap, whatever
// its alignment; a smaller one goes to the backend. Without these, a C++
// program's `new` would reach whichever allocator exports the operators
// (mimalloc, jemalloc and tcmalloc all do) and the heap would never see it.
//
// Failure follows the standard: call the new_handler and retry, throw
// std::bad_alloc when there is none; the nothrow forms return nullptr.
#include <cstddef>
#include <cstdint>
#include <new>

#include "api.h"
#include "backend.h"
#include "fast_paths.h"

namespace {

using vmreclaim::alloc::alloc_slow;
using vmreclaim::alloc::direct_request;
using vmreclaim::alloc::fast_request;
using vmreclaim::alloc::hot_free_sized;
using vmreclaim::alloc::hot_posix_memalign;
using vmreclaim::alloc::pointer_malloc;
using vmreclaim::alloc::route_free;

constexpr size_t kDefaultAlign = __STDCPP_DEFAULT_NEW_ALIGNMENT__;

// One attempt, no handler: the backend below the threshold, else the heap.
void* try_alloc(size_t bytes, size_t align) noexcept {
  if (bytes == 0) bytes = 1;  // operator new(0) returns a unique pointer
  if (align <= kDefaultAlign) {
    if (fast_request(bytes)) return pointer_malloc(bytes);
    return alloc_slow(bytes, kDefaultAlign, false);
  }
  if (fast_request(bytes)) {
    void* p = nullptr;
    return hot_posix_memalign(&p, align, bytes) == 0 ? p : nullptr;
  }
  return alloc_slow(bytes, align, false);
}

[[gnu::noinline]] void* new_slow(size_t bytes, size_t align, bool nothrow) {
  for (;;) {
    if (void* p = try_alloc(bytes, align)) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) {
      if (nothrow) return nullptr;
      throw std::bad_alloc();
    }
    if (!nothrow) {
      handler();
      continue;
    }
    try {
      handler();
    } catch (...) {
      return nullptr;
    }
  }
}

// The fast paths' attempt: the built-in mimalloc, else the backend through
// its pointer below kFastPathLimit; nullptr sends the caller to new_slow,
// which also retries a null from the backend with the new_handler.
inline void* new_fast(size_t bytes) noexcept {
  if (direct_request(bytes)) [[likely]] {
    return mi_malloc(bytes);
  }
  if (fast_request(bytes)) [[likely]] {
    return pointer_malloc(bytes);
  }
  return nullptr;
}

inline void* new_plain(size_t bytes) {
  if (void* p = new_fast(bytes)) [[likely]] {
    return p;
  }
  return new_slow(bytes, kDefaultAlign, false);
}

inline void* new_nothrow(size_t bytes) noexcept {
  if (void* p = new_fast(bytes)) [[likely]] {
    return p;
  }
  return new_slow(bytes, kDefaultAlign, true);
}

inline void delete_plain(void* p) noexcept { route_free(p); }

// A block deleted with a size below kFastPathLimit and outside the window:
// g_hot.free_sized is the backend's when the threshold is at least that (the
// block was allocated below it: the backend's), else it routes by address as
// free() does.
inline void delete_sized(void* p, size_t bytes) noexcept {
  if (fast_request(bytes) && p != nullptr && !vmreclaim::alloc::needs_owner_check(p)) [[likely]] {
    hot_free_sized(p, bytes);
    return;
  }
  delete_plain(p);
}

}  // namespace

#define VMRECLAIM_EXPORT __attribute__((visibility("default")))

VMRECLAIM_EXPORT void* operator new(size_t n) { return new_plain(n); }
VMRECLAIM_EXPORT void* operator new[](size_t n) { return new_plain(n); }
VMRECLAIM_EXPORT void* operator new(size_t n, const std::nothrow_t&) noexcept { return new_nothrow(n); }
VMRECLAIM_EXPORT void* operator new[](size_t n, const std::nothrow_t&) noexcept { return new_nothrow(n); }
VMRECLAIM_EXPORT void* operator new(size_t n, std::align_val_t a) { return new_slow(n, static_cast<size_t>(a), false); }
VMRECLAIM_EXPORT void* operator new[](size_t n, std::align_val_t a) {
  return new_slow(n, static_cast<size_t>(a), false);
}
VMRECLAIM_EXPORT void* operator new(size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return new_slow(n, static_cast<size_t>(a), true);
}
VMRECLAIM_EXPORT void* operator new[](size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return new_slow(n, static_cast<size_t>(a), true);
}

VMRECLAIM_EXPORT void operator delete(void* p) noexcept { delete_plain(p); }
VMRECLAIM_EXPORT void operator delete[](void* p) noexcept { delete_plain(p); }
VMRECLAIM_EXPORT void operator delete(void* p, const std::nothrow_t&) noexcept { delete_plain(p); }
VMRECLAIM_EXPORT void operator delete[](void* p, const std::nothrow_t&) noexcept { delete_plain(p); }
VMRECLAIM_EXPORT void operator delete(void* p, size_t n) noexcept { delete_sized(p, n); }
VMRECLAIM_EXPORT void operator delete[](void* p, size_t n) noexcept { delete_sized(p, n); }
// Aligned blocks came from posix_memalign or the heap: a plain free is right
// for both (a size would only help the backend find a size class that an
// aligned allocation may not have).
VMRECLAIM_EXPORT void operator delete(void* p, std::align_val_t) noexcept { delete_plain(p); }
VMRECLAIM_EXPORT void operator delete[](void* p, std::align_val_t) noexcept { delete_plain(p); }
VMRECLAIM_EXPORT void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { delete_plain(p); }
VMRECLAIM_EXPORT void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { delete_plain(p); }
VMRECLAIM_EXPORT void operator delete(void* p, size_t, std::align_val_t) noexcept { delete_plain(p); }
VMRECLAIM_EXPORT void operator delete[](void* p, size_t, std::align_val_t) noexcept { delete_plain(p); }
