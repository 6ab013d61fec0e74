#include "daemon/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <utility>
#include <vector>

#include "control/authorise.h"
#include "control/client.h"
#include "daemon/oom_watch.h"
#include "introspect/proc_maps.h"
#include "introspect/proc_reader.h"
#include "introspect/process_info.h"
#include "introspect/ring_copy.h"
#include "introspect/ring_locator.h"
#include "platform/linux/cgroup.h"
#include "platform/linux/meminfo.h"
#include "platform/linux/psi.h"
#include "platform/linux/socket.h"
#include "policy/daemon_link.h"
#include "policy/limits.h"
#include "policy/pressure_monitor.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace vmreclaim::daemon {
namespace {

using policy::DaemonLevelPage;
using policy::PressureLevel;

// A request is one small JSON object; anything longer is refused.
constexpr size_t kMaxRequestBytes = 4096;
// Connections at once (each registered process keeps one open).
constexpr size_t kMaxConnections = 16384;
// A connection that has not registered must ask something within this long
// (and an idle status client is closed after it).
constexpr uint64_t kIdleNs = 2'000'000'000ull;
// Requests read from one connection per wake-up (fairness).
constexpr int kRequestsPerWake = 4;
// After a control exchange fails, the process is left alone this many polls.
constexpr uint32_t kBackoffPolls = 5;

// The machine's watermarks, as shares of MemTotal available: below
// "urgent" the machine is past its high watermark, and the daemon reclaims
// back up to "warning" (policy::PressureThresholds).
const policy::PressureThresholds kThresholds{};

enum Tag : uint64_t { kListen = 1, kConn = 2, kPidfd = 3, kTimer = 4, kSignal = 5, kWake = 6 };
uint64_t tag(Tag t, uint64_t v) { return (static_cast<uint64_t>(t) << 56) | (v & ((1ull << 56) - 1)); }

uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

double unix_now() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

[[gnu::format(printf, 1, 2)]] void dlog(const char* fmt, ...) noexcept {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "vmreclaimd: %s\n", line);
}

std::string level_name(PressureLevel l) { return std::string(policy::to_string(l)); }

// Whether this daemon could drain `pid` itself: the kernel lets it open
// /proc/PID/mem (ptrace read access: the same user, or CAP_SYS_PTRACE over it).
bool may_act_on(pid_t pid) noexcept {
  const std::string path = "/proc/" + std::to_string(pid) + "/mem";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

// 'T' (stopped) or 't' (traced) in /proc/PID/stat.
bool is_stopped(pid_t pid) {
  auto stat = introspect::read_proc_file(pid, "stat");
  if (!stat) return false;
  const size_t close = stat->rfind(')');
  if (close == std::string::npos || close + 2 >= stat->size()) return false;
  const char state = (*stat)[close + 2];
  return state == 'T' || state == 't';
}

// The memory cgroup of `pid` and its path as /proc/PID/cgroup names it.
std::pair<std::optional<platform::CgroupLocation>, std::string> memory_cgroup_of(pid_t pid,
                                                                                 const std::string& mountinfo) {
  std::pair<std::optional<platform::CgroupLocation>, std::string> r;
  if (auto cg = introspect::read_proc_file(pid, "cgroup")) {
    r.first = platform::locate_memory_cgroup(*cg, mountinfo);
    if (r.first) {
      r.second = r.first->dir.substr(std::min(r.first->dir.size(), r.first->mount.size()));
      if (r.second.empty()) r.second = "/";
    }
  }
  return r;
}

// The pid `pid` has in its own (innermost) pid namespace, or 0.
int64_t innermost_pid(pid_t pid) {
  auto status = introspect::read_proc_file(pid, "status");
  if (!status) return 0;
  const size_t at = status->find("\nNSpid:");
  if (at == std::string::npos) return 0;
  const size_t end = status->find('\n', at + 1);
  const std::string line = status->substr(at + 8, end == std::string::npos ? std::string::npos : end - at - 8);
  const size_t last = line.find_last_of(" \t");
  const std::string field = last == std::string::npos ? line : line.substr(last + 1);
  char* stop = nullptr;
  errno = 0;
  const long long v = std::strtoll(field.c_str(), &stop, 10);
  return errno == 0 && stop != field.c_str() && *stop == '\0' && v > 0 ? v : 0;
}

std::string json_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

struct Tracked {
  pid_t pid = 0;
  int pidfd = -1;
  int conn = -1;  // the registration's connection, or -1 (found by discovery)
  DaemonLevelPage* page = nullptr;
  std::string comm;
  std::optional<platform::CgroupLocation> cgroup;
  std::string cgroup_path;  // as /proc/PID/cgroup names it
  std::optional<mach_vm_reclaim_ring_ref_s> ref;
  std::optional<control::Client> client;
  uint32_t backoff = 0;  // polls to leave it alone after a failed exchange
  // The level last written to its page: a change rings its doorbell.
  uint32_t rung_level = UINT32_MAX;
  // CLOCK_MONOTONIC of the last look at its ring (refresh_process), 0: never.
  uint64_t refreshed_ns = 0;
  ProcessView view;
};

struct Connection {
  int fd = -1;
  ucred cred{};
  uint64_t idle_deadline_ns = 0;
  pid_t registered_pid = 0;
};

struct CgroupState {
  platform::CgroupLocation loc;
  std::optional<platform::CgroupMemory> mem;
  std::unique_ptr<platform::PsiFile> psi;  // v2 only
  PressureLevel level = PressureLevel::normal;
  OomWatch oom;  // its OOM signals (daemon/oom_watch.h)
};

}  // namespace

