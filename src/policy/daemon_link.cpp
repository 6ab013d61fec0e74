#include "policy/daemon_link.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include <nlohmann/json.hpp>

#include "platform/linux/socket.h"
#include "policy/limits.h"
#include "support/log.h"

namespace vmreclaim::policy {
namespace {

// How long the engine thread waits for the daemon's answer; a daemon that
// does not answer in time is treated as absent until the next attempt.
constexpr int kAnswerTimeoutMs = 200;
// Between two attempts to reach a daemon that is not there (one failed
// connect(), ENOENT usually).
constexpr uint64_t kRetryNs = 1'000'000'000ull;
// The same while the socket's directory is watched: a new daemon announces
// itself through the watch, so this only covers one that was there and did
// not answer in time (its backlog full, the machine loaded).
constexpr uint64_t kRetryWatchedNs = 30'000'000'000ull;
constexpr size_t kMaxAnswer = 4096;
// A heartbeat read just after the answer and this close to our own clock
// comes from the same CLOCK_MONOTONIC (a time namespace's offset is set by
// whoever made it, and is in practice seconds or more; a smaller one only
// shifts the staleness bound by as much).
constexpr uint64_t kSameClockNs = 1'000'000'000ull;
// Doorbells read in one tick at most (the daemon rings once per change of
// level; the socket's buffer bounds what can wait).
constexpr int kMaxDoorbells = 64;

uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void close_quietly(int fd) noexcept {
  if (fd >= 0) ::close(fd);
}

}  // namespace

DaemonLink::DaemonLink(std::string socket_path, ProcessLimits* limits) noexcept
    : path_(std::move(socket_path)), limits_(limits) {}

DaemonLink::~DaemonLink() {
  drop();
  close_watch();
}

bool DaemonLink::arm_watch() noexcept {
  if (watch_fd_ >= 0 && !platform::still_own_fd(watch_fd_, watch_id_)) {
    watch_fd_ = -1;  // the program's now
    watching_ = false;
  }
  if (watch_fd_ < 0) {
    int fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (fd >= 0) fd = platform::move_fd_high(fd);
    if (fd >= 0 && !platform::mark_own_fd(fd, &watch_id_)) {
      close_quietly(fd);
      fd = -1;
    }
    if (fd < 0) return false;  // no inotify: one connect() per poll
    watch_fd_ = fd;
  }
  if (watching_) return true;
  // The name being created, moved in, or its mode set: the daemon binds,
  // listens, then sets the mode (daemon/daemon.cpp). IN_ONLYDIR: a path
  // that is not a directory is not watched. Without the directory (not yet
  // made, or removed with the daemon, as systemd's RuntimeDirectory is) the
  // watch is tried again at each attempt, once per poll, which is then how
  // often the engine tries to connect.
  const size_t slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
  watching_ = ::inotify_add_watch(watch_fd_, dir.c_str(), IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_ONLYDIR) >= 0;
  return watching_;
}

void DaemonLink::close_watch() noexcept {
  if (watch_fd_ >= 0 && platform::still_own_fd(watch_fd_, watch_id_)) ::close(watch_fd_);
  watch_fd_ = -1;
  watch_id_ = {};
  watching_ = false;
}

bool DaemonLink::take_watch_events() noexcept {
  if (watch_fd_ < 0) return false;
  if (!platform::still_own_fd(watch_fd_, watch_id_)) {
    watch_fd_ = -1;  // the program's now: made anew at the next attempt
    watching_ = false;
    attempt_after_ns_ = 0;  // which is due now
    return true;
  }
  const size_t slash = path_.rfind('/');
  const std::string_view base =
      slash == std::string::npos ? std::string_view(path_) : std::string_view(path_).substr(slash + 1);
  bool ours = false;
  alignas(inotify_event) char buf[4096];
  for (int round = 0; round < 16; round++) {
    const ssize_t n = ::read(watch_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t off = 0; off + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
      const ssize_t size = static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      if (off + size > n) break;  // the kernel never splits one; garbage ends the batch
      // Lost events: look for a daemon now. The directory gone (IN_IGNORED:
      // the watch is removed with it): watch it again at the next attempt.
      if ((ev->mask & IN_Q_OVERFLOW) != 0) ours = true;
      if ((ev->mask & IN_IGNORED) != 0) {
        watching_ = false;
        ours = true;
      }
      if (ev->len > 0 && std::string_view(ev->name, ::strnlen(ev->name, ev->len)) == base) ours = true;
      off += size;
    }
  }
  if (ours) attempt_after_ns_ = 0;
  return ours;
}

void DaemonLink::set_delegated(bool on) noexcept {
  if (limits_ != nullptr) limits_->set_cgroup_delegated(on);
}

void DaemonLink::drop() noexcept {
  if (page_ != nullptr) {
    ::munmap(const_cast<DaemonLevelPage*>(page_), sizeof(DaemonLevelPage));
    page_ = nullptr;
  }
  // A descriptor the program has taken back is its own now: not closed.
  if (fd_ >= 0 && platform::still_own_fd(fd_, fd_id_)) ::close(fd_);
  fd_ = -1;
  fd_id_ = {};
  set_delegated(false);
}

void DaemonLink::after_fork_child() noexcept {
  // The connection is the parent's registration: closing our copy leaves
  // it open in the parent. The mapping is ours to drop.
  drop();
  // The watch (an inotify instance) is shared with the parent: reading it
  // would take the parent's events. Ours is made at the next failed attempt.
  if (watch_fd_ >= 0 && platform::still_own_fd(watch_fd_, watch_id_)) ::close(watch_fd_);
  watch_fd_ = -1;
  watch_id_ = {};
  watching_ = false;
  attempt_after_ns_ = 0;
}

bool DaemonLink::try_register() noexcept {
  if (path_.empty() || path_.size() >= sizeof(sockaddr_un{}.sun_path)) return false;
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path_.data(), path_.size());
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    close_quietly(fd);  // no daemon (ENOENT, ECONNREFUSED) or its backlog is full (EAGAIN)
    return false;
  }
  // Only a daemon of root or of our own user is believed.
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred ||
      (cred.uid != 0 && cred.uid != ::geteuid())) {
    support::log(support::LogLevel::info, "the daemon socket %s belongs to uid %u: not used", path_.c_str(),
                 static_cast<unsigned>(cred.uid));
    close_quietly(fd);
    return false;
  }
  char req[64];
  const int n = std::snprintf(req, sizeof req, "{\"op\":\"register\",\"pid\":%d}", static_cast<int>(::getpid()));
  if (::send(fd, req, static_cast<size_t>(n), MSG_NOSIGNAL) != n) {
    close_quietly(fd);
    return false;
  }
  pollfd p{fd, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, kAnswerTimeoutMs);
  } while (r < 0 && errno == EINTR);
  if (r <= 0) {
    close_quietly(fd);
    return false;
  }
  char body[kMaxAnswer];
  int memfd = -1;
  const platform::Received rcv = platform::recv_with_fds(fd, body, sizeof body, MSG_DONTWAIT, &memfd, 1);
  const ssize_t got = rcv.bytes;
  bool ok = got > 0 && (rcv.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) == 0 && rcv.n_fds == 1;
  if (ok) {
    auto j = nlohmann::json::parse(body, body + got, nullptr, false);
    ok = j.is_object() && j.value("ok", false);
    if (!ok && j.is_object()) {
      support::log(support::LogLevel::info, "the daemon refused the registration: %s",
                   j.value("message", std::string("?")).c_str());
    }
  }
  // The page must stay as large as we map it (sealed against shrinking), or
  // a read of it could raise SIGBUS in this process.
  struct stat st {};
  ok = ok && ::fstat(memfd, &st) == 0 && st.st_size >= static_cast<off_t>(sizeof(DaemonLevelPage));
  const int seals = ok ? ::fcntl(memfd, F_GET_SEALS) : -1;
  ok = ok && seals >= 0 && (seals & F_SEAL_SHRINK) != 0;
  void* map = ok ? ::mmap(nullptr, sizeof(DaemonLevelPage), PROT_READ, MAP_SHARED, memfd, 0) : MAP_FAILED;
  close_quietly(memfd);
  if (map == MAP_FAILED) {
    close_quietly(fd);
    return false;
  }
  const auto* page = static_cast<const DaemonLevelPage*>(map);
  if (page->magic.load(std::memory_order_relaxed) != DaemonLevelPage::kMagic ||
      page->version.load(std::memory_order_relaxed) != DaemonLevelPage::kVersion) {
    ::munmap(map, sizeof(DaemonLevelPage));
    close_quietly(fd);
    return false;
  }
  fd = platform::move_fd_high(fd);
  if (!platform::mark_own_fd(fd, &fd_id_)) {
    ::munmap(map, sizeof(DaemonLevelPage));
    close_quietly(fd);
    return false;
  }
  fd_ = fd;
  page_ = page;
  last_beat_ = page->heartbeat_ns.load(std::memory_order_acquire);  // pairs with the daemon's release store
  last_beat_change_ns_ = monotonic_ns();
  same_clock_ =
      last_beat_ != 0 && (last_beat_ > last_beat_change_ns_ ? last_beat_ - last_beat_change_ns_
                                                            : last_beat_change_ns_ - last_beat_) <= kSameClockNs;
  fresh_ = true;
  registrations_.fetch_add(1, std::memory_order_relaxed);
  met_daemon_ = true;
  support::log(support::LogLevel::info, "registered with the daemon at %s", path_.c_str());
  return true;
}

