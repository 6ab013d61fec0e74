// The status client (src/daemon/client.h) and `vmreclaim status` / `top`
// against a small fake daemon: a real SOCK_SEQPACKET socket in a thread of
// the test that answers each {"op":"status"} with a fixed reply. Without a
// daemon, `status` falls back to asking a real ring process.
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "daemon/client.h"
#include "daemon/snapshot.h"
#include "sample_snapshot.h"
#include "support/child.h"
#include "support/daemon_socket.h"

namespace vmreclaim::test {
namespace {

using daemon::request_status;
using daemon::resolve_socket_path;
using daemon::Snapshot;
using daemon::socket_env;
using daemon::SocketChoice;
using daemon::StatusReply;
using nlohmann::json;
using ::testing::HasSubstr;

// The name the README and docs/daemon.md give the setting.
constexpr const char* kSocketEnv = "VMRECLAIM_DAEMON_SOCKET";

std::string unique_socket_path(const char* what) {
  static std::atomic<int> n{0};
  return "/tmp/vmreclaim-status-test-" + std::to_string(::getpid()) + "-" + what + "-" + std::to_string(n++) + ".sock";
}

// A fake vmreclaimd: accepts connections, reads one message, records it and
// sends `reply` (or nothing when `silent`).
class FakeDaemon {
 public:
  FakeDaemon(std::string reply, bool silent = false, std::string path = unique_socket_path("fake"))
      : path_(std::move(path)), reply_(std::move(reply)) {
    silent_ = silent;
    fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    ::unlink(path_.c_str());
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd_, 8) == 0;
    if (ok_) thread_ = std::thread([this] { serve(); });
  }
  ~FakeDaemon() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }
  int requests() const { return requests_.load(); }
  std::string last_request() {
    std::lock_guard<std::mutex> l(mu_);
    return last_;
  }

 private:
  void serve() {
    while (!stop_) {
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      char buf[4096];
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n > 0) {
        {
          std::lock_guard<std::mutex> l(mu_);
          last_.assign(buf, static_cast<size_t>(n));
        }
        requests_++;
        if (!silent_) {
          ::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
        } else {
          char x;
          ::recv(c, &x, 1, 0);  // hold the connection until the client gives up
        }
      }
      ::close(c);
    }
  }

  std::string path_, reply_;
  bool silent_ = false;
  int fd_ = -1;
  bool ok_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::mutex mu_;
  std::string last_;
  std::thread thread_;
};

// The views' shared snapshot, with a newline in a command name: it must not
// break the table.
Snapshot fixed_snapshot() {
  Snapshot s = sample_snapshot();
  s.processes[1].comm = "work\ner";
  return s;
}

TEST(StatusClient, ReadsTheSnapshotTheDaemonSends) {
  FakeDaemon d(json(fixed_snapshot()).dump());
  ASSERT_TRUE(d.ok());
  StatusReply r = request_status(d.path(), std::chrono::seconds(5));
  ASSERT_TRUE(r.snapshot) << r.error;
  EXPECT_EQ(json::parse(d.last_request()), json({{"op", "status"}}));
  EXPECT_EQ(json(*r.snapshot), json(fixed_snapshot()));
}

TEST(StatusClient, NoSocketFileMeansNoDaemon) {
  StatusReply r = request_status(unique_socket_path("absent"), std::chrono::seconds(1));
  EXPECT_FALSE(r.snapshot);
  EXPECT_TRUE(r.daemon_absent);
  EXPECT_THAT(r.error, HasSubstr("not running"));
}

TEST(StatusClient, ASocketNobodyListensOnMeansNoDaemon) {
  // What a crashed daemon leaves behind: the file, and nobody accepting.
  const std::string path = unique_socket_path("stale");
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ::close(fd);
  StatusReply r = request_status(path, std::chrono::seconds(1));
  ::unlink(path.c_str());
  EXPECT_TRUE(r.daemon_absent) << r.error;
  EXPECT_THAT(r.error, HasSubstr("not running"));
}

