// `vmreclaim status` and `vmreclaim top`: the machine as the daemon
// (vmreclaimd) sees it — per process and per cgroup the reclaimable bytes,
// the stalest bytes, the daemon's last action and its cause, the pressure
// level — asked for on the daemon's socket ({"op":"status"}).
//
// With no daemon running, `status` asks each process itself, as `list` and
// `show` do (its ring read from outside, its engine's statistics over its
// control endpoint), and marks the view "no daemon": there is then no last
// action by a daemon and no published pressure level. `top` needs the daemon.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "checks.h"
#include "commands.h"
#include "control/client.h"
#include "control/stats_json.h"
#include "daemon/client.h"
#include "daemon/snapshot.h"
#include "observe.h"
#include "support/daemon_socket.h"

namespace vmreclaim::tools {
namespace {

using daemon::CgroupView;
using daemon::ProcessView;
using daemon::Snapshot;

struct StatusOptions {
  std::string socket;
  double timeout = 2.0;
  bool json = false;
  // top only
  bool once = false;
  uint64_t count = 0;   // 0: until interrupted
  double interval = 0;  // 0: the daemon's poll period
};

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

double now_unix() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

// ---- the view without a daemon ----

// The memory cgroup of `pid` as /proc/PID/cgroup names it: the v1 memory
// controller's line, else the v2 line ("0::PATH"); "?" if unreadable.
std::string memory_cgroup_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  std::string line, unified;
  while (std::getline(in, line)) {
    const size_t a = line.find(':');
    const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    size_t pos = 0;
    while (pos <= controllers.size()) {
      size_t comma = controllers.find(',', pos);
      if (comma == std::string::npos) comma = controllers.size();
      if (controllers.compare(pos, comma - pos, "memory") == 0) return path;
      pos = comma + 1;
    }
    if (line.compare(0, 3, "0::") == 0) unified = path;
  }
  return unified.empty() ? "?" : unified;
}

// A whole-number file such as memory.usage_in_bytes; nullopt if missing or not a number.
std::optional<uint64_t> read_number(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text.empty() || text.size() > 20 || text.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
  if (errno == ERANGE) return std::nullopt;
  return v;
}

// Usage and limit of a memory cgroup, v1 (memory.usage_in_bytes,
// memory.limit_in_bytes; "no limit" is a huge number) or v2
// (memory.current, memory.max; "max").
void fill_cgroup_usage(CgroupView& c) {
  if (c.path.empty() || c.path[0] != '/' || c.path.find("/..") != std::string::npos) return;
  const std::string v1 = "/sys/fs/cgroup/memory" + c.path;
  if (auto usage = read_number(v1 + "/memory.usage_in_bytes")) {
    c.usage_bytes = *usage;
    const uint64_t limit = read_number(v1 + "/memory.limit_in_bytes").value_or(0);
    c.limit_bytes = limit >= (uint64_t{1} << 62) ? 0 : limit;
    return;
  }
  const std::string v2 = "/sys/fs/cgroup" + c.path;
  if (auto usage = read_number(v2 + "/memory.current")) {
    c.usage_bytes = *usage;
    c.limit_bytes = read_number(v2 + "/memory.max").value_or(0);  // "max": no number, no limit
  }
}

Snapshot snapshot_without_daemon(std::chrono::milliseconds timeout) {
  Snapshot s;
  s.unix_s = now_unix();
  s.machine_pressure = "";
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib) {
    std::getline(meminfo, unit);
    if (key == "MemAvailable:") s.mem_available_bytes = kib * 1024;
  }
  size_t unreadable = 0;
  std::map<std::string, CgroupView> cgroups;
  for (const RingView& r : all_rings(&unreadable)) {
    ProcessView p;
    p.pid = r.pid;
    p.comm = r.command;
    p.cgroup = memory_cgroup_of(r.pid);
    p.reclaimable_bytes = r.reclaimable_bytes;
    // The ring's minimum since its engine's last sample: bytes that have
    // stayed unused all that time.
    p.stalest_bytes = std::min(r.reclaimable_bytes_min, r.reclaimable_bytes);
    p.last_action = "none";
    p.registered = false;
    // What its own engine gave back, by cause, from its control endpoint.
    if (auto client = control::Client::connect(r.pid, timeout)) {
      if (auto reply = client->stats()) {
        for (int c = 0; c < VMRECLAIM_CAUSE_COUNT; c++) {
          if (reply->stats.reclaimed_bytes[c] != 0) {
            p.reclaimed_bytes_total[control::cause_name(c)] = reply->stats.reclaimed_bytes[c];
          }
        }
      }
    }
    CgroupView& c = cgroups[p.cgroup];
    c.path = p.cgroup;
    c.reclaimable_bytes += p.reclaimable_bytes;
    s.processes.push_back(std::move(p));
  }
  for (auto& [path, c] : cgroups) {
    fill_cgroup_usage(c);
    s.cgroups.push_back(c);
  }
  return s;
}

