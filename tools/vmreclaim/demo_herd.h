// `vmreclaim demo --mode herd`: N processes, each holding M MiB unused in
// its ring beside L MiB of live memory, in one real v1 memory cgroup,
// squeezed so that D MiB must go — (a) the cgroup's limit lowered to just
// above its usage, (b) a neighbour process in the same cgroup pushing G MiB
// at R MiB/s — and what happens: bytes reclaimed against D, time to relief,
// OOM kills, and the minor faults the processes take when they reuse their
// memory afterwards. With `--daemon PATH` the same runs are repeated with
// that vmreclaimd on a private socket.
//
// The engine's watermarks (docs/policy.md): high = limit − limit/16, low =
// limit − limit/8. D is what takes usage from its peak (usage before the
// squeeze, plus the neighbour's push) down to the low watermark.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vmreclaim::tools::demo {

struct HerdConfig {
  unsigned processes = 8;
  uint64_t unused_mib = 128;         // entered into each ring, untouched afterwards
  uint64_t live_mib = 16;            // kept and touched by each process
  uint64_t block_kib = 1024;         // size of one ring entry
  std::string squeeze = "both";      // limit, neighbour or both
  uint64_t limit_headroom_mib = 10;  // (a): the limit is set this far above usage
  uint64_t neighbour_mib = 100;      // (b): what the neighbour pushes
  double neighbour_mib_per_s = 500;  // (b): how fast
  double settle_seconds = 2;         // watched after the squeeze ends
  uint64_t poll_ms = 100;            // the engines' pressure poll, and the daemon's
  std::string daemon_path;           // vmreclaimd; empty: no-daemon runs only
};

struct HerdPoint {
  double t = 0;  // seconds since the squeeze began
  uint64_t usage = 0;
  uint64_t ring_bytes = 0;  // reclaimable bytes over all rings (read from outside)
};

struct HerdRun {
  std::string squeeze;  // limit, neighbour
  bool daemon = false;
  bool ok = false;
  std::string error;
  uint64_t usage_before = 0, limit = 0, high = 0, low = 0, peak_usage = 0;
  uint64_t deficit = 0;                  // D
  uint64_t reclaimed = 0;                // by all rings during the squeeze and settle, all causes
  std::optional<double> relief_seconds;  // from the squeeze's end to usage <= high watermark
  uint64_t oom_kills = 0;                // the cgroup's oom_kill count, or processes killed
  uint64_t killed_processes = 0;         // herd members and neighbour that died
  uint64_t minor_faults_after = 0;       // when the herd reused its unused memory
  uint64_t ring_bytes_after = 0;
  std::vector<HerdPoint> points;
  double ratio() const { return deficit > 0 ? static_cast<double>(reclaimed) / static_cast<double>(deficit) : 0; }
};

struct HerdResult {
  HerdConfig config;
  std::string cgroup_root;  // /sys/fs/cgroup/memory
  std::string daemon_note;  // why the daemon runs were not made, when they were not
  std::vector<HerdRun> runs;
  bool ok() const;
};

// Empty if the machine can run the herd (root, v1 memory controller), else why not.
std::string herd_unavailable_reason();
HerdResult run_herd(const HerdConfig& config);

void print_herd(std::FILE* out, const HerdResult& r);
nlohmann::json to_json(const HerdResult& r);

}  // namespace vmreclaim::tools::demo
