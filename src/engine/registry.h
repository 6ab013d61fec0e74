// The process's one ring and its engine, with the real Linux platform. Owns
// the ring's address space, the fork handlers, and the settings read from the
// environment at first use.
#pragma once

#include <atomic>
#include <mutex>

#include "engine/engine.h"
#include "platform/linux/vm_ops.h"

namespace vmreclaim::engine {

class Registry {
 public:
  static Registry& get() noexcept;

  mach_vm_reclaim_error_t allocate(ring::Ring** out, mach_vm_reclaim_count_t initial,
                                   mach_vm_reclaim_count_t max) noexcept;
  mach_vm_reclaim_error_t destroy(ring::Ring* ring) noexcept;

  // The engine of `ring` if it is this process's ring, else nullptr.
  Engine* lookup(const void* ring) noexcept {
    Engine* e = engine_.load(std::memory_order_acquire);
    return e != nullptr && e->ring() == ring ? e : nullptr;
  }
  // Cheap check for the enter/cancel path.
  bool is_current(const void* ring) noexcept {
    return ring != nullptr && ring_.load(std::memory_order_relaxed) == ring;
  }
  ring::Ring* current() noexcept { return ring_.load(std::memory_order_acquire); }

  const policy::Tunables& tunables() noexcept;
  platform::LinuxVmOps& vm() noexcept { return vm_; }

 private:
  Registry() = default;
  static void before_fork() noexcept;
  static void after_fork_parent() noexcept;
  static void after_fork_child() noexcept;

  std::mutex mu_;  // allocate/destroy/fork
  std::atomic<Engine*> engine_{nullptr};
  std::atomic<ring::Ring*> ring_{nullptr};
  platform::LinuxVmOps vm_;
  platform::MonotonicClock clock_;
  platform::ProcFootprint footprint_;
  policy::FixedPressure pressure_;
};

}  // namespace vmreclaim::engine