std::string human_bytes(uint64_t bytes) {
  char buf[32];
  if (bytes >= (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1ull << 30));
  } else if (bytes >= (1ull << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1ull << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  }
  return buf;
}

struct Daemon::Impl {
  Options opt;
  int listen_fd = -1;
  int epfd = -1;
  int timer_fd = -1;
  int signal_fd = -1;
  int wake_fd = -1;
  std::atomic<bool> stopping{false};
  std::map<pid_t, Tracked> procs;
  std::map<int, Connection> conns;
  std::map<std::string, CgroupState> cgroups;  // by directory
  std::string mountinfo;
  platform::PsiFile system_psi{"/proc/pressure/memory"};
  std::optional<platform::PsiReading> psi;
  std::optional<platform::MemInfo> meminfo;
  PressureLevel machine_level = PressureLevel::normal;
  uint64_t seq = 0;
  DaemonCounters counters;
  mutable std::mutex snapshot_mu;
  Snapshot latest;
  // Set by snapshot() (the metrics endpoint's threads): the next poll reads
  // the rings again before it builds the snapshot. Only a hint: relaxed,
  // the snapshot itself passes under snapshot_mu.
  mutable std::atomic<bool> snapshot_wanted{false};

  ~Impl();
  bool add(int fd, uint64_t data, uint32_t events = EPOLLIN) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = data;
    return ::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
  }

  // ---- connections ----
  void accept_all();
  void close_conn(int fd);
  void on_conn(int fd);
  void reply(Connection& c, const nlohmann::json& j, int pass_fd = -1);
  void handle_register(Connection& c, const nlohmann::json& req);
  void handle_status(Connection& c);
  void sweep_idle();

  // ---- processes ----
  Tracked* track(pid_t pid, int pidfd);
  void forget(pid_t pid, const char* why);
  void unregister(Tracked& t);
  void discover();
  void refresh_process(Tracked& t);
  // Looks at the rings of those not looked at for `max_age_ns`.
  void refresh_older(const std::vector<Tracked*>& which, uint64_t max_age_ns);
  void refresh_older(uint64_t max_age_ns);
  void ring_doorbell(Tracked& t);
  control::Client* client_of(Tracked& t);

  // ---- the poll ----
  void poll();
  void read_cgroup(CgroupState& cg);
  void reclaim_deficit(const std::string& what, uint64_t deficit, const std::vector<Tracked*>& concerned,
                       const char* cause);
  void drain_all(const std::string& what, const std::vector<Tracked*>& concerned, const char* cause);
  void publish();
  void update_snapshot();
  Snapshot build_snapshot(int filter_conn) const;
};

Daemon::Impl::~Impl() {
  for (auto& [pid, t] : procs) {
    if (t.page != nullptr) ::munmap(t.page, sizeof(DaemonLevelPage));
    if (t.pidfd >= 0) ::close(t.pidfd);
  }
  for (auto& [fd, c] : conns) ::close(fd);
  for (int fd : {listen_fd, epfd, timer_fd, signal_fd, wake_fd}) {
    if (fd >= 0) ::close(fd);
  }
  if (listen_fd >= 0) ::unlink(opt.socket_path.c_str());
}

// ---------------------------------------------------------------- set-up

