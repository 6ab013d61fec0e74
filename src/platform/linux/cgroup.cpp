#include "platform/linux/cgroup.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <vector>

#include "platform/linux/proc_file.h"

namespace vmreclaim::platform {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    size_t end = s.find(sep, pos);
    out.push_back(s.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos));
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return out;
}

bool has_token(std::string_view list, std::string_view token) {
  for (auto t : split(list, ',')) {
    if (t == token) return true;
  }
  return false;
}

struct Mount {
  std::string root, point;
};

// Finds the mount of a v1 hierarchy carrying `controller`, or of cgroup2.
std::optional<Mount> find_mount(std::string_view mountinfo, bool v2, std::string_view controller) {
  for (auto line : split(mountinfo, '\n')) {
    size_t dash = line.find(" - ");
    if (dash == std::string_view::npos) continue;
    auto left = split(line.substr(0, dash), ' ');
    auto right = split(line.substr(dash + 3), ' ');
    if (left.size() < 5 || right.size() < 3) continue;
    if (v2 ? right[0] != "cgroup2" : (right[0] != "cgroup" || !has_token(right[2], controller))) continue;
    return Mount{std::string(left[3]), std::string(left[4])};
  }
  return std::nullopt;
}

// Joins a mount point and a cgroup path, given the part of the hierarchy the
// mount exposes (its root). nullopt if the path is outside the mount.
std::optional<std::string> join(const Mount& m, std::string_view path) {
  std::string_view root = m.root;
  if (root != "/") {
    if (path.substr(0, root.size()) != root) return std::nullopt;
    path.remove_prefix(root.size());
  }
  if (path.find("..") != std::string_view::npos) return std::nullopt;  // never escape the mount
  std::string dir = m.point;
  if (!path.empty() && path != "/") {
    if (path[0] != '/') dir += '/';
    dir += path;
  }
  return dir;
}

std::optional<uint64_t> read_u64_file(const std::string& path, int& err) {
  char buf[64];
  long n = read_small_file(path.c_str(), buf, sizeof buf);
  if (n < 0) {
    err = static_cast<int>(-n);
    return std::nullopt;
  }
  auto v = parse_u64_field(std::string_view(buf, static_cast<size_t>(n)));
  if (!v) err = EINVAL;
  return v;
}

}  // namespace

uint64_t normalize_v1_limit(uint64_t v) noexcept { return v >= (1ull << 62) ? UINT64_MAX : v; }

std::optional<CgroupLocation> locate_memory_cgroup(std::string_view proc_cgroup, std::string_view mountinfo) {
  std::optional<std::string_view> v1_path, v2_path;
  for (auto line : split(proc_cgroup, '\n')) {
    // "hierarchy-id:controllers:path"; the path may itself contain ':'.
    size_t a = line.find(':');
    if (a == std::string_view::npos) continue;
    size_t b = line.find(':', a + 1);
    if (b == std::string_view::npos) continue;
    std::string_view id = line.substr(0, a), ctrls = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (path.empty() || path[0] != '/') continue;
    if (id == "0" && ctrls.empty()) {
      v2_path = path;
    } else if (has_token(ctrls, "memory")) {
      v1_path = path;
    }
  }
  if (v1_path) {
    if (auto m = find_mount(mountinfo, false, "memory")) {
      if (auto dir = join(*m, *v1_path)) return CgroupLocation{1, *dir, m->point};
    }
  }
  if (v2_path) {
    if (auto m = find_mount(mountinfo, true, "")) {
      if (auto dir = join(*m, *v2_path)) return CgroupLocation{2, *dir, m->point};
    }
  }
  return std::nullopt;
}

std::optional<MemoryCgroup> MemoryCgroup::discover() {
  auto cg = read_text_file("/proc/self/cgroup");
  auto mi = read_text_file("/proc/self/mountinfo");
  if (!cg || !mi) return std::nullopt;
  auto loc = locate_memory_cgroup(*cg, *mi);
  if (!loc) return std::nullopt;
  if (loc->version == 2) {
    // The unified hierarchy may be mounted without the memory controller.
    // cgroup.controllers is one space-separated line.
    auto ctrls = read_text_file(loc->dir + "/cgroup.controllers");
    bool found = false;
    if (ctrls) {
      for (auto t : split(std::string_view(*ctrls).substr(0, ctrls->find('\n')), ' ')) found |= t == "memory";
    }
    if (!found) return std::nullopt;
  }
  return MemoryCgroup(std::move(*loc));
}

