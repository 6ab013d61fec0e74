#include "daemon/metrics.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <civetweb.h>

#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <set>
#include <vector>

#include "support/log.h"

namespace vmreclaim::daemon {
namespace {

// The levels a pressure label may take; a value outside them is still shown.
constexpr std::array<const char*, 4> kLevels = {"normal", "warning", "urgent", "critical"};

// Prometheus label values and HELP text are UTF-8: bytes that do not form
// valid UTF-8 (a command name may hold any) become U+FFFD.
std::string valid_utf8(const std::string& in) {
  std::string out;
  out.reserve(in.size());
  const auto* s = reinterpret_cast<const unsigned char*>(in.data());
  const size_t n = in.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    size_t len = 0;
    uint32_t min = 0;
    if (c < 0x80) {
      len = 1;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000;
    }
    bool ok = len > 0 && i + len <= n;
    uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (size_t k = 1; ok && k < len; k++) {
      ok = (s[i + k] & 0xC0) == 0x80;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    ok = ok && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (ok) {
      out.append(in, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      i++;
    }
  }
  return out;
}

// Label values escape backslash, double quote and newline (the text format's rules).
std::string label_value(const std::string& v) {
  std::string out;
  for (char c : valid_utf8(v)) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

class Page {
 public:
  // One family: its HELP and TYPE lines, then samples through sample().
  void family(const char* name, const char* type, const char* help) {
    name_ = name;
    text_ += "# HELP ";
    text_ += name;
    text_ += ' ';
    text_ += help;  // our own text: no backslashes or newlines to escape
    text_ += "\n# TYPE ";
    text_ += name;
    text_ += ' ';
    text_ += type;
    text_ += '\n';
  }
  using Labels = std::vector<std::pair<const char*, std::string>>;
  void sample(const Labels& labels, uint64_t value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%" PRIu64, value);
    line(labels, buf);
  }
  void sample_double(const Labels& labels, double value) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.17g", value);
    line(labels, buf);
  }
  std::string take() { return std::move(text_); }

 private:
  void line(const Labels& labels, const char* value) {
    text_ += name_;
    if (!labels.empty()) {
      text_ += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) text_ += ',';
        first = false;
        text_ += k;
        text_ += "=\"";
        text_ += label_value(v);
        text_ += '"';
      }
      text_ += '}';
    }
    text_ += ' ';
    text_ += value;
    text_ += '\n';
  }

  std::string text_;
  std::string name_;
};

Page::Labels process_labels(const ProcessView& p) {
  return {{"pid", std::to_string(p.pid)}, {"comm", p.comm}, {"cgroup", p.cgroup}};
}

// A level as a labelled gauge: one sample per known level, 1 for the current.
void levels(Page& page, Page::Labels base, const std::string& current) {
  base.emplace_back("level", "");
  bool known = false;
  for (const char* level : kLevels) {
    base.back().second = level;
    page.sample(base, current == level ? 1 : 0);
    known = known || current == level;
  }
  if (!known && !current.empty()) {
    base.back().second = current;
    page.sample(base, 1);
  }
}

// Every cause named in the snapshot's counters, daemon's or processes'.
std::set<std::string> all_causes(const Snapshot& s) {
  std::set<std::string> causes;
  for (const auto& [cause, bytes] : s.daemon.reclaimed_bytes_total) causes.insert(cause);
  for (const ProcessView& p : s.processes) {
    for (const auto& [cause, bytes] : p.reclaimed_bytes_total) causes.insert(cause);
  }
  return causes;
}

// Why binding `a` fails, as civetweb binds it (SO_REUSEADDR); empty if it does not.
std::string bind_failure(const ListenAddress& a) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (a.ipv6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(a.port);
    if (::inet_pton(AF_INET6, a.numeric.c_str(), &in6->sin6_addr) != 1) return {};
    len = sizeof *in6;
  } else {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&ss);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(a.port);
    if (::inet_pton(AF_INET, a.numeric.c_str(), &in4->sin_addr) != 1) return {};
    len = sizeof *in4;
  }
  const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  const int one = 1;
  std::string reason;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
    reason = std::strerror(errno);
  }
  ::close(fd);
  return reason;
}

}  // namespace

