#include "policy/engine_thread.h"

#include <linux/futex.h>
#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include <algorithm>
#include <cstdlib>
#include <new>
#include <optional>

#include "platform/linux/fd.h"
#include "platform/linux/suspend_signal.h"
#include "support/log.h"

namespace vmreclaim::policy {
namespace {

// A background interval shorter than this would make the thread a CPU hog;
// the precise sampling a tiny period asks for still happens on the
// accounting path.
constexpr uint64_t kMinIntervalNs = 10'000'000;
// Where glibc's thread count is not available, how long the thread may take
// to notice that the program's last thread has ended.
constexpr int kAloneCheckMs = 1000;

support::LogOnce g_lost_fd_log;
support::LogOnce g_no_eventfd_log;

}  // namespace

EngineThread::EngineThread(engine::Engine& engine, PressureMonitor* monitor, platform::MemoryCgroup* cgroup,
                           const Tunables& tunables, platform::Clock& clock) noexcept
    : engine_(engine), monitor_(monitor), cgroup_(cgroup), tunables_(tunables), clock_(clock) {}

EngineThread::~EngineThread() {
  stop();
  if (threshold_fd_ >= 0 && platform::still_own_fd(threshold_fd_, threshold_id_)) ::close(threshold_fd_);
}

bool EngineThread::start() noexcept {
  if (running()) return true;
  waker_.open();
  arm_cgroup_threshold();
  stop_.store(false);
  started_.store(false);
  running_.store(true, std::memory_order_release);
  if (int err = platform::start_thread(&thread_, "vm_reclaim", &EngineThread::main, this); err != 0) {
    running_.store(false);
    support::log_always("cannot start the engine thread (error %d); no background reclaim", err);
    return false;
  }
  // Wait until the thread runs our code: the C library's and a sanitizer's
  // thread start-up allocate, and a fork() meanwhile would hand the child
  // their locks held by a thread it does not have. From here on the thread
  // is covered by work_mu_ (see lock_for_fork).
  started_.wait(false, std::memory_order_acquire);
  engine_.set_background_sampling(true);
  return true;
}

void EngineThread::stop() noexcept {
  if (!running()) return;
  stop_.store(true);
  waker_.wake();
  pthread_join(thread_, nullptr);
  running_.store(false, std::memory_order_release);
  waker_.close();
  engine_.set_background_sampling(false);  // callers sample on the deadline again
}

bool EngineThread::request(unsigned what) noexcept {
  requests_.fetch_or(what, std::memory_order_relaxed);
  if (waker_.wake()) return true;
  // Not woken: the caller acts without us (a suspend stops at once), so the
  // request must not run late (a second stop after the program continued).
  requests_.fetch_and(~what, std::memory_order_relaxed);
  return false;
}

bool EngineThread::suspend_and_wait(int timeout_ms) noexcept {
  const uint32_t gen = suspend_done_.load(std::memory_order_acquire);
  if (!request(kSuspend)) return false;
  timespec end{};
  ::clock_gettime(CLOCK_MONOTONIC, &end);
  end.tv_sec += timeout_ms / 1000;
  end.tv_nsec += static_cast<long>(timeout_ms % 1000) * 1'000'000;
  if (end.tv_nsec >= 1'000'000'000) {
    end.tv_sec++;
    end.tv_nsec -= 1'000'000'000;
  }
  const int saved = errno;
  // Acquire pairs with the release after the drain.
  for (;;) {
    const uint32_t now_gen = suspend_done_.load(std::memory_order_acquire);
    if (now_gen != gen) break;
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    long left_ns = (end.tv_sec - now.tv_sec) * 1'000'000'000L + (end.tv_nsec - now.tv_nsec);
    if (left_ns <= 0) break;  // the drain is stuck (maybe on a lock this thread holds): stop without it
    timespec rel{left_ns / 1'000'000'000L, left_ns % 1'000'000'000L};
    ::syscall(SYS_futex, &suspend_done_, FUTEX_WAIT_PRIVATE, now_gen, &rel, nullptr, 0);
  }
  errno = saved;
  return true;
}

bool EngineThread::watch(int fd, FdCallback cb, void* arg, FdCallback lost) noexcept {
  platform::FdIdentity id;
  if (!platform::mark_own_fd(fd, &id)) return false;
  std::lock_guard lk(watched_mu_);
  for (Watched& w : watched_) {
    if (w.fd < 0) {
      w = {fd, cb, arg, lost, id};
      waker_.wake();  // rebuild the poll set
      return true;
    }
  }
  return false;
}

void EngineThread::unwatch(int fd) noexcept {
  std::lock_guard lk(watched_mu_);
  for (Watched& w : watched_) {
    if (w.fd == fd) w = {};
  }
  waker_.wake();
}

void EngineThread::after_fork_child() noexcept {
  // The parent's thread does not exist here; its descriptors are shared
  // with the parent and must not be used to wake or watch on our behalf.
  running_.store(false);
  requests_.store(0);
  if (threshold_fd_ >= 0 && platform::still_own_fd(threshold_fd_, threshold_id_)) ::close(threshold_fd_);
  threshold_fd_ = -1;
  armed_limit_ = UINT64_MAX;
  // The parent's thread may have held this lock at fork time; the child's
  // copy would stay locked forever.
  new (&watched_mu_) std::mutex();
  // Taken by before_fork in the thread that forked, which is this one now.
  work_mu_.unlock();
  for (Watched& w : watched_) w = {};
  start();
}

void EngineThread::arm_cgroup_threshold() noexcept {
  // cgroup v1 can wake us the moment usage crosses the high watermark,
  // which matters when a limit is close: polling would be too late.
  if (cgroup_ == nullptr) return;
  auto m = cgroup_->read();
  const uint64_t limit = m ? m->limit : UINT64_MAX;
  if (limit == armed_limit_) return;
  if (threshold_fd_ >= 0 && platform::still_own_fd(threshold_fd_, threshold_id_)) ::close(threshold_fd_);
  threshold_fd_ = -1;
  armed_limit_ = limit;
  if (limit != UINT64_MAX) {
    threshold_fd_ = platform::move_fd_high(cgroup_->open_usage_threshold(high_watermark(limit)));
    if (threshold_fd_ >= 0 && !platform::mark_own_fd(threshold_fd_, &threshold_id_)) {
      ::close(threshold_fd_);
      threshold_fd_ = -1;
    }
  }
}

void EngineThread::check_descriptors() noexcept {
  if (!waker_.owned()) {
    g_lost_fd_log(support::LogLevel::info, "the program took the engine thread's descriptors; made anew");
    if (!waker_.replace()) support::log_always("cannot make a new eventfd; the engine thread wakes on its timer only");
  }
  if (threshold_fd_ >= 0 && !platform::still_own_fd(threshold_fd_, threshold_id_)) {
    threshold_fd_ = -1;  // the program's now; armed again at the next check
    armed_limit_ = UINT64_MAX;
  }
  Watched lost[kMaxWatched];
  {
    std::lock_guard lk(watched_mu_);
    for (int i = 0; i < kMaxWatched; i++) {
      lost[i] = {};
      if (watched_[i].fd >= 0 && !platform::still_own_fd(watched_[i].fd, watched_[i].id)) {
        lost[i] = watched_[i];
        watched_[i] = {};
      }
    }
  }
  for (const Watched& w : lost) {
    if (w.fd >= 0 && w.lost != nullptr) w.lost(w.arg);
  }
}

uint64_t EngineThread::sample_interval_ns() noexcept {
  uint64_t p = tunables_.period_ns(engine_.pressure_level());
  // Period 0 (critical) means "reclaim everything at every sample": do it
  // each pressure poll.
  if (p == 0) p = tunables_.pressure_poll_ns;
  return std::max(p, kMinIntervalNs);
}

void* EngineThread::main(void* self) noexcept {
  auto* t = static_cast<EngineThread*>(self);
  // Before start() returns: from then on the program's threads alone decide
  // when the process ends.
  t->uncounted_ = platform::leave_thread_count();
  t->started_.store(true, std::memory_order_release);  // pairs with the wait in start()
  t->started_.notify_one();
  t->run();
  platform::rejoin_thread_count();
  return nullptr;
}

void EngineThread::run() noexcept {
  const bool live_pressure = monitor_ != nullptr && !tunables_.forced_pressure;
  const bool limits = tunables_.footprint_limit.has_value() || threshold_fd_ >= 0 || cgroup_ != nullptr;
  uint64_t next_poll = 0;
  uint64_t next_daemon_tick = 0;
  PressureLevel level = engine_.pressure_level();
  platform::FdIdentity trigger_id;  // the pressure trigger's, marked when first polled
  while (!stop_.load()) {
    if (!uncounted_ && platform::only_library_thread_left()) {
      // The program's last thread has ended (pthread_exit, or a forked
      // child's only thread returned): end the process as glibc would have.
      std::exit(0);
    }
    // Before the requests are taken: a request made after this read bumps
    // the sequence, and the wait below returns at once.
    const uint32_t seen = waker_.seq();
    std::unique_lock work(work_mu_);
    check_descriptors();
    wakeups_.fetch_add(1, std::memory_order_relaxed);
    unsigned req = requests_.exchange(0, std::memory_order_relaxed);
    if ((req & kSuspend) != 0) {
      // Give the memory back before the process stops (SIGTSTP).
      engine_.drain(engine::Cause::suspend);
      // The handler waits for this, then stops the process (or returns to
      // the program's own handler). Release: the drain's effects happen
      // before the handler, which acquires the count, goes on.
      suspend_done_.fetch_add(1, std::memory_order_release);
      ::syscall(SYS_futex, &suspend_done_, FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
    }
    if ((req & kDrain) != 0) engine_.drain(engine::Cause::drain);
    if ((req & kRefresh) != 0) next_poll = 0;

    uint64_t now = clock_.now_ns();
    const bool holding = engine_.ring_bytes() > 0;
    // [daemon hook] Registration (at once, even for an empty ring) and the
    // daemon's level while its heartbeat is fresh (policy/daemon_link.h).
    std::optional<PressureLevel> from_daemon;
    if (daemon_ != nullptr && (now >= next_daemon_tick || (holding && now >= next_poll))) {
      from_daemon = daemon_->tick(now);
      // While registered, a tick every pressure poll even when the ring
      // looked empty (it may fill between two samples without waking us): a
      // look at the page, no files read. Unregistered, ticks come with the
      // pressure polls, so a process with no daemon wakes no more often.
      next_daemon_tick = daemon_->registered() ? now + tunables_.pressure_poll_ns : UINT64_MAX;
    }
    if (holding && now >= next_poll) {
      next_poll = now + tunables_.pressure_poll_ns;
      if (live_pressure) {
        PressureLevel prev = level;
        level = from_daemon ? monitor_->publish(*from_daemon) : monitor_->refresh();
        if (level == PressureLevel::critical) {
          engine_.drain(engine::Cause::drain);
        } else if (level > prev) {
          engine_.sample_now(engine::Cause::trim);  // shorter period, lower threshold: trim now
        }
      }
      if (limits && engine_.enforce_limits() != VM_RECLAIM_SUCCESS) break;  // ring gone (log mode)
      // Follows a limit changed from outside; while the daemon watches the
      // cgroup the armed threshold stays as it is (its wake-ups leave the
      // cgroup to the daemon anyway) and the cgroup's files go unread.
      if (!from_daemon) arm_cgroup_threshold();  // [daemon hook]
    }
    const uint64_t interval = sample_interval_ns();
    uint64_t due = engine_.last_sample_ns() + interval;
    if (now >= due) {
      // An empty ring has nothing to sample: just look again a period later.
      if (holding && engine_.sample_now(engine::Cause::background) != VM_RECLAIM_SUCCESS) break;
      due = now + interval;
    }

    uint64_t wake_at = due;
    if (holding) wake_at = std::min(wake_at, next_poll);
    wake_at = std::min(wake_at, next_daemon_tick);  // [daemon hook]
    now = clock_.now_ns();
    uint64_t wait_ns = wake_at > now ? wake_at - now : 0;
    int timeout_ms = static_cast<int>(std::clamp<uint64_t>((wait_ns + 999'999) / 1'000'000, 1, 60'000));
    if (!uncounted_) timeout_ms = std::min(timeout_ms, kAloneCheckMs);

    pollfd fds[3 + kMaxWatched];
    Watched watched[kMaxWatched];
    int n = 0;
    fds[n++] = {-1, POLLIN, 0};  // the waker's eventfd, if descriptors are polled
    int trigger = monitor_ != nullptr ? monitor_->readers().trigger_fd() : -1;
    if (trigger >= 0 && !platform::still_own_fd(trigger, trigger_id)) {
      if (trigger_id.valid || !platform::mark_own_fd(trigger, &trigger_id)) trigger = -1;  // the program's now
    }
    const int trigger_at = trigger >= 0 ? n : -1;
    if (trigger >= 0) fds[n++] = {trigger, POLLPRI, 0};
    const int threshold_at = threshold_fd_ >= 0 ? n : -1;
    if (threshold_fd_ >= 0) fds[n++] = {threshold_fd_, POLLIN, 0};
    const int watched_at = n;
    {
      std::lock_guard lk(watched_mu_);
      for (int i = 0; i < kMaxWatched; i++) {
        watched[i] = watched_[i];
        fds[n++] = {watched[i].fd, POLLIN, 0};  // fd -1 is ignored by poll
      }
    }
    bool polling = trigger >= 0 || threshold_fd_ >= 0;
    for (const Watched& w : watched) polling = polling || w.fd >= 0;
    if (polling) {
      // Only a thread that polls descriptors needs the eventfd to be woken;
      // otherwise it sleeps on the futex word and the process gains no
      // descriptor for it.
      if (!waker_.ensure_fd()) {
        g_no_eventfd_log(support::LogLevel::error, "cannot make the engine thread's eventfd; it wakes on its timer");
      }
      fds[0].fd = waker_.fd();
    }
    work.unlock();  // a fork may happen now: we hold nothing
    // A wake-up since `seen` (maybe before the eventfd existed) is not lost.
    if (waker_.seq() != seen) continue;
    if (!polling) {
      waker_.wait(seen, timeout_ms);
      continue;
    }
    int r = ::poll(fds, static_cast<nfds_t>(n), timeout_ms);
    if (r <= 0) continue;  // timeout, or EINTR
    work.lock();
    // Any event on a descriptor the program has taken (POLLNVAL once
    // closed, POLLIN forever on a regular file) is dropped at the next
    // check_descriptors(), before it is polled again.
    if ((fds[0].revents & POLLIN) != 0) waker_.drain();
    if (trigger_at >= 0 && (fds[trigger_at].revents & (POLLPRI | POLLERR)) != 0) next_poll = 0;
    if (threshold_at >= 0 && (fds[threshold_at].revents & POLLIN) != 0 &&
        platform::still_own_fd(threshold_fd_, threshold_id_)) {
      uint64_t v;
      [[maybe_unused]] ssize_t rd = ::read(threshold_fd_, &v, sizeof v);
      engine_.enforce_limits();
    }
    for (int i = 0; i < kMaxWatched; i++) {
      if (watched[i].fd >= 0 && (fds[watched_at + i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        watched[i].cb(watched[i].arg);
      }
    }
  }
}

}  // namespace vmreclaim::policy
