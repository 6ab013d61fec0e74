// Who may talk to a process's control endpoint, with real user namespaces
// and real other users (docs/control-protocol.md, "Who is answered"), and
// whether another user can take the endpoint away or pose as it. Needs root
// (to change users and to map user namespaces).
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <mach/vm_reclaim_private.h>
#include <poll.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "control/client.h"
#include "control/server.h"
#include "support/child.h"

namespace vmreclaim::test {
namespace {

using vmreclaim::control::Client;
using vmreclaim::control::client_errc;

constexpr int kRegions = 25;
constexpr uid_t kIntruderUid = 4242;
// Exit codes of an asking child beside client_errc's values.
constexpr int kAnswered = 100;
constexpr int kSetupFailed = 101;
constexpr int kUnshareThreaded = 102;  // unshare(CLONE_NEWUSER) said EINVAL: more than one thread
constexpr int kOtherError = 102;

// The abstract names of the listening control sockets among `pid`'s
// descriptors, read the way an attacker reads them (/proc/net/unix lists
// every abstract name) and independent of how the client finds them.
std::vector<std::string> endpoint_names(pid_t pid) {
  std::set<std::string> inodes;
  const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  if (DIR* d = ::opendir(fd_dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      char target[64] = {};
      std::string link = fd_dir + "/" + e->d_name;
      if (::readlink(link.c_str(), target, sizeof target - 1) > 0 && std::strncmp(target, "socket:[", 8) == 0) {
        std::string ino(target + 8);
        if (!ino.empty()) ino.pop_back();
        inodes.insert(ino);
      }
    }
    ::closedir(d);
  }
  std::vector<std::string> names;
  std::ifstream unix_table("/proc/" + std::to_string(pid) + "/net/unix");
  std::string line;
  std::getline(unix_table, line);  // header
  while (std::getline(unix_table, line)) {
    std::istringstream f(line);
    std::string num, refs, proto, flags, type, state, inode, path;
    if (!(f >> num >> refs >> proto >> flags >> type >> state >> inode >> path)) continue;
    if (inodes.count(inode) != 0 && path.rfind("@vmreclaim", 0) == 0) names.push_back('\0' + path.substr(1));
  }
  return names;
}

// Runs `ask` in a child that became `uid`; its result (a client_errc value,
// kAnswered, ...) as the child's exit code.
int as_user(uid_t uid, const std::function<int()>& ask) {
  pid_t child = ::fork();
  if (child < 0) return -1;
  if (child == 0) {
    if (!become_user(uid, uid)) ::_exit(kSetupFailed);
    ::_exit(ask());
  }
  int status = 0;
  if (::waitpid(child, &status, 0) != child || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

// A request and what came of it, as an exit code.
int outcome(vmreclaim::Result<Client>& client, bool drain) {
  if (!client)
    return client.error().category() == vmreclaim::control::client_category() ? client.error().value() : kOtherError;
  if (drain) {
    auto r = client->drain();
    if (r) return kAnswered;
    return r.error().category() == vmreclaim::control::client_category() ? r.error().value() : kOtherError;
  }
  auto r = client->stats();
  if (r) return kAnswered;
  return r.error().category() == vmreclaim::control::client_category() ? r.error().value() : kOtherError;
}

int drain_by_name(const std::string& name) {
  auto c = Client::connect_name(name);
  return outcome(c, true);
}

int drain_by_pid(pid_t pid) {
  auto c = Client::connect(pid);
  return outcome(c, true);
}

class Target {
 public:
  explicit Target(std::vector<std::string> extra) {
    std::vector<std::string> argv = {VMRECLAIM_RING_TARGET, "--regions", std::to_string(kRegions)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto p = Child::start(argv);
    if (!p) return;
    process_.emplace(std::move(*p));
    while (auto line = process_->read_line()) {
      if (line->rfind("ready ", 0) == 0) {
        ready_ = true;
        break;
      }
    }
  }
  ~Target() {
    if (process_) process_->stop();
  }
  bool ready() const { return ready_; }
  pid_t pid() const { return process_->pid(); }

  // The count of its ring, read from outside as root.
  mach_vm_reclaim_count_t entries() const {
    mach_vm_reclaim_ring_ref_s ref{};
    mach_vm_reclaim_count_t n = 1;
    if (mach_vm_reclaim_get_rings_for_task(pid(), &ref, &n) != VM_RECLAIM_SUCCESS || n != 1) return 0;
    mach_vm_reclaim_ring_copy_t copy = nullptr;
    if (mach_vm_reclaim_ring_copy(pid(), &ref, &copy) != VM_RECLAIM_SUCCESS) return 0;
    n = 0;
    mach_vm_reclaim_copied_ring_query(&copy, nullptr, &n);
    mach_vm_reclaim_copied_ring_free(&copy);
    return n;
  }

  // Its endpoint's name, once the engine thread has opened it.
  std::string endpoint() const {
    for (int i = 0; i < 500; i++) {
      auto names = endpoint_names(pid());
      if (!names.empty()) return names.front();
      ::usleep(10000);
    }
    return "";
  }

 private:
  std::optional<Child> process_;
  bool ready_ = false;
};

class UserNamespaces : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to map user namespaces and to change users";
  }
};

// A rootless container: the namespace maps 0..65535 to 100000..165535, and
// the target runs as that namespace's 65534. Users of the initial namespace
// are not mapped there, so their uid reads as the overflow uid, 65534 — the
// target's own. They must not be taken for its user.
TEST_F(UserNamespaces, AnUnmappedUserIsNotTheTargetsUser) {
  Target t({"--userns", "0 100000 65536", "--ns-uid", "65534"});
  ASSERT_TRUE(t.ready());
  const std::string name = t.endpoint();
  ASSERT_FALSE(name.empty()) << "the library serves the endpoint";
  for (uid_t intruder : {kIntruderUid, uid_t{1000}}) {
    EXPECT_EQ(as_user(intruder, [&] { return drain_by_name(name); }), static_cast<int>(client_errc::permission_denied))
        << "uid " << intruder << " by name";
    EXPECT_EQ(as_user(intruder, [&] { return drain_by_pid(t.pid()); }),
              static_cast<int>(client_errc::permission_denied))
        << "uid " << intruder << " by pid";
  }
  EXPECT_EQ(t.entries(), static_cast<mach_vm_reclaim_count_t>(kRegions)) << "nothing was drained";
#ifdef VMRECLAIM_CLI
  auto r = run_child({.argv = {VMRECLAIM_CLI, "trim", std::to_string(t.pid()), "4M"}, .as_uid = kIntruderUid});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_EQ(t.entries(), static_cast<mach_vm_reclaim_count_t>(kRegions)) << "nothing was trimmed";
#endif
}

// `unshare -U` without a map: the root target's own ids are unmapped in its
// namespace, so its euid reads as the overflow uid; so does every peer's.
TEST_F(UserNamespaces, ANamespaceWithoutAMapIsNotEveryones) {
  Target t({"--userns", ""});
  ASSERT_TRUE(t.ready());
  const std::string name = t.endpoint();
  ASSERT_FALSE(name.empty());
  for (uid_t intruder : {kIntruderUid, uid_t{1000}, uid_t{65534}}) {
    EXPECT_EQ(as_user(intruder, [&] { return drain_by_name(name); }), static_cast<int>(client_errc::permission_denied))
        << "uid " << intruder;
  }
  EXPECT_EQ(t.entries(), static_cast<mach_vm_reclaim_count_t>(kRegions));
}

// Root of the initial namespace holds CAP_SYS_PTRACE over every process in
// it and below: it is answered, having shown so (the client does).
TEST_F(UserNamespaces, RootOfTheInitialNamespaceIsAnswered) {
  Target t({"--userns", "0 100000 65536", "--ns-uid", "65534"});
  ASSERT_TRUE(t.ready());
  ASSERT_FALSE(t.endpoint().empty());
  auto client = Client::connect(t.pid());
  ASSERT_TRUE(client) << client.error().message();
  auto stats = client->stats();
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->stats.entries, static_cast<uint64_t>(kRegions));
  auto drained = client->drain();
  ASSERT_TRUE(drained) << drained.error().message();
  EXPECT_GT(drained->bytes_reclaimed, 0u);
  EXPECT_EQ(t.entries(), 0u);
}

// Being root is not enough by itself: a root peer whose uid the target's
// namespace cannot map, and that shows no right over the target, is refused
// like anyone else (its uid reads as the overflow uid).
TEST_F(UserNamespaces, AnUnprovenRootIsTheOverflowUidToo) {
  Target t({"--userns", "0 100000 65536", "--ns-uid", "65534"});
  ASSERT_TRUE(t.ready());
  const std::string name = t.endpoint();
  ASSERT_FALSE(name.empty());
  EXPECT_EQ(drain_by_name(name), static_cast<int>(client_errc::permission_denied));
  EXPECT_EQ(t.entries(), static_cast<mach_vm_reclaim_count_t>(kRegions));
}

// Capabilities held in a namespace of one's own give no right over a process
// outside it: "root" of a fresh namespace, mapped to an ordinary user, is
// refused by a target of another user.
TEST_F(UserNamespaces, CapabilitiesInOnesOwnNamespaceDoNotCount) {
  Target t({"--nobody"});
  ASSERT_TRUE(t.ready());
  const std::string name = t.endpoint();
  ASSERT_FALSE(name.empty());
  const pid_t pid = t.pid();
  int r = as_user(kIntruderUid, [&] {
    if (::unshare(CLONE_NEWUSER) != 0) return errno == EINVAL ? kUnshareThreaded : kSetupFailed;
    auto put = [](const char* path, const std::string& text) {
      int fd = ::open(path, O_WRONLY | O_CLOEXEC);
      bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
      if (fd >= 0) ::close(fd);
      return ok;
    };
    if (!put("/proc/self/setgroups", "deny") || !put("/proc/self/uid_map", "0 4242 1") ||
        !put("/proc/self/gid_map", "0 4242 1") || ::setresuid(0, 0, 0) != 0) {
      return kSetupFailed;
    }
    int by_name = drain_by_name(name);
    int by_pid = drain_by_pid(pid);
    return by_name == by_pid ? by_name : kOtherError;
  });
  if (r == kUnshareThreaded) {
    // The kernel refuses a new user namespace to a multi-threaded caller; a
    // child forked under ThreadSanitizer runs the sanitizer's thread.
    GTEST_SKIP() << "unshare(CLONE_NEWUSER) refused with EINVAL: the forked child has more than one thread";
  }
  EXPECT_EQ(r, static_cast<int>(client_errc::permission_denied));
  EXPECT_EQ(t.entries(), static_cast<mach_vm_reclaim_count_t>(kRegions));
}

// A process that is not the target and binds the names a target might use
// before the target starts: it can neither keep the target from serving
// its endpoint nor answer in its place.
TEST(Squatting, AnotherUserCannotTakeOrImpersonateTheEndpoint) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the squatter as another user";
  // The target's pid is known before its program runs: a shell waits for a
  // line, then becomes the ring target.
  SpawnOptions o;
  o.argv = {
      "/bin/sh", "-c", "read go && exec \"$0\" \"$@\"", VMRECLAIM_RING_TARGET, "--regions", std::to_string(kRegions)};
  o.stdin_pipe = true;
  o.capture_stderr = false;
  auto target = Child::spawn(o);
  ASSERT_TRUE(target);
  const pid_t pid = target->pid();

