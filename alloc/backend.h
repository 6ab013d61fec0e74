// The allocator under the layer ("the backend"): every request below the
// threshold, and every pointer that is not one of the layer's blocks, goes to
// it. glibc's is found with dlsym(RTLD_NEXT); mimalloc is compiled into
// the layer (builtin_mimalloc.c); jemalloc and tcmalloc are loaded with
// dlopen(RTLD_LOCAL) and called through the symbols of that handle, so
// which `malloc` the program's calls bind to never depends on the order of
// LD_PRELOAD: the layer's always, and the layer forwards.
//
// Until the backend is ready (loading it allocates, and dlopen must not run
// before the C library is initialised, i.e. before this library's
// constructor), requests are served from a static bootstrap arena that is
// never reused: its blocks are recognised by address and their frees ignored.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "address_range.h"
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

// The fast paths' pointer calls (fast_paths.h) are taken for a request
// below this constant, compared as a constant and not as the threshold
// loaded from memory: on the Zen 5 guest of docs/benchmarks.md ("The small
// path: a compare with a constant, on a line of its own") the threshold's
// load ahead of malloc's branch, with its jump through a pointer across a
// 64-byte line, made glibc-simple over mimalloc 57 % slower. (The default
// build's one load, HotPath::direct_below, leads to mimalloc's inlined code,
// no jump through a pointer.) It is the default threshold. With a threshold
// of at least this, a request below it is below the threshold and the fast
// paths call the backend directly; with a smaller threshold
// (VMRECLAIM_MALLOC_THRESHOLD) the fast paths' functions stay the slow ones
// below, which compare with the threshold itself.
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
  // The built-in mimalloc (builtin_mimalloc.c), reached from the shims with
  // direct calls instead of through the pointers above (fast_paths.h), once it is
  // the backend. Each test is one compare with a loaded key, which holds
  // "this backend is the built-in one" too: through the pointer glibc-thread
  // ran 5-8 % behind mimalloc alone, with a flag tested beside the size or
  // the window 3.8 %, with the keys (and mi_free inlined) 2.5 %
  // (docs/benchmarks.md, "One key, and mimalloc's free inlined").
  //
  // malloc and operator new: a request below `direct_below` goes straight
  // to mimalloc. kFastPathLimit once mimalloc serves every fast path (the
  // threshold is at least that and the arena lies in the window), 0 before
  // and with any other backend.
  std::atomic<size_t> direct_below;
  // free and operator delete: `p` goes straight to mimalloc when
  // (p >> kWindowShift) - 1 > direct_free_key (direct_free, fast_paths.h). 0 once
  // mimalloc is the backend and the arena lies in the window (every pointer
  // outside the window is mimalloc's), UINTPTR_MAX before and with any
  // other backend (no pointer).
  std::atomic<uintptr_t> direct_free_key;
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
// when exhausted. It is the first part of the layer's address range, so
// free()'s window test sends its blocks to the slow path, which ignores them
// (where the range could not be reserved, a static array, and the fast
// paths of free, realloc and malloc_usable_size stay the slow ones). Each
// block is preceded by its size.
void* bootstrap_alloc(size_t bytes, size_t align) noexcept;
size_t bootstrap_usable_size(const void* p) noexcept;

inline constexpr size_t kBootstrapArenaBytes = 4 << 20;
// The arena's start; until it is set up, a value no pointer is within
// kBootstrapArenaBytes above.
extern std::atomic<uintptr_t> g_arena_base __attribute__((visibility("hidden")));
inline bool in_bootstrap_arena(const void* p) noexcept {
  // Relaxed: an arena block reaching free() was handed out after the base
  // was stored, and the program's hand-over of the pointer orders the two.
  return reinterpret_cast<uintptr_t>(p) - g_arena_base.load(std::memory_order_relaxed) < kBootstrapArenaBytes;
}

// The free()-side fast-path test, a shift and a compare of constants, no
// load: true for every pointer that may be the layer's (its blocks and the
// arena lie in its address range, in the window of address_range.h), false
// for every pointer of the backend (the kernel never maps there by itself).
inline bool needs_owner_check(const void* p) noexcept { return in_window(p); }

// The backend for a pointer that is not the layer's: the ready one, or
// while this thread is loading it, glibc's (only glibc can own a pointer
// then); waits while another thread loads it.
const Backend& wait_for_backend() noexcept;

}  // namespace vmreclaim::alloc
