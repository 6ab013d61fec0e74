// One message on a unix socket with descriptors passed along (SCM_RIGHTS):
// the control endpoint, its client, the daemon and the engine's link to it
// all send and receive so, and the msghdr and cmsg handling is here once.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string_view>

namespace vmreclaim::platform {

// Sends `data` as one message, with `pass_fd` attached if it is >= 0;
// retries on EINTR. `flags` as for sendmsg (MSG_NOSIGNAL is always added).
// Returns what sendmsg returned (-1 with errno on failure).
ssize_t send_with_fd(int sock, std::string_view data, int pass_fd, int flags) noexcept;

struct Received {
  ssize_t bytes = -1;  // as from recvmsg (-1 with errno)
  int msg_flags = 0;   // MSG_TRUNC, MSG_CTRUNC, ...
  int n_fds = 0;       // descriptors stored in the caller's array
};

// Receives one message into buf and up to `max_fds` descriptors (opened
// close-on-exec) into fds; descriptors beyond max_fds are closed. The caller
// owns (and must close) the n_fds it gets. `flags` as for recvmsg.
Received recv_with_fds(int sock, char* buf, size_t size, int flags, int* fds, int max_fds) noexcept;

}  // namespace vmreclaim::platform
