// The layer's settings, read once from the environment without allocating:
//   VMRECLAIM_MALLOC_THRESHOLD  requests at least this large are served by
//                               the layer (bytes, K/M/G suffixes: support/numbers.h;
//                               default 128K)
//   VMRECLAIM_MALLOC_CACHE_MAX  most bytes the cache of freed blocks may hold
//                               (default: 1G, or 1/8 of RAM if smaller)
//   VMRECLAIM_MALLOC_HUGEPAGES  1: blocks of 2 MiB and more are advised for
//                               transparent huge pages (default); 0: not
//   VMRECLAIM_MALLOC_REPORT     append a one-line summary to this file at exit
// and one the engine reads (its tunable; the layer only sets the default):
//   VMRECLAIM_IDLE_TRIM_NS      once the ring has seen no enter or cancel for
//                               this long, the engine thread gives back all
//                               it holds (default under the layer: 500 ms;
//                               0: never, the engine's sampling alone)
// A bad value is reported on stderr (naming the variable) and the default kept.
// A privileged process (set-user-ID, capabilities: AT_SECURE) reads none of
// them (support/environment.h): the defaults apply and no report is written.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vmreclaim::alloc {

struct Settings {
  size_t threshold = size_t{128} * 1024;
  size_t cache_max = 1ull << 30;
  // A block of 2 MiB or more faults in 2 MiB at a time (one fault and one
  // clear instead of 512): large blocks are written whole, and faults were
  // most of a large churn's time (docs/allocator.md, "Huge pages for large
  // blocks").
  bool huge_pages = true;
  const char* report_path = nullptr;  // points into the environment
  // The idle trim's quiet time the layer asks of the engine unless
  // VMRECLAIM_IDLE_TRIM_NS says otherwise (docs/allocator.md, "After the
  // program stops": given back 0.5-0.75 s after the last large free or
  // allocation).
  uint64_t idle_trim_ns = 500'000'000;
};

// Parsed on first call; later calls return the same object.
const Settings& settings() noexcept;

}  // namespace vmreclaim::alloc
