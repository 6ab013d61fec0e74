// policy_latency: the engine policy's targets (issue 3), timed on real child
// processes that hold memory in their ring and then sit idle (no library
// calls after filling the ring; the engine thread does everything):
//
//   pressure   time from a pressure change to a drained ring:
//              - cgroup: an operator lowers the child's memory cgroup limit
//                so its working set sits at >= 97 % of it (critical for the
//                live pressure monitor, which polls every
//                VMRECLAIM_PRESSURE_POLL_NS while the ring holds memory);
//              - api:    the program lowers its footprint limit with
//                vmreclaim_set_footprint_limit() (a command on the child's
//                stdin; the reclaim runs synchronously in that call);
//              - forced: a child started with VMRECLAIM_PRESSURE=critical,
//                from the ring being filled to it being drained.
//   idle       time from the start of an idle spell to a trimmed ring, in
//              sampling periods (period 200 ms, RssAnon sampled every 10 ms).
//   cost       the engine thread's CPU time and wake-ups while idle, for a
//              child whose ring holds memory and one whose ring is empty.
//
// "Drained" is read from outside: the child's RssAnon has dropped by what
// the ring held (less 1 MiB of slack for the kernel's per-CPU RSS counters).
// The results go to stdout as tables (docs/benchmarks.md quotes them).
#include <mach/vm_reclaim.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vmreclaim/vmreclaim.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "policy_support.h"

namespace vb = vmreclaim::bench;

namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSec = 1'000'000'000;

// ---- the child: fill the ring, report, then idle on stdin ----

int run_child(uint64_t hold_mib, uint64_t entry_kib) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t bytes = hold_mib * kMiB, entry = entry_kib * 1024;
  const uint64_t n = entry == 0 ? 0 : bytes / entry;
  char* mem = nullptr;
  if (bytes > 0) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return std::perror("child: mmap"), 1;
    mem = static_cast<char*>(p);
    for (uint64_t off = 0; off < bytes; off += page) mem[off] = 1;  // resident before it goes into the ring
  }
  mach_vm_reclaim_ring_t ring = nullptr;
  const mach_vm_reclaim_count_t cap = mach_vm_reclaim_round_capacity(static_cast<mach_vm_reclaim_count_t>(n + 1));
  if (mach_vm_reclaim_error_t e = mach_vm_reclaim_ring_allocate(&ring, cap, cap); e != VM_RECLAIM_SUCCESS) {
    std::fprintf(stderr, "child: ring allocate: %s\n", vmreclaim_strerror(e));
    return 1;
  }
  const uint64_t t_alloc = vb::now_ns();
  for (uint64_t i = 0; i < n; i++) {
    mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
    bool update = false;  // ignored: this child models a program that has gone idle
    if (mach_vm_reclaim_try_enter(ring, reinterpret_cast<mach_vm_address_t>(mem + i * entry), entry, VM_RECLAIM_FREE,
                                  &id, &update) != VM_RECLAIM_SUCCESS ||
        id == VM_RECLAIM_ID_NULL) {
      std::fprintf(stderr, "child: enter %" PRIu64 " failed\n", i);
      return 1;
    }
  }
  std::printf("ready %" PRIu64 " %" PRIu64 "\n", t_alloc, vb::now_ns());
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
    uint64_t limit = 0;
    if (std::sscanf(line.c_str(), "limit %" SCNu64, &limit) == 1) {
      const uint64_t t0 = vb::now_ns();
      vmreclaim_set_footprint_limit(limit);
      const uint64_t t1 = vb::now_ns();
      std::printf("done %" PRIu64 " %" PRIu64 "\n", t0, t1);
      std::fflush(stdout);
    }
  }
  return 0;
}

// ---- the harness ----

struct Settings {
  uint64_t hold_mib = 128;
  uint64_t entry_kib = 1024;
  int trials = 5;
  std::vector<uint64_t> poll_ms{1000, 100};
  uint64_t idle_period_ms = 200;
  uint64_t idle_periods = 15;
  uint64_t cost_seconds = 10;
};

struct Ready {
  uint64_t t_alloc = 0, t_ready = 0;
  uint64_t rss = 0;
};

