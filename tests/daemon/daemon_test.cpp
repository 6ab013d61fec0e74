// vmreclaimd on real processes: the daemon is started by each test on a
// socket named with the test's pid, the targets register through the
// library's engine thread, and the deficit test squeezes a real cgroup v1
// memory controller. Everything created is named with our pid, so other
// tests running on the machine are left alone (discovery is off, or scoped
// to our own cgroup).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <mach/vm_reclaim_private.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/client.h"
#include "daemon/snapshot.h"
#include "introspect/ring_copy.h"
#include "platform/linux/socket.h"
#include "policy/daemon_link.h"
#include "support/child.h"
#include "support/sanitizers.h"

namespace vmreclaim::test {
namespace {

using namespace std::chrono_literals;
using vmreclaim::daemon::ProcessView;
using vmreclaim::daemon::Snapshot;
using Clock = std::chrono::steady_clock;

// Every path in /tmp a test names (sockets, a socket's directory), removed
// when the test program ends: a daemon killed with SIGKILL, or an assertion
// that ends a test early, leaves its socket behind.
std::vector<std::string>& scratch_paths() {
  static std::vector<std::string> paths;
  return paths;
}
class RemoveScratchPaths : public ::testing::Environment {
 public:
  void TearDown() override {
    for (const std::string& p : scratch_paths()) {
      std::error_code ec;
      std::filesystem::remove_all(p, ec);
    }
  }
};
[[maybe_unused]] ::testing::Environment* const g_remove_scratch_paths =
    ::testing::AddGlobalTestEnvironment(new RemoveScratchPaths);

std::string scratch_path(const std::string& what) {
  scratch_paths().push_back("/tmp/vmreclaimd-test-" + std::to_string(::getpid()) + "-" + what);
  return scratch_paths().back();
}

std::string socket_path(const char* what) { return scratch_path(std::string(what) + ".sock"); }

// One connection to the daemon's socket.
class DaemonConn {
 public:
  explicit DaemonConn(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (fd_ >= 0) {
      timeval tv{5, 0};
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
  }
  ~DaemonConn() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  bool send(const std::string& text) {
    return ::send(fd_, text.data(), text.size(), MSG_NOSIGNAL) == ssize_t(text.size());
  }
  // The next message, or nullopt (closed, or 5 s without one).
  std::optional<std::string> recv() {
    std::string buf(vmreclaim::daemon::kMaxMessageBytes, '\0');
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n <= 0) return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    return buf;
  }

 private:
  int fd_ = -1;
};

std::optional<Snapshot> status(const std::string& path) {
  DaemonConn c(path);
  if (!c.ok() || !c.send(R"({"op":"status"})")) return std::nullopt;
  auto text = c.recv();
  if (!text) return std::nullopt;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("processes")) return std::nullopt;
  return j.get<Snapshot>();
}

std::optional<ProcessView> find(const Snapshot& s, pid_t pid) {
  for (const ProcessView& p : s.processes) {
    if (p.pid == pid) return p;
  }
  return std::nullopt;
}

// Waits until `pred(status)` holds; false after `limit`.
template <class Pred>
bool wait_status(const std::string& path, std::chrono::milliseconds limit, Pred pred) {
  const auto end = Clock::now() + limit;
  do {
    if (auto s = status(path); s && pred(*s)) return true;
    std::this_thread::sleep_for(5ms);
  } while (Clock::now() < end);
  return false;
}

// Waits until the daemon lists every one of `pids` as registered, each with
// at least `reclaimable` bytes in its ring; false after `limit`.
bool wait_registered(const std::string& path, const std::vector<pid_t>& pids, std::chrono::milliseconds limit,
                     uint64_t reclaimable = 0) {
  return wait_status(path, limit, [&](const Snapshot& s) {
    for (pid_t pid : pids) {
      auto p = find(s, pid);
      if (!p || !p->registered || p->reclaimable_bytes < reclaimable) return false;
    }
    return true;
  });
}

std::vector<pid_t> pids_of(const std::vector<Child>& children) {
  std::vector<pid_t> pids;
  for (const Child& c : children) pids.push_back(c.pid());
  return pids;
}

std::optional<Child> start_daemon(const std::string& path, const std::vector<std::string>& extra) {
  SpawnOptions o;
  o.argv = {VMRECLAIMD, "--foreground", "--socket", path};
  o.argv.insert(o.argv.end(), extra.begin(), extra.end());
  o.drop_vmreclaim_env = true;
  o.capture_stderr = true;
  auto child = Child::spawn(o);
  if (!child) return child;
  const auto end = Clock::now() + 10s;
  while (Clock::now() < end) {
    if (status(path)) return child;
    std::this_thread::sleep_for(5ms);
  }
  ADD_FAILURE() << "the daemon did not answer on " << path << ": " << child->stderr_so_far();
  return std::nullopt;
}

// A target (ring_mib MiB in its ring, live_mib MiB live) that looks for the
// daemon on `daemon_socket`; it prints "ring" once its ring is allocated,
// then "ready".
SpawnOptions target_options(const std::string& daemon_socket, uint64_t ring_mib, uint64_t live_mib) {
  SpawnOptions o;
  o.argv = {VMRECLAIM_DAEMON_TARGET, "--ring-mib", std::to_string(ring_mib), "--live-mib", std::to_string(live_mib)};
  o.drop_vmreclaim_env = true;
  o.stdin_pipe = true;
  o.env = {"VMRECLAIM_DAEMON_SOCKET=" + daemon_socket};
  return o;
}

std::optional<Child> start_target(const std::string& daemon_socket, uint64_t ring_mib, uint64_t live_mib,
                                  const std::string& cgroup_procs = "", const std::vector<std::string>& env = {}) {
  SpawnOptions o = target_options(daemon_socket, ring_mib, live_mib);
  o.cgroup_procs = cgroup_procs;
  // The engine keeps its ring unless told: no background trims of its own at
  // normal pressure while a test runs, so what leaves the ring is what the
  // daemon asked for.
  o.env.insert(o.env.end(), {"VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS=3600000000000", "VMRECLAIM_LOG=info"});
  o.env.insert(o.env.end(), env.begin(), env.end());
  auto child = Child::spawn(o);
  if (!child) return child;
  auto l1 = child->read_line(20s);
  auto l2 = child->read_line(60s);
  if (l1 != "ring" || l2 != "ready") {
    ADD_FAILURE() << "target did not start: " << child->stderr_so_far();
    return std::nullopt;
  }
  return child;
}

// The daemon on `sock` and one target (`ring_mib` MiB in its ring, 1 MiB
// live, `target_env` added to its environment) registered with it; nullopt
// (the test failed) if either did not come.
struct DaemonWithTarget {
  Child daemon, target;
};
std::optional<DaemonWithTarget> start_with_target(const std::string& sock, const std::vector<std::string>& daemon_args,
                                                  uint64_t ring_mib, const std::vector<std::string>& target_env = {}) {
  auto d = start_daemon(sock, daemon_args);
  if (!d) return std::nullopt;
  auto t = start_target(sock, ring_mib, 1, "", target_env);
  if (!t) return std::nullopt;
  if (!wait_registered(sock, {t->pid()}, 5s)) {
    ADD_FAILURE() << "target " << t->pid() << " did not register: " << d->stderr_so_far() << t->stderr_so_far();
    return std::nullopt;
  }
  return DaemonWithTarget{std::move(*d), std::move(*t)};
}

struct CheckResult {
  int live_ok = 0;
  unsigned intact = 0, reclaimed = 0, corrupt = 0;
};

std::optional<CheckResult> check(Child& t) {
  if (!t.write_line("check")) return std::nullopt;
  auto line = t.read_line(30s);
  CheckResult r;
  if (!line || std::sscanf(line->c_str(), "check live_ok=%d intact=%u reclaimed=%u corrupt=%u", &r.live_ok, &r.intact,
                           &r.reclaimed, &r.corrupt) != 4) {
    return std::nullopt;
  }
  return r;
}

TEST(Daemon, RefusesToStartWithoutForeground) {
  SpawnOptions o;
  o.argv = {VMRECLAIMD, "--socket", socket_path("nofg")};
  auto d = Child::spawn(o);
  ASSERT_TRUE(d);
  std::string out, err;
  auto st = d->communicate(&out, &err, 10s);
  ASSERT_TRUE(st);
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 2) << describe_status(*st);
  EXPECT_NE(err.find("--foreground"), std::string::npos) << err;
}

