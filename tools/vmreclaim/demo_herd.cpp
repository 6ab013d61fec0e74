#include "demo_herd.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vmreclaim/ring.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "observe.h"

namespace vmreclaim::tools::demo {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr const char* kMemoryRoot = "/sys/fs/cgroup/memory";
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// ---- files ----

bool write_file(const std::string& path, const std::string& text, std::string* error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = "open " + path + ": " + std::strerror(errno);
    return false;
  }
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int e = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    *error = "write '" + text + "' to " + path + ": " + std::strerror(n < 0 ? e : EIO);
    return false;
  }
  return true;
}

std::optional<uint64_t> read_u64(const std::string& path) {
  std::ifstream in(path);
  unsigned long long v = 0;
  if (!(in >> v)) return std::nullopt;
  return v;
}

// "oom_kill N" of memory.oom_control (kernels since 4.13); 0 if absent.
uint64_t oom_kill_count(const std::string& cgroup) {
  std::ifstream in(cgroup + "/memory.oom_control");
  std::string key;
  unsigned long long v = 0;
  while (in >> key >> v) {
    if (key == "oom_kill") return v;
  }
  return 0;
}

// ---- pipes: fixed-size messages ----

bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool read_all(int fd, void* p, size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

struct Report {
  int32_t ok = 0;
  char error[160] = {};
  uint64_t reclaimed = 0;     // all causes, since the ring was allocated
  uint64_t reclaimable = 0;   // in the ring now
  uint64_t minor_faults = 0;  // of the last reuse
};

enum Command : char { kReport = 'r', kReuse = 'u', kQuit = 'q' };

// ---- a member of the herd (runs in the forked child) ----

struct Block {
  char* addr;
  Id id;
};

[[noreturn]] void member_main(const HerdConfig& c, const std::string& procs, int cmd_fd, int report_fd) {
  Report rep;
  auto fail = [&](const std::string& what) {
    std::snprintf(rep.error, sizeof rep.error, "%s", what.c_str());
    rep.ok = 0;
    write_all(report_fd, &rep, sizeof rep);
    ::_exit(1);
  };
  std::string err;
  if (!write_file(procs, std::to_string(::getpid()), &err)) fail(err);
  const size_t block = c.block_kib * 1024;
  const size_t blocks = static_cast<size_t>(c.unused_mib * kMiB / block);
  auto ring = Ring::allocate(static_cast<uint32_t>(blocks + 64), static_cast<uint32_t>(blocks + 64));
  if (!ring) fail("ring allocation: " + ring.error().message());
  // Live memory: touched once, kept.
  void* live = ::mmap(nullptr, c.live_mib * kMiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (live == MAP_FAILED) fail(std::string("mmap live: ") + std::strerror(errno));
  std::memset(live, 1, c.live_mib * kMiB);
  // Unused memory: touched, then freed into the ring.
  std::vector<Block> list;
  for (size_t i = 0; i < blocks; i++) {
    void* p = ::mmap(nullptr, block, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) fail(std::string("mmap block: ") + std::strerror(errno));
    std::memset(p, 2, block);
    auto e = ring->try_enter(p, block, Action::free);
    if (!e || !e->entered()) fail("entering a block into the ring failed");
    // As the API asks: the first enter into the empty ring asks for this
    // call, which wakes the engine thread that slept on it.
    if (e->update_accounting) ring->update_accounting();
    list.push_back({static_cast<char*>(p), e->id});
  }
  auto stats_into = [&](Report& r) {
    auto s = ring->stats();
    if (!s) fail("ring stats: " + s.error().message());
    r.reclaimed = 0;
    for (uint64_t b : s->reclaimed_bytes) r.reclaimed += b;
    r.reclaimable = s->reclaimable_bytes;
  };
  rep.ok = 1;
  stats_into(rep);
  if (!write_all(report_fd, &rep, sizeof rep)) ::_exit(1);
  char cmd = 0;
  while (read_all(cmd_fd, &cmd, 1)) {
    if (cmd == kQuit) break;
    if (cmd == kReuse) {
      // The program takes its memory back: cancel each entry and write
      // every page; a page the engine gave back faults in again.
      rusage before{}, after{};
      ::getrusage(RUSAGE_SELF, &before);
      for (Block& b : list) {
        auto x = ring->try_cancel(b.id, b.addr, block, Action::free);
        if (!x) fail("cancel: " + x.error().message());
        if (x->state == State::deallocated) fail("a block was deallocated");
        for (size_t off = 0; off < block; off += 4096) b.addr[off] = 3;
      }
      ::getrusage(RUSAGE_SELF, &after);
      rep.minor_faults = static_cast<uint64_t>(after.ru_minflt - before.ru_minflt);
      list.clear();
    }
    stats_into(rep);
    if (!write_all(report_fd, &rep, sizeof rep)) ::_exit(1);
  }
  ::_exit(0);
}

// The neighbour: joins the cgroup, then writes `mib` MiB at `rate` MiB/s and holds them.
[[noreturn]] void neighbour_main(const HerdConfig& c, const std::string& procs, int done_fd) {
  std::string err;
  if (!write_file(procs, std::to_string(::getpid()), &err)) ::_exit(120);
  char* p = static_cast<char*>(
      ::mmap(nullptr, c.neighbour_mib * kMiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (p == MAP_FAILED) ::_exit(121);
  const Clock::time_point start = Clock::now();
  for (uint64_t i = 0; i < c.neighbour_mib; i++) {
    std::memset(p + i * kMiB, 4, kMiB);
    const double due = static_cast<double>(i + 1) / c.neighbour_mib_per_s;
    const double ahead = due - since(start);
    if (ahead > 0) std::this_thread::sleep_for(std::chrono::duration<double>(ahead));
  }
  const char done = 'd';
  write_all(done_fd, &done, 1);
  ::pause();
  ::_exit(0);
}

struct Member {
  pid_t pid = -1;
  int cmd = -1, report = -1;
  bool alive = true;
};

// The whole of one run, with everything it started undone on the way out.
class Scene {
 public:
  Scene(const HerdConfig& c, const std::string& cgroup) : c_(c), cgroup_(cgroup) {}
  ~Scene() {
    // Lift the limit before anything else, so nobody is killed on the way out.
    std::string ignored;
    write_file(cgroup_ + "/memory.limit_in_bytes", "-1", &ignored);
    for (Member& m : members_) {
      if (m.pid > 0) {
        const char q = kQuit;
        write_all(m.cmd, &q, 1);
      }
    }
    if (neighbour_ > 0) ::kill(neighbour_, SIGKILL);
    for (Member& m : members_) {
      if (m.pid > 0) reap(m.pid, 5.0);
      if (m.cmd >= 0) ::close(m.cmd);
      if (m.report >= 0) ::close(m.report);
    }
    if (neighbour_ > 0) reap(neighbour_, 5.0);
    if (neighbour_done_ >= 0) ::close(neighbour_done_);
    stop_daemon();
    if (made_cgroup_) ::rmdir(cgroup_.c_str());
  }

  void make_cgroup() {
    if (::mkdir(cgroup_.c_str(), 0755) != 0) {
      throw std::runtime_error("mkdir " + cgroup_ + ": " + std::strerror(errno));
    }
    made_cgroup_ = true;
  }

  void start_daemon(const std::string& path, const std::string& socket, const std::string& log) {
    ::unlink(socket.c_str());
    daemon_socket_ = socket;
    daemon_ = ::fork();
    if (daemon_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (daemon_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) {
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
      }
      const std::string poll = std::to_string(c_.poll_ms);
      // Only the herd's cgroup is discovered: a daemon started by a demo
      // must not act on the machine's other processes.
      const std::string scope = cgroup_.substr(std::strlen(kMemoryRoot));
      ::execl(path.c_str(), path.c_str(), "--foreground", "--socket", socket.c_str(), "--poll-ms", poll.c_str(),
              "--discover-scope", scope.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const Clock::time_point start = Clock::now();
    struct stat st {};
    while (::stat(socket.c_str(), &st) != 0) {
      int status = 0;
      if (::waitpid(daemon_, &status, WNOHANG) == daemon_) {
        daemon_ = -1;
        throw std::runtime_error(path + " exited before it listened (its log: " + log + ")");
      }
      if (since(start) > 10) throw std::runtime_error(path + " did not create " + socket + " within 10 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void start_members(unsigned n) {
    const std::string procs = cgroup_ + "/cgroup.procs";
    for (unsigned i = 0; i < n; i++) {
      int cmd[2], rep[2];
      if (::pipe2(cmd, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
      if (::pipe2(rep, O_CLOEXEC) != 0) {
        ::close(cmd[0]);
        ::close(cmd[1]);
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
      }
      const pid_t pid = ::fork();
      if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
      if (pid == 0) {
        ::close(cmd[1]);
        ::close(rep[0]);
        member_main(c_, procs, cmd[0], rep[1]);
      }
      ::close(cmd[0]);
      ::close(rep[1]);
      members_.push_back({pid, cmd[1], rep[0], true});
    }
    for (Member& m : members_) {
      Report r;
      if (!read_all(m.report, &r, sizeof r)) {
        m.alive = false;
        throw std::runtime_error("a herd process died while filling its ring");
      }
      if (r.ok == 0) throw std::runtime_error(std::string("a herd process failed: ") + r.error);
    }
    // Each engine thread, asleep on its empty ring, was woken by the
    // accounting call its first enter asked for (docs/policy.md, "The engine
    // thread and an empty ring"), and polls limits from then on.
  }

  // Asks every member still alive for `cmd`; sums the reports.
  Report ask_all(Command cmd) {
    Report sum;
    for (Member& m : members_) {
      if (!m.alive) continue;
      const char c = cmd;
      Report r;
      if (!write_all(m.cmd, &c, 1) || !read_all(m.report, &r, sizeof r)) {
        m.alive = false;
        continue;
      }
      sum.reclaimed += r.reclaimed;
      sum.reclaimable += r.reclaimable;
      sum.minor_faults += r.minor_faults;
    }
    return sum;
  }

  void start_neighbour() {
    int done[2];
    if (::pipe2(done, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    neighbour_ = ::fork();
    if (neighbour_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (neighbour_ == 0) {
      ::close(done[0]);
      neighbour_main(c_, cgroup_ + "/cgroup.procs", done[1]);
    }
    ::close(done[1]);
    neighbour_done_ = done[0];
    ::fcntl(neighbour_done_, F_SETFL, O_NONBLOCK);
  }

  // True once the neighbour has pushed everything (or died).
  bool neighbour_finished() {
    char x;
    const ssize_t n = ::read(neighbour_done_, &x, 1);
    return n == 1 || n == 0;
  }

  uint64_t ring_bytes() const {
    uint64_t sum = 0;
    for (const Member& m : members_) {
      Problem p;
      if (auto v = read_ring(m.pid, &p)) sum += v->reclaimable_bytes;
    }
    return sum;
  }

  // Members and neighbour that were killed (by the OOM killer: SIGKILL).
  uint64_t killed() {
    uint64_t n = 0;
    for (Member& m : members_) {
      int status = 0;
      if (m.pid > 0 && ::waitpid(m.pid, &status, WNOHANG) == m.pid) {
        m.pid = -1;
        m.alive = false;
        dead_++;
      }
    }
    int status = 0;
    if (neighbour_ > 0 && ::waitpid(neighbour_, &status, WNOHANG) == neighbour_) {
      neighbour_ = -1;
      dead_++;
    }
    n = dead_;
    return n;
  }

  const std::string& cgroup() const { return cgroup_; }

 private:
  static void reap(pid_t pid, double seconds) {
    const Clock::time_point start = Clock::now();
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (since(start) > seconds) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  void stop_daemon() {
    if (daemon_ <= 0) return;
    ::kill(daemon_, SIGTERM);
    reap(daemon_, 5.0);
    daemon_ = -1;
    ::unlink(daemon_socket_.c_str());
  }

  const HerdConfig& c_;
  std::string cgroup_;
  bool made_cgroup_ = false;
  std::vector<Member> members_;
  pid_t neighbour_ = -1;
  int neighbour_done_ = -1;
  pid_t daemon_ = -1;
  std::string daemon_socket_;
  uint64_t dead_ = 0;
};

HerdRun run_one(const HerdConfig& c, const std::string& squeeze, bool with_daemon, int index) {
  HerdRun run;
  run.squeeze = squeeze;
  run.daemon = with_daemon;
  const std::string tag = std::to_string(::getpid()) + "-" + std::to_string(index);
  Scene scene(c, std::string(kMemoryRoot) + "/vmreclaim-herd-" + tag);
  try {
    scene.make_cgroup();
    // The engines poll limits and pressure at the daemon's pace, and do not
    // trim idle memory during the run (the sampling period is an hour).
    ::setenv("VMRECLAIM_PRESSURE_POLL_NS", std::to_string(c.poll_ms * 1'000'000).c_str(), 1);
    ::setenv("VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS", "3600000000000", 1);
    if (with_daemon) {
      const std::string socket = "/tmp/vmreclaim-herd-" + tag + ".sock";
      scene.start_daemon(c.daemon_path, socket, "/tmp/vmreclaim-herd-" + tag + ".log");
      ::setenv("VMRECLAIM_DAEMON_SOCKET", socket.c_str(), 1);
    } else {
      ::unsetenv("VMRECLAIM_DAEMON_SOCKET");
    }
    scene.start_members(c.processes);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const std::string cg = scene.cgroup();
    const uint64_t oom_before = oom_kill_count(cg);
    const Report before = scene.ask_all(kReport);
    run.usage_before = read_u64(cg + "/memory.usage_in_bytes").value_or(0);

    if (squeeze == "limit") {
      run.limit = run.usage_before + c.limit_headroom_mib * kMiB;
    } else {
      // Below the high watermark by 16 MiB before the neighbour starts.
      run.limit = (run.usage_before + 16 * kMiB) * 16 / 15 + kMiB;
    }
    run.limit &= ~uint64_t{4095};
    run.high = run.limit - run.limit / 16;
    run.low = run.limit - run.limit / 8;
    const uint64_t peak_need = run.usage_before + (squeeze == "neighbour" ? c.neighbour_mib * kMiB : 0);
    run.deficit = peak_need > run.low ? peak_need - run.low : 0;

    std::string err;
    const Clock::time_point start = Clock::now();
    if (!write_file(cg + "/memory.limit_in_bytes", std::to_string(run.limit), &err)) throw std::runtime_error(err);
    bool squeezing = squeeze == "neighbour";
    if (squeezing) scene.start_neighbour();
    std::optional<double> squeeze_end;
    if (!squeezing) squeeze_end = 0;
    int tick = 0;
    while (true) {
      const double t = since(start);
      const uint64_t usage = read_u64(cg + "/memory.usage_in_bytes").value_or(0);
      run.peak_usage = std::max(run.peak_usage, usage);
      if (squeezing && scene.neighbour_finished()) {
        squeezing = false;
        squeeze_end = t;
      }
      if (squeeze_end && !run.relief_seconds && usage <= run.high) run.relief_seconds = t - *squeeze_end;
      if (tick++ % 5 == 0) run.points.push_back({t, usage, scene.ring_bytes()});
      if (squeeze_end && t - *squeeze_end >= c.settle_seconds) break;
      if (t > 120) throw std::runtime_error("the squeeze did not end within 120 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const Report after = scene.ask_all(kReport);
    run.reclaimed = after.reclaimed - std::min(after.reclaimed, before.reclaimed);
    run.killed_processes = scene.killed();
    run.oom_kills = std::max(oom_kill_count(cg) - std::min(oom_kill_count(cg), oom_before), run.killed_processes);
    // The squeeze is over: lift the limit, and let the herd take back its memory.
    if (!write_file(cg + "/memory.limit_in_bytes", "-1", &err)) throw std::runtime_error(err);
    const Report reused = scene.ask_all(kReuse);
    run.minor_faults_after = reused.minor_faults;
    run.ring_bytes_after = after.reclaimable;
    run.ok = true;
  } catch (const std::exception& e) {
    run.error = e.what();
  }
  return run;
}

}  // namespace

bool HerdResult::ok() const {
  for (const HerdRun& r : runs) {
    if (!r.ok) return false;
  }
  return !runs.empty();
}

std::string herd_unavailable_reason() {
  if (::geteuid() != 0) return "the herd demo needs root (it creates a memory cgroup and sets its limit)";
  struct stat st {};
  if (::stat((std::string(kMemoryRoot) + "/memory.limit_in_bytes").c_str(), &st) != 0) {
    return std::string("no cgroup v1 memory controller at ") + kMemoryRoot;
  }
  return {};
}

HerdResult run_herd(const HerdConfig& config) {
  HerdResult result;
  result.config = config;
  result.cgroup_root = kMemoryRoot;
  std::vector<std::string> squeezes;
  if (config.squeeze == "limit" || config.squeeze == "both") squeezes.push_back("limit");
  if (config.squeeze == "neighbour" || config.squeeze == "both") squeezes.push_back("neighbour");
  std::vector<bool> daemons = {false};
  struct stat st {};
  if (config.daemon_path.empty()) {
    result.daemon_note = "no --daemon given: the runs without a daemon only";
  } else if (::stat(config.daemon_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
             ::access(config.daemon_path.c_str(), X_OK) != 0) {
    result.daemon_note = config.daemon_path + " is not an executable file: the runs without a daemon only";
  } else {
    daemons.push_back(true);
  }
  // A herd member killed by the OOM killer closes its pipes: writing to them
  // must fail with EPIPE, not end this process.
  struct sigaction ignore {
  }, old{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &old);
  int index = 0;
  for (const std::string& s : squeezes) {
    for (bool d : daemons) {
      std::fprintf(stderr, "vmreclaim demo: herd, %s squeeze, %s...\n", s.c_str(), d ? "with the daemon" : "no daemon");
      result.runs.push_back(run_one(config, s, d, index++));
    }
  }
  ::sigaction(SIGPIPE, &old, nullptr);
  return result;
}

void print_herd(std::FILE* out, const HerdResult& r) {
  const HerdConfig& c = r.config;
  std::fprintf(out,
               "herd: %u processes, each %llu MiB unused in its ring beside %llu MiB live, one v1 memory cgroup; "
               "engine poll %llu ms\n",
               c.processes, static_cast<unsigned long long>(c.unused_mib), static_cast<unsigned long long>(c.live_mib),
               static_cast<unsigned long long>(c.poll_ms));
  if (!r.daemon_note.empty()) std::fprintf(out, "(%s)\n", r.daemon_note.c_str());
  std::fprintf(out, "%-10s %-7s %9s %9s %9s %7s %10s %5s %11s\n", "SQUEEZE", "DAEMON", "USAGE", "D", "RECLAIMED",
               "RATIO", "RELIEF", "OOM", "FAULTS");
  for (const HerdRun& run : r.runs) {
    if (!run.ok) {
      std::fprintf(out, "%-10s %-7s failed: %s\n", run.squeeze.c_str(), run.daemon ? "yes" : "no", run.error.c_str());
      continue;
    }
    char relief[32];
    if (run.relief_seconds) {
      std::snprintf(relief, sizeof relief, "%.0f ms", *run.relief_seconds * 1000);
    } else {
      std::snprintf(relief, sizeof relief, "never");
    }
    std::fprintf(out, "%-10s %-7s %8.1fM %8.1fM %8.1fM %6.2fx %10s %5llu %11llu\n", run.squeeze.c_str(),
                 run.daemon ? "yes" : "no", static_cast<double>(run.usage_before) / kMiB,
                 static_cast<double>(run.deficit) / kMiB, static_cast<double>(run.reclaimed) / kMiB, run.ratio(),
                 relief, static_cast<unsigned long long>(run.oom_kills),
                 static_cast<unsigned long long>(run.minor_faults_after));
  }
  std::fprintf(out,
               "USAGE before the squeeze; D = bytes from the peak demand down to the low watermark (limit - limit/8); "
               "RELIEF = from the squeeze's end to usage <= the high watermark (limit - limit/16); FAULTS = minor "
               "faults when the herd reused its memory afterwards\n");
}

nlohmann::json to_json(const HerdResult& r) {
  const HerdConfig& c = r.config;
  nlohmann::json runs = nlohmann::json::array();
  for (const HerdRun& run : r.runs) {
    nlohmann::json points = nlohmann::json::array();
    for (const HerdPoint& p : run.points) points.push_back({p.t, p.usage, p.ring_bytes});
    runs.push_back({{"squeeze", run.squeeze},
                    {"daemon", run.daemon},
                    {"ok", run.ok},
                    {"error", run.error},
                    {"usage_before_bytes", run.usage_before},
                    {"limit_bytes", run.limit},
                    {"high_watermark_bytes", run.high},
                    {"low_watermark_bytes", run.low},
                    {"peak_usage_bytes", run.peak_usage},
                    {"deficit_bytes", run.deficit},
                    {"reclaimed_bytes", run.reclaimed},
                    {"ratio", run.ratio()},
                    {"relief_seconds", run.relief_seconds ? nlohmann::json(*run.relief_seconds) : nlohmann::json()},
                    {"oom_kills", run.oom_kills},
                    {"killed_processes", run.killed_processes},
                    {"minor_faults_after", run.minor_faults_after},
                    {"ring_bytes_after", run.ring_bytes_after},
                    {"points_columns", {"t", "usage_bytes", "ring_bytes"}},
                    {"points", std::move(points)}});
  }
  return {{"mode", "herd"},
          {"config",
           {{"processes", c.processes},
            {"unused_mib", c.unused_mib},
            {"live_mib", c.live_mib},
            {"block_kib", c.block_kib},
            {"limit_headroom_mib", c.limit_headroom_mib},
            {"neighbour_mib", c.neighbour_mib},
            {"neighbour_mib_per_s", c.neighbour_mib_per_s},
            {"settle_seconds", c.settle_seconds},
            {"poll_ms", c.poll_ms},
            {"daemon", c.daemon_path}}},
          {"cgroup_root", r.cgroup_root},
          {"daemon_note", r.daemon_note},
          {"runs", std::move(runs)}};
}

}  // namespace vmreclaim::tools::demo
