#include "introspect/process_info.h"

#include <dirent.h>

#include <algorithm>
#include <cerrno>

#include "introspect/proc_reader.h"
#include "platform/linux/footprint.h"

namespace vmreclaim::introspect {

std::vector<pid_t> list_pids() {
  std::vector<pid_t> pids;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return pids;
  while (const dirent* d = ::readdir(dir)) {
    const char* s = d->d_name;
    long v = 0;
    bool numeric = *s != '\0';
    for (; *s != '\0' && numeric; s++) {
      numeric = *s >= '0' && *s <= '9' && v < (1L << 31) / 10;
      v = v * 10 + (*s - '0');
    }
    if (numeric && v > 0 && v < (1L << 31)) pids.push_back(static_cast<pid_t>(v));
  }
  ::closedir(dir);
  std::sort(pids.begin(), pids.end());
  return pids;
}

std::optional<std::string> process_command(pid_t pid) {
  auto comm = read_proc_file(pid, "comm");
  if (!comm) return std::nullopt;
  while (!comm->empty() && (comm->back() == '\n' || comm->back() == '\0')) comm->pop_back();
  return comm;
}

std::optional<uint64_t> process_footprint(pid_t pid) {
  auto status = read_proc_file(pid, "status");
  if (!status) return std::nullopt;
  return platform::parse_status_footprint(*status);
}

}  // namespace vmreclaim::introspect
