#include "demo_report.h"

#include <algorithm>
#include <string>

#include "control/stats_json.h"
#include "demo_measure.h"

namespace vmreclaim::tools::demo {
namespace {

// 1234567 -> "1,234,567": the counts differ by orders of magnitude.
std::string grouped(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); i++) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string mib(uint64_t bytes) { return format_bytes(bytes); }

const ModeResult* find(const std::vector<ModeResult>& results, Mode mode) {
  for (const ModeResult& r : results) {
    if (r.ok && r.mode == mode) return &r;
  }
  return nullptr;
}

double ratio(double a, double b) { return b > 0 ? a / b : 0; }

void print_ring_notes(std::FILE* out, const ModeResult& r) {
  const RingAllocatorCounters& c = r.counters;
  std::fprintf(
      out,
      "\nring: %s allocations reused a cancelled entry with no fault (UNRECLAIMED), %s after the engine had\n"
      "      released the pages (FREED, they fault again), %s mapped afresh; %s found BUSY, %s DEALLOCATED;\n"
      "      frees entered %s FREE (kept in the cache) and %s DEALLOCATE (cache full), %s of them re-entered by ID;\n"
      "      ring full %s times (%s resizes, %s flushes); %s accounting updates; the engine sampled %s times\n"
      "      and trimmed %s times\n",
      grouped(c.reused_unreclaimed).c_str(), grouped(c.reused_freed).c_str(), grouped(c.fresh_mappings).c_str(),
      grouped(c.found_busy).c_str(), grouped(c.dropped).c_str(), grouped(c.entered_free).c_str(),
      grouped(c.entered_deallocate).c_str(), grouped(c.reentered_by_id).c_str(), grouped(c.ring_full).c_str(),
      grouped(c.resizes).c_str(), grouped(c.flushes).c_str(), grouped(c.accounting_updates).c_str(),
      grouped(r.samples).c_str(), grouped(r.trims).c_str());
  std::string causes;
  for (int i = 0; i < VMRECLAIM_CAUSE_COUNT; i++) {
    if (r.reclaimed_entries[i] == 0) continue;
    if (!causes.empty()) causes += ", ";
    causes += std::string(control::cause_name(i)) + " " + mib(r.reclaimed_bytes[i]) + " (" +
              grouped(r.reclaimed_entries[i]) + " entries)";
  }
  std::fprintf(out, "engine reclaimed by cause: %s\n", causes.empty() ? "nothing" : causes.c_str());
  std::fprintf(out,
               "after the churn the ring held %s (RssAnon %s); idle for %.1f s, the engine gave back %s on its own\n"
               "(RssAnon %s); then vmreclaim_ring_drain gave back %s (RssAnon %s)\n",
               mib(r.ring_held_bytes).c_str(), mib(r.rss_final).c_str(), r.idle_seconds,
               mib(r.ring_held_bytes - std::min(r.ring_held_bytes, r.ring_held_after_idle)).c_str(),
               mib(r.rss_after_idle).c_str(), mib(r.drained_bytes).c_str(), mib(r.rss_after_drain).c_str());
}

}  // namespace

void print_table(std::FILE* out, const RunConfig& config, const std::vector<ModeResult>& results) {
  const WorkloadConfig& w = config.workload;
  const SizeClasses classes(w.max_block);
  std::fprintf(out,
               "workload: %s operations (allocate / free) of blocks %s..%s in %zu size classes, every page written;\n"
               "          live memory rising and falling between %s and %s every %s operations (seed %#llx)\n",
               grouped(w.ops).c_str(), mib(classes.size(0)).c_str(), mib(classes.size(classes.count() - 1)).c_str(),
               classes.count(), mib(w.low_live_bytes).c_str(), mib(w.high_live_bytes).c_str(),
               grouped(w.wave_ops).c_str(), static_cast<unsigned long long>(w.seed));
  if (config.ring_sampling_period_ns != 0) {
    std::fprintf(out, "ring engine: samples every %.0f ms (--sampling-ms; the library's default is 10 s)\n",
                 static_cast<double>(config.ring_sampling_period_ns) / 1e6);
  }
  std::fprintf(out, "\n%-8s %8s %8s %11s %13s %10s %13s %13s %12s %17s\n", "mode", "ops", "time", "ops/s",
               "minor faults", "syscalls", "peak RssAnon", "final RssAnon", "after drain", "engine reclaimed");
  for (const ModeResult& r : results) {
    if (!r.ok) {
      std::fprintf(out, "%-8s failed: %s\n", mode_name(r.mode), r.error);
      continue;
    }
    char time[32];
    std::snprintf(time, sizeof time, "%.2f s%s", r.seconds, r.stopped_early ? "*" : "");
    std::fprintf(out, "%-8s %8s %8s %11s %13s %10s %13s %13s %12s %17s\n", mode_name(r.mode), grouped(r.ops).c_str(),
                 time, grouped(static_cast<uint64_t>(r.ops_per_second())).c_str(), grouped(r.minor_faults).c_str(),
                 grouped(r.syscalls()).c_str(), mib(r.rss_peak).c_str(), mib(r.rss_final).c_str(),
                 r.has_ring ? mib(r.rss_after_drain).c_str() : "-",
                 r.has_ring ? mib(r.engine_reclaimed_bytes()).c_str() : "-");
  }
  for (const ModeResult& r : results) {
    if (r.ok && r.stopped_early) {
      std::fprintf(out, "* stopped at the --seconds limit (%.1f s) before all %s operations\n", config.max_seconds,
                   grouped(w.ops).c_str());
      break;
    }
  }
  if (const ModeResult* ring = find(results, Mode::ring)) print_ring_notes(out, *ring);
  const ModeResult* ring = find(results, Mode::ring);
  for (Mode base : {Mode::munmap, Mode::madvise}) {
    const ModeResult* b = find(results, base);
    if (ring == nullptr || b == nullptr) continue;
    // Per operation: a run cut short by --seconds did fewer of them.
    const auto per_op = [](uint64_t n, const ModeResult& r) {
      return r.ops > 0 ? static_cast<double>(n) / static_cast<double>(r.ops) : 0;
    };
    std::fprintf(out,
                 "ring vs %-7s: %.0fx the operations/s; per operation %.3fx the minor faults, %.3fx the syscalls\n",
                 mode_name(base), ratio(ring->ops_per_second(), b->ops_per_second()),
                 ratio(per_op(ring->minor_faults, *ring), per_op(b->minor_faults, *b)),
                 ratio(per_op(ring->syscalls(), *ring), per_op(b->syscalls(), *b)));
  }
  if (!results.empty() && results.front().ok) {
    std::fprintf(out, "(each mode ran in its own process, starting at RssAnon %s)\n",
                 mib(results.front().rss_baseline).c_str());
  }
}

