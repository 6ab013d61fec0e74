// The process's one ring and its engine, wired to the real Linux platform
// and policy: pressure monitor, limits, the engine thread and the SIGTSTP
// handler. Owns the ring's address space, the fork handlers, and the
// settings read from the environment at first use.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "control/server.h"
#include "engine/engine.h"
#include "platform/linux/vm_ops.h"
#include "policy/daemon_link.h"
#include "policy/engine_thread.h"
#include "policy/limits.h"
#include "policy/pressure_monitor.h"

namespace vmreclaim::engine {

// The process's ring and its user-side counters, for the enter/cancel path:
// two relaxed loads and no call. Set by Registry::allocate (counters first),
// cleared by destroy.
struct CurrentRing {
  std::atomic<ring::Ring*> ring{nullptr};
  std::atomic<Stats*> stats{nullptr};
};
extern constinit CurrentRing g_current_ring;

// The user-side counters of `ring` if it is this process's ring, else nullptr.
inline Stats* current_ring_stats(const void* ring) noexcept {
  if (ring == nullptr || g_current_ring.ring.load(std::memory_order_relaxed) != ring) return nullptr;
  return g_current_ring.stats.load(std::memory_order_relaxed);
}

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
  ring::Ring* current() noexcept { return ring_.load(std::memory_order_acquire); }

  const policy::Tunables& tunables() noexcept;
  platform::LinuxVmOps& vm() noexcept { return vm_; }
  // The engine thread, or nullptr (no ring, or VMRECLAIM_ENGINE_THREAD=0).
  policy::EngineThread* engine_thread() noexcept { return thread_.get(); }

  // 0 removes the limit. Applies at once to an existing ring.
  void set_footprint_limit(uint64_t bytes) noexcept;
  uint64_t footprint_limit() noexcept;

 private:
  Registry() = default;
  void init_policy_locked() noexcept;
  static void before_fork() noexcept;
  static void after_fork_parent() noexcept;
  static void after_fork_child() noexcept;
  static void on_suspend() noexcept;
  static void on_control_lost(void*) noexcept;
  // The per-process control endpoint, served by the engine thread.
  void open_control_locked() noexcept;
  void close_control_locked() noexcept;

  std::mutex mu_;  // allocate/destroy/fork
  std::atomic<Engine*> engine_{nullptr};
  std::atomic<ring::Ring*> ring_{nullptr};
  platform::LinuxVmOps vm_;
  platform::MonotonicClock clock_;
  platform::ProcFootprint footprint_;
  policy::FixedPressure fixed_pressure_;
  // Created with the first ring, kept for the life of the process.
  std::unique_ptr<policy::LinuxPressureReaders> readers_;
  std::unique_ptr<policy::PressureMonitor> monitor_;
  std::unique_ptr<policy::ProcessLimits> limits_;
  std::unique_ptr<policy::DaemonLink> daemon_link_;  // [daemon hook] null: no daemon socket configured
  std::atomic<uint64_t> pending_footprint_limit_{0};
  // One per ring.
  std::unique_ptr<policy::EngineThread> thread_;
  std::unique_ptr<control::Server> control_;
  // Endpoints whose descriptors the program took: let go, not destroyed.
  std::vector<control::Server*> lost_control_;
};

}  // namespace vmreclaim::engine
