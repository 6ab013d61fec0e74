// The daemon's /metrics endpoint: a real civetweb server on a loopback port
// the kernel picks, fetched over a real TCP socket, the page parsed by the
// Prometheus project's own Python parser (prometheus_client.parser).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <civetweb.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "daemon/metrics.h"
#include "daemon/metrics_hook.h"
#include "sample_snapshot.h"
#include "support/child.h"

namespace vmreclaim::test {
namespace {

using daemon::CgroupView;
using daemon::MetricsServer;
using daemon::ProcessView;
using daemon::render_metrics;
using daemon::Snapshot;
using daemon::start_metrics;
using nlohmann::json;

struct HttpReply {
  bool ok = false;  // a reply was read
  int status = 0;
  std::string headers, body;
};

// One request over a fresh TCP connection; reads until the server closes.
HttpReply http_request(const std::string& host, uint16_t port, const std::string& request, bool ipv6 = false) {
  HttpReply r;
  const int fd = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return r;
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int rc;
  if (ipv6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    ::inet_pton(AF_INET6, host.c_str(), &a.sin6_addr);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (rc != 0 || ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return r;
  }
  std::string all;
  char buf[65536];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) all.append(buf, static_cast<size_t>(n));
  ::close(fd);
  const size_t split = all.find("\r\n\r\n");
  if (all.rfind("HTTP/1.", 0) != 0 || split == std::string::npos) return r;
  r.ok = true;
  r.status = std::atoi(all.c_str() + all.find(' ') + 1);
  r.headers = all.substr(0, split);
  r.body = all.substr(split + 4);
  return r;
}

HttpReply get(const MetricsServer& s, const std::string& path = "/metrics") {
  return http_request("127.0.0.1", s.port(), "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

// The page through prometheus_client.parser.text_string_to_metric_families:
// [{"family","type","samples":[{"name","labels","value"}]}], or a throw with
// the parser's complaint.
json parse_with_prometheus(const std::string& page) {
  const std::string python = VMRECLAIM_PROMETHEUS_PYTHON;
  if (python.empty()) throw std::runtime_error("no python3 with prometheus_client was found at configure time");
  char path[] = "/tmp/vmreclaim-metrics-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  ::close(fd);
  std::ofstream(path, std::ios::binary) << page;
  static constexpr char kScript[] = R"PY(
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1], encoding="utf-8").read()
out = []
for fam in text_string_to_metric_families(text):
    out.append({"family": fam.name, "type": fam.type, "help": fam.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in fam.samples]})
print(json.dumps(out))
)PY";
  SpawnOptions o;
  o.argv = {python, "-c", kScript, path};
  auto child = Child::spawn(o);
  if (!child) throw std::runtime_error("cannot start python3");
  std::string out, err;
  auto status = child->communicate(&out, &err, std::chrono::seconds(60));
  ::unlink(path);
  if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    throw std::runtime_error("the Prometheus parser rejected the page: " + err);
  }
  return json::parse(out);
}

// The value of the one sample `name` whose labels include `labels`; throws if
// there is none or more than one.
double value_of(const json& families, const std::string& name, const json& labels = json::object()) {
  int found = 0;
  double v = 0;
  for (const json& f : families) {
    for (const json& s : f["samples"]) {
      if (s["name"] != name) continue;
      bool match = true;
      for (auto it = labels.begin(); it != labels.end(); ++it) {
        match = match && s["labels"].contains(it.key()) && s["labels"][it.key()] == it.value();
      }
      if (match) {
        found++;
        v = s["value"].get<double>();
      }
    }
  }
  if (found != 1) throw std::runtime_error(name + labels.dump() + ": " + std::to_string(found) + " samples");
  return v;
}

const json* family(const json& families, const std::string& name) {
  for (const json& f : families) {
    if (f["family"] == name) return &f;
  }
  return nullptr;
}

std::unique_ptr<MetricsServer> start_or_fail(MetricsServer::SnapshotSource source,
                                             const std::string& listen = "127.0.0.1:0") {
  MetricsServer::Options o;
  o.listen = listen;
  std::string error;
  auto s = MetricsServer::start(o, std::move(source), &error);
  EXPECT_NE(s, nullptr) << error;
  return s;
}