Result<std::unique_ptr<Daemon>> Daemon::create(const Options& options) {
  auto impl = std::make_unique<Impl>();
  impl->opt = options;
  auto fail = [](const std::string& what) -> Result<std::unique_ptr<Daemon>> {
    dlog("%s: %s", what.c_str(), std::strerror(errno));
    return std::error_code(errno != 0 ? errno : EINVAL, std::system_category());
  };
  const std::string& path = options.socket_path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (!support::is_socket_path(path)) {
    errno = EINVAL;
    return fail("socket path \"" + path + "\" is not absolute or longer than " +
                std::to_string(support::kMaxSocketPath));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (options.poll_ms < 10 || options.poll_ms > 60'000) {
    errno = EINVAL;
    return fail("poll period " + std::to_string(options.poll_ms) + " ms is outside 10..60000");
  }

  // A socket left by a daemon that died is replaced; one that answers is
  // another daemon's, and anything else at that path is not ours to remove.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      errno = EEXIST;
      return fail(path + " exists and is not a socket");
    }
    int probe = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    const bool live = probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (probe >= 0) ::close(probe);
    if (live) {
      errno = EADDRINUSE;
      return fail("another daemon serves " + path);
    }
    if (::unlink(path.c_str()) != 0) return fail("cannot remove the stale socket " + path);
  }
  impl->listen_fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (impl->listen_fd < 0) return fail("socket");
  if (::bind(impl->listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return fail("bind " + path);
  if (::listen(impl->listen_fd, 512) != 0) return fail("listen");
  // Anyone may connect: who is answered what is decided per request. After
  // listen(): engines without a daemon watch the directory, and this change
  // of mode is their sign that a connect() will be accepted
  // (policy/daemon_link.h).
  if (::chmod(path.c_str(), 0666) != 0) return fail("chmod " + path);

  impl->epfd = ::epoll_create1(EPOLL_CLOEXEC);
  if (impl->epfd < 0) return fail("epoll_create1");
  impl->timer_fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (impl->timer_fd < 0) return fail("timerfd_create");
  itimerspec its{};
  its.it_value.tv_nsec = 1;  // the first poll at once
  its.it_interval.tv_sec = options.poll_ms / 1000;
  its.it_interval.tv_nsec = static_cast<long>(options.poll_ms % 1000) * 1'000'000L;
  if (::timerfd_settime(impl->timer_fd, 0, &its, nullptr) != 0) return fail("timerfd_settime");
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  impl->signal_fd = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (impl->signal_fd < 0) return fail("signalfd");
  impl->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl->wake_fd < 0) return fail("eventfd");
  if (!impl->add(impl->listen_fd, tag(kListen, 0)) || !impl->add(impl->timer_fd, tag(kTimer, 0)) ||
      !impl->add(impl->signal_fd, tag(kSignal, 0)) || !impl->add(impl->wake_fd, tag(kWake, 0))) {
    return fail("epoll_ctl");
  }
  impl->mountinfo = introspect::read_proc_file(::getpid(), "mountinfo").value_or("");
  dlog("listening on %s (uid %u), polling every %u ms", path.c_str(), static_cast<unsigned>(::geteuid()),
       options.poll_ms);
  return std::unique_ptr<Daemon>(new Daemon(std::move(impl)));
}

Daemon::Daemon(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Daemon::~Daemon() = default;

void Daemon::stop() noexcept {
  impl_->stopping.store(true);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(impl_->wake_fd, &one, sizeof one);
}

Snapshot Daemon::snapshot() const {
  impl_->snapshot_wanted.store(true, std::memory_order_relaxed);  // a hint, see its declaration
  std::lock_guard lk(impl_->snapshot_mu);
  return impl_->latest;
}

int Daemon::run(const std::function<void()>& ready) {
  Impl& d = *impl_;
  bool announced = false;
  epoll_event events[64];
  while (!d.stopping.load()) {
    // Only a connection that has not registered has a deadline (sweep_idle):
    // with none, sleep until an event or the poll's timer.
    bool unregistered = false;
    for (const auto& [fd, c] : d.conns) unregistered = unregistered || c.registered_pid == 0;
    const int n = ::epoll_wait(d.epfd, events, 64, unregistered ? 250 : -1);
    if (n < 0 && errno != EINTR) {
      dlog("epoll_wait: %s", std::strerror(errno));
      return 1;
    }
    for (int i = 0; i < n; i++) {
      const uint64_t data = events[i].data.u64;
      const auto kind = static_cast<Tag>(data >> 56);
      const uint64_t v = data & ((1ull << 56) - 1);
      switch (kind) {
        case kListen: d.accept_all(); break;
        case kConn: d.on_conn(static_cast<int>(v)); break;
        case kPidfd: d.forget(static_cast<pid_t>(v), "exited"); break;
        case kTimer: {
          uint64_t expirations;
          [[maybe_unused]] ssize_t r = ::read(d.timer_fd, &expirations, sizeof expirations);
          d.poll();
          if (!announced && ready) ready();
          announced = true;
          break;
        }
        case kSignal: {
          signalfd_siginfo si{};
          if (::read(d.signal_fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
            dlog("signal %u: stopping", si.ssi_signo);
            d.stopping.store(true);
          }
          break;
        }
        case kWake: break;
      }
    }
    d.sweep_idle();
  }
  return 0;
}

// ---------------------------------------------------------------- connections

void Daemon::Impl::accept_all() {
  for (;;) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) dlog("accept: %s", std::strerror(errno));
      return;
    }
    Connection c;
    c.fd = fd;
    socklen_t len = sizeof c.cred;
    if (conns.size() >= kMaxConnections || ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c.cred, &len) != 0 ||
        len != sizeof c.cred || !add(fd, tag(kConn, static_cast<uint64_t>(fd)))) {
      ::close(fd);
      continue;
    }
    c.idle_deadline_ns = monotonic_ns() + kIdleNs;
    conns[fd] = c;
  }
}

