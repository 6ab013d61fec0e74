// The engine thread's event loop: the waker (platform/linux/thread.h) and
// the descriptors others register with it (the control endpoint), polled
// together with the loop owner's own descriptors (the pressure trigger, the
// cgroup threshold). The loop's thread runs it one round at a time:
// check_watched(), then wait(), then dispatch().
//
// poll(2) over a set rebuilt every round, not epoll: every descriptor in the
// set was checked to still be ours that round (the program may close any
// number and open its own file there; an epoll registration would follow
// the old open file, not the number, and keep firing for it), and the
// process gains no descriptor for the loop itself — an eventfd only while
// some descriptor is polled; otherwise the thread sleeps on the futex word.
#pragma once

#include <mutex>

#include "platform/linux/fd.h"
#include "platform/linux/thread.h"

namespace vmreclaim::platform {

class EventLoop {
 public:
  using Callback = void (*)(void* arg);
  static constexpr int kMaxWatched = 4;

  // One of the owner's own descriptors for one wait: `events` to poll for
  // (fd -1: none); `revents` filled in when wait() returns true.
  struct Own {
    int fd = -1;
    short events = 0;
    short revents = 0;
  };
  static constexpr int kMaxOwn = 5;

  EventLoop() = default;
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // What wakes the loop (async-signal-safe: wake()).
  Waker& waker() noexcept { return waker_; }

  // Another descriptor to wait on; `cb(arg)` runs on the loop's thread when
  // it is readable. If the program takes the descriptor (closes it, maybe
  // opens its own file there), it is unwatched and `lost(arg)` runs on the
  // loop's thread instead. At most kMaxWatched; false if full or the
  // descriptor cannot be examined. Any thread.
  bool watch(int fd, Callback cb, void* arg, Callback lost = nullptr) noexcept;
  void unwatch(int fd) noexcept;

  // The loop's thread: drops each watched descriptor the program took back
  // and runs its `lost` callback.
  void check_watched() noexcept;
  // The loop's thread: sleeps until woken (waker().seq() != seen), an event
  // on a descriptor, or `timeout_ms`. `work` is released while it sleeps.
  // True if a descriptor had an event: `work` is held again, the waker
  // drained, own[i].revents set; run dispatch() next.
  bool wait(std::unique_lock<std::mutex>& work, uint32_t seen, int timeout_ms, Own* own, int n_own) noexcept;
  // After a true wait(): the callbacks of the watched descriptors that
  // became readable (or hung up, or failed).
  void dispatch() noexcept;

  // In a forked child: the watched descriptors are the parent's; forget
  // them. The lock may have been held by the parent's loop thread.
  void after_fork_child() noexcept;

 private:
  struct Watched {
    int fd = -1;
    Callback cb = nullptr;
    void* arg = nullptr;
    Callback lost = nullptr;
    FdIdentity id;
  };

  Waker waker_;
  std::mutex mu_;  // watched_ (watch/unwatch come from other threads)
  Watched watched_[kMaxWatched];
  // The last wait()'s view of the watched set, for dispatch(): loop thread only.
  Watched polled_[kMaxWatched];
  short polled_revents_[kMaxWatched] = {};
};

}  // namespace vmreclaim::platform
