// The client side of the daemon's socket, for `vmreclaim status` and `top`:
// connect, send {"op":"status"}, read one Snapshot, all under a deadline.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "daemon/snapshot.h"

namespace vmreclaim::daemon {

// The socket to use: the option if given, else VMRECLAIM_DAEMON_SOCKET
// (ignored in a set-uid/set-gid process), else kDefaultSocket.
std::string resolve_socket_path(const std::string& option);

struct StatusReply {
  std::optional<Snapshot> snapshot;
  // No daemon listens there (no socket file, or nobody accepting on it):
  // the caller may fall back to asking each process itself.
  bool daemon_absent = false;
  std::string error;  // set when snapshot is empty
};

// One status request. Waits at most `timeout` for the connection and at
// most `timeout` for the answer; never throws.
StatusReply request_status(const std::string& socket_path, std::chrono::milliseconds timeout);

}  // namespace vmreclaim::daemon
