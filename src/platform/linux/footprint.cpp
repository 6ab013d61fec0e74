#include "platform/linux/footprint.h"

#include "platform/linux/proc_file.h"
#include "support/log.h"

namespace vmreclaim::platform {
namespace {

support::LogOnce g_footprint_log;

bool has_line(std::string_view text, std::string_view key) noexcept {
  for (size_t pos = text.find(key); pos != std::string_view::npos; pos = text.find(key, pos + 1)) {
    bool at_line_start = pos == 0 || text[pos - 1] == '\n';
    if (at_line_start && pos + key.size() < text.size() && text[pos + key.size()] == ':') return true;
  }
  return false;
}

}  // namespace

std::optional<uint64_t> parse_status_footprint(std::string_view status) noexcept {
  auto anon = find_keyed_u64(status, "RssAnon", true);
  if (!anon) return std::nullopt;
  // Absent fields count as zero; present but malformed ones make the whole
  // reading unusable rather than silently low.
  uint64_t total = *anon;
  for (std::string_view key : {std::string_view("RssShmem"), std::string_view("VmSwap")}) {
    auto v = find_keyed_u64(status, key, true);
    if (!v && !has_line(status, key)) continue;
    if (!v || total + *v < total) return std::nullopt;
    total += *v;
  }
  return total;
}

std::optional<uint64_t> ProcFootprint::footprint_bytes() noexcept {
  char buf[4096];
  long n = read_small_file("/proc/self/status", buf, sizeof buf);
  if (n < 0) {
    g_footprint_log(support::LogLevel::error, "cannot read /proc/self/status: errno %ld", -n);
    return std::nullopt;
  }
  auto fp = parse_status_footprint(std::string_view(buf, static_cast<size_t>(n)));
  if (!fp) g_footprint_log(support::LogLevel::error, "/proc/self/status has no readable RssAnon");
  return fp;
}

}  // namespace vmreclaim::platform
