#include "settings.h"

#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "size_classes.h"
#include "support/environment.h"

namespace vmreclaim::alloc {
namespace {

Settings g_settings;
std::atomic<int> g_state{0};  // 0 unread, 1 reading, 2 ready

void complain(const char* var, const char* value, const char* why) noexcept {
  char line[256];
  int n =
      std::snprintf(line, sizeof line, "vmreclaim-malloc: ignoring %s=%s (%s); using the default\n", var, value, why);
  if (n > 0) {
    ssize_t ignored = ::write(STDERR_FILENO, line, static_cast<size_t>(n) < sizeof line ? n : sizeof line - 1);
    (void)ignored;
  }
}

void read_size(const char* var, size_t min, size_t max, size_t* out) noexcept {
  const char* v = support::setting_from_env(var);
  if (v == nullptr) return;
  std::optional<size_t> n = parse_size(v);
  if (!n) {
    complain(var, v, "not a size");
  } else if (*n < min || *n > max) {
    complain(var, v, "out of range");
  } else {
    *out = *n;
  }
}

}  // namespace

std::optional<size_t> parse_size(std::string_view text) noexcept {
  if (text.empty()) return std::nullopt;
  size_t v = 0;
  size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; i++) {
    size_t d = static_cast<size_t>(text[i] - '0');
    if (v > (SIZE_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  if (i == 0) return std::nullopt;
  unsigned shift = 0;
  if (i < text.size()) {
    switch (text[i]) {
      case 'k':
      case 'K': shift = 10; break;
      case 'm':
      case 'M': shift = 20; break;
      case 'g':
      case 'G': shift = 30; break;
      default: return std::nullopt;
    }
    if (++i != text.size()) return std::nullopt;
  }
  if (shift != 0 && v > (SIZE_MAX >> shift)) return std::nullopt;
  return v << shift;
}

const Settings& settings() noexcept {
  if (g_state.load(std::memory_order_acquire) == 2) return g_settings;
  int expected = 0;
  if (g_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    Settings s;
    long pages = ::sysconf(_SC_PHYS_PAGES);
    if (pages > 0 && static_cast<size_t>(pages) * kPageSize / 8 < s.cache_max) {
      s.cache_max = static_cast<size_t>(pages) * kPageSize / 8;
    }
    // At least a page: smaller blocks would waste most of their mapping.
    read_size("VMRECLAIM_MALLOC_THRESHOLD", kPageSize, size_t{1} << 40, &s.threshold);
    read_size("VMRECLAIM_MALLOC_CACHE_MAX", 0, SIZE_MAX, &s.cache_max);
    s.report_path = support::setting_from_env("VMRECLAIM_MALLOC_REPORT");
    g_settings = s;
    g_state.store(2, std::memory_order_release);
  } else {
    while (g_state.load(std::memory_order_acquire) != 2) ::sched_yield();
  }
  return g_settings;
}

}  // namespace vmreclaim::alloc