// A socket path every client can name: absolute, and within a sockaddr_un.
// Anything else is a command-line error, and no socket is made.
TEST(Daemon, RefusesASocketPathThatIsNotAbsoluteOrDoesNotFit) {
  const std::string relative = "vmreclaimd-test-" + std::to_string(::getpid()) + "-relative.sock";
  for (const std::string& bad : {"/tmp/" + std::string(120, 'x') + ".sock", relative}) {
    SpawnOptions o;
    o.argv = {VMRECLAIMD, "--foreground", "--socket", bad, "--discover-every", "0"};
    auto d = Child::spawn(o);
    ASSERT_TRUE(d);
    std::string out, err;
    auto st = d->communicate(&out, &err, 10s);
    struct stat made {};
    EXPECT_NE(::lstat(bad.c_str(), &made), 0) << bad << " was made";
    ::unlink(relative.c_str());
    ASSERT_TRUE(st) << bad << ": still running after 10 s";
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 105) << bad << ": " << describe_status(*st);
    EXPECT_NE(err.find("is not valid (expected an absolute path of at most 107 bytes)"), std::string::npos) << err;
  }
}

// systemd's side of Type=notify: READY=1 once serving (after the first
// poll), STOPPING=1 and exit 0 on SIGTERM.
TEST(Daemon, NotifiesSystemdWhenReadyAndStopsOnSigterm) {
  const std::string notify = socket_path("notify");
  ::unlink(notify.c_str());
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", notify.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string sock = socket_path("sdnotify");
  SpawnOptions o;
  o.argv = {VMRECLAIMD, "--foreground", "--socket", sock, "--discover-every", "0"};
  o.env = {"NOTIFY_SOCKET=" + notify};
  auto d = Child::spawn(o);
  ASSERT_TRUE(d);
  auto next = [&] {
    char buf[256];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  };
  EXPECT_EQ(next(), "READY=1") << d->stderr_so_far();
  EXPECT_TRUE(status(sock)) << "ready but not answering";
  ASSERT_EQ(::kill(d->pid(), SIGTERM), 0);
  EXPECT_EQ(next(), "STOPPING=1");
  auto st = d->wait(10s);
  ASSERT_TRUE(st);
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << describe_status(*st);
  EXPECT_NE(::access(sock.c_str(), F_OK), 0) << "the socket was left behind";
  ::close(fd);
  ::unlink(notify.c_str());
}

TEST(Daemon, RegistersANewRingAtOnce) {
  const std::string sock = socket_path("register");
  auto d = start_daemon(sock, {"--poll-ms", "1000", "--discover-every", "0"});
  ASSERT_TRUE(d);
  auto t = Child::spawn(target_options(sock, 4, 1));
  ASSERT_TRUE(t);
  ASSERT_EQ(t->read_line(20s), "ring");
  // From the ring's allocation (the target prints "ring" right after it).
  const auto start = Clock::now();
  const bool known = wait_registered(sock, {t->pid()}, 5s);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  ASSERT_TRUE(known) << t->stderr_so_far();
  std::printf("registered %lld ms after the ring was allocated\n", static_cast<long long>(ms));
  EXPECT_LE(ms, 100);
}

TEST(Daemon, RefusesARegistrationForAnotherPid) {
  const std::string sock = socket_path("otherpid");
  auto d = start_daemon(sock, {"--discover-every", "0"});
  ASSERT_TRUE(d);
  auto t = start_target("", 1, 1);  // no daemon for it
  ASSERT_TRUE(t);
  DaemonConn c(sock);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(R"({"op":"register","pid":)" + std::to_string(t->pid()) + "}"));
  auto reply = c.recv();
  ASSERT_TRUE(reply);
  auto j = nlohmann::json::parse(*reply);
  EXPECT_EQ(j.value("ok", true), false) << *reply;
  EXPECT_EQ(j.value("error", ""), "permission_denied") << *reply;
  EXPECT_FALSE(c.recv()) << "the connection stays open after a refusal";
  auto s = status(sock);
  ASSERT_TRUE(s);
  EXPECT_FALSE(find(*s, t->pid())) << "the daemon took a registration the process did not make";
  EXPECT_EQ(s->daemon.refused_registrations, 1u);
}

// A process in a child pid namespace names itself by its pid there (1 here);
// the daemon checks it against the NSpid of the peer the kernel names.
TEST(Daemon, RegistersAProcessInAChildPidNamespace) {
  const std::string sock = socket_path("pidns");
  auto d = start_daemon(sock, {"--discover-every", "0"});
  ASSERT_TRUE(d);
  SpawnOptions o = target_options(sock, 2, 1);
  o.argv.insert(o.argv.begin(), {"/usr/bin/unshare", "--pid", "--fork"});
  o.env.push_back("VMRECLAIM_LOG=info");
  if (::access(o.argv[0].c_str(), X_OK) != 0) GTEST_SKIP() << "no unshare(1)";
  auto u = Child::spawn(o);
  ASSERT_TRUE(u);
  ASSERT_EQ(u->read_line(20s), "ring") << u->stderr_so_far();
  std::ifstream f("/proc/" + std::to_string(u->pid()) + "/task/" + std::to_string(u->pid()) + "/children");
  pid_t target = 0;
  f >> target;
  ASSERT_GT(target, 0);
  EXPECT_TRUE(wait_registered(sock, {target}, 3s)) << d->stderr_so_far() << u->stderr_so_far();
}