void Daemon::Impl::close_conn(int fd) {
  auto it = conns.find(fd);
  if (it == conns.end()) return;
  if (pid_t pid = it->second.registered_pid; pid != 0) {
    if (auto p = procs.find(pid); p != procs.end() && p->second.conn == fd) {
      p->second.conn = -1;
      unregister(p->second);
    }
  }
  ::close(fd);  // also leaves the epoll set
  conns.erase(it);
}

void Daemon::Impl::sweep_idle() {
  const uint64_t now = monotonic_ns();
  std::vector<int> idle;
  for (auto& [fd, c] : conns) {
    if (c.registered_pid == 0 && now > c.idle_deadline_ns) idle.push_back(fd);
  }
  for (int fd : idle) close_conn(fd);
}

void Daemon::Impl::reply(Connection& c, const nlohmann::json& j, int pass_fd) {
  const std::string text = json_text(j);
  // Never waits: a peer that does not read its answers loses its connection.
  if (platform::send_with_fd(c.fd, text, pass_fd, MSG_DONTWAIT) != static_cast<ssize_t>(text.size())) {
    c.idle_deadline_ns = 0;  // on_conn closes it (and forgets a registration)
  }
}

void Daemon::Impl::on_conn(int fd) {
  for (int round = 0; round < kRequestsPerWake; round++) {
    auto it = conns.find(fd);
    if (it == conns.end()) return;
    Connection& c = it->second;
    char buf[kMaxRequestBytes];
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) {
      close_conn(fd);
      return;
    }
    if (static_cast<size_t>(n) > sizeof buf) {
      reply(c, {{"ok", false}, {"error", "oversized"}, {"message", "a request is at most 4096 bytes"}});
      close_conn(fd);
      return;
    }
    auto req = nlohmann::json::parse(buf, buf + n, nullptr, false);
    const std::string op =
        req.is_object() && req.contains("op") && req["op"].is_string() ? req["op"].get<std::string>() : "";
    if (op == "register") {
      handle_register(c, req);
    } else if (op == "status") {
      c.idle_deadline_ns = monotonic_ns() + kIdleNs;
      handle_status(c);
    } else {
      reply(c, {{"ok", false},
                {"error", op.empty() ? "bad_request" : "unknown_op"},
                {"message", "requests are JSON objects with \"op\": \"register\" or \"status\""}});
      close_conn(fd);
      return;
    }
    if (c.idle_deadline_ns == 0) {  // the answer could not be sent
      close_conn(fd);
      return;
    }
  }
}

