// `vmreclaim demo`'s timeline: RssAnon over time in one process whose large
// blocks go through the ring, while it churns, sits idle (the engine thread
// gives back what stays unused, with no calls from the program), churns
// again, and is then squeezed by a memory limit (the engine gives back at
// once). Runs in a forked child; the points come back as JSON.
#pragma once

#include <vmreclaim/vmreclaim.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "demo_workload.h"

namespace vmreclaim::tools::demo {

struct TimelineConfig {
  WorkloadConfig workload;
  double busy_seconds = 1.5;
  // A program does work between its allocations: the churn is paced to
  // this many operations per second (the whole wave of the workload, up
  // and down, about once every half second).
  double ops_per_second = 4000;
  double idle_seconds = 4;
  double squeeze_seconds = 2;
  // The engine's sampling period and pressure/limit poll in the child: the
  // library's defaults (10 s, 1 s) would make the demo minutes long.
  uint64_t sampling_period_ns = 500'000'000;
  uint64_t pressure_poll_ns = 100'000'000;
  uint64_t tick_ns = 50'000'000;  // one point per tick
};

struct TimelinePoint {
  double t = 0;  // seconds since the start
  std::string phase;
  uint64_t rss_anon = 0;
  uint64_t ring_bytes = 0;                         // reclaimable bytes in the ring
  uint64_t live_bytes = 0;                         // blocks the program holds
  uint64_t pressed = 0;                            // squeeze phase: what its limit measures
  uint64_t reclaimed[VMRECLAIM_CAUSE_COUNT] = {};  // cumulative, by cause
};

struct TimelineResult {
  bool ok = false;
  std::string error;
  TimelineConfig config;
  std::string squeezed_by;     // what the squeeze pressed on
  std::string why_not_cgroup;  // why not a memory cgroup, if it fell back
  std::string squeeze_error;   // the squeeze could not be applied
  uint64_t relief_at = 0;      // the squeeze's high watermark (0: none)
  std::vector<TimelinePoint> points;
};

// What the points show about one phase (idle, squeeze).
struct PhaseSummary {
  bool seen = false;
  double start = 0;
  uint64_t ring_at_start = 0, rss_at_start = 0, rss_at_end = 0;
  // From the start of the phase until the ring held at most a tenth of
  // what it held then; nullopt if it never did.
  std::optional<double> seconds_to_tenth;
  // Squeeze only: from its start until what the limit measures was back at
  // or under the limit's high watermark — the engine's aim, whichever of its
  // wake-ups (pressure poll: drain; limit threshold: down to the low
  // watermark) answered first.
  std::optional<double> seconds_to_relief;
  uint64_t reclaimed[VMRECLAIM_CAUSE_COUNT] = {};  // during the phase, by cause
};

struct TimelineSummary {
  PhaseSummary idle, squeeze;
};

TimelineResult run_timeline_in_child(const TimelineConfig& config);
TimelineSummary summarize(const TimelineResult& r);

nlohmann::json to_json(const TimelineResult& r);
void print_timeline(std::FILE* out, const TimelineResult& r);
// CSV of the points (t, phase, rss_anon, ring_bytes, live_bytes, reclaimed
// by cause) for scripts/plot_timeline.py. Empty string, or the error.
std::string write_timeline_csv(const std::string& path, const TimelineResult& r);

}  // namespace vmreclaim::tools::demo