nlohmann::json to_json(const RunConfig& config, const std::vector<ModeResult>& results) {
  const WorkloadConfig& w = config.workload;
  nlohmann::json doc;
  doc["config"] = {{"ops", w.ops},
                   {"max_seconds", config.max_seconds},
                   {"max_block", w.max_block},
                   {"seed", w.seed},
                   {"low_live_bytes", w.low_live_bytes},
                   {"high_live_bytes", w.high_live_bytes},
                   {"wave_ops", w.wave_ops},
                   {"ring_sampling_period_ns", config.ring_sampling_period_ns}};
  nlohmann::json rows = nlohmann::json::array();
  for (const ModeResult& r : results) {
    nlohmann::json row = {{"mode", mode_name(r.mode)}, {"ok", r.ok}};
    if (!r.ok) {
      row["error"] = r.error;
      rows.push_back(row);
      continue;
    }
    row["ops"] = r.ops;
    row["stopped_early"] = r.stopped_early;
    row["seconds"] = r.seconds;
    row["ops_per_second"] = r.ops_per_second();
    row["allocations"] = r.allocations;
    row["allocated_bytes"] = r.allocated_bytes;
    row["peak_live_bytes"] = r.peak_live_bytes;
    row["minor_faults"] = r.minor_faults;
    row["syscalls"] = {{"total", r.syscalls()}, {"own", r.own_syscalls}, {"engine", r.engine_syscalls}};
    row["rss_anon"] = {{"baseline", r.rss_baseline}, {"peak", r.rss_peak}, {"final", r.rss_final}};
    if (r.has_ring) {
      row["rss_anon"]["after_idle"] = r.rss_after_idle;
      row["rss_anon"]["after_drain"] = r.rss_after_drain;
      nlohmann::json causes = nlohmann::json::object();
      for (int i = 0; i < VMRECLAIM_CAUSE_COUNT; i++) {
        causes[control::cause_name(i)] = {{"bytes", r.reclaimed_bytes[i]}, {"entries", r.reclaimed_entries[i]}};
      }
      row["engine_reclaimed"] = {{"bytes", r.engine_reclaimed_bytes()}, {"by_cause", causes}};
      const RingAllocatorCounters& c = r.counters;
      row["ring"] = {{"held_bytes_after_churn", r.ring_held_bytes},
                     {"idle_seconds", r.idle_seconds},
                     {"held_bytes_after_idle", r.ring_held_after_idle},
                     {"drained_bytes", r.drained_bytes},
                     {"engine_samples", r.samples},
                     {"engine_trims", r.trims},
                     {"reused_unreclaimed", c.reused_unreclaimed},
                     {"reused_freed", c.reused_freed},
                     {"found_busy", c.found_busy},
                     {"dropped_deallocated", c.dropped},
                     {"fresh_mappings", c.fresh_mappings},
                     {"entered_free", c.entered_free},
                     {"entered_deallocate", c.entered_deallocate},
                     {"reentered_by_id", c.reentered_by_id},
                     {"ring_full", c.ring_full},
                     {"resizes", c.resizes},
                     {"flushes", c.flushes},
                     {"accounting_updates", c.accounting_updates}};
    }
    rows.push_back(row);
  }
  doc["modes"] = rows;
  return doc;
}

}  // namespace vmreclaim::tools::demo
