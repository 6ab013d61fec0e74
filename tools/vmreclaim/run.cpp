// `vmreclaim run [--with BACKEND] [--threshold N] -- CMD ARGS...`: runs a
// command with the large-allocation layer preloaded in front of the chosen
// allocator for small requests (glibc, mimalloc, jemalloc, tcmalloc;
// VMRECLAIM_MALLOC_BACKEND), in the build of the layer that serves it best
// (libvmreclaim-malloc.so or libvmreclaim-malloc-generic.so), and prints, when it exits,
// what the layer did: large allocations, how many were served from the ring
// without a fault, bytes reclaimed by cause, peak and final RssAnon.
// Each process that uses the layer appends a line to a report file at exit
// (VMRECLAIM_MALLOC_REPORT); the peak is sampled here from /proc/PID/status.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "backend_names.h"
#include "commands.h"
#include "control/stats_json.h"
#include "support/environment.h"

namespace vmreclaim::tools {
namespace {

namespace fs = std::filesystem;

struct RunOptions {
  std::string backend;  // empty: the layer's default
  std::string threshold;
  int interval_ms = 10;
  std::vector<std::string> command;
};

// The layer's library `file` (one of its two builds, backend_names.h) next
// to this build of the command, or in the install libdir. VMRECLAIM_MALLOC_LIB
// names the one library to use, whichever backend.
std::string find_layer(const char* file) {
  // Never from the invoker's environment if this command runs privileged.
  if (const char* env = support::setting_from_env("VMRECLAIM_MALLOC_LIB"); env != nullptr && *env != '\0') return env;
  // Beside this command first (an installed copy, e.g. from the package,
  // uses its own layer even where the build tree it came from still exists),
  // then the build tree it was built in.
  std::vector<fs::path> candidates;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path prefix = exe.parent_path().parent_path();
#ifdef VMRECLAIM_INSTALL_LIBDIR
    candidates.push_back(prefix / VMRECLAIM_INSTALL_LIBDIR / file);
#endif
    candidates.push_back(prefix / "lib" / file);
    candidates.push_back(prefix / "alloc" / file);  // build tree
  }
#ifdef VMRECLAIM_MALLOC_BUILD_DIR
  candidates.emplace_back(fs::path(VMRECLAIM_MALLOC_BUILD_DIR) / file);
#endif
#ifdef VMRECLAIM_INSTALL_FULL_LIBDIR
  candidates.emplace_back(fs::path(VMRECLAIM_INSTALL_FULL_LIBDIR) / file);
#endif
  for (const fs::path& p : candidates) {
    if (fs::exists(p, ec)) return fs::absolute(p, ec).string();
  }
  return {};
}

long long rss_anon_bytes(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("RssAnon:", 0) == 0) return std::atoll(line.c_str() + 8) * 1024;
  }
  return -1;
}

std::string mib(double bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}

// Sums the numeric key=value lines the processes wrote; the text ones
// (backend, layer) are collected in `texts`, each distinct value once.
std::map<std::string, unsigned long long> read_reports(const std::string& path, int* processes,
                                                       std::map<std::string, std::string>* texts) {
  std::map<std::string, unsigned long long> sum;
  std::ifstream f(path);
  std::string line;
  *processes = 0;
  while (std::getline(f, line)) {
    ++*processes;
    std::istringstream words(line);
    std::string kv;
    while (words >> kv) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos || kv.compare(0, eq, "pid") == 0) continue;
      const std::string key = kv.substr(0, eq);
      if (key == "backend" || key == "layer") {
        std::string& seen = (*texts)[key];
        const std::string value = kv.substr(eq + 1);
        if ((" " + seen + " ").find(" " + value + " ") == std::string::npos) {
          seen += (seen.empty() ? "" : " ") + value;
        }
        continue;
      }
      sum[key] += std::strtoull(kv.c_str() + eq + 1, nullptr, 10);
    }
  }
  return sum;
}

void print_summary(const RunOptions& o, int status, double seconds, long long peak, const std::string& report) {
  int processes = 0;
  std::map<std::string, std::string> texts;
  auto r = read_reports(report, &processes, &texts);
  std::string cmd;
  for (const std::string& a : o.command) cmd += (cmd.empty() ? "" : " ") + a;
  std::fprintf(stderr, "\nvmreclaim run: %s\n", cmd.c_str());
  if (WIFEXITED(status)) {
    std::fprintf(stderr, "  exited with status %d after %.2f s\n", WEXITSTATUS(status), seconds);
  } else if (WIFSIGNALED(status)) {
    std::fprintf(stderr, "  killed by signal %d (%s) after %.2f s\n", WTERMSIG(status), strsignal(WTERMSIG(status)),
                 seconds);
  }
  if (processes == 0) {
    std::fprintf(stderr, "  no process reported (none exited normally with the layer loaded)\n");
  } else {
    std::fprintf(stderr, "  processes reporting     %d\n", processes);
    for (const char* key : {"backend", "layer"}) {
      const std::string& v = texts[key];
      std::fprintf(stderr, "  %-23s %s\n", key, v.empty() ? "unknown" : v.c_str());
    }
    std::fprintf(stderr, "  large allocations       %llu (threshold %llu bytes)\n", r["large_allocs"],
                 processes > 0 ? r["threshold"] / static_cast<unsigned>(processes) : 0ull);
    std::fprintf(stderr, "  served from the ring    %llu without a fault, %llu after reclaim (pages faulted back in)\n",
                 r["reused_intact"], r["reused_zeroed"]);
    std::fprintf(stderr, "  newly mapped            %llu\n", r["fresh_maps"]);
    std::string causes;
    for (int i = 0; i < VMRECLAIM_CAUSE_COUNT; i++) {
      const char* c = control::cause_name(i);
      unsigned long long b = r[std::string("reclaimed_") + c];
      if (b != 0) causes += std::string(causes.empty() ? "" : ", ") + c + " " + mib(static_cast<double>(b));
    }
    std::fprintf(stderr, "  reclaimed by cause      %s\n", causes.empty() ? "nothing" : causes.c_str());
    std::fprintf(stderr, "  cached at exit          %s\n", mib(static_cast<double>(r["cached_bytes"])).c_str());
  }
  std::fprintf(stderr, "  RssAnon                 peak %s (every %d ms, the command's own process)",
               peak >= 0 ? mib(static_cast<double>(peak)).c_str() : "unknown", o.interval_ms);
  if (processes > 0) std::fprintf(stderr, ", at exit %s", mib(static_cast<double>(r["rss_anon_exit"])).c_str());
  std::fprintf(stderr, "\n");
}