// The status as another user sees it: a small client run as that user.
std::optional<nlohmann::json> status_as(uid_t uid, const std::string& sock) {
  SpawnOptions o;
  o.argv = {"/usr/bin/python3", "-c",
            "import socket,sys\n"
            "s=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET)\n"
            "s.connect(sys.argv[1]); s.send(b'{\"op\":\"status\"}')\n"
            "sys.stdout.write(s.recv(1<<20).decode()+'\\n')\n",
            sock};
  o.as_uid = uid;
  auto c = Child::spawn(o);
  if (!c) return std::nullopt;
  auto line = c->read_line(10s);
  if (!line) {
    ADD_FAILURE() << c->stderr_so_far();
    return std::nullopt;
  }
  auto j = nlohmann::json::parse(*line, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  return j;
}

bool lists(const nlohmann::json& status, pid_t pid) {
  for (const auto& p : status.value("processes", nlohmann::json::array())) {
    if (p.value("pid", 0) == pid) return true;
  }
  return false;
}

// `status` shows a process only to whoever could drain it: its own user
// (same user namespace) or root; a registration from another user's process
// is taken by a root daemon, which may act on it.
TEST(Daemon, StatusIsFilteredToWhatTheAskerCouldDrain) {
  if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no python3 for the other user's client";
  // An ordinary uid: not the overflow uid (nobody), which rule 1 never matches.
  const uid_t nobody = 40000 + static_cast<uid_t>(::getpid() % 20000);
  const std::string sock = socket_path("filter");
  auto d = start_daemon(sock, {"--discover-every", "0"});
  ASSERT_TRUE(d);
  auto mine = start_target(sock, 2, 1);
  ASSERT_TRUE(mine);
  SpawnOptions o = target_options(sock, 2, 1);
  o.as_uid = nobody;
  auto theirs = Child::spawn(o);
  ASSERT_TRUE(theirs);
  ASSERT_EQ(theirs->read_line(20s), "ring") << theirs->stderr_so_far();
  ASSERT_TRUE(wait_registered(sock, {mine->pid(), theirs->pid()}, 5s)) << d->stderr_so_far();
  auto as_nobody = status_as(nobody, sock);
  ASSERT_TRUE(as_nobody);
  EXPECT_TRUE(lists(*as_nobody, theirs->pid())) << as_nobody->dump();
  EXPECT_FALSE(lists(*as_nobody, mine->pid())) << "nobody was shown root's process: " << as_nobody->dump();
  EXPECT_TRUE(as_nobody->contains("machine_pressure"));
  auto as_root = status(sock);
  ASSERT_TRUE(as_root);
  EXPECT_TRUE(find(*as_root, mine->pid()) && find(*as_root, theirs->pid()));
}

// A daemon of another user is not believed by the engine (it could lie about
// the level), and such a daemon could not act on the process anyway.
TEST(Daemon, AnEngineIgnoresADaemonOfAnotherUser) {
  const auto [nobody, nogroup] = nobody_ids();
  const std::string sock = socket_path("otheruser");
  SpawnOptions o;
  o.argv = {VMRECLAIMD, "--foreground", "--socket", sock, "--discover-every", "0"};
  o.drop_vmreclaim_env = true;
  o.as_uid = nobody;
  auto d = Child::spawn(o);
  ASSERT_TRUE(d);
  ASSERT_TRUE(wait_status(sock, 10s, [](const Snapshot&) { return true; })) << d->stderr_so_far();
  auto t = start_target(sock, 2, 1);
  ASSERT_TRUE(t);
  std::this_thread::sleep_for(300ms);
  auto s = status(sock);
  ASSERT_TRUE(s);
  EXPECT_FALSE(find(*s, t->pid())) << d->stderr_so_far();
  EXPECT_NE(t->stderr_so_far().find("belongs to uid"), std::string::npos) << t->stderr_so_far();
}

// A forked child has a ring of its own (a copy) and registers for itself;
// the parent's registration stays the parent's.
TEST(Daemon, AForkedChildRegistersForItself) {
  const std::string sock = socket_path("fork");
  auto w = start_with_target(sock, {"--poll-ms", "100", "--discover-every", "0"}, 2);
  ASSERT_TRUE(w);
  Child& t = w->target;
  ASSERT_TRUE(t.write_line("fork"));
  auto line = t.read_line(10s);
  ASSERT_TRUE(line && line->rfind("child ", 0) == 0) << t.stderr_so_far();
  const pid_t child = std::stoi(line->substr(6));
  EXPECT_TRUE(wait_registered(sock, {t.pid(), child}, 5s)) << w->daemon.stderr_so_far();
  auto r = check(t);  // answered by the child
  ASSERT_TRUE(r);
  EXPECT_EQ(r->corrupt, 0u);
  ::kill(child, SIGKILL);
}

// Voluntary and involuntary context switches of the process's engine thread
// (named "vm_reclaim"): how often it woke. nullopt if it is not found.
std::optional<uint64_t> engine_thread_switches(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  std::optional<uint64_t> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::ifstream comm(e.path() / "comm");
    std::string name;
    if (!std::getline(comm, name) || name != "vm_reclaim") continue;
    std::ifstream st(e.path() / "status");
    std::string line;
    uint64_t sum = 0;
    int seen = 0;
    while (std::getline(st, line)) {
      unsigned long long v = 0;
      if (std::sscanf(line.c_str(), "voluntary_ctxt_switches: %llu", &v) == 1 ||
          std::sscanf(line.c_str(), "nonvoluntary_ctxt_switches: %llu", &v) == 1) {
        sum += v;
        seen++;
      }
    }
    if (seen == 2) found = sum;
  }
  return found;
}

// How often the engine thread of `pid` woke during `window` (from now);
// nullopt if it is not found.
std::optional<uint64_t> engine_wakeups_during(pid_t pid, std::chrono::milliseconds window) {
  auto before = engine_thread_switches(pid);
  if (!before) return std::nullopt;
  std::this_thread::sleep_for(window);
  auto after = engine_thread_switches(pid);
  if (!after) return std::nullopt;
  return *after - *before;
}