// ---- rendering ----

void sort_by_reclaimable(Snapshot& s) {
  std::stable_sort(s.processes.begin(), s.processes.end(), [](const ProcessView& a, const ProcessView& b) {
    return a.reclaimable_bytes > b.reclaimable_bytes;
  });
  std::stable_sort(s.cgroups.begin(), s.cgroups.end(),
                   [](const CgroupView& a, const CgroupView& b) { return a.reclaimable_bytes > b.reclaimable_bytes; });
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

// "trim 32.0M (deficit) 3s ago", or "-".
std::string last_action_text(const ProcessView& p, double now) {
  if (p.last_action.empty() || p.last_action == "none") return "-";
  std::string t = p.last_action + " " + human_bytes(p.last_action_bytes);
  if (!p.last_cause.empty()) t += " (" + p.last_cause + ")";
  if (p.last_action_unix_s > 0) {
    const double ago = std::max(0.0, now - p.last_action_unix_s);
    char buf[32];
    std::snprintf(buf, sizeof buf, " %.0fs ago", ago);
    t += buf;
  }
  return t;
}

// Command names and cgroup paths are the processes' own: keep control
// characters (a newline in a comm) out of the table.
std::string printable(const std::string& s) {
  std::string out = s;
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

void print_tables(std::FILE* out, const Snapshot& s, bool daemon, size_t max_rows) {
  const double now = now_unix();
  if (daemon) {
    std::fprintf(out, "daemon: poll %u ms, machine pressure %s, MemAvailable %s, %zu processes, %zu cgroups\n",
                 s.poll_ms, or_dash(s.machine_pressure).c_str(), human_bytes(s.mem_available_bytes).c_str(),
                 s.processes.size(), s.cgroups.size());
    std::string reclaimed;
    for (const auto& [cause, bytes] : s.daemon.reclaimed_bytes_total) {
      reclaimed += " " + printable(cause) + " " + human_bytes(bytes);
    }
    std::fprintf(out, "        %llu polls, %llu actions, last deficit %s, reclaimed:%s\n",
                 static_cast<unsigned long long>(s.daemon.polls), static_cast<unsigned long long>(s.daemon.actions),
                 human_bytes(s.daemon.deficit_bytes_last).c_str(), reclaimed.empty() ? " nothing" : reclaimed.c_str());
  } else {
    std::fprintf(out, "no daemon: each process as its ring and control endpoint report it; MemAvailable %s\n",
                 human_bytes(s.mem_available_bytes).c_str());
  }
  std::fprintf(out, "%8s  %-16s %-24s %12s %10s %-9s %s\n", "PID", "COMMAND", "CGROUP", "RECLAIMABLE", "STALEST",
               "PRESSURE", "LAST ACTION");
  size_t rows = 0;
  for (const ProcessView& p : s.processes) {
    if (max_rows != 0 && rows++ >= max_rows) {
      std::fprintf(out, "  ... %zu more\n", s.processes.size() - max_rows);
      break;
    }
    std::fprintf(out, "%8lld  %-16.16s %-24.24s %12s %10s %-9s %s%s\n", static_cast<long long>(p.pid),
                 printable(p.comm).c_str(), printable(p.cgroup).c_str(), human_bytes(p.reclaimable_bytes).c_str(),
                 human_bytes(p.stalest_bytes).c_str(), or_dash(p.pressure).c_str(),
                 printable(last_action_text(p, now)).c_str(), p.stopped ? " [stopped]" : "");
  }
  std::fprintf(out, "%-34s %10s %10s %10s %10s %12s %s\n", "CGROUP", "USAGE", "LIMIT", "HIGH", "LOW", "RECLAIMABLE",
               "PRESSURE");
  for (const CgroupView& c : s.cgroups) {
    std::fprintf(out, "%-34.34s %10s %10s %10s %10s %12s %s\n",
                 c.path.empty() ? "(machine)" : printable(c.path).c_str(), human_bytes(c.usage_bytes).c_str(),
                 c.limit_bytes != 0 ? human_bytes(c.limit_bytes).c_str() : "-",
                 c.high_watermark_bytes != 0 ? human_bytes(c.high_watermark_bytes).c_str() : "-",
                 c.low_watermark_bytes != 0 ? human_bytes(c.low_watermark_bytes).c_str() : "-",
                 human_bytes(c.reclaimable_bytes).c_str(), or_dash(c.pressure).c_str());
  }
}

nlohmann::json snapshot_json(const Snapshot& s, const char* source, const std::string& socket) {
  nlohmann::json j = s;
  j["source"] = source;
  j["socket"] = socket;
  return j;
}

int daemon_problem(const daemon::StatusReply& r, bool json) {
  Problem p;
  p.exit_code = kExitUnreachable;
  p.code = r.daemon_absent ? "no_daemon" : "daemon_unreachable";
  p.message = r.error;
  std::fprintf(stderr, "vmreclaim: %s\n", p.message.c_str());
  if (json) print_json({{"error", p.code}, {"message", p.message}, {"exit_code", p.exit_code}});
  return p.exit_code;
}

// A bad --socket or VMRECLAIM_DAEMON_SOCKET: a command-line error, as
// main.cpp reports one (CLI11's code for a bad value, "error": "usage"),
// in the engine's words for the same value. Nobody is asked.
int bad_socket_setting(const std::string& message, bool json) {
  const int code = static_cast<int>(CLI::ExitCodes::ValidationError);
  std::fprintf(stderr, "vmreclaim: %s\n", message.c_str());
  if (json) print_json({{"pid", nullptr}, {"error", "usage"}, {"message", message}, {"exit_code", code}});
  return code;
}

// The daemon's answer, or why there is none (no socket set: as if absent).
daemon::StatusReply ask_daemon(const daemon::SocketChoice& socket, std::chrono::milliseconds timeout) {
  if (socket.path.empty()) {
    daemon::StatusReply none;
    none.daemon_absent = true;
    none.error = socket.error;
    return none;
  }
  return daemon::request_status(socket.path, timeout);
}

int run_status(const StatusOptions& o) {
  const daemon::SocketChoice choice = daemon::resolve_socket_path(o.socket);
  if (choice.bad) return bad_socket_setting(choice.error, o.json);
  const std::string& socket = choice.path;
  daemon::StatusReply reply = ask_daemon(choice, to_ms(o.timeout));
  if (reply.snapshot) {
    Snapshot& s = *reply.snapshot;
    sort_by_reclaimable(s);
    if (o.json) {
      print_json(snapshot_json(s, "daemon", socket));
    } else {
      print_tables(stdout, s, true, 0);
    }
    return kExitOk;
  }
  if (!reply.daemon_absent) return daemon_problem(reply, o.json);
  std::fprintf(stderr, "vmreclaim: %s; asking each process instead (no daemon)\n", reply.error.c_str());
  Snapshot s = snapshot_without_daemon(to_ms(o.timeout));
  sort_by_reclaimable(s);
  if (o.json) {
    print_json(snapshot_json(s, "no daemon", socket));
  } else {
    print_tables(stdout, s, false, 0);
  }
  return kExitOk;
}

int run_top(const StatusOptions& o) {
  const daemon::SocketChoice choice = daemon::resolve_socket_path(o.socket);
  if (choice.bad) return bad_socket_setting(choice.error, o.json);
  const std::string& socket = choice.path;
  const bool tty = ::isatty(STDOUT_FILENO) == 1 && !o.once;
  const uint64_t count = o.once ? 1 : o.count;
  for (uint64_t i = 0; count == 0 || i < count; i++) {
    daemon::StatusReply reply = ask_daemon(choice, to_ms(o.timeout));
    if (!reply.snapshot) return daemon_problem(reply, o.json);
    Snapshot& s = *reply.snapshot;
    sort_by_reclaimable(s);
    if (o.json) {
      print_json(snapshot_json(s, "daemon", socket), /*pretty=*/false);
    } else {
      if (tty) std::fputs("\033[H\033[2J", stdout);
      if (i > 0 && !tty) std::fputc('\n', stdout);
      print_tables(stdout, s, true, tty ? 40 : 0);
      std::fflush(stdout);
    }
    if (count != 0 && i + 1 >= count) break;
    // Refresh every poll of the daemon, unless told otherwise.
    const double interval = o.interval > 0 ? o.interval : std::max(0.05, s.poll_ms / 1000.0);
    std::this_thread::sleep_for(std::chrono::duration<double>(interval));
  }
  return kExitOk;
}

void add_common(CLI::App* sub, StatusOptions& o) {
  sub->add_option("--socket", o.socket,
                  std::string("The daemon's socket, an absolute path (default: $") + daemon::socket_env() + ", else " +
                      support::kDefaultDaemonSocket + "; " + daemon::socket_env() + "=0: no daemon)");
  sub->add_option("--timeout", o.timeout, "Seconds to wait for the daemon (and, without it, for each process)")
      ->capture_default_str()
      ->check(seconds_in(0.001, 3600.0));
}

}  // namespace

void register_status(CLI::App& app, CommandSet& set) {
  auto o = std::make_shared<StatusOptions>();
  CLI::App* sub = app.add_subcommand(
      "status",
      "Per process and per cgroup: reclaimable and stalest bytes, the daemon's last action and its cause, the "
      "pressure level (from vmreclaimd; without it, from each process)");
  add_common(sub, *o);
  sub->add_flag("--json", o->json, "Print the snapshot as JSON (\"source\": \"daemon\" or \"no daemon\")");
  sub->footer(kExitCodesHelp);
  set.add(sub, [o] { return run_status(*o); });
}

void register_top(CLI::App& app, CommandSet& set) {
  auto o = std::make_shared<StatusOptions>();
  CLI::App* sub = app.add_subcommand(
      "top", "The daemon's view, live: processes sorted by reclaimable bytes, refreshed every poll of vmreclaimd");
  add_common(sub, *o);
  sub->add_flag("--once", o->once, "Print one refresh and exit (for scripts and tests)");
  sub->add_option("--count", o->count, "Refreshes before exiting (0: until interrupted)")
      ->capture_default_str()
      ->check(integer_in(0, 1LL << 40));
  sub->add_option("--interval", o->interval, "Seconds between refreshes (0: the daemon's poll period)")
      ->capture_default_str()
      ->check(seconds_in(0, 86400.0));
  sub->add_flag("--json", o->json, "One JSON snapshot per line per refresh");
  sub->footer(kExitCodesHelp);
  set.add(sub, [o] { return run_top(*o); });
}

}  // namespace vmreclaim::tools
