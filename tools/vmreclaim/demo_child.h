// Runs a piece of the demo in a forked child, so that every run starts from
// the same clean RssAnon and has the process's one ring to itself. The child
// hands its result back through a pipe as bytes.
#pragma once

#include <functional>
#include <string>

namespace vmreclaim::tools::demo {

struct ChildOutcome {
  bool ok = false;      // the child exited 0 and sent its payload
  std::string payload;  // what the body returned
  std::string error;    // why not, when !ok
};

// `body` runs in the child; what it returns is the payload. It must not
// throw (catch and encode failures in the payload).
ChildOutcome run_in_child(const std::function<std::string()>& body);

}  // namespace vmreclaim::tools::demo
