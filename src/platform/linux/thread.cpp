#include "platform/linux/thread.h"

#include <dirent.h>
#include <dlfcn.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "platform/linux/proc_file.h"

namespace vmreclaim::platform {

Waker::~Waker() { close(); }

void Waker::open() noexcept { close(); }

bool Waker::ensure_fd() noexcept { return fd() >= 0 || replace(); }

bool Waker::replace() noexcept {
  int fd = move_fd_high(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (fd >= 0 && !mark_own_fd(fd, &id_)) {
    ::close(fd);
    fd = -1;
  }
  // seq_cst, paired with wake(): either wake() sees this descriptor and
  // writes it, or the poller's seq() check after this store sees the bump.
  // A signal handler that sees the new number also sees its identity.
  fd_.store(fd, std::memory_order_seq_cst);
  return fd >= 0;
}

void Waker::close() noexcept {
  const int fd = fd_.exchange(-1, std::memory_order_acq_rel);
  // A number the program took back is the program's to close.
  if (fd >= 0 && still_own_fd(fd, id_)) ::close(fd);
  id_ = {};
}

bool Waker::wake() noexcept {
  int saved = errno;  // a signal handler must leave errno as it found it
  // seq_cst, paired with replace() and the waiter's seq() reads (see there).
  seq_.fetch_add(1, std::memory_order_seq_cst);
  ::syscall(SYS_futex, &seq_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  bool woke = true;
  const int f = fd();
  if (f >= 0) {
    if (still_own_fd(f, id_)) {
      uint64_t one = 1;
      // EAGAIN means the counter is already non-zero: the thread wakes anyway.
      [[maybe_unused]] ssize_t n = ::write(f, &one, sizeof one);
    } else {
      woke = false;
    }
  }
  errno = saved;
  return woke;
}

void Waker::drain() const noexcept {
  if (fd() < 0 || !owned()) return;
  uint64_t v;
  [[maybe_unused]] ssize_t n = ::read(fd(), &v, sizeof v);
}

void Waker::wait(uint32_t seen, int timeout_ms) noexcept {
  timespec ts{timeout_ms / 1000, static_cast<long>(timeout_ms % 1000) * 1'000'000};
  // EAGAIN: woken before we slept; EINTR/ETIMEDOUT: the caller looks again.
  ::syscall(SYS_futex, &seq_, FUTEX_WAIT_PRIVATE, seen, &ts, nullptr, 0);
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

namespace {

// glibc's count of running threads (nptl: __nptl_nthreads, an unsigned int
// updated with atomic read-modify-writes), or null where there is none.
unsigned* glibc_thread_count() noexcept {
  static unsigned* const count = static_cast<unsigned*>(::dlsym(RTLD_DEFAULT, "__nptl_nthreads"));
  return count;
}

thread_local bool t_left_count = false;

}  // namespace

bool leave_thread_count() noexcept {
  unsigned* count = glibc_thread_count();
  if (count == nullptr) return false;
  // This thread and the one that created it (which waits for us) are both
  // counted: a count below 2 is not the one we think it is, so leave it be.
  // Relaxed orderings would do for the count itself; acq_rel matches glibc's
  // full-barrier updates, which the exiting threads' decisions rely on.
  unsigned v = __atomic_load_n(count, __ATOMIC_ACQUIRE);
  while (v >= 2) {
    if (__atomic_compare_exchange_n(count, &v, v - 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      t_left_count = true;
      return true;
    }
  }
  return false;
}

void rejoin_thread_count() noexcept {
  if (!t_left_count) return;
  t_left_count = false;
  // glibc's thread exit takes one off as we return: put ours back first.
  // If the program's last thread ended meanwhile, that decrement reaches
  // zero and glibc exits the process on this thread, as it would have on
  // that one.
  __atomic_fetch_add(glibc_thread_count(), 1u, __ATOMIC_ACQ_REL);
}

bool only_library_thread_left() noexcept {
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return false;
  const long self = static_cast<long>(::gettid());
  bool alone = true;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long tid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || tid == self) continue;
    char path[64], buf[512];
    std::snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
    const long n = read_small_file(path, buf, sizeof buf - 1);
    if (n <= 0) continue;  // gone meanwhile
    buf[n] = '\0';
    // "tid (comm) S ...": the state follows the last ')' (comm may hold one).
    const char* paren = std::strrchr(buf, ')');
    if (paren == nullptr || paren[1] != ' ') {
      alone = false;  // unreadable: assume it lives
      break;
    }
    const char state = paren[2];
    if (state != 'Z' && state != 'X') {
      alone = false;
      break;
    }
  }
  ::closedir(d);
  return alone;
}

}  // namespace vmreclaim::platform