TEST(StatusClient, ADaemonThatDoesNotAnswerTimesOut) {
  FakeDaemon d("", /*silent=*/true);
  ASSERT_TRUE(d.ok());
  StatusReply r = request_status(d.path(), std::chrono::milliseconds(200));
  EXPECT_FALSE(r.snapshot);
  EXPECT_FALSE(r.daemon_absent);
  EXPECT_THAT(r.error, HasSubstr("did not answer within 200 ms"));
}

TEST(StatusClient, MalformedAndRefusedAnswersAreErrors) {
  for (const char* reply : {"not json", "[1,2]", R"({"processes":"x"})"}) {
    FakeDaemon d(reply);
    ASSERT_TRUE(d.ok());
    StatusReply r = request_status(d.path(), std::chrono::seconds(5));
    EXPECT_FALSE(r.snapshot) << reply;
    EXPECT_THAT(r.error, HasSubstr("malformed")) << reply;
  }
  FakeDaemon refused(R"({"error":"permission denied"})");
  StatusReply r = request_status(refused.path(), std::chrono::seconds(5));
  EXPECT_FALSE(r.snapshot);
  EXPECT_THAT(r.error, HasSubstr("refused: permission denied"));
}

TEST(StatusClient, SocketPathIsOptionThenEnvironmentThenDefault) {
  EXPECT_STREQ(socket_env(), kSocketEnv);
  ::unsetenv(kSocketEnv);
  EXPECT_EQ(resolve_socket_path("").path, support::kDefaultDaemonSocket);
  ::setenv(kSocketEnv, "/tmp/from-env.sock", 1);
  EXPECT_EQ(resolve_socket_path("").path, "/tmp/from-env.sock");
  EXPECT_EQ(resolve_socket_path("/tmp/option.sock").path, "/tmp/option.sock");
  ::setenv(kSocketEnv, "0", 1);
  const SocketChoice none = resolve_socket_path("");
  EXPECT_EQ(none.path, "");
  EXPECT_FALSE(none.bad);
  EXPECT_THAT(none.error, HasSubstr("no daemon to ask"));
  ::setenv(kSocketEnv, "relative.sock", 1);
  const SocketChoice bad = resolve_socket_path("");
  EXPECT_EQ(bad.path, "");
  EXPECT_TRUE(bad.bad);
  EXPECT_THAT(bad.error, HasSubstr("is not valid"));
  ::unsetenv(kSocketEnv);
  StatusReply r = request_status(std::string(200, 'x'), std::chrono::seconds(1));
  EXPECT_THAT(r.error, HasSubstr("longer than"));
}

#ifdef VMRECLAIM_CLI
struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

CliRun cli(std::vector<std::string> args, std::vector<std::string> env = {}) {
  args.insert(args.begin(), VMRECLAIM_CLI);
  SpawnOptions o;
  o.argv = args;
  o.env = std::move(env);
  CliRun r;
  auto child = Child::spawn(o);
  if (!child) return r;
  auto status = child->communicate(&r.out, &r.err, std::chrono::seconds(60));
  if (status && WIFEXITED(*status)) r.exit_code = WEXITSTATUS(*status);
  return r;
}

