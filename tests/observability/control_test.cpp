// The control endpoint with a real ring: stats, trim and drain through the
// client, the errors a client can meet, and the protocol's framing rules.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vmreclaim/ring.hpp>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "control/authorise.h"
#include "control/client.h"
#include "control/protocol.h"
#include "control/stats_json.h"
#include "served_endpoint.h"

namespace vmreclaim::control {
namespace {

using test::ServedEndpoint;

// A ring holding `n` one-page FREE entries of resident memory.
class RingWithEntries : public ::testing::Test {
 protected:
  static constexpr int kEntries = 12;
  void SetUp() override {
    page_ = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    auto r = Ring::allocate(64, 64);
    ASSERT_TRUE(r) << r.error().message();
    ring_ = std::move(*r);
    mem_ = static_cast<char*>(
        ::mmap(nullptr, kEntries * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(mem_, MAP_FAILED);
    std::memset(mem_, 1, kEntries * page_);
    for (int i = 0; i < kEntries; i++) {
      auto e = ring_.try_enter(mem_ + i * page_, page_, Action::free);
      ASSERT_TRUE(e && e->entered());
    }
  }
  void TearDown() override {
    ring_.reset();
    if (mem_ != nullptr && mem_ != MAP_FAILED) ::munmap(mem_, kEntries * page_);
  }

  size_t page_ = 0;
  Ring ring_;
  char* mem_ = nullptr;
};

TEST_F(RingWithEntries, StatsTrimAndDrainThroughTheClient) {
  ServedEndpoint endpoint;
  ASSERT_TRUE(endpoint.ok());
  auto client = Client::connect_name(endpoint.name());
  ASSERT_TRUE(client) << client.error().message();

  auto stats = client->stats();
  ASSERT_TRUE(stats) << stats.error().message() << " " << client->error_message();
  EXPECT_EQ(stats->pid, ::getpid());
  EXPECT_EQ(stats->ring_address, reinterpret_cast<uint64_t>(ring_.native_handle()));
  EXPECT_EQ(stats->stats.entries, static_cast<uint64_t>(kEntries));
  EXPECT_EQ(stats->stats.entered_entries, static_cast<uint64_t>(kEntries));
  EXPECT_EQ(stats->stats.reclaimable_bytes, kEntries * page_);
  EXPECT_EQ(stats->stats.capacity, *ring_.capacity());

  // Same connection, several requests.
  auto trimmed = client->trim(2 * page_);
  ASSERT_TRUE(trimmed) << trimmed.error().message() << " " << client->error_message();
  EXPECT_GE(trimmed->bytes_reclaimed, 2 * page_);
  auto drained = client->drain();
  ASSERT_TRUE(drained) << drained.error().message();
  EXPECT_EQ(trimmed->bytes_reclaimed + drained->bytes_reclaimed, kEntries * page_);

  auto after = client->stats();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->stats.entries, 0u);
  EXPECT_EQ(after->stats.reclaimable_bytes, 0u);
  EXPECT_EQ(after->stats.reclaimed_bytes[VMRECLAIM_CAUSE_TRIM], trimmed->bytes_reclaimed);
  EXPECT_EQ(after->stats.reclaimed_bytes[VMRECLAIM_CAUSE_DRAIN], drained->bytes_reclaimed);
  // The in-process view agrees with the remote one.
  auto local = ring_.stats();
  ASSERT_TRUE(local);
  EXPECT_EQ(local->reclaimed_entries[VMRECLAIM_CAUSE_DRAIN], after->stats.reclaimed_entries[VMRECLAIM_CAUSE_DRAIN]);
}

TEST_F(RingWithEntries, TrimNeedsAPositiveByteCount) {
  ServedEndpoint endpoint;
  ASSERT_TRUE(endpoint.ok());
  auto client = Client::connect_name(endpoint.name());
  ASSERT_TRUE(client);
  for (const char* body : {"{}", "{\"bytes\":0}", "{\"bytes\":-5}", "{\"bytes\":1.5}", "{\"bytes\":\"1M\"}", "[1]"}) {
    auto reply = client->exchange(encode(static_cast<uint16_t>(MessageType::trim), body));
    ASSERT_TRUE(reply) << body;
    DecodeError e{};
    auto m = decode(*reply, reply->size(), kMaxReplyBody, &e);
    ASSERT_TRUE(m) << body;
    EXPECT_EQ(m->header.type, static_cast<uint16_t>(MessageType::error)) << body;
    auto j = nlohmann::json::parse(m->body);
    EXPECT_EQ(j["error"], error_code::bad_request) << body;
  }
  auto stats = client->stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->stats.entries, static_cast<uint64_t>(kEntries)) << "nothing was reclaimed";
}

TEST(ControlEndpoint, AProcessWithoutARingSaysSo) {
  ASSERT_EQ(vmreclaim_ring_current(), nullptr);
  ServedEndpoint endpoint;
  ASSERT_TRUE(endpoint.ok());
  auto client = Client::connect_name(endpoint.name());
  ASSERT_TRUE(client);
  auto stats = client->stats();
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error(), client_errc::no_ring);
  auto drained = client->drain();
  EXPECT_EQ(drained.error(), client_errc::no_ring);
}

TEST(ControlEndpoint, NothingListeningIsNoEndpoint) {
  auto client = Client::connect_name(std::string(1, '\0') + "vmreclaim-test/nobody-listens-here");
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error(), client_errc::no_endpoint);
  auto missing = Client::connect(0);
  EXPECT_FALSE(missing);
}

