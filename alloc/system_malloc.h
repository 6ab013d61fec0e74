// The allocator this layer sits on (normally glibc's), found with
// dlsym(RTLD_NEXT). dlsym itself may call malloc/calloc before the lookup is
// done; those few requests are served from a small static arena that is
// never freed.
#pragma once

#include <cstddef>

namespace vmreclaim::alloc {

struct SystemMalloc {
  void* (*malloc)(size_t);
  void (*free)(void*);
  void* (*calloc)(size_t, size_t);
  void* (*realloc)(void*, size_t);
  int (*posix_memalign)(void**, size_t, size_t);
  void* (*aligned_alloc)(size_t, size_t);
  void* (*memalign)(size_t, size_t);
  void* (*valloc)(size_t);
  void* (*pvalloc)(size_t);
  size_t (*malloc_usable_size)(void*);
};

// The next allocator, or nullptr while this thread is resolving it (use
// the bootstrap arena then).
const SystemMalloc* system_malloc() noexcept;

// The bootstrap arena: zeroed memory, 16-byte aligned (or `align`).
void* bootstrap_alloc(size_t bytes, size_t align) noexcept;
bool in_bootstrap_arena(const void* p) noexcept;
size_t bootstrap_usable_size(const void* p) noexcept;

}  // namespace vmreclaim::alloc