int run_command(const RunOptions& o) {
  const alloc::BackendName* backend = nullptr;
  if (!o.backend.empty()) {
    backend = alloc::backend_by_name(o.backend);
    if (backend == nullptr) {  // CLI11 checked it already
      std::fprintf(stderr, "vmreclaim run: unknown backend '%s'\n", o.backend.c_str());
      return 2;
    }
  }
  const char* file = backend != nullptr ? backend->layer : alloc::backend_name(alloc::kDefaultBackend).layer;
  const std::string lib = find_layer(file);
  if (lib.empty()) {
    std::fprintf(stderr, "vmreclaim run: cannot find %s (set VMRECLAIM_MALLOC_LIB)\n", file);
    return 2;
  }
  char dir[] = "/tmp/vmreclaim-run-XXXXXX";
  if (mkdtemp(dir) == nullptr) {
    std::perror("vmreclaim run: mkdtemp");
    return 2;
  }
  const std::string report = std::string(dir) + "/report";
  std::string preload = lib;
  // A backend that cannot be loaded late goes right after the layer (by
  // soname, found like a DT_NEEDED entry); the layer stays first, so the
  // program's malloc and operator new are always the layer's.
  if (backend != nullptr && backend->needs_preload) preload += std::string(":") + backend->soname;
  if (const char* old = std::getenv("LD_PRELOAD"); old != nullptr && *old != '\0') preload += std::string(":") + old;

  // Like system(): the command gets the terminal's signals, we wait for it.
  struct sigaction ignore {
  }, old_int{}, old_quit{};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGINT, &ignore, &old_int);
  sigaction(SIGQUIT, &ignore, &old_quit);
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid < 0) {
    std::perror("vmreclaim run: fork");
    return 2;
  }
  if (pid == 0) {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGQUIT, &old_quit, nullptr);
    setenv("LD_PRELOAD", preload.c_str(), 1);
    setenv("VMRECLAIM_MALLOC_REPORT", report.c_str(), 1);
    if (!o.threshold.empty()) setenv("VMRECLAIM_MALLOC_THRESHOLD", o.threshold.c_str(), 1);
    if (backend != nullptr) setenv("VMRECLAIM_MALLOC_BACKEND", backend->name, 1);
    // The layer serves no control endpoint unless asked; the operator who
    // runs a program through us can then show, trim and drain it. An
    // explicit VMRECLAIM_CONTROL (0 included) is left as it is.
    setenv("VMRECLAIM_CONTROL", "1", 0);
    std::vector<char*> argv;
    for (const std::string& a : o.command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "vmreclaim run: cannot run %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  long long peak = -1;
  int status = 0;
  for (;;) {
    long long rss = rss_anon_bytes(pid);
    if (rss > peak) peak = rss;
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      ::poll(&p, 1, o.interval_ms);
    } else {
      ::usleep(static_cast<useconds_t>(o.interval_ms) * 1000);
    }
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) {
      std::perror("vmreclaim run: waitpid");
      break;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (pidfd >= 0) close(pidfd);
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGQUIT, &old_quit, nullptr);
  print_summary(o, status, seconds, peak, report);
  unlink(report.c_str());
  rmdir(dir);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

}  // namespace

void register_run(CLI::App& app, CommandSet& set) {
  auto opts = std::make_shared<RunOptions>();
  CLI::App* sub =
      app.add_subcommand("run", "Run a command with the large-allocation layer preloaded and summarise what it did");
  std::vector<std::string> names;
  for (const alloc::BackendName& b : alloc::kBackendNames) names.emplace_back(b.name);
  sub->add_option("--with", opts->backend,
                  std::string("The allocator for requests below the threshold (default ") +
                      alloc::backend_name(alloc::kDefaultBackend).name + ")")
      ->check(CLI::IsMember(names));
  sub->add_option("--threshold", opts->threshold, "Requests at least this large go to the layer (e.g. 64K, 1M)");
  sub->add_option("--interval-ms", opts->interval_ms, "RssAnon sampling interval")->check(CLI::Range(1, 10000));
  sub->add_option("command", opts->command, "The command and its arguments (after --)")->required();
  set.add(sub, [opts] { return run_command(*opts); });
}

}  // namespace vmreclaim::tools
