#include "control/server.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "control/handler.h"
#include "control/protocol.h"
#include "platform/linux/fd.h"
#include "support/log.h"

namespace vmreclaim::control {
namespace {

std::error_code last_error() noexcept { return {errno, std::system_category()}; }

// A peer we answer: the same effective uid as this process, or root.
bool peer_allowed(int conn) noexcept {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) return false;
  return cred.uid == 0 || cred.uid == ::geteuid();
}

// Best effort: a peer that does not read its replies loses them.
void send_packet(int conn, const std::string& packet) noexcept {
  ssize_t n;
  do {
    n = ::send(conn, packet.data(), packet.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
}

void send_error(int conn, const char* code, const char* message) noexcept {
  try {
    send_packet(conn, error_reply(code, message));
  } catch (...) {  // out of memory: the peer sees the connection close instead
  }
}

}  // namespace

Result<std::unique_ptr<Server>> Server::open() { return open(endpoint_name(::getpid())); }

Result<std::unique_ptr<Server>> Server::open(const std::string& abstract_name) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (abstract_name.empty() || abstract_name.size() > sizeof addr.sun_path) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  std::memcpy(addr.sun_path, abstract_name.data(), abstract_name.size());
  const auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + abstract_name.size());

  // High numbers, out of the program's way (platform/linux/fd.h).
  int lfd = platform::move_fd_high(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (lfd < 0) return last_error();
  if (::bind(lfd, reinterpret_cast<const sockaddr*>(&addr), addr_len) != 0 || ::listen(lfd, 16) != 0) {
    std::error_code e = last_error();
    ::close(lfd);
    return e;
  }
  int efd = platform::move_fd_high(::epoll_create1(EPOLL_CLOEXEC));
  if (efd < 0) {
    std::error_code e = last_error();
    ::close(lfd);
    return e;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  if (::epoll_ctl(efd, EPOLL_CTL_ADD, lfd, &ev) != 0) {
    std::error_code e = last_error();
    ::close(efd);
    ::close(lfd);
    return e;
  }
  std::unique_ptr<Server> s(new (std::nothrow) Server(efd, lfd));
  if (!s) {
    ::close(efd);
    ::close(lfd);
    return std::make_error_code(std::errc::not_enough_memory);
  }
  return s;
}

Server::Server(int epoll_fd, int listen_fd) noexcept : epoll_fd_(epoll_fd), listen_fd_(listen_fd), pid_(::getpid()) {
  connections_.reserve(kMaxConnections);
}

Server::~Server() {
  for (const Connection& c : connections_) ::close(c.fd);
  ::close(listen_fd_);
  ::close(epoll_fd_);
}

void Server::on_readable() noexcept {
  epoll_event events[kMaxEventsPerCall];
  int n;
  do {
    n = ::epoll_wait(epoll_fd_, events, static_cast<int>(kMaxEventsPerCall), 0);
  } while (n < 0 && errno == EINTR);
  for (int i = 0; i < n; i++) {
    const int fd = events[i].data.fd;
    if (fd == listen_fd_) {
      accept_pending();
      continue;
    }
    // Closed by an earlier event of this batch (evicted): skip it.
    auto it = std::find_if(connections_.begin(), connections_.end(), [fd](const Connection& c) { return c.fd == fd; });
    if (it == connections_.end()) continue;
    if (!serve(*it)) close_connection(fd);
  }
}

void Server::accept_pending() noexcept {
  for (size_t accepted = 0; accepted < kMaxEventsPerCall; accepted++) {
    int conn = platform::move_fd_high(::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (conn < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
        support::log(support::LogLevel::error, "control endpoint: accept failed: %s", std::strerror(errno));
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    // A refused peer is told so when its request arrives, not now: closing
    // a socket whose request is unread would reset the connection and lose
    // the answer.
    const bool allowed = peer_allowed(conn);
    // Full: the oldest connection makes room (a client that connects and
    // never asks must not lock others out), a refused one first, so that
    // another user's flood cannot push out this user's clients.
    if (connections_.size() >= kMaxConnections) {
      auto refused =
          std::find_if(connections_.begin(), connections_.end(), [](const Connection& c) { return !c.allowed; });
      close_connection(refused != connections_.end() ? refused->fd : connections_.front().fd);
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = conn;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, conn, &ev) != 0) {
      ::close(conn);
      continue;
    }
    connections_.push_back({conn, allowed});
  }
}

bool Server::serve(const Connection& c) noexcept {
  const int conn = c.fd;
  // One byte more than the largest valid request, to tell "too big" apart;
  // MSG_TRUNC makes recv report the packet's real size anyway.
  char buf[kHeaderBytes + kMaxRequestBody + 1];
  for (size_t served = 0; served < kMaxRequestsPerConnectionPerCall; served++) {
    ssize_t n = ::recv(conn, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    if (n == 0) return false;  // the peer closed
    if (!c.allowed) {
      send_error(conn, error_code::permission_denied, "peer is neither the same user nor root");
      return false;
    }
    const auto real = static_cast<size_t>(n);
    const size_t got = std::min(real, sizeof buf);
    try {
      DecodeError err{};
      auto msg = decode(std::string_view(buf, got), real, kMaxRequestBody, &err);
      if (!msg) {
        // Framing is broken: answer once and hang up.
        send_error(conn, err.code, err.message);
        return false;
      }
      send_packet(conn, handle_request(*msg));
    } catch (...) {  // std::bad_alloc, or a JSON library error: never unwind into the engine thread
      send_error(conn, error_code::internal, "internal error");
      return false;
    }
  }
  return true;
}

void Server::close_connection(int fd) noexcept {
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  connections_.erase(
      std::remove_if(connections_.begin(), connections_.end(), [fd](const Connection& c) { return c.fd == fd; }),
      connections_.end());
}

}  // namespace vmreclaim::control
