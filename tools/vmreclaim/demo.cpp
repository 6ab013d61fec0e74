// `vmreclaim demo`: the same large-block churn freed three ways — munmap at
// once, MADV_DONTNEED at once, and through the reclamation ring — each in its
// own process, compared in one table (or JSON); then a timeline of RssAnon in
// a ring process that churns, idles and is squeezed by a memory limit.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
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
};

constexpr uint64_t kLargestMaxBlock = uint64_t{64} << 20;

int run_demo(const DemoOptions& o) {
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

}  // namespace

void register_demo(CLI::App& app, CommandSet& set) {
  auto options = std::make_shared<DemoOptions>();
  CLI::App* sub = app.add_subcommand(
      "demo", "Run a large-allocation churn three ways (munmap, madvise, the reclamation ring) and compare them");
  sub->add_option("--ops", options->ops, "Operations (allocations and frees) in the churn")
      ->check(CLI::Number)
      ->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}))
      ->capture_default_str();
  sub->add_option("--seconds", options->seconds, "Stop each mode's churn after this many seconds (0: no limit)")
      ->check(CLI::Number)
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  sub->add_option("--max-block", options->max_block, "Largest block size (bytes; K, M suffixes; 128K..64M)")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{demo::SizeClasses::kMinBlock}, kLargestMaxBlock))
      ->default_str("4M");
  sub->add_option("--seed", options->seed, "Seed of the workload's random numbers")->capture_default_str();
  sub->add_option(
         "--mode", options->mode,
         "What to run: munmap, madvise or ring alone, the timeline alone, or all (the three, then the timeline)")
      ->check(CLI::IsMember({"munmap", "madvise", "ring", "timeline", "all"}))
      ->capture_default_str();
  CLI::Option* sampling =
      sub->add_option("--sampling-ms", options->sampling_ms,
                      "The ring engine's sampling period in ms (0: the library's own, or the environment's)")
          ->check(CLI::Number)
          ->check(CLI::Range(uint64_t{0}, uint64_t{3'600'000}))
          ->capture_default_str();
  sub->add_option("--timeline-csv", options->timeline_csv,
                  "Also write the timeline's points to this CSV file (scripts/plot_timeline.py draws it)");
  sub->add_flag("--json", options->json, "Print a JSON object with a row per mode instead of the table");
  set.add(sub, [options, sampling] {
    options->sampling_given = sampling->count() > 0;
    return run_demo(*options);
  });
}

}  // namespace vmreclaim::tools
