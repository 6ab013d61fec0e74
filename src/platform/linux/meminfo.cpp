#include "platform/linux/meminfo.h"

#include <cerrno>

#include "platform/linux/proc_file.h"

namespace vmreclaim::platform {

std::optional<MemInfo> parse_meminfo(std::string_view text) noexcept {
  auto total = find_keyed_u64(text, "MemTotal", true);
  auto avail = find_keyed_u64(text, "MemAvailable", true);
  if (!total || !avail || *total == 0 || *avail > *total) return std::nullopt;
  return MemInfo{*total, *avail};
}

std::optional<MemInfo> read_meminfo(int* error) noexcept {
  char buf[8192];
  long n = read_small_file("/proc/meminfo", buf, sizeof buf);
  if (n < 0) {
    if (error != nullptr) *error = static_cast<int>(-n);
    return std::nullopt;
  }
  auto m = parse_meminfo(std::string_view(buf, static_cast<size_t>(n)));
  if (error != nullptr) *error = m ? 0 : EINVAL;
  return m;
}

}  // namespace vmreclaim::platform
