// One fixed snapshot of the daemon (src/daemon/snapshot.h) for the tests of
// its views: /metrics (metrics_test.cpp), the status client and `vmreclaim
// status`/`top` (status_test.cpp). Two processes, listed smallest first (the
// views sort), one of them stopped and unregistered; the cgroup they share
// and the root, which has no limit; the daemon's counters.
#pragma once

#include "daemon/snapshot.h"

namespace vmreclaim::test {

inline daemon::Snapshot sample_snapshot() {
  daemon::Snapshot s;
  s.unix_s = 1764580000.5;
  s.poll_ms = 250;
  s.machine_pressure = "warning";
  s.mem_available_bytes = 3ull << 30;
  daemon::ProcessView idle;
  idle.pid = 77;
  idle.comm = "idle";
  idle.cgroup = "/";
  idle.reclaimable_bytes = 4096;
  idle.pressure = "normal";
  idle.last_action = "none";
  idle.stopped = true;
  daemon::ProcessView worker;
  worker.pid = 4242;
  worker.comm = "worker";
  worker.cgroup = "/herd";
  worker.reclaimable_bytes = 128ull << 20;
  worker.stalest_bytes = 100ull << 20;
  worker.pressure = "urgent";
  worker.last_action = "trim";
  worker.last_cause = "deficit";
  worker.last_action_bytes = 32ull << 20;
  worker.last_action_unix_s = 1764579999.25;
  worker.registered = true;
  worker.reclaimed_bytes_total = {{"deficit", 32ull << 20}};
  s.processes = {idle, worker};
  daemon::CgroupView root;
  root.path = "/";
  root.usage_bytes = 5ull << 30;
  root.pressure = "normal";
  daemon::CgroupView herd;
  herd.path = "/herd";
  herd.usage_bytes = 900ull << 20;
  herd.limit_bytes = 1ull << 30;
  herd.high_watermark_bytes = 950ull << 20;
  herd.low_watermark_bytes = 850ull << 20;
  herd.reclaimable_bytes = 128ull << 20;
  herd.pressure = "urgent";
  s.cgroups = {root, herd};
  s.daemon.polls = 1234;
  s.daemon.registrations = 9;
  s.daemon.refused_registrations = 2;
  s.daemon.actions = 5;
  s.daemon.reclaimed_bytes_total = {{"deficit", 32ull << 20}, {"oom", 7}};
  s.daemon.deficit_bytes_last = 31ull << 20;
  return s;
}

}  // namespace vmreclaim::test
