#include "introspect/proc_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace vmreclaim::introspect {

std::optional<std::string> read_proc_file(pid_t pid, const char* name) {
  if (pid <= 0) {
    errno = ESRCH;
    return std::nullopt;
  }
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/%s", static_cast<int>(pid), name);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      // The process exited between open and read: same as never existing.
      errno = e == ESRCH ? ENOENT : e;
      return std::nullopt;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() >= kMaxProcFileBytes) break;
  }
  ::close(fd);
  return text;
}

}  // namespace vmreclaim::introspect