// With the daemon turned off (VMRECLAIM_DAEMON_SOCKET=0) the engine thread
// has no daemon to tick: it must sleep until its next pressure poll (1 s)
// like one whose daemon is merely absent, not wake every millisecond. The
// bound is ten times what a 1 s poll gives over the window; a loaded machine
// can only make the count smaller.
TEST(Daemon, AnEngineWithTheDaemonTurnedOffSleepsBetweenPolls) {
  for (const std::string& sock : {std::string("0"), socket_path("nobody-listens")}) {
    SCOPED_TRACE("VMRECLAIM_DAEMON_SOCKET=" + sock);
    auto t = start_target(sock, 2, 1);
    ASSERT_TRUE(t);
    std::this_thread::sleep_for(500ms);  // past its start
    auto before = engine_thread_switches(t->pid());
    ASSERT_TRUE(before) << "no engine thread named vm_reclaim in " << t->pid();
    std::this_thread::sleep_for(2s);
    auto after = engine_thread_switches(t->pid());
    ASSERT_TRUE(after);
    EXPECT_LE(*after - *before, 20u) << "the engine thread woke " << *after - *before << " times in 2 s";
  }
}

// What the ring of `pid` holds, read from outside (/proc/PID/mem, as the
// daemon and `vmreclaim list` read it): no request to the process.
std::optional<uint64_t> ring_bytes_of(pid_t pid) {
  mach_vm_reclaim_ring_ref_s ref{};
  mach_vm_reclaim_count_t n = 1;
  if (mach_vm_reclaim_get_rings_for_task(pid, &ref, &n) != VM_RECLAIM_SUCCESS || n != 1) return std::nullopt;
  mach_vm_reclaim_ring_copy_s* copy = nullptr;
  if (vmreclaim::introspect::copy_ring(pid, ref, &copy, 0) != VM_RECLAIM_SUCCESS || copy == nullptr) {
    return std::nullopt;
  }
  const uint64_t bytes = copy->ring()->reclaimable_bytes;
  mach_vm_reclaim_ring_copy_t h = copy;
  mach_vm_reclaim_copied_ring_free(&h);
  return bytes;
}

// A registered engine holding memory does not poll while the daemon's level
// for it stays the same: nothing wakes it (its sampling period here is an
// hour; its look for a daemon that hangs is 10 s away). Its pressure poll is
// 100 ms, so an engine that looked at the level page every poll would be put
// on a CPU about 30 times in the window.
TEST(Daemon, ARegisteredIdleEngineSleeps) {
  const std::string sock = socket_path("sleep");
  auto w = start_with_target(sock, {"--poll-ms", "100", "--discover-every", "0"}, 4,
                             {"VMRECLAIM_PRESSURE_POLL_NS=100000000"});
  ASSERT_TRUE(w);
  Child* t = &w->target;
  std::this_thread::sleep_for(500ms);
  auto woke = engine_wakeups_during(t->pid(), 3s);
  ASSERT_TRUE(woke);
  EXPECT_LE(*woke, 3u) << "the registered engine thread was woken " << *woke << " times in 3 s";
  EXPECT_NE(t->stderr_so_far().find("registered with the daemon"), std::string::npos);
}

// The engine's side of the wake-up protocol against a daemon played by the
// test, which decides exactly what the engine sees: a level page whose
// heartbeat stays fresh for two minutes, a doorbell, then the connection's
// end. The engine sleeps through the quiet, drains its ring when the
// doorbell announces critical (nothing else would wake it within the test),
// and polls for itself again when the connection ends.
TEST(Daemon, ARegisteredEngineWakesOnTheDoorbellAndFallsBackOnTheEnd) {
  const std::string sock = socket_path("doorbell");
  ::unlink(sock.c_str());
  const int lfd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  ASSERT_GE(lfd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(lfd, 16), 0);

  // The level page, as the daemon makes it.
  const int memfd = ::memfd_create("test_level", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_GE(memfd, 0);
  ASSERT_EQ(::ftruncate(memfd, 4096), 0);
  void* map = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  ASSERT_NE(map, MAP_FAILED);
  ASSERT_EQ(::fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
  using vmreclaim::policy::DaemonLevelPage;
  auto* page = new (map) DaemonLevelPage{};
  auto beat = [&] {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    // Release: the level stored before is seen with this heartbeat (the
    // engine's acquire load in policy/daemon_link.cpp).
    page->heartbeat_ns.store(static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec),
                             std::memory_order_release);
  };
  page->magic.store(DaemonLevelPage::kMagic, std::memory_order_relaxed);
  page->version.store(DaemonLevelPage::kVersion, std::memory_order_relaxed);
  page->level.store(0, std::memory_order_relaxed);  // normal
  page->poll_ms.store(60'000, std::memory_order_relaxed);
  beat();

  auto t = start_target(sock, 4, 1, "", {"VMRECLAIM_PRESSURE_POLL_NS=100000000"});
  ASSERT_TRUE(t);
  // Its first attempt (at the ring's allocation) waited for an answer while
  // the target started; it tries again every poll. Answer one.
  std::string log;
  int conn = -1;
  const auto end = Clock::now() + 10s;
  while (Clock::now() < end && log.find("registered with the daemon") == std::string::npos) {
    log += t->stderr_so_far();
    pollfd p{lfd, POLLIN, 0};
    if (::poll(&p, 1, 50) != 1) continue;
    const int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    pollfd q{c, POLLIN, 0};
    char req[256];
    if (::poll(&q, 1, 1000) != 1 || ::recv(c, req, sizeof req, MSG_DONTWAIT) <= 0 ||
        vmreclaim::platform::send_with_fd(c, R"({"ok":true,"poll_ms":60000})", memfd, 0) <= 0) {
      ::close(c);
      continue;
    }
    if (conn >= 0) ::close(conn);
    conn = c;
  }
  ASSERT_NE(log.find("registered with the daemon"), std::string::npos) << log;
  ASSERT_GE(conn, 0);
  // No more registrations from here on.
  ::close(lfd);
  ::unlink(sock.c_str());
  auto held = ring_bytes_of(t->pid());
  ASSERT_TRUE(held);
  EXPECT_GE(*held, 4u << 20);

  std::this_thread::sleep_for(500ms);
  auto woke = engine_wakeups_during(t->pid(), 3s);
  ASSERT_TRUE(woke);
  EXPECT_LE(*woke, 3u) << "woken " << *woke << " times in 3 s with nothing to do";

  // Critical, and the doorbell: the engine drains at once.
  page->level.store(3, std::memory_order_relaxed);  // critical
  beat();
  ASSERT_EQ(::send(conn, "L", 1, MSG_NOSIGNAL), 1);
  const auto drain_end = Clock::now() + 3s;
  std::optional<uint64_t> now_held;
  while (Clock::now() < drain_end && (!(now_held = ring_bytes_of(t->pid())) || *now_held != 0)) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(now_held.value_or(UINT64_MAX), 0u) << "the doorbell did not make the engine drain at critical";

  // The daemon's end: the engine polls for itself at once.
  ::close(conn);
  log.clear();
  const auto fall_end = Clock::now() + 2s;
  while (Clock::now() < fall_end && log.find("the daemon went away") == std::string::npos) {
    std::this_thread::sleep_for(20ms);
    log += t->stderr_so_far();
  }
  EXPECT_NE(log.find("the daemon went away; polling pressure ourselves"), std::string::npos) << log;
  auto r = check(*t);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->live_ok, 1);
  EXPECT_EQ(r->corrupt, 0u);
  ::munmap(map, 4096);
  ::close(memfd);
}

// An engine whose daemon went away watches the socket's directory: a daemon
// that starts again is registered with at once, not at the engine's next
// pressure poll (here 30 s away; its attempt when the connection ended found
// no one listening). An engine that never met a daemon keeps no watch (no
// descriptor a program did not ask for: tests/process/guest_test.cpp).
TEST(Daemon, AnEngineRegistersAgainWhenADaemonReturns) {
  const std::string sock = socket_path("returns");
  auto d = start_daemon(sock, {"--poll-ms", "100", "--discover-every", "0"});
  ASSERT_TRUE(d);
  auto t = start_target(sock, 2, 1, "", {"VMRECLAIM_PRESSURE_POLL_NS=30000000000"});
  ASSERT_TRUE(t);
  ASSERT_TRUE(wait_registered(sock, {t->pid()}, 5s));
  ASSERT_EQ(::kill(d->pid(), SIGKILL), 0);
  d->wait(5s);
  std::string log;
  ASSERT_TRUE(t->wait_stderr("the daemon went away; polling pressure ourselves", 5s, &log)) << log;
  std::this_thread::sleep_for(300ms);
  auto again = start_daemon(sock, {"--poll-ms", "100", "--discover-every", "0"});
  ASSERT_TRUE(again);
  EXPECT_TRUE(wait_registered(sock, {t->pid()}, 5s))
      << "not registered within 5 s of the daemon's return: " << t->stderr_so_far();
}

// A registered engine whose ring the last sample found left alone, and that
// a sample would not trim for a long while (autotrim at 100 % of the
// footprint: never), samples it again only when a trim would be due or the
// ring changes: with a 200 ms sampling period it would otherwise wake five
// times a second. The next enter asks its caller for the accounting call
// that wakes the engine (update=1), which is how a deferred ring is noticed.
TEST(Daemon, ARegisteredEngineLeavesAnIdleRingUnsampledUntilItChanges) {
  const std::string sock = socket_path("idle");
  auto w = start_with_target(sock, {"--poll-ms", "1000", "--discover-every", "0"}, 4,
                             {"VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS=200000000", "VMRECLAIM_AUTOTRIM_PCT_NORMAL=100"});
  ASSERT_TRUE(w);
  Child* t = &w->target;
  std::this_thread::sleep_for(1500ms);  // past its first samples
  auto woke = engine_wakeups_during(t->pid(), 3s);
  ASSERT_TRUE(woke);
  EXPECT_LE(*woke, 3u) << "woken " << *woke << " times in 3 s by an idle ring";
  auto before = engine_thread_switches(t->pid());
  ASSERT_TRUE(before);
  ASSERT_TRUE(t->write_line("enter"));
  EXPECT_EQ(t->read_line(10s).value_or("?"), "entered update=1");
  std::this_thread::sleep_for(500ms);
  auto woken = engine_thread_switches(t->pid());
  ASSERT_TRUE(woken);
  EXPECT_GT(*woken, *before) << "the enter did not wake the engine";
  auto r = check(*t);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->corrupt, 0u);
  EXPECT_EQ(r->intact, 4u);
}