  // The squatter serves every name it can predict: its own endpoint answers
  // with its own (empty) figures.
  int ready[2], done[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(done), 0);
  pid_t squatter = ::fork();
  ASSERT_GE(squatter, 0);
  if (squatter == 0) {
    ::close(ready[0]);
    ::close(done[1]);
    if (!become_user(kIntruderUid, kIntruderUid)) ::_exit(2);
    std::vector<std::unique_ptr<vmreclaim::control::Server>> held;
    for (const std::string& n :
         {std::string("vmreclaim/") + std::to_string(pid), std::string("vmreclaim/") + std::to_string(pid) + "/"}) {
      auto s = vmreclaim::control::Server::open('\0' + n);
      if (!s) ::_exit(3);
      held.push_back(std::move(*s));
    }
    if (::write(ready[1], "x", 1) != 1) ::_exit(4);
    std::vector<pollfd> fds;
    for (auto& s : held) fds.push_back({s->fd(), POLLIN, 0});
    fds.push_back({done[0], POLLIN, 0});
    for (;;) {
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds.back().revents != 0) ::_exit(0);
      for (size_t i = 0; i < held.size(); i++) {
        if (fds[i].revents != 0) held[i]->on_readable();
      }
    }
  }
  ::close(ready[1]);
  ::close(done[0]);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);

  ASSERT_TRUE(target->write_line("go"));
  bool started = false;
  while (auto line = target->read_line(std::chrono::seconds(20))) {
    if (line->rfind("ready ", 0) == 0) {
      started = true;
      break;
    }
  }
  ASSERT_TRUE(started);

  // The target's own endpoint answers, with its own figures.
  auto client = Client::connect(pid);
  for (int i = 0; i < 200 && !client; i++) {
    ::usleep(10000);
    client = Client::connect(pid);
  }
  ASSERT_TRUE(client) << client.error().message();
  auto stats = client->stats();
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->pid, pid);
  EXPECT_EQ(stats->stats.entries, static_cast<uint64_t>(kRegions));
