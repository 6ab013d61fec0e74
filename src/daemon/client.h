// The client side of the daemon's socket, for `vmreclaim status` and `top`:
// connect, send {"op":"status"}, read one Snapshot, all under a deadline.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "daemon/snapshot.h"

namespace vmreclaim::daemon {

// Where `vmreclaim status` and `top` look for the daemon.
struct SocketChoice {
  std::string path;   // empty: nowhere (see `error`: none was set, or the one set is bad)
  std::string error;  // why nowhere: "no daemon to ask (...)", or the bad setting said as the engine says it
  bool bad = false;   // `error` is a bad option or setting: ask nobody, not each process either
};

// The socket to ask: `option` if given (an absolute path that fits a
// sockaddr_un); else VMRECLAIM_DAEMON_SOCKET, read and checked as the engine
// reads it (policy::daemon_socket_tunable: the same check, the same words;
// `0` or empty for none; nothing in a privileged process); else
// support::kDefaultDaemonSocket.
SocketChoice resolve_socket_path(const std::string& option);
// The variable's name, for help texts.
const char* socket_env() noexcept;

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
