// `vmreclaim demo`: the same large-block churn freed three ways — munmap at
// once, MADV_DONTNEED at once, and through the reclamation ring — each in its
// own process, compared in one table (or JSON).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "commands.h"
#include "demo_report.h"
#include "demo_run.h"

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
  } else {
    modes = {*demo::mode_from_name(o.mode)};  // CLI11 checked the name
  }

  std::vector<demo::ModeResult> results;
  bool ok = true;
  for (demo::Mode m : modes) {
    results.push_back(demo::run_mode_in_child(m, config));
    if (!results.back().ok) {
      ok = false;
      std::fprintf(stderr, "vmreclaim demo: the %s run failed: %s\n", demo::mode_name(m), results.back().error);
    }
  }
  if (o.json) {
    std::printf("%s\n", demo::to_json(config, results).dump(2).c_str());
  } else {
    demo::print_table(stdout, config, results);
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
  sub->add_option("--mode", options->mode, "Which way to run: munmap, madvise, ring or all")
      ->check(CLI::IsMember({"munmap", "madvise", "ring", "all"}))
      ->capture_default_str();
  CLI::Option* sampling =
      sub->add_option("--sampling-ms", options->sampling_ms,
                      "The ring engine's sampling period in ms (0: the library's own, or the environment's)")
          ->check(CLI::Number)
          ->check(CLI::Range(uint64_t{0}, uint64_t{3'600'000}))
          ->capture_default_str();
  sub->add_flag("--json", options->json, "Print a JSON object with a row per mode instead of the table");
  set.add(sub, [options, sampling] {
    options->sampling_given = sampling->count() > 0;
    return run_demo(*options);
  });
}

}  // namespace vmreclaim::tools
