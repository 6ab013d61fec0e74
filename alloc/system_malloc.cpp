#include "system_malloc.h"

#include <dlfcn.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace vmreclaim::alloc {
namespace {

SystemMalloc g_next;
std::atomic<int> g_state{0};  // 0 unresolved, 1 resolving, 2 ready
__thread bool t_resolving __attribute__((tls_model("initial-exec"))) = false;

constexpr size_t kArenaBytes = 256 * 1024;
alignas(4096) unsigned char g_arena[kArenaBytes];
std::atomic<size_t> g_arena_used{0};

template <class F>
void resolve(F*& slot, const char* name) noexcept {
  void* sym = ::dlsym(RTLD_NEXT, name);
  if (sym == nullptr) {
    static const char msg[] = "vmreclaim-malloc: the system allocator lacks a malloc function: aborting\n";
    ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    std::abort();
  }
  slot = reinterpret_cast<F*>(sym);
}

}  // namespace

const SystemMalloc* system_malloc() noexcept {
  if (g_state.load(std::memory_order_acquire) == 2) [[likely]]
    return &g_next;
  if (t_resolving) return nullptr;
  int expected = 0;
  if (g_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    t_resolving = true;
    SystemMalloc s{};
    resolve(s.malloc, "malloc");
    resolve(s.free, "free");
    resolve(s.calloc, "calloc");
    resolve(s.realloc, "realloc");
    resolve(s.posix_memalign, "posix_memalign");
    resolve(s.aligned_alloc, "aligned_alloc");
    resolve(s.memalign, "memalign");
    resolve(s.valloc, "valloc");
    resolve(s.pvalloc, "pvalloc");
    resolve(s.malloc_usable_size, "malloc_usable_size");
    g_next = s;
    t_resolving = false;
    g_state.store(2, std::memory_order_release);
  } else {
    while (g_state.load(std::memory_order_acquire) != 2) ::sched_yield();
  }
  return &g_next;
}

void* bootstrap_alloc(size_t bytes, size_t align) noexcept {
  // Each block is preceded by its size, 16 bytes before the pointer.
  if (align < 16) align = 16;
  size_t used = g_arena_used.load(std::memory_order_relaxed);
  for (;;) {
    size_t start = (used + 16 + align - 1) / align * align;
    if (bytes > kArenaBytes || start > kArenaBytes - bytes) return nullptr;
    if (g_arena_used.compare_exchange_weak(used, start + bytes, std::memory_order_relaxed)) {
      std::memcpy(g_arena + start - 16, &bytes, sizeof bytes);
      return g_arena + start;
    }
  }
}

bool in_bootstrap_arena(const void* p) noexcept {
  auto a = reinterpret_cast<uintptr_t>(p), base = reinterpret_cast<uintptr_t>(g_arena);
  return a >= base && a < base + kArenaBytes;
}

size_t bootstrap_usable_size(const void* p) noexcept {
  size_t n = 0;
  std::memcpy(&n, static_cast<const unsigned char*>(p) - 16, sizeof n);
  return n;
}

}  // namespace vmreclaim::alloc