// Starts a holding child and waits for its report.
bool start_holding(vb::ChildProcess& child, const Settings& s, uint64_t hold_mib,
                   std::vector<std::pair<std::string, std::string>> env, const std::string& cgroup_procs,
                   Ready* ready) {
  vb::ChildProcess::Options o;
  o.args = {"child", "--hold-mib", std::to_string(hold_mib), "--entry-kib", std::to_string(s.entry_kib)};
  o.env = std::move(env);
  o.cgroup_procs = cgroup_procs;
  if (!child.start(o)) return false;
  auto line = child.read_line(60 * kSec);
  if (!line || std::sscanf(line->c_str(), "ready %" SCNu64 " %" SCNu64, &ready->t_alloc, &ready->t_ready) != 2) {
    std::fprintf(stderr, "policy_latency: the child did not report ready\n");
    return false;
  }
  auto rss = vb::rss_anon(child.pid());
  if (!rss) return false;
  ready->rss = *rss;
  return true;
}

// Polls the child's RssAnon until it is at most `threshold`; the time it was
// first seen there, or 0 after `timeout_ns`.
uint64_t wait_rss_at_most(pid_t pid, uint64_t threshold, uint64_t interval_ns, uint64_t timeout_ns) {
  const uint64_t deadline = vb::now_ns() + timeout_ns;
  for (;;) {
    auto rss = vb::rss_anon(pid);
    const uint64_t t = vb::now_ns();
    if (rss && *rss <= threshold) return t;
    if (!rss || t >= deadline) return 0;
    vb::sleep_ns(interval_ns);
  }
}

// Drained: RssAnon fell by what the ring held, less 1 MiB of counter slack.
uint64_t drained_threshold(const Ready& r, const Settings& s) {
  const uint64_t held = s.hold_mib * kMiB;
  return r.rss > held - kMiB ? r.rss - (held - kMiB) : 0;
}

struct Stats {
  std::vector<double> v;
  void add(double x) { v.push_back(x); }
  double pick(double q) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
  }
};

void print_latency_row(const char* trigger, const std::string& poll, Stats& ms, int failed, double period_ms) {
  if (ms.v.empty()) {
    std::printf("| %-47s | %-8s | %6s | %8s | %8s | %8s | %10s |\n", trigger, poll.c_str(), "-", "-", "-", "-", "-");
    return;
  }
  const double med = ms.pick(0.5);
  char periods[32] = "-";
  if (period_ms > 0) std::snprintf(periods, sizeof periods, "%.2f", med / period_ms);
  std::printf("| %-47s | %-8s | %3zu/%-2d | %8.1f | %8.1f | %8.1f | %10s |\n", trigger, poll.c_str(), ms.v.size(),
              static_cast<int>(ms.v.size()) + failed, ms.pick(0), med, ms.pick(1), periods);
}

