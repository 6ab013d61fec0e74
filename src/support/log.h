// One line per message on stderr, prefixed "vmreclaim: ". Built on write(2)
// so it is usable from the engine thread and after fork without locks.
#pragma once

#include <atomic>
#include <cstdarg>

namespace vmreclaim::support {

enum class LogLevel : int { none = 0, error = 1, info = 2, debug = 3 };

// The threshold; messages above it are dropped. Set from VMRECLAIM_LOG.
void set_log_level(LogLevel level) noexcept;
LogLevel log_level() noexcept;

// Unconditional: bad configuration and guard faults must always be seen.
[[gnu::format(printf, 1, 2)]] void log_always(const char* fmt, ...) noexcept;
[[gnu::format(printf, 2, 3)]] void log(LogLevel level, const char* fmt, ...) noexcept;

// Logs the first time only; for failures that would otherwise repeat forever.
class LogOnce {
 public:
  [[gnu::format(printf, 3, 4)]] void operator()(LogLevel level, const char* fmt, ...) noexcept;

 private:
  std::atomic<bool> done_{false};
};

}  // namespace vmreclaim::support