// An empty ring, registered: the first enter (the fill watch) or a doorbell
// wakes the engine; the periodic look at an empty ring, for a program that
// ignores should_update, comes with the look at the page (30 daemon polls),
// not every sampling period (200 ms here: 15 wake-ups in the window).
TEST(Daemon, ARegisteredEngineWithAnEmptyRingSleeps) {
  const std::string sock = socket_path("empty");
  auto w = start_with_target(sock, {"--poll-ms", "1000", "--discover-every", "0"}, 0,
                             {"VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS=200000000"});
  ASSERT_TRUE(w);
  Child* t = &w->target;
  std::this_thread::sleep_for(500ms);
  auto woke = engine_wakeups_during(t->pid(), 3s);
  ASSERT_TRUE(woke);
  EXPECT_LE(*woke, 3u) << "woken " << *woke << " times in 3 s by an empty ring";
  ASSERT_TRUE(t->write_line("enter"));
  EXPECT_EQ(t->read_line(10s).value_or("?"), "entered update=1") << "the fill watch was not armed";
}

// The socket's directory removed with the daemon and made anew for the next
// one (systemd's RuntimeDirectory does both): the engine's watch went with
// the old directory, and it must watch the new one, not wait for its 30 s
// retry. With no directory it tries once per pressure poll (1 s).
TEST(Daemon, AnEngineFindsADaemonWhoseDirectoryWasMadeAnew) {
  const std::string dir = scratch_path("rundir");
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(std::filesystem::create_directory(dir));
  const std::string sock = dir + "/daemon.sock";
  auto first = start_daemon(sock, {"--poll-ms", "100", "--discover-every", "0"});
  ASSERT_TRUE(first);
  auto t = start_target(sock, 2, 1);
  ASSERT_TRUE(t);
  ASSERT_TRUE(wait_registered(sock, {t->pid()}, 5s));
  ASSERT_EQ(::kill(first->pid(), SIGKILL), 0);
  first->wait(5s);
  std::string log;
  ASSERT_TRUE(t->wait_stderr("the daemon went away; polling pressure ourselves", 5s, &log)) << log;
  std::this_thread::sleep_for(300ms);  // watching the directory
  std::filesystem::remove_all(dir);
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(std::filesystem::create_directory(dir));
  auto d = start_daemon(sock, {"--poll-ms", "100", "--discover-every", "0"});
  ASSERT_TRUE(d);
  EXPECT_TRUE(wait_registered(sock, {t->pid()}, 5s)) << "not registered within 5 s: " << t->stderr_so_far();
  d.reset();
  std::filesystem::remove_all(dir);
}

TEST(Daemon, ForgetsAProcessWhenItExits) {
  const std::string sock = socket_path("forget");
  // A long poll: forgetting must come from the pidfd, not from the next poll.
  auto w = start_with_target(sock, {"--poll-ms", "30000", "--discover-every", "0"}, 2);
  ASSERT_TRUE(w);
  const pid_t pid = w->target.pid();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(w->target.wait(10s));
  EXPECT_TRUE(wait_status(sock, 2s, [&](const Snapshot& s) { return !find(s, pid); }))
      << "still listed 2 s after it exited, with the next poll 30 s away";
}