TEST(Metrics, ServesTheSnapshotInTheTextFormatThePrometheusParserReads) {
  auto server = start_or_fail([] { return sample_snapshot(); });
  ASSERT_NE(server, nullptr);
  ASSERT_NE(server->port(), 0) << "the port the kernel chose";
  HttpReply r = get(*server);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 200) << r.headers;
  EXPECT_NE(r.headers.find("text/plain; version=0.0.4"), std::string::npos) << r.headers;
  const json f = parse_with_prometheus(r.body);

  const json worker = {{"pid", "4242"}, {"comm", "worker"}, {"cgroup", "/herd"}};
  EXPECT_EQ(value_of(f, "vmreclaim_reclaimable_bytes", worker), 128 << 20);
  EXPECT_EQ(value_of(f, "vmreclaim_stalest_bytes", worker), 100 << 20);
  EXPECT_EQ(value_of(f, "vmreclaim_reclaimable_bytes", {{"pid", "77"}}), 4096);
  EXPECT_EQ(value_of(f, "vmreclaim_process_reclaimed_bytes_total", {{"pid", "4242"}, {"cause", "deficit"}}), 32 << 20);
  EXPECT_EQ(value_of(f, "vmreclaim_process_last_action_bytes", {{"pid", "4242"}, {"action", "trim"}}), 32 << 20);
  EXPECT_EQ(value_of(f, "vmreclaim_process_pressure", {{"pid", "4242"}, {"level", "urgent"}}), 1);
  EXPECT_EQ(value_of(f, "vmreclaim_process_pressure", {{"pid", "4242"}, {"level", "normal"}}), 0);
  EXPECT_EQ(value_of(f, "vmreclaim_process_stopped", {{"pid", "77"}}), 1);
  EXPECT_EQ(value_of(f, "vmreclaim_process_registered", {{"pid", "77"}}), 0);

  EXPECT_EQ(value_of(f, "vmreclaim_cgroup_usage_bytes", {{"cgroup", "/herd"}}), 900 << 20);
  EXPECT_EQ(value_of(f, "vmreclaim_cgroup_limit_bytes", {{"cgroup", "/herd"}}), 1 << 30);
  EXPECT_THROW(value_of(f, "vmreclaim_cgroup_limit_bytes", {{"cgroup", "/"}}), std::runtime_error)
      << "no limit: no sample (not a limit of 0)";
  EXPECT_EQ(value_of(f, "vmreclaim_cgroup_reclaimable_bytes", {{"cgroup", "/herd"}}), 128 << 20);
  EXPECT_EQ(value_of(f, "vmreclaim_cgroup_pressure", {{"cgroup", "/herd"}, {"level", "urgent"}}), 1);

  EXPECT_EQ(value_of(f, "vmreclaim_memory_available_bytes"), 3.0 * (1 << 30));
  EXPECT_EQ(value_of(f, "vmreclaim_pressure", {{"level", "warning"}}), 1);
  EXPECT_EQ(value_of(f, "vmreclaim_pressure", {{"level", "critical"}}), 0);
  EXPECT_EQ(value_of(f, "vmreclaim_reclaimed_bytes_total", {{"cause", "deficit"}}), 32 << 20);
  EXPECT_EQ(value_of(f, "vmreclaim_reclaimed_bytes_total", {{"cause", "oom"}}), 7);
  EXPECT_EQ(value_of(f, "vmreclaim_daemon_polls_total"), 1234);
  EXPECT_EQ(value_of(f, "vmreclaim_daemon_registrations_total"), 9);
  EXPECT_EQ(value_of(f, "vmreclaim_daemon_refused_registrations_total"), 2);
  EXPECT_EQ(value_of(f, "vmreclaim_daemon_actions_total"), 5);
  EXPECT_EQ(value_of(f, "vmreclaim_daemon_last_deficit_bytes"), 31 << 20);
  EXPECT_DOUBLE_EQ(value_of(f, "vmreclaim_daemon_poll_interval_seconds"), 0.25);

  // Every family carries its HELP and TYPE; counters are typed so.
  for (const json& fam : f) {
    EXPECT_FALSE(fam["help"].get<std::string>().empty()) << fam["family"];
    EXPECT_NE(fam["type"], "unknown") << fam["family"];
  }
  ASSERT_NE(family(f, "vmreclaim_reclaimed_bytes"), nullptr) << "the parser names a counter without _total";
  EXPECT_EQ((*family(f, "vmreclaim_reclaimed_bytes"))["type"], "counter");
  EXPECT_EQ((*family(f, "vmreclaim_reclaimable_bytes"))["type"], "gauge");
}

