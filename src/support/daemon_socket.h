// Where vmreclaimd listens (docs/daemon.md), for the three that must agree on
// it: the daemon (daemon/daemon.h, `vmreclaimd --socket`), the engine that
// registers with it (the tunable VMRECLAIM_DAEMON_SOCKET, policy/tunables.def)
// and `vmreclaim status`/`top` (daemon/client.h). Here because policy may not
// include daemon (src/layers.txt).
#pragma once

#include <sys/un.h>

#include <cstddef>
#include <string_view>

namespace vmreclaim::support {

inline constexpr const char* kDefaultDaemonSocket = "/run/vmreclaim/daemon.sock";

// The longest path a sockaddr_un holds, with the NUL after it.
inline constexpr size_t kMaxSocketPath = sizeof(sockaddr_un{}.sun_path) - 1;

// A path every process means the same file by, whatever its working
// directory, and that a sockaddr_un holds: absolute and at most
// kMaxSocketPath bytes, with no NUL inside.
constexpr bool is_socket_path(std::string_view path) noexcept {
  return !path.empty() && path.front() == '/' && path.size() <= kMaxSocketPath &&
         path.find('\0') == std::string_view::npos;
}

}  // namespace vmreclaim::support
