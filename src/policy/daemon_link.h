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
// its own footprint limit and a drain at critical stay its own.
//
// A registered engine does not poll the page: it sleeps on the registration
// connection (wake_fd()), on which the daemon sends one byte, a doorbell,
// whenever the level it publishes for this process changes, and which ends
// (EOF, POLLHUP) when the daemon exits. Besides, it looks at the page at
// least every daemon_check_ns() (with its sampling, when that is sooner), which
// is how it notices a daemon that hangs with the connection open. When the
// connection ends or the heartbeat is stale the engine polls for itself
// again at once, and registers anew once a daemon answers.
//
// Unregistered after a daemon went away (it exits, crashes, is restarted),
// the engine watches the socket's directory (inotify, watch_fd(): the one
// descriptor the link holds then, as the connection was before) and tries
// to register when the socket's name is created,
// moved there or has its mode set (a daemon binds, listens, then sets the
// mode: the last is the sign that it accepts). With the watch, a failed
// attempt is retried only every kRetryWatchedNs (a daemon that was there
// but did not answer in time); without one (no such directory, no inotify)
// once per pressure poll, as before, trying the watch again each time. A
// process that has never met a daemon holds no watch: it tries once per
// pressure poll and keeps no descriptor (a library a program links or
// preloads takes none it was not asked for; tests/process/guest_test.cpp).
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
  // 2: the daemon rings a doorbell (one byte on the registration
  // connection) when it changes `level`; an engine of version 1 polled the
  // page and would take the byte for the connection's end.
  static constexpr uint32_t kVersion = 2;
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

// The longest a registered engine sleeps without looking at the page: how
// late it may notice a daemon that hangs (SIGSTOP) with the connection open.
// Thirty of the daemon's polls, within [1 s, 30 s]: 30 s at its default poll.
inline uint64_t daemon_check_ns(uint32_t poll_ms) noexcept {
  const uint64_t ns = 30ull * poll_ms * 1'000'000ull;
  return ns < 1'000'000'000ull ? 1'000'000'000ull : ns > 30'000'000'000ull ? 30'000'000'000ull : ns;
}

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

  // On the engine thread: at start, once per pressure poll while not
  // registered, and while registered when wake_fd() is readable or
  // check_ns() passed. Registers if not registered and a daemon is
  // there; takes the doorbells; drops a dead registration. Returns the
  // daemon's level for this process while its heartbeat is fresh, else
  // nullopt (the caller polls for itself).
  std::optional<PressureLevel> tick(uint64_t now_ns) noexcept;

  bool registered() const noexcept { return page_ != nullptr; }
  // The registration connection, for the engine thread to sleep on
  // (POLLIN: a doorbell or the daemon's end); -1 when not registered.
  int wake_fd() const noexcept { return page_ != nullptr ? fd_ : -1; }
  // Unregistered: the watch on the socket's directory, for the engine thread
  // to sleep on (POLLIN); -1 when registered or not watching.
  int watch_fd() const noexcept { return page_ == nullptr ? watch_fd_ : -1; }
  // After POLLIN on watch_fd(): reads the events; true if one was about the
  // socket's name (register at the next tick, which the caller makes due).
  bool take_watch_events() noexcept;
  // daemon_check_ns() of the daemon registered with (its page's poll).
  uint64_t check_ns() const noexcept;
  // Doorbells taken so far (tests).
  uint64_t doorbells() const noexcept { return doorbells_.load(std::memory_order_relaxed); }
  // Registrations so far (tests and the engine's log).
  uint64_t registrations() const noexcept { return registrations_.load(std::memory_order_relaxed); }

  // In a forked child: the connection and page are the parent's registration.
  void after_fork_child() noexcept;

 private:
  bool try_register() noexcept;
  void drop() noexcept;
  // Reads the doorbells waiting on the connection; false if it ended.
  bool take_doorbells() noexcept;
  // Watches the socket's directory if not yet; false if it cannot.
  bool arm_watch() noexcept;
  void close_watch() noexcept;
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
  // The daemon's CLOCK_MONOTONIC is ours (no time namespace between us, seen
  // at registration): freshness is then the heartbeat's age, judged at any
  // single look, rather than whether it changed since the last look.
  bool same_clock_ = false;
  std::atomic<uint64_t> registrations_{0};
  std::atomic<uint64_t> doorbells_{0};
  int watch_fd_ = -1;  // inotify on the socket's directory
  platform::FdIdentity watch_id_;
  bool watching_ = false;    // the directory is watched (else per-poll attempts)
  bool met_daemon_ = false;  // registered once: watch for a daemon's return
};

}  // namespace vmreclaim::policy