#ifdef VMRECLAIM_CLI
  auto r = run_child({.argv = {VMRECLAIM_CLI, "drain", std::to_string(pid), "--json"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
#endif

  ::close(done[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(squatter, &status, 0), squatter);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  target->close_stdin();
  target->wait(std::chrono::seconds(5));
}

}  // namespace

namespace {

// A ring target started through unshare(1) with `flags`; the pid of the
// process that holds the ring (with --fork, unshare's child).
struct NamespacedTarget {
  std::optional<Child> process;
  pid_t ring_pid = 0;
};

NamespacedTarget start_namespaced(const std::vector<std::string>& flags) {
  NamespacedTarget t;
  std::vector<std::string> argv = {"/usr/bin/unshare"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.insert(argv.end(), {VMRECLAIM_RING_TARGET, "--regions", std::to_string(kRegions)});
  auto p = Child::start(argv);
  if (!p) return t;
  t.process.emplace(std::move(*p));
  while (auto line = t.process->read_line()) {
    if (line->rfind("ready ", 0) != 0) continue;
    t.ring_pid = t.process->pid();
    // With --fork the ring is in unshare's only child.
    std::ifstream children("/proc/" + std::to_string(t.ring_pid) + "/task/" + std::to_string(t.ring_pid) + "/children");
    pid_t child = 0;
    if (children >> child) t.ring_pid = child;
    break;
  }
  return t;
}

}  // namespace

#ifdef VMRECLAIM_CLI
// A process in a child pid namespace calls itself by another pid; the
// command, given the pid it sees, still finds and reaches its endpoint.
TEST(Namespaces, AProcessInAChildPidNamespaceIsReached) {
  if (::geteuid() != 0 || ::access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "needs root and unshare(1)";
  NamespacedTarget t = start_namespaced({"--pid", "--fork"});
  ASSERT_TRUE(t.process && t.ring_pid > 0);
  ASSERT_NE(t.ring_pid, t.process->pid()) << "the ring is in unshare's child";
  auto r = run_child({.argv = {VMRECLAIM_CLI, "drain", std::to_string(t.ring_pid), "--json"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"bytes_reclaimed\""), std::string::npos) << r.out;
}

// A process in another network namespace: its abstract socket cannot be
// reached from here, and the command says so.
TEST(Namespaces, AProcessInAnotherNetworkNamespaceIsNamedAsSuch) {
  if (::geteuid() != 0 || ::access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "needs root and unshare(1)";
  NamespacedTarget t = start_namespaced({"--net"});
  ASSERT_TRUE(t.process && t.ring_pid > 0);
  auto r = run_child({.argv = {VMRECLAIM_CLI, "drain", std::to_string(t.ring_pid)}});
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_NE(r.err.find("another network namespace"), std::string::npos) << r.err;
}
#endif

namespace {

// Rule 1 on its own: an ordinary user is answered by its own process, by
// name alone (nothing shown), and another ordinary user is not.
TEST(SameUser, AnOrdinaryUserIsAnsweredByItsOwnProcessOnly) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the target and the peers as other users";
  SpawnOptions o;
  o.argv = {VMRECLAIM_RING_TARGET, "--regions", std::to_string(kRegions)};
  o.as_uid = kIntruderUid;
  o.stdin_pipe = true;
  o.capture_stderr = false;
  auto target = Child::spawn(o);
  ASSERT_TRUE(target);
  ASSERT_TRUE(target->read_line_starting("ready "));
  std::string name;
  for (int i = 0; i < 500 && name.empty(); i++) {
    auto names = endpoint_names(target->pid());
    if (!names.empty()) name = names.front();
    ::usleep(10000);
  }
  ASSERT_FALSE(name.empty());
  EXPECT_EQ(as_user(kIntruderUid + 1, [&] { return drain_by_name(name); }),
            static_cast<int>(client_errc::permission_denied));
  EXPECT_EQ(as_user(kIntruderUid, [&] { return drain_by_name(name); }), kAnswered);
  target->close_stdin();
  target->wait(std::chrono::seconds(5));
}

}  // namespace
}  // namespace vmreclaim::test