std::string render_metrics(const Snapshot& s) {
  Page page;
  page.family("vmreclaim_reclaimable_bytes", "gauge", "Bytes in the process's reclaim ring not yet reclaimed.");
  for (const ProcessView& p : s.processes) page.sample(process_labels(p), p.reclaimable_bytes);
  page.family("vmreclaim_stalest_bytes", "gauge",
              "Of the reclaimable bytes, those unused over the whole sampling window.");
  for (const ProcessView& p : s.processes) page.sample(process_labels(p), p.stalest_bytes);
  page.family("vmreclaim_process_reclaimed_bytes_total", "counter",
              "Bytes the process gave back at the daemon's request, by cause.");
  for (const ProcessView& p : s.processes) {
    for (const auto& [cause, bytes] : p.reclaimed_bytes_total) {
      Page::Labels l = process_labels(p);
      l.emplace_back("cause", cause);
      page.sample(l, bytes);
    }
  }
  page.family("vmreclaim_process_last_action_bytes", "gauge",
              "Bytes asked for by the daemon's last action on the process, labelled by action and cause.");
  for (const ProcessView& p : s.processes) {
    if (p.last_action.empty() || p.last_action == "none") continue;
    Page::Labels l = process_labels(p);
    l.emplace_back("action", p.last_action);
    l.emplace_back("cause", p.last_cause);
    page.sample(l, p.last_action_bytes);
  }
  page.family("vmreclaim_process_last_action_timestamp_seconds", "gauge",
              "When the daemon last acted on the process (Unix time).");
  for (const ProcessView& p : s.processes) {
    if (p.last_action_unix_s > 0) page.sample_double(process_labels(p), p.last_action_unix_s);
  }
  page.family("vmreclaim_process_registered", "gauge",
              "1 if the process registered with the daemon, 0 if found by discovery only.");
  for (const ProcessView& p : s.processes) page.sample(process_labels(p), p.registered ? 1 : 0);
  page.family("vmreclaim_process_stopped", "gauge", "1 if the process was stopped or frozen when last looked at.");
  for (const ProcessView& p : s.processes) page.sample(process_labels(p), p.stopped ? 1 : 0);
  page.family("vmreclaim_process_pressure", "gauge",
              "The pressure level the daemon publishes to the process (1 for the current level).");
  for (const ProcessView& p : s.processes) levels(page, process_labels(p), p.pressure);

  page.family("vmreclaim_cgroup_usage_bytes", "gauge", "Memory usage of the cgroup.");
  for (const CgroupView& c : s.cgroups) page.sample({{"cgroup", c.path}}, c.usage_bytes);
  page.family("vmreclaim_cgroup_limit_bytes", "gauge", "Memory limit of the cgroup (absent when it has none).");
  for (const CgroupView& c : s.cgroups) {
    if (c.limit_bytes != 0) page.sample({{"cgroup", c.path}}, c.limit_bytes);
  }
  page.family("vmreclaim_cgroup_high_watermark_bytes", "gauge",
              "Usage above which the daemon asks the cgroup's processes to give back memory.");
  for (const CgroupView& c : s.cgroups) page.sample({{"cgroup", c.path}}, c.high_watermark_bytes);
  page.family("vmreclaim_cgroup_low_watermark_bytes", "gauge", "Usage the daemon's requests aim to get back to.");
  for (const CgroupView& c : s.cgroups) page.sample({{"cgroup", c.path}}, c.low_watermark_bytes);
  page.family("vmreclaim_cgroup_reclaimable_bytes", "gauge", "Reclaimable bytes over the cgroup's watched processes.");
  for (const CgroupView& c : s.cgroups) page.sample({{"cgroup", c.path}}, c.reclaimable_bytes);
  page.family("vmreclaim_cgroup_pressure", "gauge", "The cgroup's pressure level (1 for the current level).");
  for (const CgroupView& c : s.cgroups) levels(page, {{"cgroup", c.path}}, c.pressure);

  page.family("vmreclaim_memory_available_bytes", "gauge", "The machine's MemAvailable.");
  page.sample({}, s.mem_available_bytes);
  page.family("vmreclaim_pressure", "gauge", "The machine's pressure level (1 for the current level).");
  levels(page, {}, s.machine_pressure);

  page.family("vmreclaim_reclaimed_bytes_total", "counter",
              "Bytes given back at the daemon's requests over all processes, by cause.");
  for (const std::string& cause : all_causes(s)) {
    auto it = s.daemon.reclaimed_bytes_total.find(cause);
    page.sample({{"cause", cause}}, it == s.daemon.reclaimed_bytes_total.end() ? 0 : it->second);
  }
  page.family("vmreclaim_daemon_polls_total", "counter", "Polls of pressure, usage and limits.");
  page.sample({}, s.daemon.polls);
  page.family("vmreclaim_daemon_registrations_total", "counter", "Registrations accepted.");
  page.sample({}, s.daemon.registrations);
  page.family("vmreclaim_daemon_refused_registrations_total", "counter", "Registrations refused.");
  page.sample({}, s.daemon.refused_registrations);
  page.family("vmreclaim_daemon_actions_total", "counter", "Requests the daemon sent to processes.");
  page.sample({}, s.daemon.actions);
  page.family("vmreclaim_daemon_last_deficit_bytes", "gauge", "The last deficit the daemon computed.");
  page.sample({}, s.daemon.deficit_bytes_last);
  page.family("vmreclaim_daemon_poll_interval_seconds", "gauge", "The daemon's poll period.");
  page.sample_double({}, s.poll_ms / 1000.0);
  page.family("vmreclaim_daemon_processes", "gauge", "Processes the daemon watches.");
  page.sample({}, s.processes.size());
  page.family("vmreclaim_snapshot_timestamp_seconds", "gauge", "When the daemon took the snapshot (Unix time).");
  page.sample_double({}, s.unix_s);
  return page.take();
}

