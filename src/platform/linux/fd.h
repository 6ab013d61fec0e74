// The library's own descriptors in a process that is not ours (issue 14):
//  - kept out of the low numbers programs count on: each is moved to the
//    lowest free number at or above a high base (960, or just under the
//    soft RLIMIT_NOFILE when that is lower), close-on-exec;
//  - never used once the program has taken the number back: a program may
//    close every descriptor (as daemons and spawn helpers do) and open its
//    own file at the same number. Each descriptor is marked when opened and
//    its identity checked before use; one that fails the check is the
//    program's now and is left alone (never read, written or closed).
// Identity is the file's device and inode plus a mark the library sets on
// its open file description (the F_SETSIG signal number, which has no
// effect without O_ASYNC, which the library never sets): eventfd and epoll
// descriptors all share one anonymous inode, so the inode alone would not
// tell the program's eventfd from ours.
#pragma once

#include <sys/types.h>

namespace vmreclaim::platform {

// Where the library's descriptors go: the lowest free number at or above this.
int high_fd_base() noexcept;

// Moves `fd` to the lowest free number >= high_fd_base(), close-on-exec, and
// closes the original. Returns the new number; if no high number is free (or
// the limit is below the base) returns `fd` itself, made close-on-exec.
// -1 in, -1 out.
int move_fd_high(int fd) noexcept;

struct FdIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  bool valid = false;
};

// Marks `fd` as the library's and records its identity. False (and an
// invalid identity) if the descriptor cannot be examined.
bool mark_own_fd(int fd, FdIdentity* id) noexcept;

// Whether `fd` is still the descriptor `id` was recorded for: open, same
// file, carrying the library's mark. Async-signal-safe (fstat and fcntl).
bool still_own_fd(int fd, const FdIdentity& id) noexcept;

}  // namespace vmreclaim::platform
