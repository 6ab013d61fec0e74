// Where vmreclaimd's --metrics-listen goes: the metrics endpoint (a
// MetricsServer rendering daemon::Snapshot at /metrics) is started through
// this one function, which that endpoint's source defines. The daemon's
// core does not depend on the HTTP library.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "daemon/snapshot.h"

namespace vmreclaim::daemon {

// Serves until destroyed.
class MetricsEndpoint {
 public:
  virtual ~MetricsEndpoint() = default;
};

using SnapshotSource = std::function<Snapshot()>;

// Starts serving `listen` ("HOST:PORT"); `source` gives the current snapshot
// (callable from any thread). nullptr with `*error` set when it cannot.
std::unique_ptr<MetricsEndpoint> start_metrics(const std::string& listen, SnapshotSource source, std::string* error);

}  // namespace vmreclaim::daemon