TEST(StatusCommand, PrintsProcessesSortedByReclaimableAndTheCgroups) {
  FakeDaemon d(json(fixed_snapshot()).dump());
  ASSERT_TRUE(d.ok());
  CliRun r = cli({"status", "--socket", d.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("machine pressure warning"));
  const size_t big = r.out.find("    4242  work?er");
  const size_t small = r.out.find("      77  idle");
  ASSERT_NE(big, std::string::npos) << r.out;
  ASSERT_NE(small, std::string::npos) << r.out;
  EXPECT_LT(big, small) << "sorted by reclaimable bytes\n" << r.out;
  EXPECT_THAT(r.out, HasSubstr("128.0M"));
  EXPECT_THAT(r.out, HasSubstr("100.0M"));
  EXPECT_THAT(r.out, HasSubstr("trim 32.0M (deficit)"));
  EXPECT_THAT(r.out, HasSubstr("urgent"));
  EXPECT_THAT(r.out, HasSubstr("1.0G"));  // the cgroup's limit
}

TEST(StatusCommand, JsonIsTheSnapshotSortedAndMarkedFromTheDaemon) {
  FakeDaemon d(json(fixed_snapshot()).dump());
  ASSERT_TRUE(d.ok());
  // The socket from the environment this time.
  CliRun r = cli({"status", "--json"}, {std::string(kSocketEnv) + "=" + d.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["source"], "daemon");
  EXPECT_EQ(j["socket"], d.path());
  ASSERT_EQ(j["processes"].size(), 2u);
  EXPECT_EQ(j["processes"][0]["pid"], 4242);
  EXPECT_EQ(j["processes"][0]["comm"], "work\ner");
  EXPECT_EQ(j["processes"][0]["last_cause"], "deficit");
  EXPECT_EQ(j["processes"][1]["pid"], 77);
  EXPECT_EQ(j["cgroups"][0]["limit_bytes"], 1ull << 30);
  EXPECT_EQ(j["daemon"]["polls"], 1234);
}

TEST(StatusCommand, ADaemonThatFailsIsAnErrorNotAFallback) {
  FakeDaemon d("garbage");
  ASSERT_TRUE(d.ok());
  CliRun r = cli({"status", "--json", "--socket", d.path()});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_THAT(r.err, HasSubstr("malformed"));
  EXPECT_EQ(json::parse(r.out)["error"], "daemon_unreachable");
}

// A bad VMRECLAIM_DAEMON_SOCKET or --socket is refused as a command-line
// error, in the words the engine uses for the same value, and nobody is
// asked: not the daemon at a relative path, not each process instead.
TEST(StatusCommand, ABadSocketSettingIsRefusedAndAsksNobody) {
  // A daemon where a relative path leads from this directory (the CLI's too).
  const std::string relative = "vmreclaim-status-test-" + std::to_string(::getpid()) + "-relative.sock";
  FakeDaemon d(json(fixed_snapshot()).dump(), false, relative);
  ASSERT_TRUE(d.ok());
  const std::string expected = "an absolute path of at most 107 bytes";
  const std::string too_long = "/tmp/" + std::string(120, 'x') + ".sock";
  for (const std::string& bad : {relative, too_long, std::string("~/vmreclaimd.sock"), std::string("garbage\x01")}) {
    const std::string env = std::string(kSocketEnv) + "=" + bad;
    const std::string says = std::string(kSocketEnv) + "=\"" + bad.substr(0, 64) + "\" is not valid (expected " +
                             expected + ", or 0 or empty for none)";
    for (const std::string command : {"status", "top"}) {
      std::vector<std::string> args = {command, "--timeout", "1"};
      if (command == "top") args.push_back("--once");
      CliRun r = cli(args, {env});
      EXPECT_EQ(r.exit_code, 105) << command << " " << bad << ": " << r.err;
      EXPECT_EQ(r.err, "vmreclaim: " + says + "\n") << command << " " << bad;
      EXPECT_EQ(r.out, "") << command << " " << bad;
      args.push_back("--json");
      CliRun js = cli(args, {env});
      EXPECT_EQ(js.exit_code, 105) << command << " " << bad << ": " << js.err;
      const json j = json::parse(js.out, nullptr, false);
      EXPECT_EQ(j.value("error", ""), "usage") << js.out;
      EXPECT_EQ(j.value("message", ""), says) << js.out;
    }
  }
  // The option is held to the same rule (it has no "none").
  CliRun r = cli({"status", "--socket", relative});
  EXPECT_EQ(r.exit_code, 105) << r.err;
  EXPECT_EQ(r.err, "vmreclaim: --socket=\"" + relative + "\" is not valid (expected " + expected + ")\n");
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(d.requests(), 0) << "asked a daemon at a relative path";

  // The engine says the same of the same value (and keeps its default).
  SpawnOptions o;
  o.argv = {VMRECLAIM_RING_TARGET, "--regions", "1"};
  o.env = {std::string(kSocketEnv) + "=" + relative};
  o.stdin_pipe = true;
  auto target = Child::spawn(o);
  ASSERT_TRUE(target);
  ASSERT_TRUE(target->read_line_starting("ready ")) << target->stderr_so_far();
  EXPECT_THAT(target->stderr_so_far(),
              HasSubstr("vmreclaim: " + std::string(kSocketEnv) + "=\"" + relative + "\" is not valid (expected " +
                        expected + ", or 0 or empty for none)"));
  target->close_stdin();
  target->wait(std::chrono::seconds(20));
}

// `0` or empty: no daemon, as for the engine; status asks each process.
TEST(StatusCommand, SocketSettingZeroMeansNoDaemon) {
  for (const char* none : {"0", ""}) {
    CliRun r = cli({"status", "--json", "--timeout", "1"}, {std::string(kSocketEnv) + "=" + none});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr(std::string("no daemon to ask (") + kSocketEnv + "=\"" + none + "\")")) << none;
    EXPECT_EQ(json::parse(r.out, nullptr, false).value("source", ""), "no daemon") << r.out;
    CliRun top = cli({"top", "--once"}, {std::string(kSocketEnv) + "=" + none});
    EXPECT_EQ(top.exit_code, 6) << top.err;
    EXPECT_THAT(top.err, HasSubstr("no daemon to ask")) << none;
  }
}

TEST(StatusCommand, WithoutADaemonAsksEachProcessAndSaysSo) {
  // A real process with a ring and memory in it.
  SpawnOptions o;
  o.argv = {VMRECLAIM_RING_TARGET, "--regions", "8"};
  o.stdin_pipe = true;
  auto target = Child::spawn(o);
  ASSERT_TRUE(target);
  ASSERT_TRUE(target->read_line_starting("ready ")) << target->stderr_so_far();

  const std::string absent = unique_socket_path("absent");
  CliRun text = cli({"status", "--socket", absent});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.err, HasSubstr("not running"));
  EXPECT_THAT(text.out, HasSubstr("no daemon"));
  EXPECT_THAT(text.out, HasSubstr(" " + std::to_string(target->pid()) + "  "));

  CliRun js = cli({"status", "--json", "--socket", absent});
  ASSERT_EQ(js.exit_code, 0) << js.err;
  json j = json::parse(js.out);
  EXPECT_EQ(j["source"], "no daemon");
  bool found = false;
  for (const json& p : j["processes"]) {
    if (p["pid"] != target->pid()) continue;
    found = true;
    EXPECT_GT(p["reclaimable_bytes"].get<uint64_t>(), 0u);
    EXPECT_EQ(p["last_action"], "none");
    EXPECT_NE(p["cgroup"], "?");
  }
  EXPECT_TRUE(found) << js.out;
  target->close_stdin();
  target->wait(std::chrono::seconds(20));
}

TEST(TopCommand, OnceSortsByReclaimableAndTopNeedsTheDaemon) {
  FakeDaemon d(json(fixed_snapshot()).dump());
  ASSERT_TRUE(d.ok());
  CliRun r = cli({"top", "--once", "--socket", d.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("\033["), std::string::npos) << "no screen control with --once";
  EXPECT_LT(r.out.find("    4242  "), r.out.find("      77  ")) << r.out;

  CliRun counted = cli({"top", "--count", "3", "--interval", "0.01", "--json", "--socket", d.path()});
  ASSERT_EQ(counted.exit_code, 0) << counted.err;
  int lines = 0;
  for (size_t pos = 0; (pos = counted.out.find('\n', pos)) != std::string::npos; pos++) lines++;
  EXPECT_EQ(lines, 3) << counted.out;
  EXPECT_EQ(json::parse(counted.out.substr(0, counted.out.find('\n')))["processes"][0]["pid"], 4242);

  CliRun none = cli({"top", "--once", "--socket", unique_socket_path("absent")});
  EXPECT_EQ(none.exit_code, 6);
  EXPECT_THAT(none.err, HasSubstr("not running"));
}
#endif  // VMRECLAIM_CLI

}  // namespace
}  // namespace vmreclaim::test