TEST(Daemon, DiscoversARingThatPredatesIt) {
  const std::string sock = socket_path("discover");
  // Our own target's cgroup path, to keep discovery to it.
  auto t = start_target(sock, 2, 1);  // no daemon yet: it runs alone
  ASSERT_TRUE(t);
  std::ifstream f("/proc/" + std::to_string(t->pid()) + "/cgroup");
  std::string line, scope = "/";
  while (std::getline(f, line)) {
    if (line.find(":memory:") != std::string::npos) scope = line.substr(line.find(":memory:") + 8);
  }
  // Discovery only: the target retries registration once a second while it
  // holds memory; the scan at the daemon's first poll finds it sooner.
  auto d = start_daemon(sock, {"--poll-ms", "100", "--discover-every", "1", "--discover-scope", scope});
  ASSERT_TRUE(d);
  EXPECT_TRUE(wait_status(sock, 5s, [&](const Snapshot& s) {
    auto p = find(s, t->pid());
    return p && p->reclaimable_bytes >= (2u << 20);
  })) << d->stderr_so_far();
}

TEST(Daemon, EnginesFallBackAndRegisterAgainAfterARestart) {
  const std::string sock = socket_path("restart");
  auto d = start_daemon(sock, {"--poll-ms", "100", "--discover-every", "0"});
  ASSERT_TRUE(d);
  std::vector<Child> targets;
  for (int i = 0; i < 3; i++) {
    auto t = start_target(sock, 8, 2);
    ASSERT_TRUE(t);
    targets.push_back(std::move(*t));
  }
  const std::vector<pid_t> pids = pids_of(targets);
  ASSERT_TRUE(wait_registered(sock, pids, 5s));
  // Killed: no goodbye. The engines notice at their next pressure poll.
  ASSERT_EQ(::kill(d->pid(), SIGKILL), 0);
  ASSERT_TRUE(d->wait(10s));
  for (Child& t : targets) {
    std::string log;
    EXPECT_TRUE(t.wait_stderr("the daemon went away; polling pressure ourselves", 5s, &log))
        << "pid " << t.pid() << ": " << log;
  }
  auto d2 = start_daemon(sock, {"--poll-ms", "100", "--discover-every", "0"});
  ASSERT_TRUE(d2);
  EXPECT_TRUE(wait_registered(sock, pids, 5s)) << "not every engine registered with the new daemon";
  for (Child& t : targets) {
    auto r = check(t);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->live_ok, 1);
    EXPECT_EQ(r->corrupt, 0u);
    EXPECT_EQ(r->intact + r->reclaimed, 8u);
  }
}

// A daemon that hangs (stopped) keeps its connections open: the engines
// notice the heartbeat standing still, by their own clock, and poll for
// themselves; they take its level again once it runs.
TEST(Daemon, EnginesFallBackWhenTheDaemonHangs) {
  const std::string sock = socket_path("hang");
  auto w = start_with_target(sock, {"--poll-ms", "100", "--discover-every", "0"}, 4);
  ASSERT_TRUE(w);
  Child& t = w->target;
  ASSERT_EQ(::kill(w->daemon.pid(), SIGSTOP), 0);
  // Stale after 2 polls + 250 ms. A registered engine sleeps until the
  // daemon rings or the connection ends, neither of which a hung daemon
  // does: it sees the stale heartbeat at its next look, 30 of the daemon's
  // polls (3 s here) after the last.
  std::string log;
  const bool stale = t.wait_stderr("the daemon's heartbeat is stale; polling pressure ourselves", 15s, &log);
  ASSERT_EQ(::kill(w->daemon.pid(), SIGCONT), 0);
  EXPECT_TRUE(stale) << log;
  EXPECT_TRUE(t.wait_stderr("the daemon's heartbeat is back", 5s, &log)) << log;
  auto r = check(t);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->corrupt, 0u);
  EXPECT_EQ(r->live_ok, 1);
}

TEST(Daemon, AHostileRegistrantDoesNotStallOthers) {
  const std::string sock = socket_path("hostile");
  auto d = start_daemon(sock, {"--poll-ms", "100", "--discover-every", "0"});
  ASSERT_TRUE(d);
  // Garbage, a huge message, a half-sent one is impossible on SEQPACKET; a
  // peer that connects and says nothing; a peer that asks for status and
  // never reads; hundreds of idle connections.
  std::vector<std::unique_ptr<DaemonConn>> idle;
  for (int i = 0; i < 300; i++) idle.push_back(std::make_unique<DaemonConn>(sock));
  DaemonConn garbage(sock), huge(sock), deaf(sock), badop(sock);
  ASSERT_TRUE(garbage.send(std::string("\x01\x02{not json", 11)));
  ASSERT_TRUE(huge.send(std::string(200000, 'x')));
  ASSERT_TRUE(badop.send(R"({"op":"drain-everyone"})"));
  int small = 4096;
  ::setsockopt(deaf.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  for (int i = 0; i < 50; i++) deaf.send(R"({"op":"status"})");
  for (DaemonConn* c : {&garbage, &huge, &badop}) {
    auto r = c->recv();
    ASSERT_TRUE(r);
    auto j = nlohmann::json::parse(*r, nullptr, false);
    EXPECT_EQ(j.value("ok", true), false) << *r;
    EXPECT_FALSE(c->recv()) << "closed after a bad request";
  }
  // Meanwhile a real process registers, as quickly as ever.
  auto t = start_target(sock, 2, 1);
  ASSERT_TRUE(t);
  EXPECT_TRUE(wait_registered(sock, {t->pid()}, 3s));
  // Idle connections are closed after their deadline.
  std::this_thread::sleep_for(2500ms);
  char c;
  EXPECT_EQ(::recv(idle.front()->fd(), &c, 1, MSG_DONTWAIT), 0) << "an idle connection was kept";
}

// ---- reclaim by deficit in a real cgroup v1 memory controller ----

class CgroupV1 {
 public:
  explicit CgroupV1(const std::string& name) : dir_("/sys/fs/cgroup/memory/" + name) {
    if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST) dir_.clear();
  }
  ~CgroupV1() {
    if (!dir_.empty()) ::rmdir(dir_.c_str());
  }
  bool ok() const { return !dir_.empty(); }
  std::string procs() const { return dir_ + "/cgroup.procs"; }
  uint64_t read(const char* file) const {
    std::ifstream f(dir_ + "/" + file);
    uint64_t v = 0;
    f >> v;
    return v;
  }
  uint64_t stat(const char* key) const { return keyed("memory.stat", key); }
  // The value of `key` in a file of "key value" lines (memory.stat,
  // memory.oom_control); 0 if absent.
  uint64_t keyed(const char* file, const char* key) const {
    std::ifstream f(dir_ + "/" + file);
    std::string k;
    uint64_t v = 0;
    while (f >> k >> v) {
      if (k == key) return v;
    }
    return 0;
  }
  bool write(const char* file, uint64_t v) const {
    std::ofstream f(dir_ + "/" + file);
    f << v;
    f.flush();
    return f.good();
  }

 private:
  std::string dir_;
};

uint64_t ring_reclaimed(pid_t pid) {
  auto c = vmreclaim::control::Client::connect(pid);
  if (!c) return UINT64_MAX;
  auto s = c->stats();
  if (!s) return UINT64_MAX;
  uint64_t sum = 0;
  for (uint64_t b : s->stats.reclaimed_bytes) sum += b;
  return sum;
}

