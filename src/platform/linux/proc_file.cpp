#include "platform/linux/proc_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace vmreclaim::platform {
namespace {

std::optional<uint64_t> parse_digits(std::string_view& s) noexcept {
  if (s.empty() || s[0] < '0' || s[0] > '9') return std::nullopt;
  uint64_t v = 0;
  size_t i = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; i++) {
    uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  s.remove_prefix(i);
  return v;
}

bool only_space(std::string_view s) noexcept {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\n') return false;
  }
  return true;
}

}  // namespace

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

std::optional<std::string> read_text_file(const std::string& path) {
  std::string buf(64 * 1024, '\0');
  long n = read_small_file(path.c_str(), buf.data(), buf.size());
  if (n < 0) {
    errno = static_cast<int>(-n);
    return std::nullopt;
  }
  buf.resize(static_cast<size_t>(n));
  return buf;
}

std::optional<uint64_t> parse_u64_field(std::string_view text) noexcept {
  if (text.substr(0, 3) == "max" && only_space(text.substr(3))) return UINT64_MAX;
  auto v = parse_digits(text);
  if (!v || !only_space(text)) return std::nullopt;
  return v;
}

std::optional<uint64_t> find_keyed_u64(std::string_view text, std::string_view key, bool kb) noexcept {
  std::optional<uint64_t> found;
  for_each_line(text, [&](std::string_view line) {
    if (line.size() <= key.size() || line.substr(0, key.size()) != key) return true;
    line.remove_prefix(key.size());
    if (line[0] == ':') line.remove_prefix(1);
    if (line.empty() || (line[0] != ' ' && line[0] != '\t')) return true;  // a longer key
    while (!line.empty() && (line[0] == ' ' || line[0] == '\t')) line.remove_prefix(1);
    auto v = parse_digits(line);
    if (v && kb) {
      found = line == " kB" && *v <= (UINT64_MAX >> 10) ? std::optional<uint64_t>(*v << 10) : std::nullopt;
    } else if (v && only_space(line)) {
      found = v;
    }
    return false;  // the first line with the key decides
  });
  return found;
}

}  // namespace vmreclaim::platform
