// vmreclaimd: the machine-wide reclaimer (docs/daemon.md). Runs in the
// foreground (under systemd, Type=notify, or any supervisor), logs to
// stderr, and tells systemd it is ready after its first poll.
#include <signal.h>
#include <systemd/sd-daemon.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "daemon/daemon.h"
#include "daemon/metrics_hook.h"
#include "support/daemon_socket.h"

int main(int argc, char** argv) {
  CLI::App app{"vmreclaimd: the machine-wide reclaimer for vmreclaim rings"};
  bool foreground = false;
  vmreclaim::daemon::Options opt;
  std::string metrics_listen;
  app.add_flag("--foreground", foreground, "Run in the foreground (the only mode: vmreclaimd never forks)");
  // Where every client can find it whatever its working directory, and what
  // a sockaddr_un holds: the rule the engine's VMRECLAIM_DAEMON_SOCKET and
  // `vmreclaim status --socket` follow.
  app.add_option("--socket", opt.socket_path, "The daemon's socket, an absolute path")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& path) -> std::string {
            if (vmreclaim::support::is_socket_path(path)) return "";
            return "\"" + path.substr(0, 64) + "\" is not valid (expected an absolute path of at most " +
                   std::to_string(vmreclaim::support::kMaxSocketPath) + " bytes)";
          },
          "PATH"));
  app.add_option("--metrics-listen", metrics_listen, "Serve Prometheus metrics at HOST:PORT/metrics");
  app.add_option("--poll-ms", opt.poll_ms, "Poll period in milliseconds")
      ->check(CLI::Range(10u, 60000u))
      ->capture_default_str();
  app.add_option("--discover-every", opt.discover_every,
                 "Polls between two scans of /proc for rings that did not register (0: never)")
      ->capture_default_str();
  app.add_option("--discover-scope", opt.discover_scope,
                 "Discover only processes in this memory cgroup or below it (as /proc/PID/cgroup names it)");
  CLI11_PARSE(app, argc, argv);
  if (!foreground) {
    std::fprintf(stderr, "vmreclaimd: runs in the foreground only; start it with --foreground (systemd's unit does)\n");
    return 2;
  }
  // Taken through the daemon's signalfd: blocked before any thread starts.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto daemon = vmreclaim::daemon::Daemon::create(opt);
  if (!daemon) return 1;
  std::unique_ptr<vmreclaim::daemon::MetricsEndpoint> metrics;
  if (!metrics_listen.empty()) {
    std::string error;
    vmreclaim::daemon::Daemon* d = daemon->get();
    metrics = vmreclaim::daemon::start_metrics(
        metrics_listen, [d] { return d->snapshot(); }, &error);
    if (!metrics) {
      std::fprintf(stderr, "vmreclaimd: %s\n", error.c_str());
      return 1;
    }
  }
  const int rc = (*daemon)->run([] { sd_notify(0, "READY=1"); });
  sd_notify(0, "STOPPING=1");
  metrics.reset();
  return rc;
}