TEST(ControlEndpoint, NamesUpToSunPathAreServedLongerOnesRefusedAtBothEnds) {
  // The server binds and the client connects through one address builder
  // (socket_address.h): a name filling sun_path to the last byte reaches the
  // server; one byte more, or none, is refused on both sides, binding nothing.
  const std::string prefix = std::string(1, '\0') + "vmreclaim-test/long/" + std::to_string(::getpid()) + "/";
  const std::string longest = prefix + std::string(sizeof(sockaddr_un::sun_path) - prefix.size(), 'x');
  auto server = Server::open(longest);
  ASSERT_TRUE(server) << server.error().message();
  auto client = Client::connect_name(longest, std::chrono::milliseconds(50));
  ASSERT_TRUE(client) << client.error().message();
  // The same name but its last byte: a different abstract socket, nobody's.
  EXPECT_EQ(Client::connect_name(longest.substr(0, longest.size() - 1)).error(), client_errc::no_endpoint);
  for (const std::string& bad : {longest + "y", std::string()}) {
    auto s = Server::open(bad);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error(), std::errc::invalid_argument);
    auto c = Client::connect_name(bad);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error(), std::errc::invalid_argument);
  }
}

TEST(ControlEndpoint, RefusesAnEndpointHeldByAnotherProcess) {
  // A child that inherited its parent's listening socket holds an endpoint
  // it did not open: a client asking for the child must not take the
  // parent's answers for the child's.
  auto parents = Server::open();
  ASSERT_TRUE(parents) << parents.error().message();
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  auto names = Client::endpoint_names(child);
  ASSERT_TRUE(names) << names.error().message();
  EXPECT_NE(std::find(names->begin(), names->end(), (*parents)->name()), names->end()) << "found among its fds";
  auto client = Client::connect(child);
  if (client) {
    // It reached an endpoint the child opened itself (the library's, when
    // this process has a ring), never the parent's.
    auto stats = client->stats();
    if (stats) {
      EXPECT_EQ(stats->pid, child);
    }
  } else {
    EXPECT_EQ(client.error(), client_errc::impostor) << client.error().message();
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}

TEST(ControlEndpoint, AnEndpointNobodyServesTimesOut) {
  auto server = Server::open(std::string(1, '\0') + "vmreclaim-test/unserved/" + std::to_string(::getpid()));
  ASSERT_TRUE(server);
  auto client = Client::connect_name(std::string(1, '\0') + "vmreclaim-test/unserved/" + std::to_string(::getpid()),
                                     std::chrono::milliseconds(50));
  ASSERT_TRUE(client) << "the kernel completes the connection in the backlog";
  auto stats = client->stats();
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error(), client_errc::timed_out);
}