TEST(Metrics, HostileLabelValuesReachTheParserIntact) {
  Snapshot s;
  ProcessView p;
  p.pid = 1;
  p.comm = "a\"b\\c\nd}{,=\"";  // a command name can hold any of these
  p.cgroup = "/x\\\"y\n";
  p.reclaimable_bytes = 5;
  p.last_action = "drain";
  p.last_cause = "re\"quest\\";
  s.processes = {p};
  CgroupView c;
  c.path = "/\"}\n";
  c.usage_bytes = 6;
  s.cgroups = {c};
  s.daemon.reclaimed_bytes_total = {{"a\nb", 7}};
  auto server = start_or_fail([s] { return s; });
  ASSERT_NE(server, nullptr);
  HttpReply r = get(*server);
  ASSERT_EQ(r.status, 200);
  const json f = parse_with_prometheus(r.body);
  EXPECT_EQ(value_of(f, "vmreclaim_reclaimable_bytes", {{"comm", p.comm}, {"cgroup", p.cgroup}}), 5);
  EXPECT_EQ(value_of(f, "vmreclaim_process_last_action_bytes", {{"cause", p.last_cause}}), 0);
  EXPECT_EQ(value_of(f, "vmreclaim_cgroup_usage_bytes", {{"cgroup", c.path}}), 6);
  EXPECT_EQ(value_of(f, "vmreclaim_reclaimed_bytes_total", {{"cause", "a\nb"}}), 7);
}

TEST(Metrics, InvalidUtf8InACommandNameIsReplacedNotPassedOn) {
  Snapshot s;
  ProcessView p;
  p.pid = 2;
  p.comm = std::string("x\xff\xc3(y\xe2\x82") + "\xc3\xa9";  // stray bytes, a truncated sequence, then é
  p.reclaimable_bytes = 1;
  s.processes = {p};
  const json f = parse_with_prometheus(render_metrics(s));
  EXPECT_EQ(value_of(f, "vmreclaim_reclaimable_bytes", {{"comm", "x\uFFFD\uFFFD(y\uFFFD\uFFFD\u00e9"}}), 1);
}

