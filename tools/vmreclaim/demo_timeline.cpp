#include "demo_timeline.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "control/stats_json.h"
#include "demo_allocators.h"
#include "demo_child.h"
#include "demo_measure.h"
#include "demo_pressure.h"

namespace vmreclaim::tools::demo {
namespace {

constexpr const char* kBusy = "busy";
constexpr const char* kIdle = "idle";
constexpr const char* kBusyAgain = "busy-again";
constexpr const char* kSqueeze = "squeeze";

void set_env(const char* name, uint64_t value) {
  if (::setenv(name, std::to_string(value).c_str(), 1) != 0) {
    throw std::runtime_error(std::string("setenv ") + name + ": " + std::strerror(errno));
  }
}

// Appends a point per tick: RssAnon, the ring's bytes and what the engine
// reclaimed so far.
class Recorder {
 public:
  Recorder(RingAllocator& allocator, const MemorySqueeze& squeeze, const TimelineConfig& config,
           std::vector<TimelinePoint>& points)
      : allocator_(allocator), squeeze_(squeeze), tick_(std::chrono::nanoseconds(config.tick_ns)), points_(points) {}

  double now() const { return seconds_since(start_); }

  void maybe(const char* phase, uint64_t live_bytes) {
    if (Clock::now() >= next_) record(phase, live_bytes);
  }

  void record(const char* phase, uint64_t live_bytes) {
    TimelinePoint p;
    p.t = now();
    p.phase = phase;
    p.live_bytes = live_bytes;
    if (auto st = read_memory_status()) p.rss_anon = st->rss_anon;
    if (p.phase == kSqueeze) p.pressed = squeeze_.pressed().value_or(0);
    Result<Stats> s = allocator_.ring().stats();
    if (!s) throw std::runtime_error("vmreclaim_ring_get_stats: " + s.error().message());
    p.ring_bytes = s->reclaimable_bytes;
    for (int c = 0; c < VMRECLAIM_CAUSE_COUNT; c++) p.reclaimed[c] = s->reclaimed_bytes[c];
    points_.push_back(std::move(p));
    next_ = Clock::now() + tick_;
  }

  // The program makes no call meanwhile: only the engine thread acts.
  void idle(const char* phase, double seconds) {
    const double until = now() + seconds;
    while (now() < until) {
      std::this_thread::sleep_until(next_);
      record(phase, 0);
    }
  }

  void busy(const char* phase, WorkloadConfig workload, double seconds, double ops_per_second) {
    const double from = now();
    run_workload(workload, allocator_, [&](const WorkloadProgress& p) {
      maybe(phase, p.live_bytes);
      const double ahead = static_cast<double>(p.ops_done) / ops_per_second - (now() - from);
      if (ahead > 0.001) std::this_thread::sleep_for(std::chrono::duration<double>(ahead));
      return now() - from < seconds;
    });
    record(phase, 0);  // everything freed: the ring holds it
  }