TEST(ControlEndpoint, ConnectionsAreBoundedOldestGoesFirst) {
  ServedEndpoint endpoint;
  ASSERT_TRUE(endpoint.ok());
  std::vector<Client> idle;
  for (size_t i = 0; i < 3 * Server::kMaxConnections; i++) {
    auto c = Client::connect_name(endpoint.name());
    ASSERT_TRUE(c);
    idle.push_back(std::move(*c));
  }
  // Idle clients do not lock a new one out.
  auto client = Client::connect_name(endpoint.name());
  ASSERT_TRUE(client);
  auto reply = client->stats();
  EXPECT_EQ(reply.error(), client_errc::no_ring) << "answered (this process has no ring)";
  // The oldest were closed to make room: they read end-of-file, not the
  // no_ring answer that any open connection gets from this ring-less process.
  auto first = idle.front().stats();
  ASSERT_FALSE(first);
  EXPECT_NE(first.error(), client_errc::no_ring) << "the oldest connection was answered: it was never closed";
  // The newest are still open, and answered.
  auto newest = idle.back().stats();
  ASSERT_FALSE(newest);
  EXPECT_EQ(newest.error(), client_errc::no_ring) << newest.error().message();
}

// Rule 2's proof is this process's own /proc/PID/mem and nothing else.
TEST(Authoriser, AcceptsOnlyThisProcesssMemAsProof) {
  auto auth = Authoriser::create();
  ASSERT_TRUE(auth) << auth.error().message();
  auto check = [&](const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0) << path;
    bool ok = fd >= 0 && auth->proves_ptrace_access(fd);
    if (fd >= 0) ::close(fd);
    return ok;
  };
  EXPECT_TRUE(check("/proc/self/mem"));
  EXPECT_TRUE(check("/proc/" + std::to_string(::getpid()) + "/mem"));
  EXPECT_FALSE(check("/proc/self/status"));
  EXPECT_FALSE(check("/dev/null"));
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  EXPECT_FALSE(auth->proves_ptrace_access(pipe_fds[0]));
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  // Another process's memory, even a fork of this one holding the same
  // secret at the same address, is not ours.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  EXPECT_FALSE(check("/proc/" + std::to_string(child) + "/mem"));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  // A second Authoriser, with another secret, accepts the same file: the
  // proof is the file; the secret is only read through it, never sent.
  auto other = Authoriser::create();
  ASSERT_TRUE(other);
  int fd = ::open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(other->proves_ptrace_access(fd));
  ::close(fd);
}

TEST(Authoriser, ThisProcessIsItsOwnUser) {
  auto auth = Authoriser::create();
  ASSERT_TRUE(auth);
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  uid_t peer = 12345;
  EXPECT_EQ(auth->same_user(sv[0], &peer), ::geteuid() != auth->overflow_uid());
  EXPECT_EQ(peer, ::geteuid());
  ::close(sv[0]);
  ::close(sv[1]);
  // Not a socket: no credentials, no match.
  uid_t none = 0;
  EXPECT_FALSE(auth->same_user(STDIN_FILENO, &none));
}

TEST(StatsJson, RoundTripsEveryField) {
  vmreclaim_ring_stats s{};
  auto* words = reinterpret_cast<unsigned char*>(&s);
  for (size_t i = 0; i < sizeof s; i++) words[i] = static_cast<unsigned char>(i * 7 + 1);
  s.capacity = 251;
  s.max_capacity = 1019;
  auto back = stats_from_json(stats_to_json(s));
  ASSERT_TRUE(back);
  EXPECT_EQ(std::memcmp(&*back, &s, sizeof s), 0);
  auto j = stats_to_json(s);
  j["reclaimed_bytes"].erase("drain");
  EXPECT_FALSE(stats_from_json(j));
  j = stats_to_json(s);
  j["capacity"] = -1;
  EXPECT_FALSE(stats_from_json(j));
  j = stats_to_json(s);
  j["max_capacity"] = uint64_t{1} << 40;  // does not fit in 32 bits
  EXPECT_FALSE(stats_from_json(j));
  EXPECT_STREQ(guard_fault_name(VMRECLAIM_GUARD_COPYIO_FAILURE), "RECLAIM_COPYIO_FAILURE");
}

