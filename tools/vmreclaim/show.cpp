// `vmreclaim show PID`: a process's ring (header and regions, read from
// outside) and its engine's statistics (asked over the control endpoint).
#include <chrono>
#include <memory>

#include "checks.h"
#include "commands.h"
#include "control/client.h"
#include "control/stats_json.h"
#include "observe.h"

namespace vmreclaim::tools {
namespace {

struct ShowOptions {
  pid_t pid = 0;
  bool json = false;
  size_t limit = 20;
  double timeout = 2.0;
  bool all_stats = false;
};

// Every statistic of the one list (<vmreclaim/stats.def>) under its own
// name, the zero ones too, with what it means: the summary below groups
// them for reading, this shows each.
void print_all_stats(const vmreclaim_ring_stats& s) {
  std::printf("statistics (every one):\n");
  auto value = [](const char* name, unsigned long long v, const char* meaning) {
    std::printf("  %-26s %20llu  %s\n", name, v, meaning);
  };
  auto keyed = [](const char* name, const uint64_t* v, int n, const char* (*key)(int), const char* meaning) {
    for (int i = 0; i < n; i++) {
      const std::string field = std::string(name) + "." + key(i);
      std::printf("  %-26s %20llu  %s\n", field.c_str(), static_cast<unsigned long long>(v[i]), i == 0 ? meaning : "");
    }
  };
#define VMR_SHOW_VALUE(name, meaning) value(#name, static_cast<unsigned long long>(s.name), meaning);
#define VMR_SHOW_BY_CAUSE(name, meaning) keyed(#name, s.name, VMRECLAIM_CAUSE_COUNT, control::cause_name, meaning);
#define VMR_SHOW_BY_GUARD(name, meaning) \
  keyed(#name, s.name, VMRECLAIM_GUARD_COUNT, control::guard_fault_name, meaning);
#define VMRECLAIM_STAT(SHAPE, type, name, SOURCE, meaning) VMR_SHOW_##SHAPE(name, meaning)
#include <vmreclaim/stats.def>
#undef VMR_SHOW_VALUE
#undef VMR_SHOW_BY_CAUSE
#undef VMR_SHOW_BY_GUARD
}

void print_stats(const vmreclaim_ring_stats& s) {
  std::printf("statistics:\n");
  std::printf("  entered      %llu entries, %s (re-entered %llu, ring full %llu)\n",
              static_cast<unsigned long long>(s.entered_entries), human_bytes(s.entered_bytes).c_str(),
              static_cast<unsigned long long>(s.reentered_entries), static_cast<unsigned long long>(s.enter_full));
  std::printf("  cancelled    %llu unreclaimed (%s), %llu busy, %llu freed, %llu deallocated\n",
              static_cast<unsigned long long>(s.cancelled_unreclaimed), human_bytes(s.cancelled_bytes).c_str(),
              static_cast<unsigned long long>(s.cancelled_busy), static_cast<unsigned long long>(s.cancelled_freed),
              static_cast<unsigned long long>(s.cancelled_deallocated));
  std::printf("  reclaimed   ");
  bool any = false;
  for (int c = 0; c < VMRECLAIM_CAUSE_COUNT; c++) {
    if (s.reclaimed_entries[c] == 0) continue;
    std::printf(" %s %llu (%s)", control::cause_name(c), static_cast<unsigned long long>(s.reclaimed_entries[c]),
                human_bytes(s.reclaimed_bytes[c]).c_str());
    any = true;
  }
  std::printf("%s\n", any ? "" : " nothing");
  std::printf("  sampling     %llu samples, %llu trims, WMA %s, last min %s, footprint max %s\n",
              static_cast<unsigned long long>(s.samples), static_cast<unsigned long long>(s.trims),
              human_bytes(s.wma_bytes).c_str(), human_bytes(s.last_min_bytes).c_str(),
              human_bytes(s.footprint_max).c_str());
  uint64_t faults = 0;
  for (uint64_t g : s.guard_faults) faults += g;
  std::printf("  other        %llu aborted chunks, %llu free failures, %llu guard faults, %llu syscalls\n",
              static_cast<unsigned long long>(s.aborted_chunks), static_cast<unsigned long long>(s.free_failures),
              static_cast<unsigned long long>(faults), static_cast<unsigned long long>(s.syscalls));
}

int run_show(const ShowOptions& o) {
  Problem problem;
  auto ring = read_ring(o.pid, &problem);
  if (!ring) return report(problem, o.pid, o.json);
  Regions regions;
  if (!read_regions(*ring, &regions, &problem)) return report(problem, o.pid, o.json);

  // Statistics live in the process's engine: ask it, and say why if it cannot answer.
  std::optional<vmreclaim_ring_stats> stats;
  std::string stats_error;
  auto timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout * 1000));
  auto client = control::Client::connect(o.pid, timeout);
  if (client) {
    auto reply = client->stats();
    if (reply) {
      stats = reply->stats;
    } else {
      stats_error = reply.error().message();
    }
  } else {
    stats_error = client.error().message();
  }

