// vmreclaimd's --metrics-listen (daemon/metrics_hook.h): the MetricsServer
// of daemon/metrics.h behind the daemon's start_metrics, with the default
// options (two threads, 5 s request time-out, 8 KiB requests). Replaces the
// build's definition without an endpoint (metrics_hook.cpp): link
// vmreclaim_metrics instead.
#include <utility>

#include "daemon/metrics.h"
#include "daemon/metrics_hook.h"

namespace vmreclaim::daemon {
namespace {

class ServedMetrics final : public MetricsEndpoint {
 public:
  explicit ServedMetrics(std::unique_ptr<MetricsServer> server) : server_(std::move(server)) {}

 private:
  std::unique_ptr<MetricsServer> server_;
};

}  // namespace

std::unique_ptr<MetricsEndpoint> start_metrics(const std::string& listen, SnapshotSource source, std::string* error) {
  MetricsServer::Options options;
  options.listen = listen;
  auto server = MetricsServer::start(options, std::move(source), error);
  if (!server) return nullptr;
  return std::make_unique<ServedMetrics>(std::move(server));
}

}  // namespace vmreclaim::daemon
