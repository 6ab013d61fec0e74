#include "policy_support.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "platform/linux/proc_file.h"

extern char** environ;

namespace vmreclaim::bench {

uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void sleep_ns(uint64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1'000'000'000ull), static_cast<long>(ns % 1'000'000'000ull)};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// ---- ChildProcess ----

ChildProcess::~ChildProcess() { kill_and_reap(); }

bool ChildProcess::start(const Options& opts) {
  int down[2], up[2];
  if (::pipe2(down, O_CLOEXEC) != 0) return std::perror("pipe"), false;
  if (::pipe2(up, O_CLOEXEC) != 0) {
    ::close(down[0]);
    ::close(down[1]);
    return std::perror("pipe"), false;
  }
  // Everything the child needs is built before fork: the child only makes
  // system calls between fork and exec.
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; e++) {
    if (std::strncmp(*e, "VMRECLAIM_", 10) != 0) env_store.emplace_back(*e);
  }
  for (const auto& [k, v] : opts.env) env_store.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> arg_store{"policy_latency"};
  arg_store.insert(arg_store.end(), opts.args.begin(), opts.args.end());
  std::vector<char*> argv;
  for (std::string& s : arg_store) argv.push_back(s.data());
  argv.push_back(nullptr);
  const std::string pid_text = "0\n";  // v1 and v2: 0 means the writing process

  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("fork");
    for (int fd : {down[0], down[1], up[0], up[1]}) ::close(fd);
    return false;
  }
  if (pid == 0) {
    if (!opts.cgroup_procs.empty()) {
      int fd = ::open(opts.cgroup_procs.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0 || ::write(fd, pid_text.data(), pid_text.size()) < 0) {
        static const char msg[] = "policy_latency child: cannot join the cgroup\n";
        [[maybe_unused]] ssize_t w = ::write(STDERR_FILENO, msg, sizeof msg - 1);
        ::_exit(126);
      }
      ::close(fd);
    }
    if (::dup2(down[0], STDIN_FILENO) < 0 || ::dup2(up[1], STDOUT_FILENO) < 0) ::_exit(126);
    ::execve("/proc/self/exe", argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(down[0]);
  ::close(up[1]);
  pid_ = pid;
  to_child_ = down[1];
  from_child_ = up[0];
  return true;
}

bool ChildProcess::send(const std::string& line) {
  std::string l = line + "\n";
  return ::write(to_child_, l.data(), l.size()) == static_cast<ssize_t>(l.size());
}

std::optional<std::string> ChildProcess::read_line(uint64_t timeout_ns) {
  const uint64_t deadline = now_ns() + timeout_ns;
  for (;;) {
    if (size_t nl = buffered_.find('\n'); nl != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return line;
    }
    const uint64_t now = now_ns();
    if (now >= deadline) return std::nullopt;
    pollfd p{from_child_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000 + 1));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    char buf[512];
    ssize_t n = ::read(from_child_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    buffered_.append(buf, static_cast<size_t>(n));
  }
}

void ChildProcess::kill_and_reap() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  for (int* fd : {&to_child_, &from_child_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

// ---- /proc ----

namespace {

std::optional<std::string> proc_text(pid_t pid, const std::string& rest) {
  return platform::read_text_file("/proc/" + std::to_string(pid) + "/" + rest);
}

}  // namespace

std::optional<uint64_t> rss_anon(pid_t pid) {
  auto text = proc_text(pid, "status");
  if (!text) return std::nullopt;
  return platform::find_keyed_u64(*text, "RssAnon", true);
}

std::optional<pid_t> find_thread(pid_t pid, const std::string& comm) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return std::nullopt;
  std::optional<pid_t> found;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    auto name = platform::read_text_file(dir + "/" + e->d_name + "/comm");
    if (name && *name == comm + "\n") {
      found = static_cast<pid_t>(std::stol(e->d_name));
      break;
    }
  }
  ::closedir(d);
  return found;
}

std::optional<ThreadUsage> thread_usage(pid_t pid, pid_t tid) {
  const std::string task = "task/" + std::to_string(tid) + "/";
  auto sched = proc_text(pid, task + "schedstat");
  auto stat = proc_text(pid, task + "stat");
  auto status = proc_text(pid, task + "status");
  if (!sched || !stat || !status) return std::nullopt;
  ThreadUsage u;
  u.run_ns = std::stoull(*sched);
  // Fields after the command name (which may hold spaces): state is field 3,
  // utime and stime are fields 14 and 15.
  size_t close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(stat->substr(close + 2));
  std::string field;
  for (int i = 3; i <= 15 && rest >> field; i++) {
    if (i == 14 || i == 15) u.ticks += std::stoull(field);
  }
  auto vol = platform::find_keyed_u64(*status, "voluntary_ctxt_switches", false);
  auto invol = platform::find_keyed_u64(*status, "nonvoluntary_ctxt_switches", false);
  if (!vol || !invol) return std::nullopt;
  u.switches = *vol + *invol;
  return u;
}

// ---- ScratchMemoryCgroup ----

bool ScratchMemoryCgroup::create(const std::string& name) {
  std::ifstream cg("/proc/self/cgroup");
  std::string line, path;
  while (std::getline(cg, line)) {
    // "id:controllers:path" with the memory controller on its own v1 hierarchy.
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    std::istringstream list(controllers);
    for (std::string c; std::getline(list, c, ',');) {
      if (c == "memory") path = line.substr(b + 1);
    }
  }
  if (path.empty() || ::access("/sys/fs/cgroup/memory/cgroup.procs", F_OK) != 0) {
    why_ = "needs a cgroup v1 memory hierarchy at /sys/fs/cgroup/memory";
    return false;
  }
  std::string dir = "/sys/fs/cgroup/memory" + (path == "/" ? std::string() : path) + "/" + name;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    why_ = "mkdir " + dir + ": " + std::strerror(errno);
    return false;
  }
  dir_ = dir;
  return true;
}

ScratchMemoryCgroup::~ScratchMemoryCgroup() {
  if (!dir_.empty() && ::rmdir(dir_.c_str()) != 0) {
    std::fprintf(stderr, "policy_latency: cannot remove %s: %s\n", dir_.c_str(), std::strerror(errno));
  }
}

bool ScratchMemoryCgroup::set_limit(uint64_t bytes) {
  int fd = ::open((dir_ + "/memory.limit_in_bytes").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string v = std::to_string(bytes);
  bool ok = ::write(fd, v.data(), v.size()) == static_cast<ssize_t>(v.size());
  int saved = errno;
  ::close(fd);
  errno = saved;
  return ok;
}

std::optional<uint64_t> ScratchMemoryCgroup::usage() {
  auto text = platform::read_text_file(dir_ + "/memory.usage_in_bytes");
  if (!text) return std::nullopt;
  return platform::parse_u64_field(*text);
}

std::optional<uint64_t> ScratchMemoryCgroup::working_set() {
  auto u = usage();
  auto stat = platform::read_text_file(dir_ + "/memory.stat");
  if (!u || !stat) return std::nullopt;
  uint64_t inactive = platform::find_keyed_u64(*stat, "total_inactive_file", false).value_or(0);
  return *u > inactive ? *u - inactive : 0;
}

}  // namespace vmreclaim::bench