 private:
  RingAllocator& allocator_;
  const MemorySqueeze& squeeze_;
  const Clock::duration tick_;
  std::vector<TimelinePoint>& points_;
  const Clock::time_point start_ = Clock::now();
  Clock::time_point next_ = Clock::now();
};

TimelineResult run_timeline(const TimelineConfig& config) {
  TimelineResult r;
  r.config = config;
  try {
    // Read by the library when the ring is allocated, below.
    set_env("VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS", config.sampling_period_ns);
    set_env("VMRECLAIM_PRESSURE_POLL_NS", config.pressure_poll_ns);
    // Joins a memory cgroup if it can: before the ring, whose engine looks
    // for its cgroup when it starts.
    std::unique_ptr<MemorySqueeze> squeeze = make_memory_squeeze(r.why_not_cgroup);
    r.squeezed_by = squeeze->describe();
    {
      const SizeClasses classes(config.workload.max_block);
      RingAllocator allocator(classes.count());
      Recorder rec(allocator, *squeeze, config, r.points);
      WorkloadConfig w = config.workload;
      w.ops = UINT64_MAX;  // the phases end on time
      rec.record(kBusy, 0);
      rec.busy(kBusy, w, config.busy_seconds, config.ops_per_second);
      rec.idle(kIdle, config.idle_seconds);
      w.seed++;
      rec.busy(kBusyAgain, w, config.busy_seconds, config.ops_per_second);
      r.squeeze_error = squeeze->squeeze(r.points.back().ring_bytes);
      r.relief_at = squeeze->relief_at();
      rec.record(kSqueeze, 0);
      rec.idle(kSqueeze, config.squeeze_seconds);
    }
    r.ok = true;
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return r;
}

TimelineResult from_json(const nlohmann::json& doc) {
  TimelineResult r;
  r.ok = doc.at("ok").get<bool>();
  r.error = doc.value("error", "");
  r.squeezed_by = doc.value("squeezed_by", "");
  r.why_not_cgroup = doc.value("why_not_cgroup", "");
  r.squeeze_error = doc.value("squeeze_error", "");
  r.relief_at = doc.value("relief_at", uint64_t{0});
  const nlohmann::json& c = doc.at("config");
  r.config.busy_seconds = c.at("busy_seconds").get<double>();
  r.config.idle_seconds = c.at("idle_seconds").get<double>();
  r.config.squeeze_seconds = c.at("squeeze_seconds").get<double>();
  r.config.ops_per_second = c.at("ops_per_second").get<double>();
  r.config.sampling_period_ns = c.at("sampling_period_ns").get<uint64_t>();
  r.config.pressure_poll_ns = c.at("pressure_poll_ns").get<uint64_t>();
  r.config.tick_ns = c.at("tick_ns").get<uint64_t>();
  for (const nlohmann::json& j : doc.at("points")) {
    TimelinePoint p;
    p.t = j.at("t").get<double>();
    p.phase = j.at("phase").get<std::string>();
    p.rss_anon = j.at("rss_anon").get<uint64_t>();
    p.ring_bytes = j.at("ring_bytes").get<uint64_t>();
    p.live_bytes = j.at("live_bytes").get<uint64_t>();
    p.pressed = j.value("pressed", uint64_t{0});
    for (int i = 0; i < VMRECLAIM_CAUSE_COUNT; i++) {
      p.reclaimed[i] = j.at("reclaimed").value(control::cause_name(i), uint64_t{0});
    }
    r.points.push_back(std::move(p));
  }
  return r;
}

// The first point of `phase`, and the one before it (the phase's start).
const TimelinePoint* phase_start(const TimelineResult& r, const std::string& phase) {
  for (size_t i = 1; i < r.points.size(); i++) {
    if (r.points[i].phase == phase) return &r.points[i - 1];
  }
  return nullptr;
}

const TimelinePoint* phase_end(const TimelineResult& r, const std::string& phase) {
  const TimelinePoint* last = nullptr;
  for (const TimelinePoint& p : r.points) {
    if (p.phase == phase) last = &p;
  }
  return last;
}

// Seconds from `start` until the ring held at most a tenth of what it held
// at `start`, looking at the points of `phase`.
std::optional<double> time_to_tenth(const TimelineResult& r, const TimelinePoint& start, const std::string& phase) {
  if (start.ring_bytes == 0) return 0.0;
  for (const TimelinePoint& p : r.points) {
    if (p.phase == phase && p.t >= start.t && p.ring_bytes <= start.ring_bytes / 10) return p.t - start.t;
  }
  return std::nullopt;
}

// Seconds from `start` until a point of `phase` showed what the limit
// measures at or under `relief_at`.
std::optional<double> time_to_relief(const TimelineResult& r, const TimelinePoint& start, const std::string& phase) {
  if (r.relief_at == 0) return std::nullopt;
  for (const TimelinePoint& p : r.points) {
    if (p.phase == phase && p.t >= start.t && p.pressed != 0 && p.pressed <= r.relief_at) return p.t - start.t;
  }
  return std::nullopt;
}

std::string causes_text(const uint64_t (&bytes)[VMRECLAIM_CAUSE_COUNT]) {
  std::string out;
  for (int i = 0; i < VMRECLAIM_CAUSE_COUNT; i++) {
    if (bytes[i] == 0) continue;
    if (!out.empty()) out += ", ";
    out += std::string(control::cause_name(i)) + " " + format_bytes(bytes[i]);
  }
  return out.empty() ? "nothing" : out;
}

std::string bar(uint64_t value, uint64_t full, int width) {
  const long n =
      full > 0 ? std::lround(static_cast<double>(value) / static_cast<double>(full) * static_cast<double>(width)) : 0;
  const auto filled = static_cast<size_t>(std::clamp<long>(n, 0, width));
  return std::string(filled, '#') + std::string(static_cast<size_t>(width) - filled, ' ');
}

// "idle: the ring held 282 MiB when ...; a tenth of it was left after 1.52 s
// (3.0 sampling periods); RssAnon ... -> ...; reclaimed: ..."
void print_phase(std::FILE* out, const char* name, const char* when, const PhaseSummary& p, double phase_seconds,
                 double unit_seconds, const char* units) {
  if (!p.seen) return;
  if (p.seconds_to_tenth) {
    std::fprintf(out,
                 "%s: the ring held %s %s; a tenth of it was left after %.2f s (%.1f %s);\n"
                 "      RssAnon %s -> %s; reclaimed: %s\n",
                 name, format_bytes(p.ring_at_start).c_str(), when, *p.seconds_to_tenth,
                 *p.seconds_to_tenth / unit_seconds, units, format_bytes(p.rss_at_start).c_str(),
                 format_bytes(p.rss_at_end).c_str(), causes_text(p.reclaimed).c_str());
  } else {
    std::fprintf(out, "%s: the ring held %s %s and still more than a tenth of it after %.1f s; reclaimed: %s\n", name,
                 format_bytes(p.ring_at_start).c_str(), when, phase_seconds, causes_text(p.reclaimed).c_str());
  }
  if (p.seconds_to_relief) {
    std::fprintf(out, "      under the limit's high watermark again after %.2f s (%.1f %s)\n", *p.seconds_to_relief,
                 *p.seconds_to_relief / unit_seconds, units);
  }
}

}  // namespace

TimelineResult run_timeline_in_child(const TimelineConfig& config) {
  ChildOutcome child = run_in_child([&] { return to_json(run_timeline(config)).dump(); });
  TimelineResult r;
  r.config = config;
  if (!child.ok) {
    r.error = child.error;
    return r;
  }
  try {
    r = from_json(nlohmann::json::parse(child.payload));
  } catch (const std::exception& e) {
    r.ok = false;
    r.error = std::string("the timeline run sent a malformed result: ") + e.what();
  }
  return r;
}

TimelineSummary summarize(const TimelineResult& r) {
  const auto phase = [&r](const char* name) {
    PhaseSummary s;
    const TimelinePoint* first = phase_start(r, name);
    const TimelinePoint* last = phase_end(r, name);
    if (first == nullptr || last == nullptr) return s;
    s.seen = true;
    s.start = first->t;
    s.ring_at_start = first->ring_bytes;
    s.rss_at_start = first->rss_anon;
    s.rss_at_end = last->rss_anon;
    s.seconds_to_tenth = time_to_tenth(r, *first, name);
    s.seconds_to_relief = time_to_relief(r, *first, name);
    for (int i = 0; i < VMRECLAIM_CAUSE_COUNT; i++) s.reclaimed[i] = last->reclaimed[i] - first->reclaimed[i];
    return s;
  };
  return {phase(kIdle), phase(kSqueeze)};
}

nlohmann::json to_json(const TimelineResult& r) {
  nlohmann::json doc = {{"ok", r.ok}};
  if (!r.error.empty()) doc["error"] = r.error;
  doc["config"] = {{"busy_seconds", r.config.busy_seconds},
                   {"idle_seconds", r.config.idle_seconds},
                   {"squeeze_seconds", r.config.squeeze_seconds},
                   {"ops_per_second", r.config.ops_per_second},
                   {"sampling_period_ns", r.config.sampling_period_ns},
                   {"pressure_poll_ns", r.config.pressure_poll_ns},
                   {"tick_ns", r.config.tick_ns}};
  doc["squeezed_by"] = r.squeezed_by;
  if (!r.why_not_cgroup.empty()) doc["why_not_cgroup"] = r.why_not_cgroup;
  if (!r.squeeze_error.empty()) doc["squeeze_error"] = r.squeeze_error;
  if (r.relief_at != 0) doc["relief_at"] = r.relief_at;
  nlohmann::json points = nlohmann::json::array();
  for (const TimelinePoint& p : r.points) {
    nlohmann::json causes = nlohmann::json::object();
    for (int i = 0; i < VMRECLAIM_CAUSE_COUNT; i++) causes[control::cause_name(i)] = p.reclaimed[i];
    points.push_back({{"t", p.t},
                      {"phase", p.phase},
                      {"rss_anon", p.rss_anon},
                      {"ring_bytes", p.ring_bytes},
                      {"live_bytes", p.live_bytes},
                      {"pressed", p.pressed},
                      {"reclaimed", causes}});
  }
  doc["points"] = std::move(points);
  if (r.ok) {
    const TimelineSummary s = summarize(r);
    const auto opt = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
    doc["summary"] = {{"ring_bytes_at_idle", s.idle.ring_at_start},
                      {"rss_anon_at_idle", s.idle.rss_at_start},
                      {"rss_anon_idle_end", s.idle.rss_at_end},
                      {"idle_giveback_seconds", opt(s.idle.seconds_to_tenth)},
                      {"ring_bytes_at_squeeze", s.squeeze.ring_at_start},
                      {"rss_anon_at_squeeze", s.squeeze.rss_at_start},
                      {"rss_anon_end", s.squeeze.rss_at_end},
                      {"squeeze_response_seconds", opt(s.squeeze.seconds_to_tenth)},
                      {"squeeze_relief_seconds", opt(s.squeeze.seconds_to_relief)}};
  }
  return doc;
}

void print_timeline(std::FILE* out, const TimelineResult& r) {
  const TimelineConfig& c = r.config;
  if (!r.ok) {
    std::fprintf(out, "\ntimeline failed: %s\n", r.error.c_str());
    return;
  }
  std::fprintf(
      out,
      "\ntimeline: one process whose blocks go through the ring — busy %.1f s (%.0f operations/s), idle %.1f s,\n"
      "          busy %.1f s, then squeezed by its %s for %.1f s\n"
      "          (engine: sampling period %.0f ms, pressure and limit poll %.0f ms)\n",
      c.busy_seconds, c.ops_per_second, c.idle_seconds, c.busy_seconds, r.squeezed_by.c_str(), c.squeeze_seconds,
      static_cast<double>(c.sampling_period_ns) / 1e6, static_cast<double>(c.pressure_poll_ns) / 1e6);
  if (!r.why_not_cgroup.empty()) std::fprintf(out, "          (no memory cgroup: %s)\n", r.why_not_cgroup.c_str());
  if (!r.squeeze_error.empty()) std::fprintf(out, "          the squeeze failed: %s\n", r.squeeze_error.c_str());

  uint64_t full = 0;
  for (const TimelinePoint& p : r.points) full = std::max(full, p.rss_anon);
  constexpr int kBarWidth = 36;
  std::fprintf(out, "\n%7s  %-10s %9s %9s  %-*s  %s\n", "time", "phase", "RssAnon", "in ring", kBarWidth,
               "RssAnon (#) ", "reclaimed since the row above");
  // A row every quarter second keeps the table readable; the CSV has all.
  const TimelinePoint* prev = nullptr;
  double next_row = 0;
  for (size_t i = 0; i < r.points.size(); i++) {
    const TimelinePoint& p = r.points[i];
    const bool phase_changes = i + 1 < r.points.size() && r.points[i + 1].phase != p.phase;
    if (p.t < next_row && !phase_changes && i + 1 != r.points.size()) continue;
    uint64_t delta[VMRECLAIM_CAUSE_COUNT] = {};
    if (prev != nullptr) {
      for (int k = 0; k < VMRECLAIM_CAUSE_COUNT; k++) delta[k] = p.reclaimed[k] - prev->reclaimed[k];
    }
    std::string reclaimed = causes_text(delta);
    if (reclaimed == "nothing") reclaimed.clear();
    std::fprintf(out, "%6.2fs  %-10s %9s %9s  %s  %s\n", p.t, p.phase.c_str(), format_bytes(p.rss_anon).c_str(),
                 format_bytes(p.ring_bytes).c_str(), bar(p.rss_anon, full, kBarWidth).c_str(), reclaimed.c_str());
    prev = &p;
    next_row = p.t + 0.25;
  }

  const TimelineSummary s = summarize(r);
  std::fputc('\n', out);
  print_phase(out, "idle", "when the program stopped calling", s.idle, c.idle_seconds,
              static_cast<double>(c.sampling_period_ns) / 1e9, "sampling periods");
  print_phase(out, "squeeze", "when it was squeezed", s.squeeze, c.squeeze_seconds,
              static_cast<double>(c.pressure_poll_ns) / 1e9, "polls");
}

std::string write_timeline_csv(const std::string& path, const TimelineResult& r) {
  std::ofstream f(path);
  if (!f) return "cannot write " + path + ": " + std::strerror(errno);
  f << "t,phase,rss_anon,ring_bytes,live_bytes";
  for (int i = 0; i < VMRECLAIM_CAUSE_COUNT; i++) f << ",reclaimed_" << control::cause_name(i);
  f << "\n";
  for (const TimelinePoint& p : r.points) {
    f << p.t << ',' << p.phase << ',' << p.rss_anon << ',' << p.ring_bytes << ',' << p.live_bytes;
    for (uint64_t b : p.reclaimed) f << ',' << b;
    f << '\n';
  }
  f.close();
  if (!f) return "cannot write " + path + ": " + std::strerror(errno);
  return {};
}

}  // namespace vmreclaim::tools::demo
