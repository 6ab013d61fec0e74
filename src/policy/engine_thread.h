// The engine thread (docs/design.md §6 triggers): one per process that has a
// ring, named "vm_reclaim". It runs an event loop (platform/linux/event_loop.h):
// it sleeps on the loop's waker (wake-ups from the SIGTSTP handler, drain
// requests), on the descriptors registered with the loop (the control
// endpoint) and on pressure / cgroup notification fds where the kernel offers
// them, with a timeout at the next thing due. It
//   - samples the ring at least once per sampling period even when the
//     program makes no calls, so an idle process gives back what it does not use;
//   - polls the pressure level while the ring holds anything, samples at once
//     when pressure rises, and drains on critical;
//   - checks the limits while the ring holds anything;
//   - drains on suspend (the handler waits for it, then stops the process).
// An empty ring costs one wake-up per sampling period: before it sleeps on
// one, the thread has the ring ask the first enter that fills it for an
// accounting call, and that call wakes it (engine::Background), so a ring
// filled meanwhile is watched from then on, not a sampling period later.
// It is a good guest (issue 14): it never keeps the process alive (glibc
// does not count it among the threads whose end ends the process; see
// platform::leave_thread_count), its descriptors are high and close-on-exec,
// and it checks each one's identity before use: one the program closed and
// reopened as its own file is dropped, never read or written (the waker and
// the cgroup threshold are made anew; a lost registered descriptor is
// reported to its owner).
#pragma once

#include <pthread.h>

#include <atomic>
#include <mutex>

#include "engine/engine.h"
#include "platform/linux/cgroup.h"
#include "platform/linux/event_loop.h"
#include "platform/linux/fd.h"
#include "platform/linux/thread.h"
#include "policy/daemon_link.h"
#include "policy/governor.h"
#include "policy/pressure_monitor.h"

namespace vmreclaim::policy {

class EngineThread final : public engine::Background {
 public:
  enum Request : unsigned { kSuspend = 1, kDrain = 2, kRefresh = 4 };

  // `monitor` may be null (pressure forced or unknown); `cgroup` may be null.
  EngineThread(engine::Engine& engine, Governor& governor, PressureMonitor* monitor, platform::MemoryCgroup* cgroup,
               const Tunables& tunables, platform::Clock& clock) noexcept;
  ~EngineThread();
  EngineThread(const EngineThread&) = delete;
  EngineThread& operator=(const EngineThread&) = delete;

  bool start() noexcept;
  void stop() noexcept;  // joins; never from the engine thread itself
  bool running() const noexcept { return running_.load(std::memory_order_acquire); }
  // Async-signal-safe. False if the thread could not be woken (its waker
  // descriptor was taken by the program; it is made anew at the next wake-up).
  bool request(unsigned what) noexcept;
  // For the SIGTSTP handler (async-signal-safe): asks for the suspend drain
  // and waits until it is done or `timeout_ms` passed (a drain stuck on a
  // lock the interrupted thread holds must not keep the process from
  // stopping). False if the thread could not be woken.
  bool suspend_and_wait(int timeout_ms) noexcept;
  // The loop this thread runs: others register their descriptors with it
  // (the control endpoint); their callbacks run on this thread.
  platform::EventLoop& loop() noexcept { return loop_; }
  // In a forked child: fresh descriptors (the inherited ones are shared with
  // the parent) and a new thread.
  void after_fork_child() noexcept;
  // Around fork(): waits until the thread is parked in poll(), so the child
  // never inherits a lock (malloc's, a sanitizer's, stdio's) that the
  // thread held mid-work.
  void lock_for_fork() noexcept { work_mu_.lock(); }
  void unlock_after_fork() noexcept { work_mu_.unlock(); }

  // [daemon hook] Before start(): the link to vmreclaimd, ticked once per
  // pressure poll (and at start, so a new ring registers at once).
  void set_daemon_link(DaemonLink* link) noexcept { daemon_ = link; }

  // Before start(): the idle trim's quiet time (0: off; docs/policy.md,
  // "Idle trim"). While the ring holds memory the thread then also looks at
  // the user side's operation count every half of it, and once the count has
  // not moved for that long it gives back everything in the ring, once.
  void set_idle_trim(uint64_t ns) noexcept { idle_trim_ns_ = ns; }

  // Wake-ups so far (for the idle-cost benchmark and tests).
  uint64_t wakeups() const noexcept { return wakeups_.load(std::memory_order_relaxed); }

  // engine::Background: an accounting call found that the ring filled while
  // this thread slept on it empty. Look at pressure and limits now.
  void ring_filled() noexcept override { request(kRefresh); }

