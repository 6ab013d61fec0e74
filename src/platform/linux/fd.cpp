#include "platform/linux/fd.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace vmreclaim::platform {
namespace {

// The top of the first 1024 descriptors: out of the way of programs that
// count from 3 (closing 3..63, passing fds by number, select() sets), and
// small enough that the descriptor table a fork copies stays small.
constexpr int kPreferredBase = 960;
// How many numbers below a low soft limit the library keeps for itself.
constexpr int kBelowLimit = 16;
// The mark on the library's open file descriptions (F_SETSIG): a real-time
// signal number no program has reason to give a descriptor it never makes
// O_ASYNC.
constexpr int kOwnMark = 62;

}  // namespace

int high_fd_base() noexcept {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
      rl.rlim_cur > static_cast<rlim_t>(kPreferredBase + kBelowLimit)) {
    return kPreferredBase;
  }
  const int limit = static_cast<int>(rl.rlim_cur);
  return limit > 3 + kBelowLimit ? limit - kBelowLimit : 3;
}

int move_fd_high(int fd) noexcept {
  if (fd < 0) return -1;
  const int saved = errno;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, high_fd_base());
  if (moved < 0) {
    // EINVAL (base above the limit) or EMFILE: keep the number we have.
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC) == 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    errno = saved;
    return fd;
  }
  ::close(fd);
  errno = saved;
  return moved;
}

bool mark_own_fd(int fd, FdIdentity* id) noexcept {
  *id = {};
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || ::fcntl(fd, F_SETSIG, kOwnMark) != 0) return false;
  *id = {st.st_dev, st.st_ino, true};
  return true;
}

bool still_own_fd(int fd, const FdIdentity& id) noexcept {
  if (fd < 0 || !id.valid) return false;
  const int saved = errno;  // signal handlers call this
  struct stat st {};
  const bool same =
      ::fstat(fd, &st) == 0 && st.st_dev == id.dev && st.st_ino == id.ino && ::fcntl(fd, F_GETSIG) == kOwnMark;
  errno = saved;
  return same;
}

}  // namespace vmreclaim::platform
