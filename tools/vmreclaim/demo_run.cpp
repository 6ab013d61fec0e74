#include "demo_run.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>

#include "demo_child.h"
#include "demo_measure.h"

namespace vmreclaim::tools::demo {
namespace {

static_assert(std::is_trivially_copyable_v<ModeResult>, "ModeResult crosses a pipe as bytes");

void set_error(ModeResult& r, const std::string& message) {
  std::snprintf(r.error, sizeof r.error, "%s", message.c_str());
}

std::unique_ptr<BlockAllocator> make_allocator(Mode mode, size_t classes) {
  switch (mode) {
    case Mode::munmap: return std::make_unique<MunmapAllocator>();
    case Mode::madvise: return std::make_unique<MadviseAllocator>(classes);
    case Mode::ring: return std::make_unique<RingAllocator>(classes);
  }
  return nullptr;
}

vmreclaim_ring_stats ring_stats(RingAllocator& a) {
  Result<Stats> s = a.ring().stats();
  if (!s) throw std::runtime_error("vmreclaim_ring_get_stats: " + s.error().message());
  return *s;
}

// How long the ring run sits idle after its churn: long enough for a few
// samples of the engine, short enough for a demo.
double idle_seconds(const RunConfig& config) {
  if (config.ring_sampling_period_ns == 0) return 1.0;
  return std::min(2.0, 5 * static_cast<double>(config.ring_sampling_period_ns) / 1e9);
}

// After the churn the ring holds what the program freed. Show what the engine
// gives back on its own while the program is idle, then on an explicit drain.
void finish_ring_run(RingAllocator& a, const RunConfig& config, uint64_t engine_syscalls_before, ModeResult& r) {
  r.has_ring = true;
  r.ring_held_bytes = ring_stats(a).reclaimable_bytes;
  r.idle_seconds = idle_seconds(config);
  std::this_thread::sleep_for(std::chrono::duration<double>(r.idle_seconds));
  r.ring_held_after_idle = ring_stats(a).reclaimable_bytes;
  if (auto st = read_memory_status()) r.rss_after_idle = st->rss_anon;
  Result<uint64_t> drained = a.ring().drain();
  if (!drained) throw std::runtime_error("vmreclaim_ring_drain: " + drained.error().message());
  r.drained_bytes = *drained;
  if (auto st = read_memory_status()) r.rss_after_drain = st->rss_anon;
  const vmreclaim_ring_stats s = ring_stats(a);
  for (int c = 0; c < VMRECLAIM_CAUSE_COUNT; c++) {
    r.reclaimed_bytes[c] = s.reclaimed_bytes[c];
    r.reclaimed_entries[c] = s.reclaimed_entries[c];
  }
  r.engine_syscalls = s.syscalls - engine_syscalls_before;
  r.samples = s.samples;
  r.trims = s.trims;
  r.counters = a.counters();
}

ModeResult run_mode(Mode mode, const RunConfig& config) {
  ModeResult r;
  r.mode = mode;
  try {
    if (mode == Mode::ring && config.ring_sampling_period_ns != 0) {
      // Read by the library when the ring is allocated, just below.
      const std::string period = std::to_string(config.ring_sampling_period_ns);
      if (::setenv("VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS", period.c_str(), 1) != 0) {
        throw std::runtime_error(std::string("setenv: ") + std::strerror(errno));
      }
    }
    const SizeClasses classes(config.workload.max_block);
    std::unique_ptr<BlockAllocator> allocator = make_allocator(mode, classes.count());
    auto* ring_allocator = dynamic_cast<RingAllocator*>(allocator.get());
    const uint64_t engine_syscalls_before = ring_allocator != nullptr ? ring_stats(*ring_allocator).syscalls : 0;

    RssTracker rss;
    rss.start();
    ProgressLine progress(mode_name(mode));
    const uint64_t faults_before = minor_faults();
    const Clock::time_point start = Clock::now();
    WorkloadOutcome outcome = run_workload(config.workload, *allocator, [&](const WorkloadProgress& p) {
      const Clock::time_point now = Clock::now();
      rss.maybe_sample(now);
      if (config.progress) progress.update(now, p.ops_done, config.workload.ops, rss.last());
      return config.max_seconds <= 0 || std::chrono::duration<double>(now - start).count() < config.max_seconds;
    });
    const double elapsed = seconds_since(start);
    r.minor_faults = minor_faults() - faults_before;
    progress.finish();
    rss.finish();

    r.ops = outcome.ops;
    r.stopped_early = outcome.stopped_early;
    r.allocations = outcome.allocations;
    r.allocated_bytes = outcome.allocated_bytes;
    r.peak_live_bytes = outcome.peak_live_bytes;
    r.seconds = elapsed - rss.sampling_seconds();
    r.own_syscalls = allocator->syscalls();
    r.rss_baseline = rss.baseline();
    r.rss_peak = rss.peak();
    r.rss_final = rss.last();
    if (ring_allocator != nullptr) finish_ring_run(*ring_allocator, config, engine_syscalls_before, r);
    r.ok = true;
  } catch (const std::exception& e) {
    set_error(r, e.what());
  }
  return r;
}

}  // namespace

const char* mode_name(Mode mode) noexcept {
  switch (mode) {
    case Mode::munmap: return "munmap";
    case Mode::madvise: return "madvise";
    case Mode::ring: return "ring";
  }
  return "?";
}

std::optional<Mode> mode_from_name(const std::string& name) noexcept {
  for (Mode m : {Mode::munmap, Mode::madvise, Mode::ring}) {
    if (name == mode_name(m)) return m;
  }
  return std::nullopt;
}

ModeResult run_mode_in_child(Mode mode, const RunConfig& config) {
  ChildOutcome child = run_in_child([&] {
    const ModeResult mine = run_mode(mode, config);
    return std::string(reinterpret_cast<const char*>(&mine), sizeof mine);
  });
  ModeResult r;
  r.mode = mode;
  if (child.payload.size() == sizeof r) {
    std::memcpy(&r, child.payload.data(), sizeof r);
  } else {
    set_error(r, child.ok ? "the run sent a malformed result" : child.error);
  }
  return r;
}

}  // namespace vmreclaim::tools::demo