  if (o.json) {
    nlohmann::json j = ring_json(*ring);
    nlohmann::json list = nlohmann::json::array();
    for (const auto& r : regions.list) {
      list.push_back({{"address", r.vmrr_addr},
                      {"size", r.vmrr_size},
                      {"action", action_name(r.vmrr_behavior, r.vmrr_addr, r.vmrr_size)}});
    }
    j["regions"] = std::move(list);
    j["regions_malformed"] = regions.malformed;
    j["stats"] = stats ? control::stats_to_json(*stats) : nlohmann::json(nullptr);
    if (!stats) j["stats_error"] = stats_error;
    print_json(j);
    return kExitOk;
  }

  const RingView& r = *ring;
  std::printf("pid %d (%s), footprint %s\n", r.pid, r.command.c_str(),
              r.footprint ? human_bytes(*r.footprint).c_str() : "?");
  std::printf("ring at 0x%llx (%s reserved): capacity %u of %u, %llu entries, %s reclaimable (min %s)\n",
              static_cast<unsigned long long>(r.ref.addr), human_bytes(r.ref.size).c_str(), r.capacity, r.max_capacity,
              static_cast<unsigned long long>(r.entries()), human_bytes(r.reclaimable_bytes).c_str(),
              human_bytes(r.reclaimable_bytes_min).c_str());
  std::printf("indices: head %llu, busy %llu, tail %llu\n", static_cast<unsigned long long>(r.head),
              static_cast<unsigned long long>(r.busy), static_cast<unsigned long long>(r.tail));
  if (stats && o.all_stats) {
    print_all_stats(*stats);
  } else if (stats) {
    print_stats(*stats);
  } else {
    std::printf("statistics: unavailable (%s)\n", stats_error.c_str());
  }
  std::printf("regions (oldest first)%s:\n", regions.malformed ? " [ring malformed: partial]" : "");
  std::printf("  %6s  %18s %10s  %s\n", "#", "ADDRESS", "SIZE", "ACTION");
  for (size_t i = 0; i < regions.list.size() && i < o.limit; i++) {
    const auto& g = regions.list[i];
    std::printf("  %6zu  0x%016llx %10s  %s\n", i, static_cast<unsigned long long>(g.vmrr_addr),
                human_bytes(g.vmrr_size).c_str(), action_name(g.vmrr_behavior, g.vmrr_addr, g.vmrr_size));
  }
  if (regions.list.size() > o.limit) std::printf("  ... %zu more (--limit)\n", regions.list.size() - o.limit);
  return kExitOk;
}

}  // namespace

void register_show(CLI::App& app, CommandSet& set) {
  auto o = std::make_shared<ShowOptions>();
  CLI::App* sub = app.add_subcommand("show", "Show a process's ring, its regions and its statistics");
  sub->add_option("pid", o->pid, "Process id")->required()->check(pid_number());
  sub->add_flag("--json", o->json, "Print JSON (every region, whatever --limit)");
  sub->add_flag("--all-stats", o->all_stats, "Print every statistic with its meaning instead of the summary");
  sub->add_option("--limit", o->limit, "Regions to print in the table")
      ->capture_default_str()
      ->check(integer_in(0, 1LL << 32));
  sub->add_option("--timeout", o->timeout, "Seconds to wait for the process's statistics")
      ->capture_default_str()
      ->check(seconds_in(0.001, 3600.0));
  sub->footer(kExitCodesHelp);
  set.add(sub, [o] { return run_show(*o); });
}

}  // namespace vmreclaim::tools
