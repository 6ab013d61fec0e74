// The control endpoint of one process: an abstract SOCK_SEQPACKET socket
// "@vmreclaim/<pid>/<random>" served by whichever thread polls fd() (the
// engine thread). Clients find it among the process's descriptors
// (client.h), so nobody can take its name first or answer in its place.
// Everything is non-blocking: on_readable() accepts what is pending, answers
// the requests that have arrived and returns, doing a bounded amount of work.
// Who is answered is decided by Authoriser (authorise.h), nowhere else.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "control/authorise.h"
#include "vmreclaim/result.hpp"

namespace vmreclaim::control {

class Server {
 public:
  // Limits that keep one call of on_readable() short and the memory small.
  static constexpr size_t kMaxConnections = 16;
  static constexpr size_t kMaxEventsPerCall = 16;
  static constexpr size_t kMaxRequestsPerConnectionPerCall = 4;
  // Peers that are not this process's user (and do not look like root) are
  // kept, to be answered, up to this many a second; the next one is closed
  // at once and the server stops accepting until the second is over (the
  // others wait in the backlog), so another user's connection flood costs
  // this process almost nothing.
  static constexpr uint32_t kRefusedPerSecond = 32;

  // Listens on a fresh endpoint_name(getpid(), <random>); `name` overrides
  // it (tests).
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
  const std::string& name() const noexcept { return name_; }

 private:
  Server(int epoll_fd, int listen_fd, int timer_fd, std::string name, Authoriser auth) noexcept;
  void accept_pending() noexcept;
  // True while this second's budget of refused peers lasts.
  bool refusal_budget() noexcept;
  void pause_accepting() noexcept;
  void resume_accepting() noexcept;
  struct Connection {
    int fd;
    bool allowed;  // the peer passed rule 1 at accept, or rule 2 with its first request
  };
  // Answers up to kMaxRequestsPerConnectionPerCall requests; false when the
  // connection should be closed.
  bool serve(Connection& conn) noexcept;
  void close_connection(int fd) noexcept;

  int epoll_fd_ = -1;
  int listen_fd_ = -1;
  int timer_fd_ = -1;  // ends a pause of accepting
  bool accepting_ = true;
  pid_t pid_ = 0;
  std::string name_;
  Authoriser auth_;
  std::vector<Connection> connections_;  // oldest first
  int64_t budget_second_ = -1;
  uint32_t refused_this_second_ = 0;
};

}  // namespace vmreclaim::control
