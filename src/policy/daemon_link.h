// The engine's side of vmreclaimd (docs/daemon.md): registration with the
// machine-wide daemon and the level page it publishes.
//
// When the daemon's socket exists (the tunable VMRECLAIM_DAEMON_SOCKET,
// policy/tunables.def, default /run/vmreclaim/daemon.sock) the engine thread connects, sends
// {"op":"register","pid":<its pid>} and gets back a memfd page
// (SCM_RIGHTS) that it maps read-only: the daemon writes this process's
// pressure level and a heartbeat there once per poll. While the heartbeat is
// fresh the engine thread takes the level from the page instead of reading
// PSI, /proc/meminfo and its cgroup's files, and leaves its cgroup's headroom
// to the daemon (which reclaims by deficit across the cgroup's processes);
// its own footprint limit and a drain at critical stay its own. When the
// heartbeat goes stale or the connection ends (the daemon crashed, was
// stopped or restarted) the engine polls for itself again at its next
// pressure poll, and registers anew once a daemon answers.
//
// The daemon is trusted for one thing only, the level: a daemon that lies
// can make this process reclaim more (critical) or leave its cgroup headroom
// unwatched (normal); it never sees or touches the ring through this link.
// So a daemon is accepted only if it runs as root or as our own user
// (SO_PEERCRED of the socket), and a privileged (AT_SECURE) process reads
// no socket path from its environment (support::setting_from_env).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "platform/linux/fd.h"
#include "policy/pressure.h"

namespace vmreclaim::policy {

class ProcessLimits;

// The page the daemon shares with one registered process: a memfd sealed
// against shrinking, mapped read-write by the daemon, read-only by the engine.
struct DaemonLevelPage {
  static constexpr uint32_t kMagic = 0x4c524d56;  // "VMRL"
  static constexpr uint32_t kVersion = 1;
  std::atomic<uint32_t> magic;
  std::atomic<uint32_t> version;
  std::atomic<uint32_t> level;    // PressureLevel
  std::atomic<uint32_t> poll_ms;  // the daemon's poll period
  std::atomic<uint64_t> seq;      // polls so far
  // CLOCK_MONOTONIC ns of the daemon's last poll (the engine only watches
  // it change, by its own clock: time namespaces). The daemon stores level
  // first, then heartbeat with release; the engine loads heartbeat with
  // acquire, then level: a fresh heartbeat comes with the level of its poll.
  std::atomic<uint64_t> heartbeat_ns;
};
static_assert(std::atomic<uint64_t>::is_always_lock_free, "the page is shared between processes");

// How long a heartbeat stays fresh: two of the daemon's polls and some slack
// for a loaded machine.
inline uint64_t daemon_heartbeat_timeout_ns(uint32_t poll_ms) noexcept {
  return 2ull * poll_ms * 1'000'000ull + 250'000'000ull;
}

class DaemonLink {
 public:
  // `socket_path` empty: no daemon is ever looked for. `limits` (may be
  // null) learns whether the cgroup's headroom is the daemon's.
  DaemonLink(std::string socket_path, ProcessLimits* limits) noexcept;
  ~DaemonLink();
  DaemonLink(const DaemonLink&) = delete;
  DaemonLink& operator=(const DaemonLink&) = delete;

  // On the engine thread, once per pressure poll (and at start): registers
  // if not registered and a daemon is there; drops a dead registration.
  // Returns the daemon's level for this process while its heartbeat is
  // fresh, else nullopt (the caller polls for itself).
  std::optional<PressureLevel> tick(uint64_t now_ns) noexcept;

  bool registered() const noexcept { return page_ != nullptr; }
  // Registrations so far (tests and the engine's log).
  uint64_t registrations() const noexcept { return registrations_.load(std::memory_order_relaxed); }

  // In a forked child: the connection and page are the parent's registration.
  void after_fork_child() noexcept;

 private:
  bool try_register() noexcept;
  void drop() noexcept;
  void set_delegated(bool on) noexcept;

  std::string path_;
  ProcessLimits* limits_;
  int fd_ = -1;
  platform::FdIdentity fd_id_;
  const DaemonLevelPage* page_ = nullptr;
  uint64_t attempt_after_ns_ = 0;     // no new connect attempt before this
  uint64_t last_beat_ = 0;            // the heartbeat as last read
  uint64_t last_beat_change_ns_ = 0;  // our CLOCK_MONOTONIC when it last changed
  bool fresh_ = false;                // as at the last tick (for the log)
  std::atomic<uint64_t> registrations_{0};
};

}  // namespace vmreclaim::policy
