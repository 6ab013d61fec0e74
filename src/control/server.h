// The control endpoint of one process: an abstract SOCK_SEQPACKET socket
// "@vmreclaim/<pid>" served by whichever thread polls fd() (the engine thread).
// Everything is non-blocking: on_readable() accepts what is pending, answers
// the requests that have arrived and returns, doing a bounded amount of work.
// Only peers of the same effective uid, or root, are answered (SO_PEERCRED).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "vmreclaim/result.hpp"

namespace vmreclaim::control {

class Server {
 public:
  // Limits that keep one call of on_readable() short and the memory small.
  static constexpr size_t kMaxConnections = 16;
  static constexpr size_t kMaxEventsPerCall = 16;
  static constexpr size_t kMaxRequestsPerConnectionPerCall = 4;

  // Listens on endpoint_name(getpid()); `name` overrides it (tests).
  static Result<std::unique_ptr<Server>> open();
  static Result<std::unique_ptr<Server>> open(const std::string& abstract_name);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Poll it for POLLIN, then call on_readable(). (An epoll descriptor that
  // covers the listening socket and every open connection.)
  int fd() const noexcept { return epoll_fd_; }
  void on_readable() noexcept;

  // The process that opened the endpoint: after fork() the child must open
  // its own (the inherited one answers to the parent's name).
  pid_t pid() const noexcept { return pid_; }
  size_t connections() const noexcept { return connections_.size(); }

 private:
  Server(int epoll_fd, int listen_fd) noexcept;
  void accept_pending() noexcept;
  struct Connection {
    int fd;
    bool allowed;  // the peer passed the SO_PEERCRED check
  };
  // Answers up to kMaxRequestsPerConnectionPerCall requests; false when the
  // connection should be closed.
  bool serve(const Connection& conn) noexcept;
  void close_connection(int fd) noexcept;

  int epoll_fd_ = -1;
  int listen_fd_ = -1;
  pid_t pid_ = 0;
  std::vector<Connection> connections_;  // oldest first
};

}  // namespace vmreclaim::control