std::string parse_listen_address(const std::string& text, ListenAddress* out) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return "'" + text + "' is not HOST:PORT";
  std::string host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  bool bracketed = false;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    bracketed = true;
  }
  if (host.empty()) return "'" + text + "': the host is missing (e.g. 127.0.0.1:9464, [::1]:9464, localhost:9464)";
  if (!bracketed && host.find(':') != std::string::npos) {
    return "'" + text + "': an IPv6 address goes in brackets, e.g. [::1]:9464";
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535) {
    return "'" + text + "': the port must be a number from 0 to 65535";
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    return "'" + text + "': cannot resolve '" + host +
           "': " + (rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc));
  }
  // The first address of a name (IPv4 before IPv6 when both are there).
  const addrinfo* pick = res;
  for (const addrinfo* a = res; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      pick = a;
      break;
    }
  }
  char numeric[NI_MAXHOST];
  const int nrc = ::getnameinfo(pick->ai_addr, pick->ai_addrlen, numeric, sizeof numeric, nullptr, 0, NI_NUMERICHOST);
  const bool ipv6 = pick->ai_family == AF_INET6;
  ::freeaddrinfo(res);
  if (nrc != 0) return "'" + text + "': " + gai_strerror(nrc);
  out->host = host;
  out->numeric = numeric;
  out->ipv6 = ipv6;
  out->port = static_cast<uint16_t>(std::stoul(port));
  return {};
}

