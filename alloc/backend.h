// The allocator under the layer ("the backend"): every request below the
// threshold, and every pointer that is not one of the layer's blocks, goes to
// it. glibc's is found with dlsym(RTLD_NEXT); mimalloc, jemalloc and tcmalloc
// are loaded with dlopen(RTLD_LOCAL) and called through the symbols of that
// handle, so which `malloc` the program's calls bind to never depends on the
// order of LD_PRELOAD: the layer's always, and the layer forwards.
//
// Until the backend is ready (loading it allocates, and dlopen must not run
// before the C library is initialised, i.e. before this library's
// constructor), requests are served from a static bootstrap arena that is
// never reused: its blocks are recognised by address and their frees ignored.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "backend_names.h"

namespace vmreclaim::alloc {

// noexcept function types: a C allocator never throws, and the shims can
// then jump to the backend instead of calling it (no frame of their own).
struct Backend {
  void* (*malloc)(size_t) noexcept;
  void (*free)(void*) noexcept;
  void (*free_sized)(void*, size_t) noexcept;  // the C++ sized delete; `free` where the backend has none
  void* (*calloc)(size_t, size_t) noexcept;
  void* (*realloc)(void*, size_t) noexcept;
  int (*posix_memalign)(void**, size_t, size_t) noexcept;
  size_t (*usable_size)(void*) noexcept;
};

// The shims' fast paths compare a request's size with this constant, never
// with a value loaded from memory: on the Zen 5 guest of docs/benchmarks.md
// ("The small path: a compare with a constant, on a line of its own") the
// threshold's load ahead of malloc's branch, with its jump across a 64-byte
// line, made glibc-simple over mimalloc 57 % slower. It is the default
// threshold. With a threshold of at least this, a request below it is below
// the threshold and the fast paths call the backend directly; with a smaller
// threshold (VMRECLAIM_MALLOC_THRESHOLD) the fast paths' functions stay the
// slow ones below, which compare with the threshold itself.
inline constexpr size_t kFastPathLimit = size_t{128} << 10;

// What the shims' fast paths call: the backend's functions once it is ready
// and the threshold is at least kFastPathLimit; until then (and for a smaller
// threshold), functions that take the slow paths (the bootstrap arena while
// loading, the threshold compare after). `threshold` is what the slow paths
// compare with (0 until the settings and the backend are ready). Each
// function is stored with release after the backend is loaded; the fast
// paths load it relaxed and call through the value loaded, so what the call
// reads of the backend depends on that load (the ordering of a consume load,
// which the hardware keeps on every Linux target; x86-64 orders all loads
// anyway). An acquire load would make the compiler load the pointer into a
// register and jump through it: one more instruction on every call.
struct HotPath {
  std::atomic<size_t> threshold;
  std::atomic<void* (*)(size_t) noexcept> malloc;
  std::atomic<void (*)(void*) noexcept> free;
  std::atomic<void (*)(void*, size_t) noexcept> free_sized;
  std::atomic<void* (*)(size_t, size_t) noexcept> calloc;
  std::atomic<void* (*)(void*, size_t) noexcept> realloc;
  std::atomic<int (*)(void**, size_t, size_t) noexcept> posix_memalign;
  std::atomic<size_t (*)(void*) noexcept> usable_size;
};
// Hidden: addressed directly, not through the GOT.
extern HotPath g_hot __attribute__((visibility("hidden")));

// The ready backend, loading it if this thread may; nullptr while this
// thread must use the bootstrap arena (it is loading the backend itself,
// another thread is, or the library's constructor has not run yet).
const Backend* backend() noexcept;

// Which backend serves the small requests (valid once backend() returned
// non-null).
BackendKind backend_in_use() noexcept;

// The bootstrap arena: zeroed memory, 16-byte aligned (or `align`); nullptr
// when exhausted. Every block starts at a page offset of 16 (or 0 when more
// alignment is asked), so that the shims' one-instruction test below sends
// it to the slow path; a block therefore takes at least a page (of static
// memory, resident only once touched: the few dozen requests made before
// the backend is loaded).
void* bootstrap_alloc(size_t bytes, size_t align) noexcept;
size_t bootstrap_usable_size(const void* p) noexcept;

extern unsigned char g_bootstrap_arena[] __attribute__((visibility("hidden")));
inline constexpr size_t kBootstrapArenaBytes = 4 << 20;
inline bool in_bootstrap_arena(const void* p) noexcept {
  return reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(g_bootstrap_arena) < kBootstrapArenaBytes;
}

// The free()-side fast-path test, one instruction: false for most backend
// pointers, true for every pointer that may be the heap's (page-aligned) or
// the arena's (page offset 0 or 16). A backend pointer that happens to sit
// at page offset 16 takes the slow path, which hands it on.
inline bool needs_owner_check(const void* p) noexcept {
  return (reinterpret_cast<uintptr_t>(p) & (4096 - 1) & ~uintptr_t{16}) == 0;
}

}  // namespace vmreclaim::alloc
