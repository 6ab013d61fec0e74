// The address of a control endpoint's socket, built in one place for the
// server's bind and the client's connect.
#pragma once

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <optional>
#include <string_view>

namespace vmreclaim::control {

struct SocketAddress {
  sockaddr_un un{};
  socklen_t len = 0;
  const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&un); }
};

// The AF_UNIX address of `name` as the kernel takes it: every byte of it,
// no terminating NUL, so a name starting with NUL is abstract (an
// endpoint's name, protocol.h). nullopt when `name` is empty or longer than
// sun_path.
inline std::optional<SocketAddress> socket_address(std::string_view name) noexcept {
  SocketAddress a;
  a.un.sun_family = AF_UNIX;
  if (name.empty() || name.size() > sizeof a.un.sun_path) return std::nullopt;
  std::memcpy(a.un.sun_path, name.data(), name.size());
  a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  return a;
}

}  // namespace vmreclaim::control
