// vmreclaimd's core (docs/daemon.md): one event loop that
//  - serves the daemon socket (SOCK_SEQPACKET, one JSON object per message:
//    "register" from a process for itself, "status" for anyone, filtered);
//  - watches each known process through a pidfd and forgets it the moment
//    it exits;
//  - finds rings of processes that registered with no daemon (started
//    before it, or while it was away) by reading /proc, as `vmreclaim list`;
//  - once per poll reads system PSI and MemAvailable and each involved
//    memory cgroup's usage, limit and pressure, publishes each registered
//    process's level on its level page (policy/daemon_link.h), and when a
//    cgroup or the machine is past its high watermark asks the processes
//    concerned, stalest first, for the bytes that bring it back to the low
//    watermark, through each process's own control endpoint (whose
//    authoriser decides, so the daemon can do nothing its user could not).
// Single-threaded: nothing here blocks except the control exchanges, each
// bounded by a short timeout.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "daemon/snapshot.h"
#include "support/daemon_socket.h"
#include "vmreclaim/result.hpp"

namespace vmreclaim::daemon {

struct Options {
  std::string socket_path = support::kDefaultDaemonSocket;
  uint32_t poll_ms = 1000;
  // Polls between two scans of /proc for rings nobody registered.
  uint32_t discover_every = 10;
  // Discovery looks only at processes whose memory cgroup (as
  // /proc/PID/cgroup names it) is this one or below it; empty: everywhere.
  std::string discover_scope;
  // Each exchange with a process's control endpoint.
  uint32_t control_timeout_ms = 300;
};

class Daemon {
 public:
  // Binds the socket (refusing one another daemon still serves) and sets
  // up the loop. Errors name what failed.
  static Result<std::unique_ptr<Daemon>> create(const Options& options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Runs until SIGTERM or SIGINT (taken through a signalfd: block them in
  // every thread first) or until stop(). `ready` runs once, after the first
  // poll (sd_notify READY=1 in main). Returns 0, or 1 on a fatal error.
  int run(const std::function<void()>& ready = {});
  // From any thread.
  void stop() noexcept;

  // The latest snapshot, unfiltered (for the metrics endpoint, which runs
  // in its own threads).
  Snapshot snapshot() const;

  struct Impl;

 private:
  explicit Daemon(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

// "8 MiB", for logs.
std::string human_bytes(uint64_t bytes);

}  // namespace vmreclaim::daemon
