#include "platform/linux/thread.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace vmreclaim::platform {

Waker::~Waker() { close(); }

bool Waker::open() noexcept {
  close();
  fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return fd_ >= 0;
}

void Waker::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Waker::wake() const noexcept {
  uint64_t one = 1;
  int saved = errno;  // a signal handler must leave errno as it found it
  // EAGAIN means the counter is already non-zero: the thread wakes anyway.
  [[maybe_unused]] ssize_t n = ::write(fd_, &one, sizeof one);
  errno = saved;
}

void Waker::drain() const noexcept {
  uint64_t v;
  [[maybe_unused]] ssize_t n = ::read(fd_, &v, sizeof v);
}

int start_thread(pthread_t* t, const char* name, void* (*fn)(void*), void* arg) noexcept {
  sigset_t all, old;
  sigfillset(&all);
  // Except the synchronous fault signals: a guarded ring access on this
  // thread must be able to fault into the copyio handler (a blocked SIGSEGV
  // raised by the CPU kills the process outright).
  sigdelset(&all, SIGSEGV);
  sigdelset(&all, SIGBUS);
  // The new thread inherits this mask; restore ours right after.
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(t, nullptr, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (err == 0) pthread_setname_np(*t, name);  // best effort: names are for humans
  return err;
}

}  // namespace vmreclaim::platform