TEST(StatsJson, KeysAreTheProtocols) {
  // The JSON is made from stats.def; its keys are the control protocol's
  // (docs/control-protocol.md) and may not change with the table.
  const auto keys = [](const nlohmann::json& o) {
    std::vector<std::string> k;
    for (auto it = o.begin(); it != o.end(); ++it) k.push_back(it.key());
    std::sort(k.begin(), k.end());
    return k;
  };
  const auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  const nlohmann::json j = stats_to_json(vmreclaim_ring_stats{});
  EXPECT_EQ(keys(j), sorted({"capacity",
                             "max_capacity",
                             "entries",
                             "reclaimable_bytes",
                             "unreported_bytes",
                             "entered_entries",
                             "entered_bytes",
                             "reentered_entries",
                             "enter_full",
                             "cancelled_unreclaimed",
                             "cancelled_busy",
                             "cancelled_freed",
                             "cancelled_deallocated",
                             "cancelled_bytes",
                             "reclaimed_entries",
                             "reclaimed_bytes",
                             "samples",
                             "trims",
                             "aborted_chunks",
                             "free_failures",
                             "guard_faults",
                             "wma_bytes",
                             "last_min_bytes",
                             "footprint_max",
                             "syscalls"}));
  const auto causes = sorted({"flush", "trim", "drain", "resize", "limit", "suspend", "background"});
  EXPECT_EQ(keys(j["reclaimed_entries"]), causes);
  EXPECT_EQ(keys(j["reclaimed_bytes"]), causes);
  EXPECT_EQ(keys(j["guard_faults"]),
            sorted({"DEALLOC_GAP", "RECLAIM_COPYIO_FAILURE", "RECLAIM_INDEX_FAILURE", "RECLAIM_DEALLOCATE_FAILURE",
                    "RECLAIM_ACCOUNTING_FAILURE", "FREE_GAP", "RECLAIM_ENGINE_OVERLAP"}));
}

TEST(Protocol, DecodeChecksTheFraming) {
  const std::string ok = encode(static_cast<uint16_t>(MessageType::stats), "{}");
  DecodeError e{};
  auto m = decode(ok, ok.size(), kMaxRequestBody, &e);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body, "{}");

  EXPECT_FALSE(decode(ok.substr(0, 10), 10, kMaxRequestBody, &e));
  EXPECT_STREQ(e.code, error_code::malformed);
  EXPECT_FALSE(decode(ok.substr(0, ok.size() - 1), ok.size() - 1, kMaxRequestBody, &e));
  EXPECT_STREQ(e.code, error_code::malformed);
  EXPECT_FALSE(decode(ok, ok.size() + 100, kMaxRequestBody, &e)) << "the receiver truncated the packet";

  std::string bad = ok;
  bad[0] ^= 1;
  EXPECT_FALSE(decode(bad, bad.size(), kMaxRequestBody, &e));
  EXPECT_STREQ(e.code, error_code::malformed);

  bad = ok;
  MessageHeader h{};
  std::memcpy(&h, bad.data(), sizeof h);
  h.version = 2;
  std::memcpy(bad.data(), &h, sizeof h);
  EXPECT_FALSE(decode(bad, bad.size(), kMaxRequestBody, &e));
  EXPECT_STREQ(e.code, error_code::unsupported_version);

  std::string big = encode(static_cast<uint16_t>(MessageType::stats), std::string(kMaxRequestBody + 1, ' '));
  EXPECT_FALSE(decode(big, big.size(), kMaxRequestBody, &e));
  EXPECT_STREQ(e.code, error_code::oversized);

  EXPECT_EQ(endpoint_name(42, "0a1b"), std::string("\0vmreclaim/42/0a1b", 18));
}

}  // namespace
}  // namespace vmreclaim::control