std::unique_ptr<MetricsServer> MetricsServer::start(const Options& options, SnapshotSource source, std::string* error) {
  ListenAddress address;
  if (std::string err = parse_listen_address(options.listen, &address); !err.empty()) {
    *error = "metrics: bad listen address " + err;
    return nullptr;
  }
  if (options.threads < 1 || options.threads > 64 || options.request_timeout_ms < 1 ||
      options.max_request_bytes < 1024) {
    *error = "metrics: threads must be 1..64, the request timeout positive and the request size at least 1024";
    return nullptr;
  }
  static std::once_flag library_once;
  std::call_once(library_once, [] { mg_init_library(0); });
  if (address.ipv6 && mg_check_feature(8) == 0) {
    *error = "metrics: cannot listen on " + options.listen + ": this civetweb was built without IPv6";
    return nullptr;
  }

  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->source_ = std::move(source);
  server->address_ = address;
  const std::string ports =
      (address.ipv6 ? "[" + address.numeric + "]" : address.numeric) + ":" + std::to_string(address.port);
  const std::string threads = std::to_string(options.threads);
  const std::string timeout = std::to_string(options.request_timeout_ms);
  const std::string max_request = std::to_string(options.max_request_bytes);
  std::vector<const char*> config = {
      "listening_ports", ports.c_str(),      "num_threads",       threads.c_str(),     "request_timeout_ms",
      timeout.c_str(),   "max_request_size", max_request.c_str(), "enable_keep_alive", "no"};
  if (!options.access_control_list.empty()) {
    config.push_back("access_control_list");
    config.push_back(options.access_control_list.c_str());
  }
  config.push_back(nullptr);

  mg_callbacks callbacks{};
  // civetweb's own messages go to our log (debug level): failures to start
  // come back through mg_error_data below and are reported by the caller.
  callbacks.log_message = [](const mg_connection*, const char* message) {
    support::log(support::LogLevel::debug, "metrics: %s", message);
    return 1;
  };
  char text[256] = {};
  unsigned code = 0;
  mg_error_data err{&code, text, sizeof text};
  mg_init_data init{&callbacks, server.get(), config.data()};
  server->ctx_ = mg_start2(&init, &err);
  if (server->ctx_ == nullptr) {
    // civetweb says only "Failed to setup server ports": a bind of our own
    // finds the reason (in use, no permission, no such local address).
    std::string reason = bind_failure(address);
    if (reason.empty()) reason = text[0] != '\0' ? text : "civetweb failed to start";
    *error = "metrics: cannot listen on " + options.listen + ": " + reason;
    return nullptr;
  }
  mg_set_request_handler(server->ctx_, "/", &MetricsServer::handle, server.get());
  mg_server_port bound{};
  if (mg_get_server_ports(server->ctx_, 1, &bound) != 1 || bound.port <= 0 || bound.port > 65535) {
    *error = "metrics: cannot read the port bound for " + options.listen;
    return nullptr;  // the destructor stops civetweb
  }
  server->port_ = static_cast<uint16_t>(bound.port);
  return server;
}

MetricsServer::~MetricsServer() {
  if (ctx_ != nullptr) mg_stop(ctx_);
}

std::string MetricsServer::url_authority() const {
  return (address_.ipv6 ? "[" + address_.numeric + "]" : address_.numeric) + ":" + std::to_string(port_);
}

int MetricsServer::handle(mg_connection* conn, void* self) {
  auto* server = static_cast<MetricsServer*>(self);
  const mg_request_info* req = mg_get_request_info(conn);
  const char* uri = req->local_uri != nullptr ? req->local_uri : "";
  if (std::strcmp(uri, "/metrics") != 0) {
    mg_send_http_error(conn, 404, "Not found: the metrics are at /metrics\n");
    return 404;
  }
  if (req->request_method == nullptr || std::strcmp(req->request_method, "GET") != 0) {
    static constexpr char kBody[] = "Only GET\n";
    mg_printf(conn,
              "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nContent-Type: text/plain\r\n"
              "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
              sizeof kBody - 1, kBody);
    return 405;
  }
  std::string body;
  try {
    body = render_metrics(server->source_());
  } catch (const std::exception& e) {
    support::log(support::LogLevel::error, "metrics: the snapshot failed: %s", e.what());
    mg_send_http_error(conn, 500, "The daemon could not take a snapshot\n");
    return 500;
  }
  mg_send_http_ok(conn, "text/plain; version=0.0.4; charset=utf-8", static_cast<long long>(body.size()));
  mg_write(conn, body.data(), body.size());
  return 200;
}

}  // namespace vmreclaim::daemon
