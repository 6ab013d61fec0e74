#include "platform/linux/footprint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "support/log.h"

namespace vmreclaim::platform {
namespace {

// Value in kB of a "Key:   1234 kB" line; nullopt if absent or malformed.
std::optional<uint64_t> field_kb(std::string_view text, std::string_view key) noexcept {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ':') continue;
    size_t i = key.size() + 1;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) i++;
    if (i >= line.size() || line[i] < '0' || line[i] > '9') return std::nullopt;
    uint64_t v = 0;
    for (; i < line.size() && line[i] >= '0' && line[i] <= '9'; i++) {
      if (v > (UINT64_MAX - 9) / 10) return std::nullopt;  // absurd value: reject
      v = v * 10 + static_cast<uint64_t>(line[i] - '0');
    }
    if (line.substr(i) != " kB") return std::nullopt;
    if (v > (UINT64_MAX >> 10)) return std::nullopt;
    return v;
  }
  return std::nullopt;
}

support::LogOnce g_footprint_log;

}  // namespace

std::optional<uint64_t> parse_status_footprint(std::string_view status) noexcept {
  auto anon = field_kb(status, "RssAnon");
  if (!anon) return std::nullopt;
  uint64_t kb = *anon;
  kb += field_kb(status, "RssShmem").value_or(0);
  kb += field_kb(status, "VmSwap").value_or(0);
  return kb << 10;
}

long read_small_file(const char* path, char* buf, unsigned long cap) noexcept {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  unsigned long len = 0;
  while (len < cap) {
    ssize_t n = ::read(fd, buf + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return -e;
    }
    if (n == 0) break;
    len += static_cast<unsigned long>(n);
  }
  ::close(fd);
  return static_cast<long>(len);
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
