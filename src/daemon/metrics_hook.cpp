// The build without a metrics endpoint: --metrics-listen is refused with a
// clear error. The metrics endpoint's source replaces this definition.
#include "daemon/metrics_hook.h"

namespace vmreclaim::daemon {

std::unique_ptr<MetricsEndpoint> start_metrics(const std::string& listen, SnapshotSource, std::string* error) {
  *error = "cannot serve metrics on " + listen + ": this build has no metrics endpoint";
  return nullptr;
}

}  // namespace vmreclaim::daemon
