// The daemon's Prometheus endpoint: GET /metrics renders a Snapshot in the
// Prometheus text exposition format (version 0.0.4), served by civetweb.
//
// Who may talk to it is decided here and only here: whoever can reach the
// address it listens on (`--metrics-listen HOST:PORT`), optionally narrowed
// by a civetweb access-control list. The page names every watched process
// (pid, command, cgroup), so the daemon listens on loopback unless told
// otherwise. Requests are GET of exactly /metrics (HEAD and others get 405,
// other paths 404); request headers are bounded in size, the number of
// serving threads is fixed, and a request that does not arrive in time is
// dropped.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "daemon/snapshot.h"

struct mg_context;
struct mg_connection;

namespace vmreclaim::daemon {

// The page for one snapshot (also what tests and `vmreclaim status` could
// render without a server).
std::string render_metrics(const Snapshot& s);

// "HOST:PORT" with HOST an IPv4 address, a bracketed IPv6 address or a name
// (localhost); PORT 0..65535, 0 meaning any free port. Resolved to one
// numeric address. Empty string on success, else what is wrong.
struct ListenAddress {
  std::string host;     // as given (brackets removed)
  std::string numeric;  // "127.0.0.1" or "::1"
  bool ipv6 = false;
  uint16_t port = 0;
};
std::string parse_listen_address(const std::string& text, ListenAddress* out);

class MetricsServer {
 public:
  struct Options {
    std::string listen = "127.0.0.1:9464";
    int threads = 2;                  // serving threads
    int request_timeout_ms = 5000;    // a request that takes longer is dropped
    int max_request_bytes = 8192;     // request line and headers
    std::string access_control_list;  // civetweb's syntax ("-0.0.0.0/0,+127.0.0.1"); empty: none
  };
  // Called for every GET /metrics on civetweb's serving threads, so possibly
  // on `threads` threads at once: it must be safe to call concurrently. An
  // exception from it becomes a 500.
  using SnapshotSource = std::function<Snapshot()>;

  // Starts serving. On failure returns nullptr and sets *error to a message
  // that names the address (bad address, address in use, no permission).
  static std::unique_ptr<MetricsServer> start(const Options& options, SnapshotSource source, std::string* error);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port actually bound (the one chosen when 0 was asked for).
  uint16_t port() const noexcept { return port_; }
  // "127.0.0.1:PORT" or "[::1]:PORT".
  std::string url_authority() const;

 private:
  MetricsServer() = default;
  static int handle(mg_connection* conn, void* self);

  mg_context* ctx_ = nullptr;
  SnapshotSource source_;
  ListenAddress address_;
  uint16_t port_ = 0;
};

}  // namespace vmreclaim::daemon