struct Squeeze {
  uint64_t deficit = 0, reclaimed = 0;
  int gave = 0;                   // processes that gave anything back
  bool stopped_gave = false;      // a stopped process's ring shrank
  bool relieved = false;          // the cgroup back under its high watermark
  bool reported_stopped = false;  // the daemon said the first target was stopped
  std::string daemon_log;
};

// `processes` targets (32 MiB in the ring, 8 MiB live) in a fresh v1 memory
// cgroup, with or without a daemon, the first `stopped` of them SIGSTOPped;
// then a limit that puts the working set at 31/32 of it, between the high
// watermark (limit - limit/16) and the critical level (97 %): the deficit to
// the low watermark (limit - limit/8) is about 3/32 of the limit. Fails the
// test if a target lost data or died.
void squeeze(bool with_daemon, int processes, int stopped, Squeeze* out) {
  CgroupV1 cg("vmreclaimd_test_" + std::to_string(::getpid()));
  ASSERT_TRUE(cg.ok());
  const std::string sock = socket_path("deficit");
  std::optional<Child> d =
      with_daemon ? start_daemon(sock, {"--poll-ms", "200", "--discover-every", "0"}) : std::nullopt;
  ASSERT_EQ(d.has_value(), with_daemon);
  constexpr uint64_t kRingMib = 32, kLiveMib = 8;
  std::vector<Child> targets;
  for (int i = 0; i < processes; i++) {
    // A stopped process holds the most: the daemon would ask it first.
    auto t = start_target(with_daemon ? sock : "", i < stopped ? 2 * kRingMib : kRingMib, kLiveMib, cg.procs());
    ASSERT_TRUE(t);
    targets.push_back(std::move(*t));
  }
  if (with_daemon) {
    ASSERT_TRUE(wait_registered(sock, pids_of(targets), 5s, kRingMib << 20));
  }
  std::vector<uint64_t> before;
  for (Child& t : targets) before.push_back(ring_reclaimed(t.pid()));
  for (int i = 0; i < stopped; i++) {
    ASSERT_EQ(::kill(targets[i].pid(), SIGSTOP), 0);
    ASSERT_TRUE(targets[i].wait(10s, /*stopped=*/true));
  }
  const uint64_t ws = cg.read("memory.usage_in_bytes") - cg.stat("total_inactive_file");
  const uint64_t limit = (ws * 32 / 31 + 4095) & ~uint64_t{4095};
  out->deficit = ws - (limit - limit / 8);
  ASSERT_TRUE(cg.write("memory.limit_in_bytes", limit));
  const auto end = Clock::now() + 10s;
  while (Clock::now() < end && !out->relieved) {
    out->relieved = cg.read("memory.usage_in_bytes") - cg.stat("total_inactive_file") <= limit - limit / 16;
    if (!out->relieved) std::this_thread::sleep_for(20ms);
  }
  std::this_thread::sleep_for(1500ms);  // more polls: nothing more should go
  if (with_daemon && stopped > 0) {
    if (auto st = status(sock)) {
      auto p = find(*st, targets[0].pid());
      out->reported_stopped = p && p->stopped;
    }
  }
  for (int i = 0; i < stopped; i++) {
    ASSERT_EQ(::kill(targets[i].pid(), SIGCONT), 0);
  }
  for (size_t i = 0; i < targets.size(); i++) {
    const uint64_t after = ring_reclaimed(targets[i].pid());
    ASSERT_NE(after, UINT64_MAX);
    out->reclaimed += after - before[i];
    out->gave += after > before[i] ? 1 : 0;
    if (static_cast<int>(i) < stopped && after > before[i]) out->stopped_gave = true;
  }
  std::printf("%s daemon: deficit %.1f MiB, reclaimed %.1f MiB (%.2fx) from %d of %d processes (%d stopped)\n",
              with_daemon ? "with" : "without", static_cast<double>(out->deficit) / (1 << 20),
              static_cast<double>(out->reclaimed) / (1 << 20),
              static_cast<double>(out->reclaimed) / static_cast<double>(out->deficit), out->gave, processes, stopped);
  for (Child& t : targets) {
    auto r = check(t);
    ASSERT_TRUE(r) << "target " << t.pid() << " died (OOM?)";
    EXPECT_EQ(r->live_ok, 1);
    EXPECT_EQ(r->corrupt, 0u);
  }
  if (d) out->daemon_log = d->stderr_so_far();
  // Back out of the cgroup before it is removed.
  for (Child& t : targets) {
    std::ofstream f("/sys/fs/cgroup/memory/cgroup.procs");
    f << t.pid();
  }
}

bool have_cgroup_v1() { return ::access("/sys/fs/cgroup/memory/cgroup.procs", W_OK) == 0; }

TEST(Daemon, ReclaimsTheDeficitOfACgroupStalestFirst) {
  SKIP_IF_SANITIZED();
  if (!have_cgroup_v1()) GTEST_SKIP() << "no writable cgroup v1 memory hierarchy";
  Squeeze s;
  squeeze(true, 4, 0, &s);
  EXPECT_TRUE(s.relieved) << s.daemon_log;
  EXPECT_GE(s.reclaimed, s.deficit * 9 / 10) << s.daemon_log;
  EXPECT_LE(s.reclaimed, s.deficit * 5 / 4) << s.daemon_log;
  EXPECT_LT(s.gave, 4) << "every process gave back memory: a herd";
}

TEST(Daemon, LeavesAStoppedProcessAloneAndAsksTheOthers) {
  SKIP_IF_SANITIZED();
  if (!have_cgroup_v1()) GTEST_SKIP() << "no writable cgroup v1 memory hierarchy";
  Squeeze s;
  squeeze(true, 3, 1, &s);
  EXPECT_TRUE(s.relieved) << s.daemon_log;
  EXPECT_FALSE(s.stopped_gave);
  EXPECT_TRUE(s.reported_stopped);
  EXPECT_LE(s.reclaimed, s.deficit * 5 / 4) << s.daemon_log;
}

// Without a daemon each engine restores the cgroup's headroom on its own:
// relief, no data lost, and the herd the daemon exists for (the figure is
// printed; docs/daemon.md).
TEST(Daemon, WithoutTheDaemonTheEnginesStillRelieveTheCgroup) {
  SKIP_IF_SANITIZED();
  if (!have_cgroup_v1()) GTEST_SKIP() << "no writable cgroup v1 memory hierarchy";
  Squeeze s;
  squeeze(false, 4, 0, &s);
  EXPECT_TRUE(s.relieved);
  EXPECT_GE(s.reclaimed, s.deficit * 9 / 10);
}

// ---- drain all before the OOM killer (src/daemon/oom_watch.h) ----

