#include "settings.h"

#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "size_classes.h"
#include "support/environment.h"
#include "support/numbers.h"

namespace vmreclaim::alloc {
namespace {

Settings g_settings;
std::atomic<int> g_state{0};  // 0 unread, 1 reading, 2 ready

void complain(const char* var, const char* value, const char* why, const char* detail = nullptr) noexcept {
  char line[320];
  int n = std::snprintf(line, sizeof line, "vmreclaim-malloc: ignoring %s=%s (%s%s%s); using the default\n", var, value,
                        why, detail != nullptr ? ": " : "", detail != nullptr ? detail : "");
  if (n > 0) {
    ssize_t ignored = ::write(STDERR_FILENO, line, static_cast<size_t>(n) < sizeof line ? n : sizeof line - 1);
    (void)ignored;
  }
}

void read_size(const char* var, size_t min, size_t max, size_t* out) noexcept {
  const char* v = support::setting_from_env(var);
  if (v == nullptr) return;
  static_assert(sizeof(size_t) == sizeof(uint64_t), "a byte count fits a size_t");
  const support::ParsedNumber n = support::parse_byte_size(v);
  if (!n.ok()) {
    complain(var, v, "not a size", support::number_error_text(n.error));
  } else if (n.value < min || n.value > max) {
    complain(var, v, "out of range");
  } else {
    *out = static_cast<size_t>(n.value);
  }
}

void read_flag(const char* var, bool* out) noexcept {
  const char* v = support::setting_from_env(var);
  if (v == nullptr) return;
  if (v[0] != '\0' && v[1] == '\0' && (v[0] == '0' || v[0] == '1')) {
    *out = v[0] == '1';
  } else {
    complain(var, v, "not 0 or 1");
  }
}

}  // namespace

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
    read_flag("VMRECLAIM_MALLOC_HUGEPAGES", &s.huge_pages);
    s.report_path = support::setting_from_env("VMRECLAIM_MALLOC_REPORT");
    g_settings = s;
    g_state.store(2, std::memory_order_release);
  } else {
    while (g_state.load(std::memory_order_acquire) != 2) ::sched_yield();
  }
  return g_settings;
}

}  // namespace vmreclaim::alloc