void Daemon::Impl::handle_register(Connection& c, const nlohmann::json& req) {
  auto refuse = [&](const char* code, const std::string& message) {
    counters.refused_registrations++;
    dlog("registration refused (peer pid %d uid %u): %s", static_cast<int>(c.cred.pid),
         static_cast<unsigned>(c.cred.uid), message.c_str());
    reply(c, {{"ok", false}, {"error", code}, {"message", message}});
    c.idle_deadline_ns = 0;  // closed after this answer
  };
  if (c.registered_pid != 0) return refuse("bad_request", "this connection has registered already");
  if (!req.contains("pid") || !req["pid"].is_number_integer())
    return refuse("bad_request", "\"pid\" must be an integer");
  int64_t pid = req["pid"].get<int64_t>();
  // A process registers itself and nobody else: the pid it names is the one
  // the kernel reports for the peer, as we see it or, for a process in a
  // child pid namespace, as it sees itself (the last field of NSpid in the
  // status of the very process SO_PEERCRED names).
  if (pid <= 0 || (pid != c.cred.pid && pid != innermost_pid(c.cred.pid))) {
    return refuse("permission_denied",
                  "pid " + std::to_string(pid) + " is not the peer's (" + std::to_string(c.cred.pid) + ")");
  }
  // Known by its pid here from now on; and only a process this daemon
  // could drain itself.
  pid = c.cred.pid;
  if (!may_act_on(static_cast<pid_t>(pid))) {
    return refuse("permission_denied", "this daemon may not act on process " + std::to_string(pid));
  }
  int pidfd = -1;
  socklen_t len = sizeof pidfd;
  if (::getsockopt(c.fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) != 0 || pidfd < 0) {
    pidfd = static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
  }
  if (pidfd < 0) return refuse("no_process", "cannot open a pidfd of process " + std::to_string(pid));

  Tracked* t = nullptr;
  if (auto it = procs.find(static_cast<pid_t>(pid)); it != procs.end()) {
    ::close(pidfd);
    t = &it->second;
    if (t->conn >= 0 && t->conn != c.fd) {
      const int old = t->conn;
      t->conn = -1;
      conns[old].registered_pid = 0;
      close_conn(old);
    }
  } else {
    t = track(static_cast<pid_t>(pid), pidfd);
    if (t == nullptr) return refuse("internal", "cannot watch process " + std::to_string(pid));
  }
  // The level page.
  int memfd = ::memfd_create("vmreclaimd_level", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  void* map = MAP_FAILED;
  const size_t page_bytes = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  if (memfd >= 0 && ::ftruncate(memfd, static_cast<off_t>(page_bytes)) == 0) {
    map = ::mmap(nullptr, sizeof(DaemonLevelPage), PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  }
  if (map == MAP_FAILED || ::fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    if (map != MAP_FAILED) ::munmap(map, sizeof(DaemonLevelPage));
    if (memfd >= 0) ::close(memfd);
    return refuse("internal", std::string("cannot make the level page: ") + std::strerror(errno));
  }
  if (t->page != nullptr) ::munmap(t->page, sizeof(DaemonLevelPage));
  t->page = new (map) DaemonLevelPage{};
  t->page->magic.store(DaemonLevelPage::kMagic, std::memory_order_relaxed);
  t->page->version.store(DaemonLevelPage::kVersion, std::memory_order_relaxed);
  t->page->poll_ms.store(opt.poll_ms, std::memory_order_relaxed);
  t->page->seq.store(seq, std::memory_order_relaxed);
  t->page->level.store(static_cast<uint32_t>(machine_level), std::memory_order_relaxed);
  t->rung_level = static_cast<uint32_t>(machine_level);
  // Release: pairs with the engine's acquire load of the heartbeat (policy/daemon_link.cpp).
  t->page->heartbeat_ns.store(monotonic_ns(), std::memory_order_release);
  t->conn = c.fd;
  t->view.registered = true;
  c.registered_pid = static_cast<pid_t>(pid);
  counters.registrations++;
  reply(c, {{"ok", true}, {"poll_ms", opt.poll_ms}}, memfd);
  ::close(memfd);
  dlog("registered process %lld (%s)", static_cast<long long>(pid), t->comm.c_str());
}

void Daemon::Impl::handle_status(Connection& c) {
  // The rings are read when someone asks, not every poll; at most once per
  // poll however often they ask.
  refresh_older(uint64_t{opt.poll_ms} * 1'000'000ull);
  Snapshot s = build_snapshot(c.fd);
  nlohmann::json j = s;
  std::string text = json_text(j);
  if (text.size() > kMaxMessageBytes) {
    reply(c, {{"ok", false}, {"error", "too_large"}, {"message", "the status is larger than one message"}});
    return;
  }
  // Room for the one message: beyond wmem_max only with CAP_NET_ADMIN
  // (SO_SNDBUFFORCE); without it a status too large is refused by sendmsg
  // (EMSGSIZE) and the asker's connection closed.
  int size = static_cast<int>(text.size() + 4096);
  if (::setsockopt(c.fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0) {
    ::setsockopt(c.fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  }
  reply(c, j);
}

// ---------------------------------------------------------------- processes

Tracked* Daemon::Impl::track(pid_t pid, int pidfd) {
  if (!add(pidfd, tag(kPidfd, static_cast<uint64_t>(pid)))) {
    ::close(pidfd);
    return nullptr;
  }
  Tracked& t = procs[pid];
  t.pid = pid;
  t.pidfd = pidfd;
  t.view.pid = pid;
  t.comm = introspect::process_command(pid).value_or("?");
  t.view.comm = t.comm;
  std::tie(t.cgroup, t.cgroup_path) = memory_cgroup_of(pid, mountinfo);
  t.view.cgroup = t.cgroup_path;
  t.view.last_action = "none";
  refresh_process(t);
  return &t;
}

void Daemon::Impl::unregister(Tracked& t) {
  if (t.page != nullptr) ::munmap(t.page, sizeof(DaemonLevelPage));
  t.page = nullptr;
  t.view.registered = false;
}

void Daemon::Impl::forget(pid_t pid, const char* why) {
  auto it = procs.find(pid);
  if (it == procs.end()) return;
  Tracked& t = it->second;
  if (t.conn >= 0) {
    auto c = conns.find(t.conn);
    if (c != conns.end()) {
      c->second.registered_pid = 0;
      close_conn(t.conn);
    }
  }
  unregister(t);
  ::close(t.pidfd);  // leaves the epoll set
  dlog("forgot process %d (%s): %s", static_cast<int>(pid), t.comm.c_str(), why);
  procs.erase(it);
}

void Daemon::Impl::discover() {
  const pid_t self = ::getpid();
  for (pid_t pid : introspect::list_pids()) {
    if (pid == self || procs.count(pid) != 0) continue;
    auto maps = introspect::read_proc_file(pid, "maps");
    if (!maps || maps->find(introspect::kRingMappingName) == std::string::npos) continue;
    if (introspect::locate_rings(introspect::parse_maps(*maps)).empty() || !may_act_on(pid)) continue;
    if (const std::string& scope = opt.discover_scope; !scope.empty()) {
      const std::string path = memory_cgroup_of(pid, mountinfo).second;
      const bool inside = path.compare(0, scope.size(), scope) == 0 &&
                          (path.size() == scope.size() || scope == "/" || path[scope.size()] == '/');
      if (!inside) continue;
    }
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) continue;
    Tracked* t = track(pid, pidfd);
    if (t != nullptr) dlog("found process %d (%s) with a ring", static_cast<int>(pid), t->comm.c_str());
  }
}

void Daemon::Impl::refresh_older(const std::vector<Tracked*>& which, uint64_t max_age_ns) {
  const uint64_t now = monotonic_ns();
  for (Tracked* t : which) {
    if (t->refreshed_ns == 0 || now - t->refreshed_ns >= max_age_ns) refresh_process(*t);
  }
}

void Daemon::Impl::refresh_older(uint64_t max_age_ns) {
  std::vector<Tracked*> all;
  all.reserve(procs.size());
  for (auto& [pid, t] : procs) all.push_back(&t);
  refresh_older(all, max_age_ns);
}

void Daemon::Impl::refresh_process(Tracked& t) {
  t.refreshed_ns = monotonic_ns();
  t.view.stopped = is_stopped(t.pid);
  if (!t.ref) {
    mach_vm_reclaim_ring_ref_s ref{};
    mach_vm_reclaim_count_t n = 1;
    if (mach_vm_reclaim_get_rings_for_task(t.pid, &ref, &n) == VM_RECLAIM_SUCCESS && n == 1) t.ref = ref;
  }
  if (!t.ref) {
    t.view.reclaimable_bytes = 0;
    return;
  }
  mach_vm_reclaim_ring_copy_s* copy = nullptr;
  if (introspect::copy_ring(t.pid, *t.ref, &copy, 0) != VM_RECLAIM_SUCCESS || copy == nullptr) {
    t.ref.reset();  // destroyed, or moved: looked up again next time
    t.view.reclaimable_bytes = 0;
    return;
  }
  t.view.reclaimable_bytes = copy->ring()->reclaimable_bytes;
  // Until the engine's own estimate is read: what stayed in the ring since
  // its last sample.
  t.view.stalest_bytes = std::min(copy->ring()->reclaimable_bytes_min, copy->ring()->reclaimable_bytes);
  mach_vm_reclaim_ring_copy_t h = copy;
  mach_vm_reclaim_copied_ring_free(&h);
}

control::Client* Daemon::Impl::client_of(Tracked& t) {
  if (t.client) return &*t.client;
  auto c = control::Client::connect(t.pid, std::chrono::milliseconds(opt.control_timeout_ms));
  if (!c) {
    t.backoff = kBackoffPolls;
    return nullptr;
  }
  t.client.emplace(std::move(*c));
  return &*t.client;
}

// ---------------------------------------------------------------- the poll

void Daemon::Impl::read_cgroup(CgroupState& cg) {
  platform::MemoryCgroup m(cg.loc);
  cg.mem = m.read();
  PressureLevel l = PressureLevel::normal;
  if (cg.psi) {
    if (auto p = cg.psi->read()) l = std::max(l, policy::level_from_psi(*p, kThresholds));
  }
  // The cgroup's headroom is the daemon's to restore by deficit; processes
  // hear of it only when it is critical (their last resort).
  if (cg.mem && policy::level_from_cgroup(*cg.mem, kThresholds) == PressureLevel::critical) {
    l = PressureLevel::critical;
  }
  cg.level = l;
}

void Daemon::Impl::reclaim_deficit(const std::string& what, uint64_t deficit, const std::vector<Tracked*>& concerned,
                                   const char* cause) {
  counters.deficit_bytes_last = deficit;
  // The engine's working-set estimate, where the process answers: bytes its
  // ring held unused over the whole sampling window.
  struct Candidate {
    Tracked* t;
    uint64_t stalest, reclaimable;
  };
  std::vector<Candidate> cands;
  for (Tracked* t : concerned) {
    if (t->view.stopped || t->backoff > 0 || t->view.reclaimable_bytes == 0) continue;
    control::Client* c = client_of(*t);
    if (c == nullptr) continue;
    auto s = c->stats();
    if (!s) {
      t->client.reset();
      t->backoff = kBackoffPolls;
      continue;
    }
    t->view.reclaimable_bytes = s->stats.reclaimable_bytes;
    t->view.stalest_bytes = std::min(s->stats.wma_bytes, s->stats.reclaimable_bytes);
    cands.push_back({t, t->view.stalest_bytes, t->view.reclaimable_bytes});
  }
  std::sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) {
    return a.stalest != b.stalest ? a.stalest > b.stalest : a.reclaimable > b.reclaimable;
  });
  uint64_t left = deficit, total = 0;
  for (const Candidate& cand : cands) {
    if (left == 0) break;
    const uint64_t ask = std::min(left, cand.reclaimable);
    if (ask == 0) continue;
    Tracked& t = *cand.t;
    auto r = t.client->trim(ask);
    counters.actions++;
    if (!r) {
      t.client.reset();
      t.backoff = kBackoffPolls;
      continue;
    }
    const uint64_t got = r->bytes_reclaimed;
    left -= std::min(left, got);
    total += got;
    t.view.last_action = "trim";
    t.view.last_cause = cause;
    t.view.last_action_bytes = got;
    t.view.last_action_unix_s = unix_now();
    t.view.reclaimed_bytes_total[cause] += got;
    t.view.reclaimable_bytes -= std::min(t.view.reclaimable_bytes, got);
    counters.reclaimed_bytes_total[cause] += got;
  }
  dlog("%s: deficit %s, reclaimed %s from %zu process(es)", what.c_str(), human_bytes(deficit).c_str(),
       human_bytes(total).c_str(), cands.size());
}

void Daemon::Impl::drain_all(const std::string& what, const std::vector<Tracked*>& concerned, const char* cause) {
  uint64_t total = 0;
  for (Tracked* t : concerned) {
    if (t->view.stopped || t->backoff > 0 || t->view.reclaimable_bytes == 0) continue;
    control::Client* c = client_of(*t);
    if (c == nullptr) continue;
    auto r = c->drain();
    counters.actions++;
    if (!r) {
      t->client.reset();
      t->backoff = kBackoffPolls;
      continue;
    }
    total += r->bytes_reclaimed;
    t->view.last_action = "drain";
    t->view.last_cause = cause;
    t->view.last_action_bytes = r->bytes_reclaimed;
    t->view.last_action_unix_s = unix_now();
    t->view.reclaimed_bytes_total[cause] += r->bytes_reclaimed;
    t->view.reclaimable_bytes = 0;
    counters.reclaimed_bytes_total[cause] += r->bytes_reclaimed;
  }
  dlog("%s: near the OOM killer, drained %s", what.c_str(), human_bytes(total).c_str());
}

void Daemon::Impl::poll() {
  seq++;
  counters.polls++;
  // The machine.
  if (auto p = system_psi.read()) psi = p;
  if (auto m = platform::read_meminfo()) meminfo = m;
  machine_level = PressureLevel::normal;
  if (psi) machine_level = std::max(machine_level, policy::level_from_psi(*psi, kThresholds));
  if (meminfo) machine_level = std::max(machine_level, policy::level_from_meminfo(*meminfo, kThresholds));

  if (opt.discover_every > 0 && (seq - 1) % opt.discover_every == 0) discover();

  // The processes and their cgroups.
  std::map<std::string, std::vector<Tracked*>> by_cgroup;
  std::vector<Tracked*> everyone;
  // No ring is read here: only when a decision below needs it (the
  // deficit's and the drains' candidates), a status asks, or the metrics
  // endpoint was read since the last poll. An idle machine costs one look
  // at the level of each process, no copy of its ring.
  for (auto& [pid, t] : procs) {
    if (t.backoff > 0) t.backoff--;
    everyone.push_back(&t);
    if (t.cgroup) by_cgroup[t.cgroup->dir].push_back(&t);
  }
  for (auto it = cgroups.begin(); it != cgroups.end();) {
    it = by_cgroup.count(it->first) == 0 ? cgroups.erase(it) : std::next(it);  // no process left in it
  }
  for (auto& [dir, members] : by_cgroup) {
    CgroupState& cg = cgroups[dir];
    if (cg.loc.dir.empty()) {
      cg.loc = *members.front()->cgroup;
      if (cg.loc.version == 2) cg.psi = std::make_unique<platform::PsiFile>(cg.loc.dir + "/memory.pressure");
    }
    read_cgroup(cg);
    // The cgroup's own OOM signals: everything goes (daemon/oom_watch.h).
    if (auto why = cg.oom.check(cg.loc)) {
      refresh_older(members, 0);
      drain_all("cgroup " + members.front()->cgroup_path + " (" + *why + ")", members, "oom");
      read_cgroup(cg);
      continue;
    }
    if (!cg.mem || !cg.mem->limited()) continue;
    const uint64_t limit = cg.mem->limit, ws = cg.mem->working_set();
    if (ws <= policy::high_watermark(limit)) continue;
    const std::string what = "cgroup " + members.front()->cgroup_path;
    refresh_older(members, 0);
    reclaim_deficit(what, ws - policy::low_watermark(limit), members, "deficit");
    read_cgroup(cg);
    // Still at the edge after the deficit was asked for: the kernel's OOM
    // killer is next. Everything goes (Darwin drains all before jetsam).
    if (cg.mem && policy::level_from_cgroup(*cg.mem, kThresholds) == PressureLevel::critical) {
      drain_all(what, members, "oom");
      read_cgroup(cg);
    }
  }
  // The machine past its high watermark: the same by deficit, over everyone.
  if (meminfo && meminfo->total > 0) {
    const double avail_pct = 100.0 * static_cast<double>(meminfo->available) / static_cast<double>(meminfo->total);
    if (avail_pct <= kThresholds.avail_urgent_pct) {
      const auto target =
          static_cast<uint64_t>(static_cast<double>(meminfo->total) * kThresholds.avail_warning_pct / 100.0);
      refresh_older(everyone, 0);
      reclaim_deficit("machine", target - std::min(target, meminfo->available), everyone, "deficit");
    }
  }
  if (psi && psi->full_avg10 >= kThresholds.psi_full_critical) {
    refresh_older(everyone, 0);
    drain_all("machine (PSI full)", everyone, "oom");
  }
  publish();
  // For the metrics endpoint: the rings as of this poll when it was read
  // since the last one (a scrape sees them at most one scrape interval old).
  if (snapshot_wanted.exchange(false, std::memory_order_relaxed)) refresh_older(everyone, 0);
  update_snapshot();
}

void Daemon::Impl::publish() {
  const uint64_t now = monotonic_ns();
  for (auto& [pid, t] : procs) {
    PressureLevel l = machine_level;
    if (t.cgroup) {
      if (auto it = cgroups.find(t.cgroup->dir); it != cgroups.end()) l = std::max(l, it->second.level);
    }
    t.view.pressure = level_name(l);
    if (t.page == nullptr) continue;
    t.page->level.store(static_cast<uint32_t>(l), std::memory_order_relaxed);
    t.page->seq.store(seq, std::memory_order_relaxed);
    // Release: pairs with the engine's acquire load (policy/daemon_link.cpp);
    // the level above is visible with this heartbeat.
    t.page->heartbeat_ns.store(now, std::memory_order_release);
    // The engine sleeps until told (policy/daemon_link.h): a new level rings.
    if (static_cast<uint32_t>(l) != t.rung_level) {
      t.rung_level = static_cast<uint32_t>(l);
      ring_doorbell(t);
    }
  }
}

void Daemon::Impl::ring_doorbell(Tracked& t) {
  if (t.conn < 0) return;
  // One byte, never waiting. After the page's stores above: the engine's
  // recv() of it is ordered after this send by the socket, so it reads the
  // new level. EAGAIN: doorbells it has not read yet wait already, and one
  // is enough; any other failure is the connection's end, which its own
  // epoll event closes.
  const char bell = 'L';
  [[maybe_unused]] const ssize_t n = ::send(t.conn, &bell, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

Snapshot Daemon::Impl::build_snapshot(int filter_conn) const {
  Snapshot s;
  s.unix_s = unix_now();
  s.poll_ms = opt.poll_ms;
  s.machine_pressure = level_name(machine_level);
  s.mem_available_bytes = meminfo ? meminfo->available : 0;
  s.daemon = counters;
  std::map<std::string, uint64_t> reclaimable_by_cgroup;
  std::map<std::string, bool> visible_cgroup;
  for (const auto& [pid, t] : procs) {
    if (filter_conn >= 0 && !control::peer_could_drain(filter_conn, pid)) continue;
    s.processes.push_back(t.view);
    if (t.cgroup) {
      reclaimable_by_cgroup[t.cgroup->dir] += t.view.reclaimable_bytes;
      visible_cgroup[t.cgroup->dir] = true;
    }
  }
  for (const auto& [dir, cg] : cgroups) {
    if (!visible_cgroup.count(dir)) continue;
    CgroupView v;
    v.path = dir.substr(std::min(dir.size(), cg.loc.mount.size()));
    if (v.path.empty()) v.path = "/";
    if (cg.mem) {
      v.usage_bytes = cg.mem->usage;
      if (cg.mem->limited()) {
        v.limit_bytes = cg.mem->limit;
        v.high_watermark_bytes = policy::high_watermark(cg.mem->limit);
        v.low_watermark_bytes = policy::low_watermark(cg.mem->limit);
      }
    }
    v.reclaimable_bytes = reclaimable_by_cgroup[dir];
    v.pressure = level_name(cg.level);
    s.cgroups.push_back(std::move(v));
  }
  return s;
}

void Daemon::Impl::update_snapshot() {
  Snapshot s = build_snapshot(-1);
  std::lock_guard lk(snapshot_mu);
  latest = std::move(s);
}

}  // namespace vmreclaim::daemon