void pressure_scenarios(const Settings& s) {
  std::printf("\n## Pressure change -> drained ring (%" PRIu64 " MiB in entries of %" PRIu64 " KiB)\n\n", s.hold_mib,
              s.entry_kib);
  std::printf("| %-47s | %-8s | %6s | %8s | %8s | %8s | %10s |\n", "trigger", "poll", "ok", "min ms", "med ms",
              "max ms", "med/poll");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(49, '-').c_str(), std::string(10, '-').c_str(),
              std::string(8, '-').c_str(), std::string(10, '-').c_str(), std::string(10, '-').c_str(),
              std::string(10, '-').c_str(), std::string(12, '-').c_str());
  std::mt19937_64 rng(42);
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::string self = std::to_string(::getpid());

  // 1. An operator lowers the cgroup limit: live pressure goes critical.
  for (uint64_t poll : s.poll_ms) {
    Stats ms;
    int failed = 0;
    std::string skip;
    double worst_ratio = 1.0;
    for (int t = 0; t < s.trials && skip.empty(); t++) {
      vb::ScratchMemoryCgroup cg;
      if (!cg.create("vmreclaim-bench-" + self + "-" + std::to_string(t))) {
        skip = cg.why();
        break;
      }
      if (!cg.set_limit(4 * s.hold_mib * kMiB + 256 * kMiB)) {
        skip = std::string("cannot set a cgroup limit: ") + std::strerror(errno);
        break;
      }
      vb::ChildProcess child;
      Ready r;
      if (!start_holding(child, s, s.hold_mib, {{"VMRECLAIM_PRESSURE_POLL_NS", std::to_string(poll * kMs)}},
                         cg.procs_file(), &r)) {
        failed++;
        continue;
      }
      // A random phase against the child's poll, so the trials sample it.
      vb::sleep_ns(std::uniform_int_distribution<uint64_t>(0, poll * kMs)(rng));
      auto ws = cg.working_set();
      if (!ws) {
        failed++;
        continue;
      }
      // Working set at 98.5 % of the new limit: above the monitor's 97 % critical mark.
      const uint64_t limit = (*ws * 1000 / 985 + page - 1) / page * page;
      worst_ratio = std::min(worst_ratio, static_cast<double>(*ws) / static_cast<double>(limit));
      const uint64_t t0 = vb::now_ns();
      if (!cg.set_limit(limit)) {
        std::fprintf(stderr, "policy_latency: lowering the cgroup limit to %" PRIu64 ": %s\n", limit,
                     std::strerror(errno));
        failed++;
        continue;
      }
      const uint64_t t1 = wait_rss_at_most(child.pid(), drained_threshold(r, s), kMs, 3 * poll * kMs + 5 * kSec);
      if (t1 == 0) {
        failed++;
        continue;
      }
      ms.add(static_cast<double>(t1 - t0) / kMs);
    }
    if (!skip.empty()) {
      std::printf("| %-47s | %-8s | skipped: %s\n", "cgroup limit lowered (live pressure)",
                  (std::to_string(poll) + " ms").c_str(), skip.c_str());
      break;
    }
    print_latency_row("cgroup limit lowered -> critical (live)", std::to_string(poll) + " ms", ms, failed,
                      static_cast<double>(poll));
    if (worst_ratio < 0.97)
      std::printf("  (warning: working set reached only %.1f %% of the limit)\n", worst_ratio * 100);
  }

  // 2. The program lowers its footprint limit: reclaimed in the call itself.
  {
    Stats outside, inside;
    int failed = 0;
    for (int t = 0; t < s.trials; t++) {
      vb::ChildProcess child;
      Ready r;
      if (!start_holding(child, s, s.hold_mib, {}, "", &r)) {
        failed++;
        continue;
      }
      vb::sleep_ns(50 * kMs);
      const uint64_t t0 = vb::now_ns();
      // 1 MiB: below the live footprint, so everything reclaimable goes.
      if (!child.send("limit " + std::to_string(kMiB))) {
        failed++;
        continue;
      }
      const uint64_t t1 = wait_rss_at_most(child.pid(), drained_threshold(r, s), 200'000, 10 * kSec);
      auto done = child.read_line(10 * kSec);
      uint64_t c0 = 0, c1 = 0;
      if (t1 == 0 || !done || std::sscanf(done->c_str(), "done %" SCNu64 " %" SCNu64, &c0, &c1) != 2) {
        failed++;
        continue;
      }
      outside.add(static_cast<double>(t1 - t0) / kMs);
      inside.add(static_cast<double>(c1 - c0) / kMs);
    }
    print_latency_row("footprint limit lowered (API), seen outside", "-", outside, failed, 0);
    print_latency_row("footprint limit lowered (API), the call", "-", inside, failed, 0);
  }

  // 3. Critical pressure from the start: ring filled -> drained.
  for (uint64_t poll : s.poll_ms) {
    Stats ms;
    int failed = 0;
    for (int t = 0; t < s.trials; t++) {
      vb::ChildProcess child;
      Ready r;
      if (!start_holding(
              child, s, s.hold_mib,
              {{"VMRECLAIM_PRESSURE", "critical"}, {"VMRECLAIM_PRESSURE_POLL_NS", std::to_string(poll * kMs)}}, "",
              &r)) {
        failed++;
        continue;
      }
      const uint64_t t1 = wait_rss_at_most(child.pid(), drained_threshold(r, s), kMs, 3 * poll * kMs + 5 * kSec);
      if (t1 == 0) {
        failed++;
        continue;
      }
      ms.add(static_cast<double>(t1 - r.t_ready) / kMs);
    }
    print_latency_row("VMRECLAIM_PRESSURE=critical, filled -> drained", std::to_string(poll) + " ms", ms, failed,
                      static_cast<double>(poll));
  }
}

