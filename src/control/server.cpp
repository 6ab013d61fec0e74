#include "control/server.h"

#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "control/handler.h"
#include "control/protocol.h"
#include "control/socket_address.h"
#include "platform/linux/fd.h"
#include "platform/linux/socket.h"
#include "support/log.h"

namespace vmreclaim::control {
namespace {

std::error_code last_error() noexcept { return {errno, std::system_category()}; }

// 128 random bits, as hex: the part of the endpoint's name nobody can guess.
Result<std::string> random_part() {
  unsigned char bytes[16];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::error_code(n < 0 ? errno : EIO, std::system_category());
    got += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (unsigned char b : bytes) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  return s;
}

// The listening socket, bound to `name` (abstract: starts with NUL).
Result<int> listen_on(const std::string& name) {
  const auto addr = socket_address(name);
  if (!addr) return std::make_error_code(std::errc::invalid_argument);
  int lfd = platform::move_fd_high(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (lfd < 0) return last_error();
  if (::bind(lfd, addr->get(), addr->len) != 0 || ::listen(lfd, 16) != 0) {
    std::error_code e = last_error();
    ::close(lfd);
    return e;
  }
  return lfd;
}

// Receives one packet from a peer not yet answered, with the descriptor it
// may send along (rule 2's proof, authorise.h). Every descriptor received
// is closed; *proven tells whether the first one was the proof.
ssize_t recv_with_proof(int conn, char* buf, size_t size, const Authoriser& auth, bool* proven) noexcept {
  int fds[4];
  const platform::Received r = platform::recv_with_fds(conn, buf, size, MSG_DONTWAIT | MSG_TRUNC, fds, 4);
  *proven = r.n_fds > 0 && auth.proves_ptrace_access(fds[0]);
  for (int i = 0; i < r.n_fds; i++) ::close(fds[i]);
  return r.bytes;
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

Result<std::unique_ptr<Server>> Server::open() {
  // A name taken already can only be a 128-bit coincidence: draw again.
  for (int attempt = 0;; attempt++) {
    auto part = random_part();
    if (!part) return part.error();
    auto s = open(endpoint_name(::getpid(), *part));
    if (s || s.error() != std::errc::address_in_use || attempt == 2) return s;
  }
}

Result<std::unique_ptr<Server>> Server::open(const std::string& abstract_name) {
  auto auth = Authoriser::create();
  if (!auth) return auth.error();
  auto listening = listen_on(abstract_name);
  if (!listening) return listening.error();
  const int lfd = *listening;
  // The epoll set the engine thread polls, and the timer that ends a pause
  // of accepting (see refusal_budget()).
  // High numbers, out of the program's way (platform/linux/fd.h).
  int efd = platform::move_fd_high(::epoll_create1(EPOLL_CLOEXEC));
  int tfd = efd < 0 ? -1 : platform::move_fd_high(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  auto fail = [&]() -> std::error_code {
    std::error_code e = last_error();
    if (tfd >= 0) ::close(tfd);
    if (efd >= 0) ::close(efd);
    ::close(lfd);
    return e;
  };
  if (efd < 0 || tfd < 0) return fail();
  for (int fd : {lfd, tfd}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(efd, EPOLL_CTL_ADD, fd, &ev) != 0) return fail();
  }
  std::unique_ptr<Server> s(new (std::nothrow) Server(efd, lfd, tfd, abstract_name, *auth));
  if (!s) {
    errno = ENOMEM;
    return fail();
  }
  return s;
}

Server::Server(int epoll_fd, int listen_fd, int timer_fd, std::string name, Authoriser auth) noexcept
    : epoll_fd_(epoll_fd),
      listen_fd_(listen_fd),
      timer_fd_(timer_fd),
      pid_(::getpid()),
      name_(std::move(name)),
      auth_(auth) {
  connections_.reserve(kMaxConnections);
}

Server::~Server() {
  for (const Connection& c : connections_) ::close(c.fd);
  ::close(listen_fd_);
  ::close(timer_fd_);
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
    if (fd == timer_fd_) {
      resume_accepting();
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
    // Credentials first, before any other work. A peer that is not our
    // user may still show its right with its first request (rule 2); it is
    // told the outcome then, not now: closing a socket whose request is
    // unread would reset the connection and lose the answer. Past this
    // second's budget such peers are closed at once (root excepted, which
    // is most likely to have that right).
    uid_t peer_uid = 0;
    const bool allowed = auth_.same_user(conn, &peer_uid);
    if (!allowed && peer_uid != 0 && !refusal_budget()) {
      ::close(conn);
      pause_accepting();
      return;
    }
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

void Server::pause_accepting() noexcept {
  // Until the next second: whoever connects waits in the backlog (or in
  // connect()), costing this process nothing. If the timer cannot be armed,
  // keep accepting: refusals stay cheap, if not free.
  itimerspec at{};
  at.it_value.tv_sec = static_cast<time_t>(budget_second_ + 1);
  if (::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &at, nullptr) != 0) return;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr) != 0) {
    at.it_value = {};
    ::timerfd_settime(timer_fd_, 0, &at, nullptr);
    return;
  }
  accepting_ = false;
}

void Server::resume_accepting() noexcept {
  uint64_t expirations;
  while (::read(timer_fd_, &expirations, sizeof expirations) < 0 && errno == EINTR) {
  }
  if (accepting_) return;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd_;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev) != 0) {
    support::log(support::LogLevel::error, "control endpoint: cannot resume accepting: %s", std::strerror(errno));
    return;
  }
  accepting_ = true;
  // A fresh budget, whatever second the coarse clock still reads.
  budget_second_ = -1;
  accept_pending();
}

bool Server::refusal_budget() noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  if (budget_second_ < 0 || now.tv_sec > budget_second_) {
    budget_second_ = now.tv_sec;
    refused_this_second_ = 0;
  }
  if (refused_this_second_ >= kRefusedPerSecond) return false;
  refused_this_second_++;
  return true;
}

bool Server::serve(Connection& c) noexcept {
  const int conn = c.fd;
  // One byte more than the largest valid request, to tell "too big" apart;
  // MSG_TRUNC makes recv report the packet's real size anyway.
  char buf[kHeaderBytes + kMaxRequestBody + 1];
  for (size_t served = 0; served < kMaxRequestsPerConnectionPerCall; served++) {
    bool proven = false;
    ssize_t n = c.allowed ? ::recv(conn, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC)
                          : recv_with_proof(conn, buf, sizeof buf, auth_, &proven);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    if (n == 0) return false;  // the peer closed
    if (!c.allowed && !proven) {
      send_error(conn, error_code::permission_denied,
                 "peer is neither this process's user in its user namespace nor allowed to ptrace it");
      return false;
    }
    c.allowed = true;
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
