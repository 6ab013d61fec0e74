#include "process/registry.h"

#include <pthread.h>

#include <new>
#include <string_view>

#include "platform/linux/suspend_signal.h"
#include "support/environment.h"
#include "support/log.h"
#include "support/numbers.h"
#include "support/probes.h"

namespace vmreclaim::process {

constinit CurrentRing g_current_ring;

Registry& Registry::get() noexcept {
  // Never destroyed: the ring outlives static destructors and exit handlers
  // that may still free memory into it. In a mapping of its own, out of the
  // program's heap: the engine's platform (its VmOps, clock) lives here, and
  // entries over it are refused (RECLAIM_ENGINE_OVERLAP).
  static Registry* r = [] {
    void* p = platform::map_private(sizeof(Registry), "vm_reclaim_engine");
    return p != nullptr ? new (p) Registry() : new Registry();
  }();
  return *r;
}

const policy::Tunables& Registry::tunables() noexcept {
  static const policy::Tunables t = [] {
    policy::Tunables v = policy::tunables_from_process_env();
    support::set_log_level(v.log_level);
    return v;
  }();
  return t;
}

void Registry::before_fork() noexcept {
  Registry& r = get();
  r.mu_.lock();
  // Park the engine thread first (it takes the engine's lock inside its
  // work, never ours), then the engine itself.
  if (r.thread_) r.thread_->lock_for_fork();
  if (Engine* e = r.engine_.load()) e->lock_for_fork();
}

void Registry::after_fork_parent() noexcept {
  Registry& r = get();
  if (Engine* e = r.engine_.load()) e->unlock_after_fork();
  if (r.thread_) r.thread_->unlock_after_fork();
  r.mu_.unlock();
}

void Registry::after_fork_child() noexcept {
  // The child owns a private copy of the ring and of the engine's state,
  // but not the parent's engine thread: start its own.
  Registry& r = get();
  r.vm_.after_fork_child();
  if (Engine* e = r.engine_.load()) e->unlock_after_fork();
  if (r.daemon_link_) r.daemon_link_->after_fork_child();  // [daemon hook] before the new thread ticks it
  if (r.thread_) r.thread_->after_fork_child();
  // The inherited endpoint answers to the parent's name; open our own.
  if (r.service_open_ && r.thread_) r.service_->after_fork_child(r.thread_->loop());
  r.mu_.unlock();
}

void Registry::on_suspend() noexcept {
  // Signal context: only async-signal-safe work (a futex, an eventfd write).
  // The thread the signal landed on waits for the drain, so it does not run
  // on past the stop the user asked for; then the process stops as the
  // default action would have stopped it (or the program's own handler,
  // chained after us, decides).
  constexpr int kSuspendDrainWaitMs = 2000;
  Registry& r = get();
  if (policy::EngineThread* t = r.thread_.get(); t != nullptr && t->running()) {
    t->suspend_and_wait(kSuspendDrainWaitMs);  // false: not woken, stop without the drain
  }
  if (platform::suspend_stops_process()) platform::stop_process();
}

bool Registry::control_wanted() noexcept {
  // The environment, where it says, wins over the program's default.
  // A malformed value is reported (tunables) and leaves the default.
  static const bool from_env = [] {
    const char* s = support::setting_from_env("VMRECLAIM_CONTROL");
    return s != nullptr && (std::string_view(s) == "0" || std::string_view(s) == "1");
  }();
  return from_env ? tunables().control : control_default_.load(std::memory_order_relaxed);
}

uint64_t Registry::idle_trim_wanted() noexcept {
  // As control_wanted(): a valid value in the environment wins; a malformed
  // one is reported (tunables) and leaves the program's default.
  static const bool from_env = [] {
    const char* s = support::setting_from_env("VMRECLAIM_IDLE_TRIM_NS");
    if (s == nullptr) return false;
    const support::ParsedNumber n = support::parse_number(s);
    return n.ok() && n.value <= policy::kHourNs;  // the range of tunables.def
  }();
  return from_env ? tunables().idle_trim_ns : idle_trim_default_.load(std::memory_order_relaxed);
}

void Registry::set_loop_service(LoopService* service) noexcept {
  std::lock_guard lk(mu_);
  if (service_ == nullptr) service_ = service;
}

void Registry::open_service_locked() noexcept {
  if (service_ == nullptr || !control_wanted() || !thread_ || !thread_->running()) return;
  service_->open(thread_->loop());
  service_open_ = true;
}

void Registry::init_policy_locked() noexcept {
  if (limits_) return;
  const policy::Tunables& t = tunables();
  readers_ = std::make_unique<policy::LinuxPressureReaders>();
  if (!t.forced_pressure) {
    monitor_ = std::make_unique<policy::PressureMonitor>(*readers_);
    monitor_->refresh();
  } else {
    fixed_pressure_.set(*t.forced_pressure);
  }
  std::optional<uint64_t> limit = t.footprint_limit;
  if (uint64_t p = pending_footprint_limit_.load(); p != 0) limit = p;
  std::optional<platform::MemoryCgroup> cgroup;
  if (platform::MemoryCgroup* cg = readers_->memory_cgroup()) cgroup = *cg;
  limits_ = std::make_unique<policy::ProcessLimits>(footprint_, std::move(cgroup), limit);
  // [daemon hook] vmreclaimd, when its socket is there (policy/daemon_link.h).
  // The socket is a tunable (VMRECLAIM_DAEMON_SOCKET, policy/tunables.def).
  if (!t.daemon_socket.empty()) {
    daemon_link_ = std::make_unique<policy::DaemonLink>(std::string(t.daemon_socket.view()), limits_.get());
  }
}

mach_vm_reclaim_error_t Registry::allocate(ring::Ring** out, mach_vm_reclaim_count_t initial,
                                           mach_vm_reclaim_count_t max) noexcept {
  const policy::Tunables& t = tunables();
  if (!t.enabled) return VM_RECLAIM_NOT_SUPPORTED;
  if (out == nullptr || initial == 0 || max == 0 || max < initial) return VM_RECLAIM_INVALID_ARGUMENT;
  if (max > VM_RECLAIM_MAX_CAPACITY) return VM_RECLAIM_INVALID_CAPACITY;

  std::lock_guard lk(mu_);
  if (engine_.load() != nullptr) return VM_RECLAIM_RESOURCE_SHORTAGE;
  static std::once_flag atfork_once;
  std::call_once(atfork_once, [] { ::pthread_atfork(before_fork, after_fork_parent, after_fork_child); });
  init_policy_locked();

  // The capacities are the caller's, unrounded (as on Darwin); only the
  // mapping is whole pages. Rounding is the caller's choice
  // (mach_vm_reclaim_round_capacity).
  const mach_vm_reclaim_count_t len = initial;
  const mach_vm_reclaim_count_t max_len = max;
  const uint64_t reserved = ring::ring_bytes(max_len);
  void* base = vm_.reserve(reserved, "vm_reclaim_ring");
  if (base == nullptr) return VM_RECLAIM_RESOURCE_SHORTAGE;
  if (vm_.protect(base, ring::ring_bytes(len), true) != 0) {
    vm_.release_reservation(base, reserved);
    return VM_RECLAIM_RESOURCE_SHORTAGE;
  }
  auto* r = static_cast<ring::Ring*>(base);
  policy::PressureSource* pressure = monitor_ ? static_cast<policy::PressureSource*>(monitor_.get()) : &fixed_pressure_;
  governor_.emplace(t, pressure, &footprint_, limits_.get());
  Engine* e =
      Engine::create(r, reserved, len, max_len, policy::engine_config(t), engine::Platform{&clock_, &vm_, &*governor_});
  if (e == nullptr) {
    governor_.reset();
    vm_.release_reservation(base, reserved);
    return VM_RECLAIM_RESOURCE_SHORTAGE;
  }
  // What else no entry may cover: this registry and the library's own image.
  e->protect_memory(reinterpret_cast<uint64_t>(this), sizeof(Registry));
  if (platform::Span image{}; platform::image_of(reinterpret_cast<const void*>(&Registry::get), &image)) {
    e->protect_memory(image.addr, image.len);
  }
  e->enforce_limits();  // publishes the first byte ceiling
  engine_.store(e, std::memory_order_release);
  ring_.store(r, std::memory_order_release);
  g_current_ring.stats.store(&e->stats(), std::memory_order_release);
  g_current_ring.ring.store(r, std::memory_order_release);
  if (t.engine_thread) {
    thread_ =
        std::make_unique<policy::EngineThread>(*e, *governor_, monitor_.get(), readers_->memory_cgroup(), t, clock_);
    thread_->set_daemon_link(daemon_link_.get());  // [daemon hook]
    thread_->set_idle_trim(idle_trim_wanted());
    thread_->start();
    open_service_locked();
  }
  if (t.suspend_drain) platform::install_suspend_handler(&Registry::on_suspend);
  VMR_PROBE3(reclaim_ring_allocate, r, len, max_len);
  support::log(support::LogLevel::info, "ring at %p: %u entries (max %u)", base, len, max_len);
  *out = r;
  return VM_RECLAIM_SUCCESS;
}

mach_vm_reclaim_error_t Registry::destroy(ring::Ring* ring) noexcept {
  std::lock_guard lk(mu_);
  Engine* e = lookup(ring);
  if (e == nullptr) return VM_RECLAIM_INVALID_RING;
  if (thread_) thread_->stop();
  mach_vm_reclaim_error_t err = e->drain(engine::Cause::drain);
  if (err != VM_RECLAIM_SUCCESS) {
    if (thread_) thread_->start();
    return err;
  }
  if (service_open_) {
    // The thread is stopped: no service callback is running.
    service_->close(thread_->loop());
    service_open_ = false;
  }
  thread_.reset();
  g_current_ring.ring.store(nullptr, std::memory_order_release);
  g_current_ring.stats.store(nullptr, std::memory_order_release);
  ring_.store(nullptr, std::memory_order_release);
  engine_.store(nullptr, std::memory_order_release);
  const uint64_t reserved = e->reserved_bytes();
  Engine::destroy(e);
  governor_.reset();
  vm_.release_reservation(ring, reserved);
  return VM_RECLAIM_SUCCESS;
}

void Registry::set_footprint_limit(uint64_t bytes) noexcept {
  std::lock_guard lk(mu_);
  pending_footprint_limit_.store(bytes);
  if (limits_) limits_->set_footprint_limit(bytes);
  if (Engine* e = engine_.load()) e->enforce_limits();
}

uint64_t Registry::footprint_limit() noexcept {
  std::lock_guard lk(mu_);
  if (limits_) return limits_->footprint_limit();
  uint64_t p = pending_footprint_limit_.load();
  return p != 0 ? p : tunables().footprint_limit.value_or(0);
}

}  // namespace vmreclaim::process
