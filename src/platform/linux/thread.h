// The engine thread's primitives: an eventfd waker that signal handlers may
// poke (write(2) is async-signal-safe), and a named thread that blocks every
// signal so process-directed signals land on the program's own threads.
#pragma once

#include <pthread.h>

#include <cstdint>

namespace vmreclaim::platform {

class Waker {
 public:
  Waker() = default;
  ~Waker();
  Waker(const Waker&) = delete;
  Waker& operator=(const Waker&) = delete;

  bool open() noexcept;   // false if no eventfd could be made
  void close() noexcept;
  int fd() const noexcept { return fd_; }
  void wake() const noexcept;  // async-signal-safe
  void drain() const noexcept;

 private:
  int fd_ = -1;
};

// Starts `fn(arg)` on a new thread named `name` with all signals blocked but
// the synchronous fault signals.
// 0, or the error of pthread_create.
int start_thread(pthread_t* t, const char* name, void* (*fn)(void*), void* arg) noexcept;

}  // namespace vmreclaim::platform
