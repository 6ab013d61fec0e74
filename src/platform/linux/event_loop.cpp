#include "platform/linux/event_loop.h"

#include <poll.h>

#include <new>

#include "support/log.h"

namespace vmreclaim::platform {
namespace {

support::LogOnce g_no_eventfd_log;

}  // namespace

bool EventLoop::watch(int fd, Callback cb, void* arg, Callback lost) noexcept {
  FdIdentity id;
  if (!mark_own_fd(fd, &id)) return false;
  std::lock_guard lk(mu_);
  for (Watched& w : watched_) {
    if (w.fd < 0) {
      w = {fd, cb, arg, lost, id};
      waker_.wake();  // rebuild the poll set
      return true;
    }
  }
  return false;
}

void EventLoop::unwatch(int fd) noexcept {
  std::lock_guard lk(mu_);
  for (Watched& w : watched_) {
    if (w.fd == fd) w = {};
  }
  waker_.wake();
}

void EventLoop::check_watched() noexcept {
  Watched lost[kMaxWatched];
  {
    std::lock_guard lk(mu_);
    for (int i = 0; i < kMaxWatched; i++) {
      lost[i] = {};
      if (watched_[i].fd >= 0 && !still_own_fd(watched_[i].fd, watched_[i].id)) {
        lost[i] = watched_[i];
        watched_[i] = {};
      }
    }
  }
  for (const Watched& w : lost) {
    if (w.fd >= 0 && w.lost != nullptr) w.lost(w.arg);
  }
}

bool EventLoop::wait(std::unique_lock<std::mutex>& work, uint32_t seen, int timeout_ms, Own* own, int n_own) noexcept {
  pollfd fds[1 + kMaxOwn + kMaxWatched];
  int n = 0;
  fds[n++] = {-1, POLLIN, 0};  // the waker's eventfd, if descriptors are polled
  const int own_at = n;
  bool polling = false;
  for (int i = 0; i < n_own && i < kMaxOwn; i++) {
    own[i].revents = 0;
    if (own[i].fd < 0) continue;
    fds[n++] = {own[i].fd, own[i].events, 0};
    polling = true;
  }
  const int own_end = n;
  const int watched_at = n;
  {
    std::lock_guard lk(mu_);
    for (int i = 0; i < kMaxWatched; i++) {
      polled_[i] = watched_[i];
      polled_revents_[i] = 0;
      fds[n++] = {polled_[i].fd, POLLIN, 0};  // fd -1 is ignored by poll
      polling = polling || polled_[i].fd >= 0;
    }
  }
  if (polling) {
    // Only a thread that polls descriptors needs the eventfd to be woken;
    // otherwise it sleeps on the futex word and the process gains no
    // descriptor for it.
    if (!waker_.ensure_fd()) {
      g_no_eventfd_log(support::LogLevel::error, "cannot make the engine thread's eventfd; it wakes on its timer");
    }
    fds[0].fd = waker_.fd();
  }
  work.unlock();  // a fork may happen now: the loop's thread holds nothing
  // A wake-up since `seen` (maybe before the eventfd existed) is not lost.
  if (waker_.seq() != seen) return false;
  if (!polling) {
    waker_.wait(seen, timeout_ms);
    return false;
  }
  const int r = ::poll(fds, static_cast<nfds_t>(n), timeout_ms);
  if (r <= 0) return false;  // timeout, or EINTR
  work.lock();
  // Any event on a descriptor the program has taken (POLLNVAL once closed,
  // POLLIN forever on a regular file) is dropped at the next check, before
  // it is polled again.
  if ((fds[0].revents & POLLIN) != 0) waker_.drain();
  for (int i = 0, k = own_at; i < n_own && i < kMaxOwn && k < own_end; i++) {
    if (own[i].fd >= 0) own[i].revents = fds[k++].revents;
  }
  for (int i = 0; i < kMaxWatched; i++) polled_revents_[i] = fds[watched_at + i].revents;
  return true;
}

void EventLoop::dispatch() noexcept {
  for (int i = 0; i < kMaxWatched; i++) {
    if (polled_[i].fd >= 0 && (polled_revents_[i] & (POLLIN | POLLHUP | POLLERR)) != 0) polled_[i].cb(polled_[i].arg);
  }
}

void EventLoop::after_fork_child() noexcept {
  // The parent's loop thread may have held this lock at fork time; the
  // child's copy would stay locked forever.
  new (&mu_) std::mutex();
  for (Watched& w : watched_) w = {};
}

}  // namespace vmreclaim::platform
