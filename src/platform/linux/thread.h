// The engine thread's primitives: a waker that signal handlers may poke (a
// futex word, and an eventfd only while the thread polls descriptors; both
// async-signal-safe), a named thread that blocks every
// signal so process-directed signals land on the program's own threads, and
// the means to keep that thread from holding the process alive.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>

#include "platform/linux/fd.h"

namespace vmreclaim::platform {

class Waker {
 public:
  Waker() = default;
  ~Waker();
  Waker(const Waker&) = delete;
  Waker& operator=(const Waker&) = delete;

  // Ready to wake a thread that waits in wait(): a futex word, no
  // descriptor. A thread that must also wait on descriptors (poll) needs the
  // eventfd: ensure_fd().
  void open() noexcept;
  void close() noexcept;
  // The eventfd, made on first use, high and close-on-exec
  // (platform/linux/fd.h); false if none could be made.
  bool ensure_fd() noexcept;
  int fd() const noexcept { return fd_.load(std::memory_order_seq_cst); }
  // Whether the eventfd, if any, is still ours: the program may have closed
  // it and opened its own file at that number. Async-signal-safe.
  bool owned() const noexcept {
    const int f = fd();
    return f < 0 || still_own_fd(f, id_);
  }
  // After the program took the number: forget it (never close, read or write
  // it again) and open a new eventfd. False if none could be made.
  bool replace() noexcept;
  // Wake-ups so far; read it before deciding to wait, and wait only while it
  // has not changed.
  uint32_t seq() const noexcept { return seq_.load(std::memory_order_seq_cst); }
  // Async-signal-safe. Bumps the futex word and wakes its waiter; writes the
  // eventfd if there is one and it is still ours. False if the eventfd is
  // lost (a thread polling it cannot be woken until it notices).
  bool wake() noexcept;
  void drain() const noexcept;  // reads only a descriptor that is still ours
  // Sleeps until wake() (seq() != seen) or the timeout; no descriptor used.
  void wait(uint32_t seen, int timeout_ms) noexcept;

 private:
  std::atomic<uint32_t> seq_{0};  // the futex word
  std::atomic<int> fd_{-1};       // read by signal handlers
  FdIdentity id_;
};

// Starts `fn(arg)` on a new thread named `name` with all signals blocked but
// the synchronous fault signals.
// 0, or the error of pthread_create.
int start_thread(pthread_t* t, const char* name, void* (*fn)(void*), void* arg) noexcept;

// A library thread must never keep the process alive (issue 14). glibc ends
// the process with exit(0) when the last thread it counts ends by
// pthread_exit() or by returning from its start routine; a library thread in
// that count keeps the process running with no program thread left. The
// thread calls leave_thread_count() first thing and rejoin_thread_count()
// just before it returns, so that glibc counts only the program's threads:
// exit(0) then runs, on the program's last thread and with its atexit
// handlers, exactly as without the library. Where the count cannot be found
// (another C library, a static program), leave_thread_count() returns false
// and the thread must look for itself: only_library_thread_left().
bool leave_thread_count() noexcept;
void rejoin_thread_count() noexcept;
// Whether no other thread of the process is alive (a thread group leader
// that ended with pthread_exit() stays a zombie and does not count). Reads
// /proc/self/task; false if it cannot.
bool only_library_thread_left() noexcept;

}  // namespace vmreclaim::platform
