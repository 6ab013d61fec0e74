#include "support/log.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace vmreclaim::support {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::error)};

void vwrite_line(const char* fmt, va_list ap) noexcept {
  char buf[512];
  int saved_errno = errno;
  int n = std::snprintf(buf, sizeof buf, "vmreclaim: ");
  int m = std::vsnprintf(buf + n, sizeof buf - static_cast<size_t>(n) - 1, fmt, ap);
  size_t len = static_cast<size_t>(n) + (m < 0 ? 0 : static_cast<size_t>(m));
  if (len > sizeof buf - 2) len = sizeof buf - 2;
  buf[len++] = '\n';
  const char* p = buf;
  while (len > 0) {
    ssize_t w = ::write(STDERR_FILENO, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;  // nowhere to report a failure to report
    p += w;
    len -= static_cast<size_t>(w);
  }
  errno = saved_errno;
}

}  // namespace

void set_log_level(LogLevel level) noexcept { g_level.store(static_cast<int>(level)); }
LogLevel log_level() noexcept { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

void log_always(const char* fmt, ...) noexcept {
  va_list ap;
  va_start(ap, fmt);
  vwrite_line(fmt, ap);
  va_end(ap);
}

void log(LogLevel level, const char* fmt, ...) noexcept {
  if (static_cast<int>(level) > g_level.load(std::memory_order_relaxed)) return;
  va_list ap;
  va_start(ap, fmt);
  vwrite_line(fmt, ap);
  va_end(ap);
}

void LogOnce::operator()(LogLevel level, const char* fmt, ...) noexcept {
  if (done_.exchange(true, std::memory_order_relaxed)) return;
  if (static_cast<int>(level) > g_level.load(std::memory_order_relaxed)) return;
  va_list ap;
  va_start(ap, fmt);
  vwrite_line(fmt, ap);
  va_end(ap);
}

}  // namespace vmreclaim::support