void idle_scenario(const Settings& s) {
  const uint64_t period = s.idle_period_ms * kMs;
  const uint64_t held = s.hold_mib * kMiB;
  std::printf("\n## Idle spell -> trimmed ring (period %" PRIu64 " ms, %" PRIu64
              " MiB held, RssAnon every 10 ms, times from the end of the fill)\n\n",
              s.idle_period_ms, s.hold_mib);
  std::printf("| trial | first trim      | 50 %% trimmed    | 90 %% trimmed    | ring empty      | RssAnon at end |\n");
  std::printf("|-------|-----------------|-----------------|-----------------|-----------------|----------------|\n");
  std::string series_line;
  uint64_t enter_ns = 0;
  for (int t = 0; t < s.trials; t++) {
    vb::ChildProcess child;
    Ready r;
    if (!start_holding(
            child, s, s.hold_mib,
            {{"VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS", std::to_string(period)}, {"VMRECLAIM_PRESSURE", "normal"}}, "",
            &r)) {
      std::printf("| %5d | child failed\n", t);
      continue;
    }
    // Milestones: reclaimed >= 1 MiB, >= 50 %, >= 90 %, >= all but 1 MiB.
    const double fractions[4] = {0, 0.5, 0.9, 1.0};
    uint64_t at[4] = {0, 0, 0, 0};
    uint64_t last = r.rss;
    std::ostringstream series;
    uint64_t next_mark = r.t_ready;
    const uint64_t end = r.t_ready + s.idle_periods * period;
    while (vb::now_ns() < end) {
      auto rss = vb::rss_anon(child.pid());
      const uint64_t now = vb::now_ns();
      if (!rss) break;
      last = *rss;
      const uint64_t gone = r.rss > *rss ? r.rss - *rss : 0;
      for (int m = 0; m < 4; m++) {
        uint64_t need = m == 0   ? kMiB
                        : m == 3 ? held - kMiB
                                 : static_cast<uint64_t>(fractions[m] * static_cast<double>(held));
        if (at[m] == 0 && gone >= need) at[m] = now;
      }
      if (t == 0 && now >= next_mark) {
        series << " " << (*rss / kMiB);
        next_mark += period;
      }
      vb::sleep_ns(10 * kMs);
    }
    auto cell = [&](uint64_t when) {
      char buf[32];
      if (when == 0) return std::string("not reached");
      const double ms = static_cast<double>(when - r.t_ready) / kMs;
      std::snprintf(buf, sizeof buf, "%5.0f ms %4.1f p", ms, ms / static_cast<double>(s.idle_period_ms));
      return std::string(buf);
    };
    std::printf("| %5d | %-15s | %-15s | %-15s | %-15s | %10.1f MiB |\n", t, cell(at[0]).c_str(), cell(at[1]).c_str(),
                cell(at[2]).c_str(), cell(at[3]).c_str(), static_cast<double>(last) / kMiB);
    if (t == 0) {
      series_line = series.str();
      enter_ns = r.t_ready - r.t_alloc;
    }
  }
  std::printf("\n(\"p\" = sampling periods.) Trial 0, RssAnon in MiB once per period from the end of the fill:%s\n",
              series_line.c_str());
  std::printf(
      "Entering the regions took %.0f us after the ring's allocation; the engine's first sample is one\n"
      "period after the allocation.\n",
      static_cast<double>(enter_ns) / 1000);
}