uint64_t DaemonLink::check_ns() const noexcept {
  const uint32_t poll_ms = page_ != nullptr ? page_->poll_ms.load(std::memory_order_relaxed) : 0;
  return daemon_check_ns(poll_ms > 0 ? poll_ms : 1000);
}

bool DaemonLink::take_doorbells() noexcept {
  // After its answer the daemon sends only doorbells, one byte each; a
  // message of 0 bytes is the connection's end (it exited, or forgot us).
  for (int i = 0; i < kMaxDoorbells; i++) {
    char buf[16];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      doorbells_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  return true;  // more waiting: the next wake-up takes them
}

std::optional<PressureLevel> DaemonLink::tick(uint64_t) noexcept {
  if (path_.empty()) return std::nullopt;
  const uint64_t now = monotonic_ns();
  if (page_ != nullptr) {
    // The doorbells only wake us; what they announce is on the page, read
    // below. (The daemon stores the level before it sends the byte, and our
    // recv() of it is ordered after that send by the socket's lock.)
    const bool alive = platform::still_own_fd(fd_, fd_id_) && take_doorbells();
    if (!alive) {
      support::log(support::LogLevel::info, "the daemon went away; polling pressure ourselves");
      drop();
    }
  }
  if (page_ == nullptr) {
    // The watch first, then the attempt: a daemon that comes after the
    // attempt's connect() is seen by the watch (take_watch_events).
    const bool watching = met_daemon_ && arm_watch();
    if (now < attempt_after_ns_ || !try_register()) {
      if (now >= attempt_after_ns_) attempt_after_ns_ = now + (watching ? kRetryWatchedNs : kRetryNs);
      return std::nullopt;
    }
    close_watch();  // registered: the connection's end tells us the rest
  }
  // Acquire pairs with the daemon's release store of the heartbeat: the
  // level read after it is at least as new as that poll's.
  const uint64_t beat = page_->heartbeat_ns.load(std::memory_order_acquire);
  const uint32_t level = page_->level.load(std::memory_order_relaxed);
  const uint32_t poll_ms = page_->poll_ms.load(std::memory_order_relaxed);
  // Freshness: with the daemon's clock ours, the heartbeat's age. Else (a
  // time namespace between us) by our own clock, when the heartbeat last
  // changed: as we look at most check_ns() apart, a hang is then seen
  // at the second look after it.
  if (beat != last_beat_) {
    last_beat_ = beat;
    last_beat_change_ns_ = now;
  }
  const uint64_t age = same_clock_ ? (now > beat ? now - beat : 0) : now - last_beat_change_ns_;
  const bool fresh = beat != 0 && level <= static_cast<uint32_t>(PressureLevel::critical) && poll_ms > 0 &&
                     age <= daemon_heartbeat_timeout_ns(poll_ms);
  if (fresh != fresh_) {
    support::log(support::LogLevel::info, fresh ? "the daemon's heartbeat is back; taking its level"
                                                : "the daemon's heartbeat is stale; polling pressure ourselves");
    fresh_ = fresh;
  }
  if (!fresh) {
    set_delegated(false);
    return std::nullopt;
  }
  const auto l = static_cast<PressureLevel>(level);
  // At critical the engine acts on its own limits too (last resort).
  set_delegated(l < PressureLevel::critical);
  return l;
}

}  // namespace vmreclaim::policy
