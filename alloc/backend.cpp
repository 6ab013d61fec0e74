#include "backend.h"

#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "api.h"
#include "builtin_mimalloc.h"
#include "settings.h"
#include "support/environment.h"

namespace vmreclaim::alloc {

constinit std::atomic<uintptr_t> g_arena_base{~uintptr_t{0} - kBootstrapArenaBytes + 1};

namespace {

// The arena where the layer's range could not be reserved.
alignas(4096) unsigned char g_static_arena[kBootstrapArenaBytes];
std::atomic<size_t> g_arena_used{0};

// Sets the arena up on first call: the first part of the layer's range,
// mapped read-write, or the static array. Returns its start.
uintptr_t arena() noexcept {
  static std::atomic<int> state{0};  // 0: not set up; 1: being set up; 2: set
  if (state.load(std::memory_order_acquire) == 2) return g_arena_base.load(std::memory_order_relaxed);
  int expected = 0;
  if (state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    uintptr_t at = 0;
    if (AddressRange* r = process_range()) {
      at = r->take(kBootstrapArenaBytes, 4096);
      if (at != 0 && ::mmap(reinterpret_cast<void*>(at), kBootstrapArenaBytes, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
        at = 0;  // its part stays reserved, unused
      }
    }
    if (at == 0) at = reinterpret_cast<uintptr_t>(g_static_arena);
    g_arena_base.store(at, std::memory_order_relaxed);
    // Release: the base before the state; pairs with the acquire loads here.
    state.store(2, std::memory_order_release);
    return at;
  }
  while (state.load(std::memory_order_acquire) != 2) ::sched_yield();
  return g_arena_base.load(std::memory_order_relaxed);
}

Backend g_backend;
BackendKind g_kind = BackendKind::glibc;
// 0: not loaded; 1: a thread is loading it; 2: ready (g_backend is set and
// never changes again).
std::atomic<int> g_state{0};
// Set by this library's constructor: from then on dlopen is safe.
std::atomic<bool> g_constructed{false};
__thread bool t_loading __attribute__((tls_model("initial-exec"))) = false;

void say(const char* line) noexcept {
  ssize_t ignored = ::write(STDERR_FILENO, line, std::strlen(line));
  (void)ignored;
}

// The backend asked for by VMRECLAIM_MALLOC_BACKEND, or the default. *asked
// tells whether the user named one (then failing to load it is reported);
// *unknown is the value if it names none.
const BackendName& chosen(bool* asked, const char** unknown) noexcept {
  const char* v = support::setting_from_env("VMRECLAIM_MALLOC_BACKEND");
  *asked = v != nullptr && *v != '\0';
  *unknown = nullptr;
  if (!*asked) return backend_name(kDefaultBackend);
  if (const BackendName* b = backend_by_name(v)) return *b;
  *asked = false;
  *unknown = v;
  return backend_name(kDefaultBackend);
}

template <class F>
bool resolve(void* handle, F*& slot, const char* name) noexcept {
  slot = reinterpret_cast<F*>(::dlsym(handle, name));
  return slot != nullptr;
}

// glibc has no sized free; the others' are looked up by kind.
void free_ignoring_size(void* p, size_t) noexcept { g_backend.free(p); }
void (*g_sdallocx)(void*, size_t, int) noexcept = nullptr;
void jemalloc_free_sized(void* p, size_t n) noexcept { g_sdallocx(p, n, 0); }

bool resolve_all(void* handle, BackendKind kind, Backend* b) noexcept {
  bool ok = resolve(handle, b->malloc, "malloc") && resolve(handle, b->free, "free") &&
            resolve(handle, b->calloc, "calloc") && resolve(handle, b->realloc, "realloc") &&
            resolve(handle, b->posix_memalign, "posix_memalign") &&
            resolve(handle, b->usable_size, "malloc_usable_size");
  if (!ok) return false;
  b->free_sized = free_ignoring_size;
  switch (kind) {
    case BackendKind::glibc: break;
    case BackendKind::mimalloc: resolve(handle, b->free_sized, "mi_free_size"); break;
    case BackendKind::tcmalloc: resolve(handle, b->free_sized, "tc_free_sized"); break;
    case BackendKind::jemalloc:
      if (resolve(handle, g_sdallocx, "sdallocx")) b->free_sized = jemalloc_free_sized;
      break;
  }
  if (b->free_sized == nullptr) b->free_sized = free_ignoring_size;
  return true;
}

// mimalloc's functions, compiled into the layer (builtin_mimalloc.h).
Backend builtin_mimalloc() noexcept {
  return {mi_malloc, mi_free, mi_free_size, mi_calloc, mi_realloc, mi_posix_memalign, [](void* p) noexcept {
            return mi_usable_size(p);
          }};
}

// Runs on the one thread that set g_state to 1.
void load() noexcept {
  bool asked = false;
  const char* unknown = nullptr;
  const BackendName& want = chosen(&asked, &unknown);
  if (unknown != nullptr) {
    char line[256];
    std::snprintf(line, sizeof line,
                  "vmreclaim-malloc: ignoring VMRECLAIM_MALLOC_BACKEND=%.64s (not one of glibc, mimalloc, jemalloc, "
                  "tcmalloc); using the default (%s)\n",
                  unknown, want.name);
    say(line);
  }
  Backend b{};
  BackendKind kind = BackendKind::glibc;
  if (want.kind == BackendKind::mimalloc) {
    b = builtin_mimalloc();
    kind = want.kind;
  } else if (want.soname != nullptr) {
    // RTLD_LOCAL: the backend's `malloc` stays out of the global scope. If
    // it is already loaded (listed in LD_PRELOAD after the layer), this is
    // that copy, and the handle's symbols are still its own definitions.
    void* h = ::dlopen(want.soname, RTLD_NOW | RTLD_LOCAL);
    if (h != nullptr && resolve_all(h, want.kind, &b)) {
      kind = want.kind;
    } else if (asked) {
      const char* why = h == nullptr ? ::dlerror() : "it lacks a malloc function";
      char line[512];
      std::snprintf(line, sizeof line, "vmreclaim-malloc: cannot use %s as the backend (%.300s)%s; using glibc\n",
                    want.name, why != nullptr ? why : "unknown error",
                    want.needs_preload ? "; list it in LD_PRELOAD after the layer" : "");
      say(line);
    }
  }
  if (kind == BackendKind::glibc && !resolve_all(RTLD_NEXT, kind, &b)) {
    say("vmreclaim-malloc: the system allocator lacks a malloc function: aborting\n");
    std::abort();
  }
  const size_t threshold = settings().threshold;
  g_backend = b;
  g_kind = kind;
  // Release, pairing with the slow paths' acquire loads (small_request,
  // alloc_slow): set before g_state, so that a thread that found the backend
  // ready in backend() compares with the threshold, not with 0.
  g_hot.threshold.store(threshold, std::memory_order_release);
  // Pairs with the acquire load in backend(): g_backend and the threshold
  // are complete first.
  g_state.store(2, std::memory_order_release);
  // The fast paths: each function with release, pairing with the shims'
  // loads of it. free and usable_size route by address and are the
  // backend's whatever the threshold; the others only when every request
  // below kFastPathLimit is below the threshold too. Where the arena is
  // outside the window (no range could be reserved), free, sized delete,
  // realloc and malloc_usable_size keep going through the slow paths, which
  // know it.
  const bool routed = in_window(reinterpret_cast<const void*>(arena()));
  const bool builtin = kind == BackendKind::mimalloc;
  if (routed) {
    g_hot.free.store(b.free, std::memory_order_release);
    g_hot.usable_size.store(b.usable_size, std::memory_order_release);
  } else {
    g_hot.free.store(free_slow, std::memory_order_release);
    g_hot.usable_size.store(usable_size_slow, std::memory_order_release);
  }
  if (threshold >= kFastPathLimit) {
    g_hot.malloc.store(b.malloc, std::memory_order_release);
    g_hot.calloc.store(b.calloc, std::memory_order_release);
    g_hot.posix_memalign.store(b.posix_memalign, std::memory_order_release);
    if (routed) {
      g_hot.free_sized.store(b.free_sized, std::memory_order_release);
      g_hot.realloc.store(b.realloc, std::memory_order_release);
      // From here the shims call the functions stored above directly.
      if (builtin) g_hot.direct_below.store(kFastPathLimit, std::memory_order_release);
    }
  }
  // Release like the others (nothing a direct call reads was written here:
  // mimalloc sets itself up on its first call).
  if (builtin && routed) g_hot.direct_free_key.store(0, std::memory_order_release);
}

bool arena_has_room() noexcept { return g_arena_used.load(std::memory_order_relaxed) < kBootstrapArenaBytes / 2; }

}  // namespace

const Backend& wait_for_backend() noexcept {
  for (;;) {
    if (const Backend* b = backend()) return *b;
    if (t_loading) {
      // Only glibc can own it: the foreign pointer predates us.
      static Backend next{};
      if (next.free == nullptr) resolve_all(RTLD_NEXT, BackendKind::glibc, &next);
      return next;
    }
    ::sched_yield();
  }
}
namespace {

// Trampolines for the fast paths that do not look at the threshold: a
// pointer reaching them before the backend is ready was not handed out by
// the backend (the arena's are filtered out before), so wait for it.
// A null pointer needs nobody (libraries free one in constructors that run
// before this library's, while nobody may load the backend yet); an arena
// block reaches these only where the arena is the static one (outside the
// window).
void boot_free(void* p) noexcept {
  if (p != nullptr && !in_bootstrap_arena(p)) wait_for_backend().free(p);
}
size_t boot_usable_size(void* p) noexcept {
  if (p == nullptr) return 0;
  return in_bootstrap_arena(p) ? bootstrap_usable_size(p) : wait_for_backend().usable_size(p);
}

// What the fast paths call until the backend is ready, and for good when the
// threshold is below kFastPathLimit: the slow paths, which serve from the
// arena while loading and compare with the threshold after.
void* slow_malloc(size_t bytes) noexcept { return alloc_slow(bytes, 16, false); }
void* slow_calloc(size_t n, size_t size) noexcept {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) return nullptr;
  return alloc_slow(bytes, 16, true);
}
void* slow_realloc(void* p, size_t bytes) noexcept { return realloc_slow(p, bytes); }
int slow_memalign(void** out, size_t align, size_t bytes) noexcept {
  void* p = alloc_slow(bytes, align, false);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
// A sized delete below kFastPathLimit may be of a heap block when the
// threshold is smaller: routed by address, as free() does.
void free_sized_by_address(void* p, size_t) noexcept { ::free(p); }

__attribute__((constructor(101))) void load_when_constructed() noexcept {
  g_constructed.store(true, std::memory_order_release);
  (void)backend();
}

}  // namespace

constinit HotPath g_hot{0,           slow_malloc,  boot_free,     free_sized_by_address,
                        slow_calloc, slow_realloc, slow_memalign, boot_usable_size,
                        0,           UINTPTR_MAX};

const Backend* backend() noexcept {
  // Acquire: pairs with the release store in load().
  if (g_state.load(std::memory_order_acquire) == 2) [[likely]] {
    return &g_backend;
  }
  if (t_loading) return nullptr;
  // dlopen needs an initialised C library; until this library's constructor
  // runs only glibc (dlsym) and the built-in mimalloc can be set up. Memory
  // handed out before then comes from the arena. If the arena runs short
  // first, load anyway.
  bool early = !g_constructed.load(std::memory_order_acquire) && arena_has_room();
  if (early) {
    bool asked = false;
    const char* unknown = nullptr;
    if (chosen(&asked, &unknown).soname != nullptr) return nullptr;
  }
  int expected = 0;
  if (g_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    t_loading = true;
    load();
    t_loading = false;
    return &g_backend;
  }
  // Another thread is loading: use the arena while it has room, then wait.
  if (arena_has_room()) return nullptr;
  while (g_state.load(std::memory_order_acquire) != 2) ::sched_yield();
  return &g_backend;
}

BackendKind backend_in_use() noexcept { return g_kind; }

void* bootstrap_alloc(size_t bytes, size_t align) noexcept {
  // Each block is preceded by its size, in the 16 bytes before the pointer.
  auto round_up = [](size_t v, size_t a) { return (v + a - 1) / a * a; };
  auto* base = reinterpret_cast<unsigned char*>(arena());
  size_t used = g_arena_used.load(std::memory_order_relaxed);
  for (;;) {
    size_t start = round_up(used + 16, align < 16 ? 16 : align);
    if (bytes > kBootstrapArenaBytes || start > kBootstrapArenaBytes - bytes) return nullptr;
    if (g_arena_used.compare_exchange_weak(used, start + bytes, std::memory_order_relaxed)) {
      std::memcpy(base + start - 16, &bytes, sizeof bytes);
      return base + start;
    }
  }
}

size_t bootstrap_usable_size(const void* p) noexcept {
  size_t n = 0;
  std::memcpy(&n, static_cast<const unsigned char*>(p) - 16, sizeof n);
  return n;
}

}  // namespace vmreclaim::alloc