// `n` targets (16 MiB in the ring, 4 MiB live) in a fresh v1 memory cgroup
// with a daemon (the process that meets the limit makes itself the OOM
// killer's first choice; the targets are also taken out of its choice where
// the test has CAP_SYS_RESOURCE, which a container may lack); the limit leaves 32 MiB
// of room, far below the high watermark, so that only the cgroup's OOM
// signals can make the daemon act.
struct OomCase {
  std::unique_ptr<CgroupV1> cg;
  std::string sock;
  std::optional<Child> daemon;
  std::vector<Child> targets;
  uint64_t limit = 0;
  bool targets_exempt = true;  // every target's oom_score_adj reads -1000
  std::string daemon_log;
};

void start_oom_case(const char* what, int n, OomCase* c) {
  c->cg = std::make_unique<CgroupV1>("vmreclaimd_" + std::string(what) + "_" + std::to_string(::getpid()));
  ASSERT_TRUE(c->cg->ok());
  c->sock = socket_path(what);
  auto d = start_daemon(c->sock, {"--poll-ms", "100", "--discover-every", "0"});
  ASSERT_TRUE(d);
  c->daemon.emplace(std::move(*d));
  for (int i = 0; i < n; i++) {
    auto t = start_target(c->sock, 16, 4, c->cg->procs());
    ASSERT_TRUE(t);
    // The hog is killed first, but the kernel can run the OOM killer again in
    // the same instant, once the hog is reaped and before its charge is gone
    // (seen in CI: a target's engine thread, allocating, then chose a
    // target). The test is about the daemon's drain, not that second choice:
    // where the test may (CAP_SYS_RESOURCE), the targets are not the OOM
    // killer's to take.
    const std::string adj = "/proc/" + std::to_string(t->pid()) + "/oom_score_adj";
    std::ofstream(adj.c_str()) << "-1000";
    int now = 0;
    std::ifstream(adj.c_str()) >> now;
    if (now != -1000) c->targets_exempt = false;  // no CAP_SYS_RESOURCE here
    c->targets.push_back(std::move(*t));
  }
  ASSERT_TRUE(wait_registered(c->sock, pids_of(c->targets), 5s, 16u << 20));
  c->limit = (c->cg->read("memory.usage_in_bytes") + (32u << 20)) & ~uint64_t{4095};
  ASSERT_TRUE(c->cg->write("memory.limit_in_bytes", c->limit));
}

// A process in the cgroup that asks for far more than its room (touching
// every page), the OOM killer's first choice.
std::optional<Child> start_hog(const OomCase& c) {
  SpawnOptions o;
  o.argv = {"/usr/bin/python3", "-c",
            "open('/proc/self/oom_score_adj', 'w').write('1000')\n"
            "b = b'\\x01' * (256 << 20)\n"
            "print('done', flush=True)\n"};
  o.drop_vmreclaim_env = true;
  o.cgroup_procs = c.cg->procs();
  return Child::spawn(o);
}

// Every surviving target's ring drained for cause `oom`, and its data intact.
// Where the targets could not be exempted from the OOM killer (no
// CAP_SYS_RESOURCE: this machine's container), the kernel may take one of
// them too, running the OOM killer again before the hog's charge is gone
// (seen in CI, 5 ms after the hog: a target's engine thread allocating); a
// target gone that way is left out, at least one must remain.
void expect_all_drained(OomCase& c) {
  std::vector<bool> gone(c.targets.size(), false);
  std::vector<int> gone_status(c.targets.size(), 0);
  auto note_exits = [&] {
    for (size_t i = 0; i < c.targets.size(); i++) {
      if (gone[i]) continue;
      if (auto st = c.targets[i].wait(0ms)) {
        gone[i] = true;
        gone_status[i] = *st;
      }
    }
  };
  const bool drained = wait_status(c.sock, 5s, [&](const Snapshot& s) {
    note_exits();
    size_t alive = 0;
    for (size_t i = 0; i < c.targets.size(); i++) {
      if (gone[i]) continue;
      alive++;
      auto p = find(s, c.targets[i].pid());
      if (!p || p->last_action != "drain" || p->last_cause != "oom" || p->reclaimable_bytes != 0) return false;
    }
    return alive > 0;
  });
  c.daemon_log += c.daemon->stderr_so_far();
  EXPECT_TRUE(drained) << c.daemon_log;
  size_t killed = 0;
  for (size_t i = 0; i < c.targets.size(); i++) {
    if (gone[i]) {
      EXPECT_FALSE(c.targets_exempt) << "target " << c.targets[i].pid()
                                     << " exempt from the OOM killer yet gone: " << describe_status(gone_status[i]);
      EXPECT_TRUE(WIFSIGNALED(gone_status[i]) && WTERMSIG(gone_status[i]) == SIGKILL)
          << "target " << c.targets[i].pid()
          << " died otherwise than by the OOM killer: " << describe_status(gone_status[i]);
      killed++;
      continue;
    }
    auto r = check(c.targets[i]);
    ASSERT_TRUE(r) << "target " << c.targets[i].pid() << " died";
    EXPECT_EQ(r->live_ok, 1);
    EXPECT_EQ(r->corrupt, 0u);
  }
  // The hog and every target that went: each an OOM kill of the cgroup.
  if (killed > 0) {
    EXPECT_GE(c.cg->keyed("memory.oom_control", "oom_kill"), 1 + killed);
  }
}

void leave_oom_case(OomCase& c) {
  for (Child& t : c.targets) {
    std::ofstream f("/sys/fs/cgroup/memory/cgroup.procs");
    f << t.pid();
  }
}

// The OOM killer struck in the cgroup (v1 oom_kill grew): the next victim is
// not waited for; every ring of the cgroup is drained.
TEST(Daemon, DrainsEveryRingOfACgroupAfterAnOomKill) {
  // The limit leaves 32 MiB of room beside the targets: with sanitizer
  // shadow memory charged to the cgroup the targets meet it themselves.
  SKIP_IF_SANITIZED();
  if (!have_cgroup_v1()) GTEST_SKIP() << "no writable cgroup v1 memory hierarchy";
  if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no python3 for the process that meets the limit";
  OomCase c;
  start_oom_case("oomkill", 3, &c);
  if (HasFatalFailure()) return;
  auto hog = start_hog(c);
  ASSERT_TRUE(hog);
  std::string out, err;
  auto st = hog->communicate(&out, &err, 30s);
  ASSERT_TRUE(st);
  ASSERT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL)
      << "the process past the limit was not OOM-killed: " << describe_status(*st) << " " << err;
  expect_all_drained(c);
  c.daemon_log += c.daemon->stderr_so_far();
  EXPECT_NE(c.daemon_log.find("(oom_kill)"), std::string::npos) << c.daemon_log;
  leave_oom_case(c);
}

}  // namespace
}  // namespace vmreclaim::test
