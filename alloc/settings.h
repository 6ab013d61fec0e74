// The layer's settings, read once from the environment without allocating:
//   VMRECLAIM_MALLOC_THRESHOLD  requests at least this large are served by
//                               the layer (bytes, K/M/G suffixes: support/numbers.h;
//                               default 128K)
//   VMRECLAIM_MALLOC_CACHE_MAX  most bytes the cache of freed blocks may hold
//                               (default: 1G, or 1/8 of RAM if smaller)
//   VMRECLAIM_MALLOC_REPORT     append a one-line summary to this file at exit
// A bad value is reported on stderr (naming the variable) and the default kept.
// A privileged process (set-user-ID, capabilities: AT_SECURE) reads none of
// them (support/environment.h): the defaults apply and no report is written.
#pragma once

#include <cstddef>

namespace vmreclaim::alloc {

struct Settings {
  size_t threshold = 128 * 1024;
  size_t cache_max = 1ull << 30;
  const char* report_path = nullptr;  // points into the environment
};

// Parsed on first call; later calls return the same object.
const Settings& settings() noexcept;

}  // namespace vmreclaim::alloc