TEST(Metrics, OtherPathsAre404AndOnlyGetIsServed) {
  auto server = start_or_fail([] { return sample_snapshot(); });
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(get(*server, "/").status, 404);
  EXPECT_EQ(get(*server, "/metrics/x").status, 404);
  EXPECT_EQ(get(*server, "/metricsx").status, 404);
  EXPECT_EQ(get(*server, "/metrics?name=x").status, 200) << "a query string does not change the page";
  HttpReply post =
      http_request("127.0.0.1", server->port(),
                   "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab");
  EXPECT_EQ(post.status, 405);
  EXPECT_NE(post.headers.find("Allow: GET"), std::string::npos) << post.headers;
  HttpReply head =
      http_request("127.0.0.1", server->port(), "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(head.status, 405);
}

TEST(Metrics, AnOversizedRequestIsRefusedAndTheServerGoesOn) {
  auto server = start_or_fail([] { return sample_snapshot(); });
  ASSERT_NE(server, nullptr);
  const std::string huge = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n";
  HttpReply r = http_request("127.0.0.1", server->port(), huge);
  EXPECT_TRUE(!r.ok || r.status >= 400) << "status " << r.status;
  EXPECT_EQ(get(*server).status, 200);
}

TEST(Metrics, AnAccessControlListThatExcludesTheClientRefusesIt) {
  MetricsServer::Options o;
  o.listen = "127.0.0.1:0";
  o.access_control_list = "-0.0.0.0/0";  // nobody
  std::string error;
  auto denied = MetricsServer::start(o, sample_snapshot, &error);
  ASSERT_NE(denied, nullptr) << error;
  HttpReply r = get(*denied);
  EXPECT_TRUE(!r.ok || r.status == 403) << "status " << r.status << ": " << r.body;
  EXPECT_EQ(r.body.find("vmreclaim_"), std::string::npos);
  o.access_control_list = "-0.0.0.0/0,+127.0.0.1";
  auto allowed = MetricsServer::start(o, sample_snapshot, &error);
  ASSERT_NE(allowed, nullptr) << error;
  EXPECT_EQ(get(*allowed).status, 200);
}

// A port no one listens on now (the kernel's pick for a socket we close).
uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST(Metrics, TheDaemonsStartMetricsServesThroughTheServer) {
  std::string error;
  EXPECT_EQ(start_metrics("nonsense", sample_snapshot, &error), nullptr);
  EXPECT_NE(error.find("bad listen address"), std::string::npos) << error;
  const uint16_t port = free_port();
  ASSERT_NE(port, 0);
  auto endpoint = start_metrics("127.0.0.1:" + std::to_string(port), sample_snapshot, &error);
  ASSERT_NE(endpoint, nullptr) << error;
  HttpReply r = http_request("127.0.0.1", port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("vmreclaim_daemon_polls_total 1234"), std::string::npos) << r.body;
}

TEST(Metrics, ASnapshotThatFailsIs500) {
  auto server = start_or_fail([]() -> Snapshot { throw std::runtime_error("no"); });
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(get(*server).status, 500);
}

TEST(Metrics, BadAddressesAreRefusedWithAClearError) {
  for (const char* bad : {"", "9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:http", "::1:9464",
                          "[::1:9464", "no.such.host.invalid:9464", ":9464"}) {
    MetricsServer::Options o;
    o.listen = bad;
    std::string error;
    EXPECT_EQ(MetricsServer::start(o, sample_snapshot, &error), nullptr) << bad;
    EXPECT_NE(error.find("bad listen address"), std::string::npos) << bad << ": " << error;
  }
}

TEST(Metrics, AnAddressInUseIsAClearError) {
  auto first = start_or_fail([] { return sample_snapshot(); });
  ASSERT_NE(first, nullptr);
  MetricsServer::Options o;
  o.listen = "127.0.0.1:" + std::to_string(first->port());
  std::string error;
  EXPECT_EQ(MetricsServer::start(o, sample_snapshot, &error), nullptr);
  EXPECT_NE(error.find("cannot listen on " + o.listen), std::string::npos) << error;
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
  EXPECT_EQ(get(*first).status, 200) << "the first server is untouched";
}

TEST(Metrics, ListensOnLocalhostByNameAndOnIpv6Loopback) {
  auto by_name = start_or_fail([] { return sample_snapshot(); }, "localhost:0");
  ASSERT_NE(by_name, nullptr);
  EXPECT_EQ(by_name->url_authority(), "127.0.0.1:" + std::to_string(by_name->port()));
  EXPECT_EQ(get(*by_name).status, 200);

  const int probe = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  const bool have_ipv6 = probe >= 0 && ::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (probe >= 0) ::close(probe);
  if (!have_ipv6) GTEST_SKIP() << "this machine has no IPv6 loopback (binding [::1] fails)";
  if (mg_check_feature(8) == 0) {
    // Debian 12's civetweb is built without IPv6: the daemon says so.
    MetricsServer::Options o;
    o.listen = "[::1]:0";
    std::string error;
    EXPECT_EQ(MetricsServer::start(o, sample_snapshot, &error), nullptr);
    EXPECT_NE(error.find("without IPv6"), std::string::npos) << error;
    GTEST_SKIP() << "this civetweb was built without IPv6 (mg_check_feature(8) is 0): checked the error only";
  }
  auto v6 = start_or_fail([] { return sample_snapshot(); }, "[::1]:0");
  ASSERT_NE(v6, nullptr);
  EXPECT_EQ(v6->url_authority(), "[::1]:" + std::to_string(v6->port()));
  HttpReply r = http_request("::1", v6->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true);
  EXPECT_EQ(r.status, 200);
}

}  // namespace
}  // namespace vmreclaim::test