std::optional<CgroupMemory> MemoryCgroup::read() {
  last_error_ = 0;
  return loc_.version == 1 ? read_v1() : read_v2();
}

std::optional<CgroupMemory> MemoryCgroup::read_v1() {
  CgroupMemory m;
  auto usage = read_u64_file(loc_.dir + "/memory.usage_in_bytes", last_error_);
  auto stat = read_text_file(loc_.dir + "/memory.stat");
  if (!usage) return std::nullopt;
  if (!stat) {
    last_error_ = errno;
    return std::nullopt;
  }
  m.usage = *usage;
  // hierarchical_memory_limit is already the tightest limit up the tree.
  auto limit = find_keyed_u64(*stat, "hierarchical_memory_limit", false);
  if (!limit) {
    limit = read_u64_file(loc_.dir + "/memory.limit_in_bytes", last_error_);
    if (!limit) return std::nullopt;
  }
  m.limit = normalize_v1_limit(*limit);
  m.inactive_file = find_keyed_u64(*stat, "total_inactive_file", false)
                        .value_or(find_keyed_u64(*stat, "inactive_file", false).value_or(0));
  return m;
}

std::optional<CgroupMemory> MemoryCgroup::read_v2() {
  CgroupMemory m;
  auto current = read_u64_file(loc_.dir + "/memory.current", last_error_);
  if (!current) return std::nullopt;
  m.usage = *current;
  // v2 has no hierarchical limit file: take the tightest max/high up to the root.
  std::string dir = loc_.dir;
  while (dir.size() >= loc_.mount.size()) {
    int ignored = 0;
    for (const char* f : {"/memory.max", "/memory.high"}) {
      if (auto v = read_u64_file(dir + f, ignored)) m.limit = std::min(m.limit, *v);
    }
    if (dir == loc_.mount) break;
    size_t slash = dir.rfind('/');
    if (slash == std::string::npos || slash < loc_.mount.size()) break;
    dir.resize(slash);
  }
  if (auto stat = read_text_file(loc_.dir + "/memory.stat")) {
    m.inactive_file = find_keyed_u64(*stat, "inactive_file", false).value_or(0);
  }
  return m;
}

int MemoryCgroup::open_usage_threshold(uint64_t bytes) noexcept {
  char arg[24];
  std::snprintf(arg, sizeof arg, "%llu", static_cast<unsigned long long>(bytes));
  return open_event("memory.usage_in_bytes", arg);
}

int MemoryCgroup::open_reclaim_events() noexcept { return open_event("memory.pressure_level", "low"); }

int MemoryCgroup::open_event(const char* file, const char* arg) noexcept {
  if (loc_.version != 1) return -1;
  int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) {
    last_error_ = errno;
    return -1;
  }
  std::string watched_path = loc_.dir + "/" + file;
  std::string control_path = loc_.dir + "/cgroup.event_control";
  int wfd = ::open(watched_path.c_str(), O_RDONLY | O_CLOEXEC);
  int cfd = ::open(control_path.c_str(), O_WRONLY | O_CLOEXEC);
  bool ok = false;
  if (wfd >= 0 && cfd >= 0) {
    char msg[96];
    int len = std::snprintf(msg, sizeof msg, "%d %d %s", efd, wfd, arg);
    ok = len > 0 && static_cast<size_t>(len) < sizeof msg && ::write(cfd, msg, static_cast<size_t>(len)) == len;
  }
  last_error_ = ok ? 0 : errno;
  // The kernel keeps its own references once registered; the event goes
  // away when the eventfd is closed.
  if (wfd >= 0) ::close(wfd);
  if (cfd >= 0) ::close(cfd);
  if (!ok) {
    ::close(efd);
    return -1;
  }
  return efd;
}

}  // namespace vmreclaim::platform
