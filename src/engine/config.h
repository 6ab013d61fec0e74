// The engine's own settings: how it walks the ring and what it does on a
// guard fault. The engine reads nothing else; the policy layer builds one
// from its tunables (policy::engine_config), tests build one by hand.
#pragma once

#include <cstdint>

#include "platform/linux/vm_ops.h"

namespace vmreclaim::engine {

// What a guard fault does: kill the process (Darwin's guard exception), or
// log, count and skip the offending entry or operation (VMRECLAIM_GUARD=log).
enum class GuardMode : uint8_t { fatal, log };

struct Config {
  // Entries claimed with `busy` and copied out at a time (1..kMaxChunk).
  uint32_t chunk_size = 16;
  GuardMode guard = GuardMode::fatal;
  // How FREE entries' pages are given back (madvise advice).
  platform::FreeAdvice free_advice = platform::FreeAdvice::dontneed;

  static constexpr uint32_t kMaxChunk = 256;
};

}  // namespace vmreclaim::engine
