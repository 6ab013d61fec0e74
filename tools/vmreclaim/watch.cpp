// `vmreclaim watch`: the list, refreshed. On a terminal the screen is
// redrawn; otherwise (and with --json, one document per line) each refresh
// is appended, so the output can be piped.
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <memory>
#include <thread>

#include "checks.h"
#include "commands.h"
#include "observe.h"

namespace vmreclaim::tools {
namespace {

struct WatchOptions {
  double interval = 2.0;
  uint64_t count = 0;  // 0: until interrupted
  bool json = false;
};

int run_watch(const WatchOptions& o) {
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  for (uint64_t i = 0; o.count == 0 || i < o.count; i++) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::duration<double>(o.interval));
    size_t unreadable = 0;
    std::vector<RingView> rings = all_rings(&unreadable);
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    if (o.json) {
      nlohmann::json procs = nlohmann::json::array();
      for (const RingView& r : rings) procs.push_back(ring_json(r));
      print_json({{"time", static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9},
                  {"processes", std::move(procs)},
                  {"unreadable_processes", unreadable}},
                 /*pretty=*/false);
      continue;
    }
    char stamp[64];
    tm local{};
    ::localtime_r(&now.tv_sec, &local);
    std::strftime(stamp, sizeof stamp, "%H:%M:%S", &local);
    if (tty) std::fputs("\033[H\033[2J", stdout);
    std::printf("%s%s  %zu rings (every %.1f s)\n", i > 0 && !tty ? "\n" : "", stamp, rings.size(), o.interval);
    print_ring_table(stdout, rings);
    std::fflush(stdout);
  }
  return kExitOk;
}

}  // namespace

void register_watch(CLI::App& app, CommandSet& set) {
  auto o = std::make_shared<WatchOptions>();
  CLI::App* sub = app.add_subcommand("watch", "Refresh the list of rings until interrupted");
  sub->add_option("--interval", o->interval, "Seconds between refreshes")
      ->capture_default_str()
      ->check(seconds_in(0.05, 86400.0));
  sub->add_option("--count", o->count, "Refreshes before exiting (0: forever)")
      ->capture_default_str()
      ->check(integer_in(0, 1LL << 40));
  sub->add_flag("--json", o->json, "One JSON document per line per refresh");
  sub->footer(kExitCodesHelp);
  set.add(sub, [o] { return run_watch(*o); });
}

}  // namespace vmreclaim::tools
