// The process's one ring and its engine, wired to the real Linux platform
// and policy: pressure monitor, limits, the governor, the engine thread and
// the SIGTSTP handler. Owns the ring's address space, the fork handlers, and
// the settings read from the environment at first use. What the engine
// thread serves besides the ring (the control endpoint) is installed from
// above as a LoopService: this layer knows no control code
// (docs/architecture.md, "Layers").
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>

#include "engine/engine.h"
#include "platform/linux/event_loop.h"
#include "platform/linux/vm_ops.h"
#include "policy/daemon_link.h"
#include "policy/engine_thread.h"
#include "policy/governor.h"
#include "policy/limits.h"
#include "policy/pressure_monitor.h"

namespace vmreclaim::process {

using engine::Engine;
using engine::Stats;

// A service the engine thread's event loop runs besides the ring (the
// control endpoint, control/endpoint.h). Called with the registry's lock
// held; never destroyed by the registry.
class LoopService {
 public:
  // The engine thread runs: register with its loop.
  virtual void open(platform::EventLoop& loop) noexcept = 0;
  // The engine thread is stopped: let go of the loop.
  virtual void close(platform::EventLoop& loop) noexcept = 0;
  // In a forked child whose engine thread was started anew: what was open
  // answers to the parent; open anew.
  virtual void after_fork_child(platform::EventLoop& loop) noexcept = 0;

 protected:
  ~LoopService() = default;
};

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

  // What the engine thread serves besides the ring (only if
  // VMRECLAIM_CONTROL allows). Before the first allocate; later calls are
  // ignored.
  void set_loop_service(LoopService* service) noexcept;

  // 0 removes the limit. Applies at once to an existing ring.
  void set_footprint_limit(uint64_t bytes) noexcept;
  uint64_t footprint_limit() noexcept;
  // Whether the control endpoint is served when VMRECLAIM_CONTROL is unset.
  void set_control_default(bool serve) noexcept {
    // Relaxed: a lone flag, nothing is published through it; read when the
    // endpoint opens (under mu_, or on the engine thread after a loss), and
    // the caller sets it before the ring it concerns exists.
    control_default_.store(serve, std::memory_order_relaxed);
  }
  // The idle trim's quiet time when VMRECLAIM_IDLE_TRIM_NS is unset (0: off,
  // the default). Read when the engine thread is made (the ring's
  // allocation); the caller sets it before the ring exists.
  void set_idle_trim_default(uint64_t ns) noexcept {
    // Relaxed: a lone value, as control_default_.
    idle_trim_default_.store(ns, std::memory_order_relaxed);
  }

 private:
  Registry() = default;
  void init_policy_locked() noexcept;
  static void before_fork() noexcept;
  static void after_fork_parent() noexcept;
  static void after_fork_child() noexcept;
  static void on_suspend() noexcept;
  void open_service_locked() noexcept;
  // VMRECLAIM_CONTROL if set, else the default the program chose.
  bool control_wanted() noexcept;
  // VMRECLAIM_IDLE_TRIM_NS if set, else the default the program chose.
  uint64_t idle_trim_wanted() noexcept;

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
  std::atomic<bool> control_default_{true};
  std::atomic<uint64_t> idle_trim_default_{0};
  // One per ring. The governor here, in the registry's own mapping, like the
  // engine: entries over it are refused.
  std::optional<policy::Governor> governor_;
  std::unique_ptr<policy::EngineThread> thread_;
  LoopService* service_ = nullptr;
  bool service_open_ = false;
};

}  // namespace vmreclaim::process
