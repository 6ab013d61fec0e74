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
// After an event of the cgroup's reclaim, the next one is taken no sooner
// than this: the kernel sends one per 512 pages scanned, hundreds a second
// while a cgroup at its limit streams files.
constexpr uint64_t kReclaimQuietNs = 10'000'000;

support::LogOnce g_lost_fd_log;

// CPU time of the whole process (every thread), or 0 if it cannot be read.
uint64_t process_cpu_ns() noexcept {
  timespec ts{};
  if (::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

EngineThread::EngineThread(engine::Engine& engine, Governor& governor, PressureMonitor* monitor,
                           platform::MemoryCgroup* cgroup, const Tunables& tunables, platform::Clock& clock) noexcept
    : engine_(engine), governor_(governor), monitor_(monitor), cgroup_(cgroup), tunables_(tunables), clock_(clock) {}

EngineThread::~EngineThread() {
  stop();
  threshold_.close();
  reclaim_.close();
}

void EngineThread::CgroupEvent::take(int opened) noexcept {
  fd = platform::move_fd_high(opened);
  if (fd >= 0 && !platform::mark_own_fd(fd, &id)) {
    ::close(fd);
    fd = -1;
  }
}

void EngineThread::CgroupEvent::close() noexcept {
  if (owned()) ::close(fd);
  fd = -1;
}

bool EngineThread::CgroupEvent::read() noexcept {
  uint64_t count = 0;
  return owned() && ::read(fd, &count, sizeof count) == static_cast<ssize_t>(sizeof count);
}

bool EngineThread::start() noexcept {
  if (running()) return true;
  waker_.open();
  arm_cgroup_events();
  stop_.store(false);
  started_.store(false);
  running_.store(true, std::memory_order_release);
  // Before the thread's first round, which may find the ring empty and
  // watch it for filling (Engine::watch_for_fill needs us registered).
  engine_.set_background_sampling(this);
  if (int err = platform::start_thread(&thread_, "vm_reclaim", &EngineThread::main, this); err != 0) {
    running_.store(false);
    engine_.set_background_sampling(nullptr);  // callers sample on the deadline
    support::log_always("cannot start the engine thread (error %d); no background reclaim", err);
    return false;
  }
  // Wait until the thread runs our code: the C library's and a sanitizer's
  // thread start-up allocate, and a fork() meanwhile would hand the child
  // their locks held by a thread it does not have. From here on the thread
  // is covered by work_mu_ (see lock_for_fork).
  started_.wait(false, std::memory_order_acquire);
  return true;
}

void EngineThread::stop() noexcept {
  if (!running()) return;
  stop_.store(true);
  waker_.wake();
  pthread_join(thread_, nullptr);
  running_.store(false, std::memory_order_release);
  // Before the waker closes: no accounting call wakes us from here on.
  engine_.set_background_sampling(nullptr);  // callers sample on the deadline again
  waker_.close();
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

void EngineThread::after_fork_child() noexcept {
  // The parent's thread does not exist here; its descriptors are shared
  // with the parent and must not be used to wake or watch on our behalf.
  running_.store(false);
  requests_.store(0);
  threshold_.close();
  armed_at_ = UINT64_MAX;
  reclaim_.close();
  loop_.after_fork_child();
  // Taken by before_fork in the thread that forked, which is this one now.
  work_mu_.unlock();
  start();
}

void EngineThread::arm_cgroup_events() noexcept {
  // cgroup v1 can wake us the moment usage crosses a threshold, which
  // matters when a limit is close: polling would be too late. Moved when
  // the limit or the page cache moves it by limit/128 or more (limits.h,
  // usage_threshold), not at every small change of the cache.
  if (cgroup_ == nullptr) return;
  auto m = cgroup_->read();
  // Where the threshold cannot tell when the working set reaches the
  // watermark, the kernel's reclaim of the cache in the cgroup can.
  const bool blind = m && usage_threshold_blind(*m);
  if (blind && reclaim_.fd < 0) reclaim_.take(cgroup_->open_reclaim_events());
  if (!blind && reclaim_.fd >= 0) reclaim_.close();
  const uint64_t at = m ? usage_threshold(*m) : UINT64_MAX;
  if (at == armed_at_) return;
  if (at != UINT64_MAX && armed_at_ != UINT64_MAX && threshold_.fd >= 0) {
    const uint64_t moved = at > armed_at_ ? at - armed_at_ : armed_at_ - at;
    if (moved < m->limit / 128) return;
  }
  threshold_.close();
  armed_at_ = at;
  if (at != UINT64_MAX) threshold_.take(cgroup_->open_usage_threshold(at));
}

void EngineThread::check_descriptors() noexcept {
  if (!waker_.owned()) {
    g_lost_fd_log(support::LogLevel::info, "the program took the engine thread's descriptors; made anew");
    if (!waker_.replace()) support::log_always("cannot make a new eventfd; the engine thread wakes on its timer only");
  }
  // The program's now: forgotten, armed again at the next check.
  if (threshold_.fd >= 0 && !threshold_.owned()) {
    threshold_.fd = -1;
    armed_at_ = UINT64_MAX;
  }
  if (reclaim_.fd >= 0 && !reclaim_.owned()) reclaim_.fd = -1;
  loop_.check_watched();
}

uint64_t EngineThread::sample_interval_ns() noexcept {
  uint64_t p = governor_.period_ns();
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
  Round round;
  round.level = governor_.pressure_level();
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
    take_requests(round);

    const uint64_t now = clock_.now_ns();
    bool holding = engine_.ring_bytes() > 0;
    // [daemon hook] Registration (at once, even for an empty ring) and the
    // daemon's level while its heartbeat is fresh (policy/daemon_link.h).
    std::optional<PressureLevel> from_daemon;
    bool ticked = false;
    if (daemon_ != nullptr && (now >= round.next_daemon_tick || (holding && now >= round.next_poll))) {
      from_daemon = daemon_->tick(now);
      ticked = true;
      // Unregistered, ticks come with the pressure polls, so a process with
      // no daemon wakes no more often. Registered with a stale heartbeat, a
      // look at the page every poll until it is fresh again or gone.
      round.next_daemon_tick = daemon_->registered() ? now + tunables_.pressure_poll_ns : UINT64_MAX;
    }
    // A fresh level is taken at once (the tick and the poll fall due together
    // while registered; a doorbell makes both due).
    if (holding && (now >= round.next_poll || from_daemon) && !watch_pressure_and_limits(round, now, from_daemon))
      break;
    if (holding && idle_trim_ns_ != 0 && !trim_if_idle(round, now, &holding)) break;
    uint64_t due = 0;
    if (!sample_if_due(round, holding, now, &due)) break;
    if (ticked) round.daemon_fresh = from_daemon.has_value();
    if (!round.daemon_fresh) round.idle_periods = 1;  // polling for ourselves: every period
    // [daemon hook] Registered with a fresh heartbeat, a ring the sample
    // found left alone is sampled again only when a sample would trim
    // (Governor::idle_periods), unless an enter comes first: the watch makes
    // that enter's accounting call wake us (kRefresh).
    if (round.daemon_fresh && holding && round.sampled && round.idle_periods == 1) {
      const uint64_t k = governor_.idle_periods();
      if (k > 1 && engine_.watch_for_enter(round.sampled_held)) {
        round.idle_periods = k;
        due = engine_.last_sample_ns() + k * sample_interval_ns();
      }
    }
    // [daemon hook] Empty and registered: the fill watch wakes us at the
    // first enter, a doorbell at a new level; the periodic look at an empty
    // ring (for a program that ignores should_update) comes with the look
    // at the page.
    if (round.daemon_fresh && !holding) due = std::max(due, now + daemon_->check_ns());
    if (ticked && from_daemon) {
      // [daemon hook] Registered, heartbeat fresh: no pressure poll. The
      // daemon's doorbell (our level changed) or the connection's end wakes
      // us (own_descriptors); else we look at the page again with the next
      // sample, and at most daemon_->check_ns() on (a daemon that hangs).
      const uint64_t next = std::max(now + tunables_.pressure_poll_ns, std::min(due, now + daemon_->check_ns()));
      round.next_daemon_tick = next;
      round.next_poll = next;
    }

    // No daemon link (VMRECLAIM_DAEMON_SOCKET=0): no tick is ever due (its
    // deadline stays 0, which would wake us every millisecond).
    const uint64_t daemon_at = daemon_ != nullptr ? round.next_daemon_tick : UINT64_MAX;
    uint64_t wake_at = std::min(next_wake(round, holding, now, due), daemon_at);
    // Back to listening for the cgroup's reclaim when its quiet spell ends.
    if (reclaim_.fd >= 0 && holding && reclaim_quiet_until_ > now) wake_at = std::min(wake_at, reclaim_quiet_until_);
    const int timeout = timeout_ms(wake_at);
    platform::EventLoop::Own own[platform::EventLoop::kMaxOwn];
    const int n_own = own_descriptors(round, holding, now, own);
    if (!loop_.wait(work, seen, timeout, own, n_own)) continue;
    on_own_events(round, own);
    loop_.dispatch();
  }
}

void EngineThread::take_requests(Round& round) noexcept {
  const unsigned req = requests_.exchange(0, std::memory_order_relaxed);
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
  if ((req & kRefresh) != 0) {
    round.next_poll = 0;
    round.idle_periods = 1;  // an enter (the fill watch): the ring is not idle
  }
}

bool EngineThread::watch_pressure_and_limits(Round& round, uint64_t now,
                                             std::optional<PressureLevel> from_daemon) noexcept {
  round.next_poll = now + tunables_.pressure_poll_ns;
  if (monitor_ != nullptr && !tunables_.forced_pressure) {
    const PressureLevel prev = round.level;
    round.level = from_daemon ? monitor_->publish(*from_daemon) : monitor_->refresh();
    if (round.level == PressureLevel::critical) {
      engine_.drain(engine::Cause::drain);
    } else if (round.level > prev) {
      engine_.sample_now(engine::Cause::trim);  // shorter period, lower threshold: trim now
    }
  }
  const bool limits = tunables_.footprint_limit.has_value() || threshold_.fd >= 0 || cgroup_ != nullptr;
  if (limits && engine_.enforce_limits() != VM_RECLAIM_SUCCESS) return false;
  // Follows a limit changed from outside; while the daemon watches the
  // cgroup the armed threshold stays as it is (its wake-ups leave the
  // cgroup to the daemon anyway) and the cgroup's files go unread.
  if (!from_daemon) arm_cgroup_events();  // [daemon hook]
  return true;
}

bool EngineThread::sample_if_due(Round& round, bool holding, uint64_t now, uint64_t* due) noexcept {
  const uint64_t interval = sample_interval_ns();
  round.sampled = false;
  *due = engine_.last_sample_ns() + interval * round.idle_periods;
  if (now < *due) return true;
  // An empty ring has nothing to sample: just look again a period later.
  if (holding && engine_.sample_now(engine::Cause::background) != VM_RECLAIM_SUCCESS) return false;
  round.sampled = holding;
  round.sampled_held = holding ? engine_.ring_bytes() : 0;
  round.idle_periods = 1;
  *due = now + interval;
  return true;
}

bool EngineThread::trim_if_idle(Round& round, uint64_t now, bool* holding) noexcept {
  // The count moves with every enter, re-enter and cancel; it is read here,
  // at our wake-ups, never written (the user side pays one store per
  // operation, on a cache line it has just written, and no system call).
  // Seen unchanged for idle_trim_ns_ since it was first seen at this value,
  // the program has made no operation for at least that long: whatever the
  // ring holds is memory it does not use. Given back once per quiet spell; a
  // ring in use is never trimmed here (its count moves between our looks).
  // And quiet means idle only if the process used little CPU meanwhile: a
  // program busy between two large frees for longer than the quiet time
  // (writing a large block it just got, computing) is not idle, and its
  // cache stays. Less than a quarter of a CPU over the spell counts as idle
  // (the program sleeps or waits; this thread's own looks cost microseconds).
  // A clock that cannot be read reads 0: the count alone decides.
  const uint64_t ops = engine_.user_ops();
  const uint64_t cpu = process_cpu_ns();
  if (ops != round.seen_ops) {
    round.seen_ops = ops;
    round.quiet_since = now;
    round.quiet_cpu = cpu;
  } else if (ops != round.trimmed_ops && now - round.quiet_since >= idle_trim_ns_ &&
             cpu - round.quiet_cpu > (now - round.quiet_since) / 4) {
    round.quiet_since = now;  // busy without the ring: a new spell starts
    round.quiet_cpu = cpu;
  } else if (ops != round.trimmed_ops && now - round.quiet_since >= idle_trim_ns_) {
    round.trimmed_ops = ops;
    if (engine_.trim(UINT64_MAX, engine::Cause::trim) != VM_RECLAIM_SUCCESS) return false;
    *holding = engine_.ring_bytes() > 0;
  }
  // Looked at every half quiet time: given back between one and one and a
  // half quiet times after the last operation. None after the trim: an
  // empty ring sleeps until it fills again.
  round.next_idle_check = ops != round.trimmed_ops ? now + std::max(idle_trim_ns_ / 2, kMinIntervalNs) : UINT64_MAX;
  return true;
}

uint64_t EngineThread::next_wake(Round& round, bool holding, uint64_t now, uint64_t due) noexcept {
  if (holding) {
    // Awake and polling: callers need not wake us; unless the ring is left
    // unsampled while idle, and its next enter must.
    if (round.idle_periods == 1) engine_.unwatch_fill();
    return std::min({due, round.next_poll, idle_trim_ns_ != 0 ? round.next_idle_check : UINT64_MAX});
  }
  // Empty: sleep until the next sample, unless the ring fills first, whose
  // first enter asks its caller for the accounting call that wakes us
  // (kRefresh: pressure and limits at once). If the ring filled while we
  // looked, or the watch could not be set, look again a poll later.
  if (engine_.watch_for_fill()) return due;
  round.next_poll = std::min(round.next_poll, now);  // a ring found holding is polled at once
  return std::min(due, now + tunables_.pressure_poll_ns);
}

int EngineThread::timeout_ms(uint64_t wake_at) noexcept {
  const uint64_t now = clock_.now_ns();
  const uint64_t wait_ns = wake_at > now ? wake_at - now : 0;
  int ms = static_cast<int>(std::clamp<uint64_t>((wait_ns + 999'999) / 1'000'000, 1, 60'000));
  if (!uncounted_) ms = std::min(ms, kAloneCheckMs);
  return ms;
}

int EngineThread::own_descriptors(Round& round, bool holding, uint64_t now, platform::EventLoop::Own* own) noexcept {
  int trigger = monitor_ != nullptr ? monitor_->readers().trigger_fd() : -1;
  if (trigger >= 0 && !platform::still_own_fd(trigger, round.trigger_id)) {
    // Marked when first polled; a mark that no longer matches: the program's now.
    if (round.trigger_id.valid || !platform::mark_own_fd(trigger, &round.trigger_id)) trigger = -1;
  }
  own[0] = {trigger, POLLPRI, 0};
  own[1] = {threshold_.fd, POLLIN, 0};
  // [daemon hook] The registration connection: a doorbell, or the daemon's end.
  own[2] = {daemon_ != nullptr ? daemon_->wake_fd() : -1, POLLIN, 0};
  // [daemon hook] Unregistered: the watch on the socket's directory.
  own[3] = {daemon_ != nullptr ? daemon_->watch_fd() : -1, POLLIN, 0};
  // The cgroup's reclaim: only while the ring holds something to give, and
  // not again until its quiet spell after the last event is over.
  const bool listen = reclaim_.fd >= 0 && holding && now >= reclaim_quiet_until_;
  own[4] = {listen ? reclaim_.fd : -1, POLLIN, 0};
  return 5;
}

void EngineThread::on_own_events(Round& round, const platform::EventLoop::Own* own) noexcept {
  if (own[0].fd >= 0 && (own[0].revents & (POLLPRI | POLLERR)) != 0) round.next_poll = 0;
  const bool crossed = own[1].fd >= 0 && (own[1].revents & POLLIN) != 0 && threshold_.read();
  const bool reclaimed = own[4].fd >= 0 && (own[4].revents & POLLIN) != 0 && reclaim_.read();
  if (reclaimed) reclaim_quiet_until_ = clock_.now_ns() + kReclaimQuietNs;
  if (crossed || reclaimed) engine_.enforce_limits();
  // Where the cache has moved since it was armed, the threshold follows
  // (usage may have crossed it with the working set still below the
  // watermark: the next crossing must come where it reaches it). Not while
  // the daemon watches the cgroup ([daemon hook]: its files go unread). Not
  // after the cgroup's reclaim either: those come by the hundred while the
  // cgroup streams files, a second read of its files would double the system
  // calls of each, and the listening they need lasts until usage falls below
  // the threshold, which that crossing (or the next poll) tells.
  if (crossed && !round.daemon_fresh) arm_cgroup_events();
  // [daemon hook] POLLHUP and POLLERR are reported whether asked for or not.
  if (own[2].fd >= 0 && own[2].revents != 0) {
    round.next_daemon_tick = round.next_poll = 0;
    round.idle_periods = 1;  // another level: another period, another threshold
  }
  if (own[3].fd >= 0 && own[3].revents != 0 && daemon_->take_watch_events()) round.next_daemon_tick = 0;
}

}  // namespace vmreclaim::policy