 private:
  // What run() carries from one round to the next.
  struct Round {
    uint64_t next_poll = 0;  // when to read pressure and limits again (while the ring holds anything)
    PressureLevel level = PressureLevel::normal;
    platform::FdIdentity trigger_id;  // the pressure trigger's, marked when first polled
    uint64_t next_daemon_tick = 0;    // when to look at the daemon's page again
    // [daemon hook] Sampling periods between two samples: 1, or more while
    // registered with an idle ring watched for its next enter.
    uint64_t idle_periods = 1;
    bool daemon_fresh = false;  // the last tick gave the daemon's level
    bool sampled = false;       // this round took a sample
    uint64_t sampled_held = 0;  // what the ring held after it
    // The idle trim: the user side's operation count last seen, when it was
    // first seen at that value, the count at the last idle trim, and when
    // to look at the count again.
    uint64_t seen_ops = 0;
    uint64_t quiet_since = 0;
    uint64_t quiet_cpu = 0;  // the process's CPU time then (ns)
    uint64_t trimmed_ops = UINT64_MAX;
    uint64_t next_idle_check = UINT64_MAX;
  };

  static void* main(void* self) noexcept;
  void run() noexcept;
  // The parts of one round of run(), in order. Each false: the ring is gone
  // (log mode), end the thread.
  void take_requests(Round& round) noexcept;
  bool watch_pressure_and_limits(Round& round, uint64_t now, std::optional<PressureLevel> from_daemon) noexcept;
  bool sample_if_due(Round& round, bool holding, uint64_t now, uint64_t* due) noexcept;
  // The idle trim, while the ring holds memory; *holding is read again after a trim.
  bool trim_if_idle(Round& round, uint64_t now, bool* holding) noexcept;
  // When to wake up next. An empty ring is watched for filling (the
  // accounting call wakes us); if that cannot be arranged, look again a
  // pressure poll later rather than a sampling period.
  uint64_t next_wake(Round& round, bool holding, uint64_t now, uint64_t due) noexcept;
  int timeout_ms(uint64_t wake_at) noexcept;
  // The pressure trigger, the cgroup's threshold and reclaim events, the
  // daemon's descriptors: this round's wait (`holding` and `now` the round's).
  int own_descriptors(Round& round, bool holding, uint64_t now, platform::EventLoop::Own* own) noexcept;
  void on_own_events(Round& round, const platform::EventLoop::Own* own) noexcept;
  // Sets the cgroup v1 usage threshold where limits.h says, and listens for
  // the cgroup's reclaim while that threshold cannot tell.
  void arm_cgroup_events() noexcept;
  // Drops whatever descriptor the program took back (see the class comment).
  void check_descriptors() noexcept;
  uint64_t sample_interval_ns() noexcept;

  engine::Engine& engine_;
  Governor& governor_;
  PressureMonitor* monitor_;
  DaemonLink* daemon_ = nullptr;
  platform::MemoryCgroup* cgroup_;
  const Tunables& tunables_;
  platform::Clock& clock_;
  platform::EventLoop loop_;
  platform::Waker& waker_ = loop_.waker();
  pthread_t thread_{};
  std::atomic<bool> running_{false};
  std::atomic<bool> started_{false};  // the thread is past its runtime's start-up
  std::atomic<bool> stop_{false};
  std::atomic<unsigned> requests_{0};
  std::atomic<uint32_t> suspend_done_{0};  // futex word: suspend drains completed
  std::atomic<uint64_t> wakeups_{0};
  // The cgroup's v1 events (arm_cgroup_events): one descriptor each, the
  // library's own (platform/linux/fd.h) until the program takes the number.
  struct CgroupEvent {
    int fd = -1;
    platform::FdIdentity id;
    bool owned() const noexcept { return fd >= 0 && platform::still_own_fd(fd, id); }
    void take(int opened) noexcept;  // moved high and marked, or closed and -1
    void close() noexcept;           // closes it only while still ours
    bool read() noexcept;            // takes the event count; false if none or not ours
  };
  CgroupEvent threshold_;
  uint64_t armed_at_ = UINT64_MAX;  // usage the threshold is set at (limits.h, usage_threshold)
  // The cgroup's reclaim (memory.pressure_level), while the threshold cannot
  // tell (limits.h, usage_threshold_blind); after each event it is left
  // out of the wait until reclaim_quiet_until_ (at most 100 wake-ups a
  // second while the cgroup reclaims).
  CgroupEvent reclaim_;
  uint64_t reclaim_quiet_until_ = 0;
  // Whether glibc's thread count leaves this thread out; if not, the thread
  // looks at each wake-up (at least once a second) whether it is alone.
  bool uncounted_ = false;
  uint64_t idle_trim_ns_ = 0;  // set before start()
  std::mutex work_mu_;         // held by the thread except while it sleeps in its loop's wait
};

}  // namespace vmreclaim::policy
