// `vmreclaim demo`: the same large-block churn freed three ways — munmap at
// once, MADV_DONTNEED at once, and through the reclamation ring — each in its
// own process, compared in one table (or JSON); then a timeline of RssAnon in
// a ring process that churns, idles and is squeezed by a memory limit.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "commands.h"
#include "demo_herd.h"
#include "demo_report.h"
#include "demo_run.h"
#include "demo_timeline.h"

namespace vmreclaim::tools {
namespace {

struct DemoOptions {
  uint64_t ops = demo::WorkloadConfig{}.ops;
  double seconds = 8;  // per mode: three modes stay under 30 s whatever the machine
  uint64_t max_block = demo::WorkloadConfig{}.max_block;
  uint64_t seed = demo::WorkloadConfig{}.seed;
  std::string mode = "all";
  bool json = false;
  // The library samples every 10 s, longer than the whole ring run: a shorter
  // period lets the demo show the engine giving back idle memory meanwhile.
  uint64_t sampling_ms = 100;
  bool sampling_given = false;
  std::string timeline_csv;
  demo::HerdConfig herd;
};

constexpr uint64_t kLargestMaxBlock = uint64_t{64} << 20;

int run_herd(const DemoOptions& o) {
  if (std::string why = demo::herd_unavailable_reason(); !why.empty()) {
    std::fprintf(stderr, "vmreclaim demo: %s\n", why.c_str());
    return 1;
  }
  const demo::HerdResult r = demo::run_herd(o.herd);
  if (o.json) {
    std::printf("%s\n", demo::to_json(r).dump(2).c_str());
  } else {
    demo::print_herd(stdout, r);
  }
  for (const demo::HerdRun& run : r.runs) {
    if (!run.ok)
      std::fprintf(stderr, "vmreclaim demo: the herd's %s run failed: %s\n", run.squeeze.c_str(), run.error.c_str());
  }
  return r.ok() ? 0 : 1;
}

int run_demo(const DemoOptions& o) {
  if (o.mode == "herd") return run_herd(o);
  demo::RunConfig config;
  config.workload.ops = o.ops;
  config.workload.max_block = o.max_block;
  config.workload.seed = o.seed;
  config.max_seconds = o.seconds;
  // An explicit option wins; otherwise a period set in the environment does.
  if (o.sampling_given || std::getenv("VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS") == nullptr) {
    config.ring_sampling_period_ns = o.sampling_ms * 1'000'000;
  }

  std::vector<demo::Mode> modes;
  if (o.mode == "all") {
    modes = {demo::Mode::munmap, demo::Mode::madvise, demo::Mode::ring};
  } else if (o.mode != "timeline") {
    modes = {*demo::mode_from_name(o.mode)};  // CLI11 checked the name
  }
  const bool timeline = o.mode == "all" || o.mode == "timeline";

  std::vector<demo::ModeResult> results;
  bool ok = true;
  for (demo::Mode m : modes) {
    results.push_back(demo::run_mode_in_child(m, config));
    if (!results.back().ok) {
      ok = false;
      std::fprintf(stderr, "vmreclaim demo: the %s run failed: %s\n", demo::mode_name(m), results.back().error);
    }
  }
  std::optional<demo::TimelineResult> tl;
  if (timeline) {
    demo::TimelineConfig tc;
    tc.workload = config.workload;
    tl = demo::run_timeline_in_child(tc);
    if (!tl->ok) {
      ok = false;
      std::fprintf(stderr, "vmreclaim demo: the timeline run failed: %s\n", tl->error.c_str());
    } else if (!o.timeline_csv.empty()) {
      if (std::string err = demo::write_timeline_csv(o.timeline_csv, *tl); !err.empty()) {
        ok = false;
        std::fprintf(stderr, "vmreclaim demo: %s\n", err.c_str());
      }
    }
  }
  if (o.json) {
    nlohmann::json doc = demo::to_json(config, results);
    if (tl) doc["timeline"] = demo::to_json(*tl);
    std::printf("%s\n", doc.dump(2).c_str());
  } else {
    if (!results.empty()) demo::print_table(stdout, config, results);
    if (tl) demo::print_timeline(stdout, *tl);
  }
  return ok ? 0 : 1;
}

// An option that takes a number from `lo` to `hi`, its default shown in --help.
template <class T>
CLI::Option* number_option(CLI::App* sub, const std::string& name, T& value, std::type_identity_t<T> lo,
                           std::type_identity_t<T> hi, const std::string& help) {
  return sub->add_option(name, value, help)->check(CLI::Number)->check(CLI::Range(lo, hi))->capture_default_str();
}

}  // namespace

void register_demo(CLI::App& app, CommandSet& set) {
  auto options = std::make_shared<DemoOptions>();
  CLI::App* sub = app.add_subcommand(
      "demo", "Run a large-allocation churn three ways (munmap, madvise, the reclamation ring) and compare them");
  number_option(sub, "--ops", options->ops, 1, 100'000'000, "Operations (allocations and frees) in the churn");
  number_option(sub, "--seconds", options->seconds, 0.0, 3600.0,
                "Stop each mode's churn after this many seconds (0: no limit)");
  sub->add_option("--max-block", options->max_block, "Largest block size (bytes; K, M suffixes; 128K..64M)")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{demo::SizeClasses::kMinBlock}, kLargestMaxBlock))
      ->default_str("4M");
  sub->add_option("--seed", options->seed, "Seed of the workload's random numbers")->capture_default_str();
  sub->add_option(
         "--mode", options->mode,
         "What to run: munmap, madvise or ring alone, the timeline alone, all (the three, then the timeline), or "
         "herd (N processes in one memory cgroup squeezed; root and cgroup v1; not part of all)")
      ->check(CLI::IsMember({"munmap", "madvise", "ring", "timeline", "all", "herd"}))
      ->capture_default_str();
  CLI::Option* sampling =
      number_option(sub, "--sampling-ms", options->sampling_ms, 0, 3'600'000,
                    "The ring engine's sampling period in ms (0: the library's own, or the environment's)");
  sub->add_option("--timeline-csv", options->timeline_csv,
                  "Also write the timeline's points to this CSV file (scripts/plot_timeline.py draws it)");
  demo::HerdConfig& h = options->herd;
  number_option(sub, "--processes", h.processes, 1u, 256u, "herd: processes in the cgroup");
  number_option(sub, "--unused-mib", h.unused_mib, 1, 65536, "herd: MiB each process holds unused in its ring");
  number_option(sub, "--live-mib", h.live_mib, 0, 65536, "herd: MiB of live memory each process keeps");
  sub->add_option("--squeeze", h.squeeze,
                  "herd: limit (the cgroup's limit lowered to just above usage), neighbour (a process in the "
                  "cgroup pushing --neighbour-mib), or both")
      ->check(CLI::IsMember({"limit", "neighbour", "both"}))
      ->capture_default_str();
  number_option(sub, "--limit-headroom-mib", h.limit_headroom_mib, 0, 65536,
                "herd: the lowered limit is this far above usage");
  number_option(sub, "--neighbour-mib", h.neighbour_mib, 1, 65536, "herd: MiB the neighbour pushes");
  number_option(sub, "--neighbour-rate", h.neighbour_mib_per_s, 1.0, 100000.0, "herd: the neighbour's MiB per second");
  number_option(sub, "--settle-seconds", h.settle_seconds, 0.1, 600.0,
                "herd: how long to watch after the squeeze ends");
  number_option(sub, "--poll-ms", h.poll_ms, 10, 60000,
                "herd: the engines' pressure/limit poll and the daemon's poll, in ms");
  sub->add_option("--daemon", h.daemon_path,
                  "herd: the vmreclaimd binary; the runs are repeated with it on a private socket (without it, "
                  "or if it does not exist, the runs without a daemon only)");
  sub->add_flag("--json", options->json, "Print a JSON object with a row per mode instead of the table");
  set.add(sub, [options, sampling] {
    options->sampling_given = sampling->count() > 0;
    return run_demo(*options);
  });
}

}  // namespace vmreclaim::tools