void cost_scenario(const Settings& s) {
  std::printf("\n## Engine thread while idle (defaults: period 10 s, pressure poll 1 s; windows of %" PRIu64
              " s from the end of the fill)\n\n",
              s.cost_seconds);
  struct Subject {
    const char* name;
    uint64_t hold_mib;
    vb::ChildProcess child;
    Ready ready;
    pid_t tid = -1;
    std::vector<vb::ThreadUsage> marks;
  };
  Subject subjects[2] = {{"ring holding memory", s.hold_mib, {}, {}, -1, {}}, {"empty ring", 0, {}, {}, -1, {}}};
  for (Subject& sub : subjects) {
    if (!start_holding(sub.child, s, sub.hold_mib, {}, "", &sub.ready)) {
      std::printf("child (%s) failed to start\n", sub.name);
      return;
    }
  }
  for (Subject& sub : subjects) {
    for (int i = 0; i < 100 && sub.tid < 0; i++) {
      if (auto tid = vb::find_thread(sub.child.pid(), "vm_reclaim"))
        sub.tid = *tid;
      else
        vb::sleep_ns(10 * kMs);
    }
    if (sub.tid < 0) {
      std::printf("no vm_reclaim thread in the child (%s)\n", sub.name);
      return;
    }
  }
  const uint64_t t_start = vb::now_ns();
  std::vector<uint64_t> times;
  for (int w = 0; w <= 2; w++) {
    if (w > 0) vb::sleep_ns(t_start + static_cast<uint64_t>(w) * s.cost_seconds * kSec - vb::now_ns());
    times.push_back(vb::now_ns());
    for (Subject& sub : subjects) {
      auto u = vb::thread_usage(sub.child.pid(), sub.tid);
      if (!u) {
        std::printf("cannot read the engine thread's usage (%s)\n", sub.name);
        return;
      }
      sub.marks.push_back(*u);
    }
  }
  const double tick_ms = 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::printf("| %-20s | %-11s | %12s | %12s | %9s | %12s |\n", "child", "window", "CPU (sched)", "utime+stime",
              "CPU %", "wake-ups/s");
  std::printf("|----------------------|-------------|--------------|--------------|-----------|--------------|\n");
  for (Subject& sub : subjects) {
    for (int w = 0; w < 2; w++) {
      const double secs = static_cast<double>(times[w + 1] - times[w]) / kSec;
      const vb::ThreadUsage &a = sub.marks[w], &b = sub.marks[w + 1];
      const double cpu_ms = static_cast<double>(b.run_ns - a.run_ns) / kMs;
      char window[32];
      std::snprintf(window, sizeof window, "%.0f-%.0f s", static_cast<double>(w) * secs,
                    static_cast<double>(w + 1) * secs);
      std::printf("| %-20s | %-11s | %9.3f ms | %9.0f ms | %8.4f%% | %12.1f |\n", sub.name, window, cpu_ms,
                  static_cast<double>(b.ticks - a.ticks) * tick_ms, cpu_ms / (secs * 1000) * 100,
                  static_cast<double>(b.switches - a.switches) / secs);
    }
  }
}

void print_context() {
  std::ifstream load("/proc/loadavg");
  std::string l;
  std::getline(load, l);
  std::printf("# policy_latency  (load average at start: %s)\n", l.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"policy_latency — engine policy latencies and idle cost on real child processes (issue 3)"};
  Settings s;
  std::vector<std::string> scenarios{"pressure", "idle", "cost"};
  app.add_option("--scenario", scenarios, "pressure, idle, cost (default: all)")
      ->check(CLI::IsMember({"pressure", "idle", "cost"}));
  app.add_option("--hold-mib", s.hold_mib, "MiB each child holds in its ring")->check(CLI::Range(1, 4096));
  app.add_option("--entry-kib", s.entry_kib, "size of one ring entry, KiB")->check(CLI::Range(4, 1 << 20));
  app.add_option("--trials", s.trials, "trials per measurement")->check(CLI::Range(1, 100));
  app.add_option("--poll-ms", s.poll_ms, "VMRECLAIM_PRESSURE_POLL_NS values to try, ms")->check(CLI::Range(10, 60000));
  app.add_option("--idle-period-ms", s.idle_period_ms, "sampling period for the idle scenario, ms")
      ->check(CLI::Range(10, 60000));
  app.add_option("--idle-periods", s.idle_periods, "how many periods to watch the idle child")
      ->check(CLI::Range(1, 1000));
  app.add_option("--cost-seconds", s.cost_seconds, "length of each idle-cost window, s")->check(CLI::Range(1, 600));

  uint64_t child_hold = 0, child_entry = 1024;
  CLI::App* child = app.add_subcommand("child", "")->group("");  // internal: the measured process
  child->add_option("--hold-mib", child_hold);
  child->add_option("--entry-kib", child_entry);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (child->parsed()) return run_child(child_hold, child_entry);

  print_context();
  auto wanted = [&](const char* n) { return std::find(scenarios.begin(), scenarios.end(), n) != scenarios.end(); };
  if (wanted("pressure")) pressure_scenarios(s);
  if (wanted("idle")) idle_scenario(s);
  if (wanted("cost")) cost_scenario(s);
  return 0;
}
