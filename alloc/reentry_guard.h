// Marks the threads that are inside the layer's own bookkeeping (e.g. the
// reclaim library allocating its ring). Their allocations go straight to the
// system allocator, so the heap never recurses into itself.
#pragma once

namespace vmreclaim::alloc {

// __thread, not thread_local: no dynamic-initialisation wrapper, usable
// before any constructor of this library has run. Initial-exec: the layer is
// loaded at startup (LD_PRELOAD) and must not call into the TLS allocator.
extern __thread bool t_in_layer __attribute__((tls_model("initial-exec")));

class ReentryGuard {
 public:
  ReentryGuard() noexcept : prev_(t_in_layer) { t_in_layer = true; }
  ~ReentryGuard() { t_in_layer = prev_; }
  ReentryGuard(const ReentryGuard&) = delete;
  ReentryGuard& operator=(const ReentryGuard&) = delete;

 private:
  bool prev_;
};

inline bool in_layer() noexcept { return t_in_layer; }

}  // namespace vmreclaim::alloc
