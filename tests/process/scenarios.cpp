#include "process/scenarios.h"

#include <dirent.h>
#include <mach/vm_reclaim.h>
#include <mach/vm_reclaim_private.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vmreclaim/vmreclaim.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>

#include "process/registry.h"
#include "ring/layout.h"
#include "support/memory.h"

namespace vmreclaim::test {
namespace {

namespace ring = vmreclaim::ring;

struct Probe {
  mach_vm_reclaim_error_t err = VM_RECLAIM_SUCCESS;
  vmreclaim_ring_stats stats{};
  std::string detail;
};

std::string describe(const Probe& p, int fault) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "result=%s faults[%d]=%llu reclaimable=%llu %s", vmreclaim_strerror(p.err), fault,
                static_cast<unsigned long long>(p.stats.guard_faults[fault]),
                static_cast<unsigned long long>(p.stats.reclaimable_bytes), p.detail.c_str());
  return buf;
}

mach_vm_reclaim_ring_t allocate_ring() {
  mach_vm_reclaim_ring_t r = nullptr;
  if (mach_vm_reclaim_ring_allocate(&r, mach_vm_reclaim_round_capacity(1), 1000) != VM_RECLAIM_SUCCESS) return nullptr;
  return r;
}

mach_vm_reclaim_id_t enter(mach_vm_reclaim_ring_t r, const void* addr, size_t size, mach_vm_reclaim_action_t a) {
  mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
  bool update = false;
  mach_vm_reclaim_try_enter(r, reinterpret_cast<mach_vm_address_t>(addr), size, a, &id, &update);
  return id;
}

Probe with_stats(mach_vm_reclaim_ring_t r, mach_vm_reclaim_error_t err) {
  Probe p;
  p.err = err;
  vmreclaim_ring_get_stats(r, &p.stats);
  return p;
}

// Whether the thread `tid` of this process is blocked in poll().
bool blocked_in_poll(const std::string& tid) {
  std::ifstream f("/proc/self/task/" + tid + "/syscall");
  long nr = -1;
  if (!(f >> nr)) return false;
#ifdef SYS_poll
  if (nr == SYS_poll) return true;
#endif
  return nr == SYS_ppoll;
}

// The engine thread reads the ring once as it starts. Waits until it sleeps
// in poll(), so that the call a scenario makes is the only one to meet the
// damage (the engine thread meeting it is a test of its own).
void wait_for_engine_thread_idle() {
  for (int tries = 0; tries < 500; tries++) {
    bool found = false, idle = false;
    if (DIR* d = ::opendir("/proc/self/task")) {
      while (dirent* de = ::readdir(d)) {
        std::ifstream comm(std::string("/proc/self/task/") + de->d_name + "/comm");
        std::string name;
        if (std::getline(comm, name) && name == "vm_reclaim") {
          found = true;
          idle = blocked_in_poll(de->d_name);
        }
      }
      ::closedir(d);
    }
    if (!found || idle) return;
    ::usleep(2000);
  }
}

// The process's ring with one FREE entry over `m`, taken from the engine
// once its thread is idle: unmapped (`unmap`) or made inaccessible. nullptr,
// with what failed in `failed`, if a step did.
mach_vm_reclaim_ring_t ring_taken_away(const Mapping& m, bool unmap, ScenarioOutcome* failed) {
  mach_vm_reclaim_ring_t r = allocate_ring();
  if (r == nullptr) {
    *failed = {false, "allocate failed"};
    return nullptr;
  }
  enter(r, m.data(), m.size(), VM_RECLAIM_FREE);
  const size_t reserved = ring::ring_bytes(ring::load(r->max_len));
  wait_for_engine_thread_idle();
  if (unmap ? ::munmap(r, reserved) != 0 : ::mprotect(r, reserved, PROT_NONE) != 0) {
    *failed = {false, "munmap failed"};
    return nullptr;
  }
  return r;
}

// The program unmaps its own ring, then calls into the engine.
ScenarioOutcome copyio(const std::function<mach_vm_reclaim_error_t(mach_vm_reclaim_ring_t)>& call, bool unmap) {
  Mapping m = Mapping::pages(1);
  ScenarioOutcome failed;
  mach_vm_reclaim_ring_t r = ring_taken_away(m, unmap, &failed);
  if (r == nullptr) return failed;
  Probe p = with_stats(r, call(r));
  const bool ok = p.err == VM_RECLAIM_INVALID_RING && p.stats.guard_faults[VMRECLAIM_GUARD_COPYIO_FAILURE] >= 1;
  return {ok, describe(p, VMRECLAIM_GUARD_COPYIO_FAILURE)};
}

// A double free: the program unmapped (part of) a region it had entered
// with DEALLOCATE. The entry is skipped; later entries are still reclaimed.
ScenarioOutcome dealloc_gap(bool partial) {
  mach_vm_reclaim_ring_t r = allocate_ring();
  if (r == nullptr) return {false, "allocate failed"};
  Mapping a = Mapping::pages(3), b = Mapping::pages(2);
  enter(r, a.data(), a.size(), VM_RECLAIM_DEALLOCATE);
  enter(r, b.data(), b.size(), VM_RECLAIM_DEALLOCATE);
  if (partial) {
    ::munmap(a.page(1), page_size());
  } else {
    ::munmap(a.data(), a.size());
  }
  Probe p = with_stats(r, mach_vm_reclaim_ring_flush(r, 2));
  const bool a_left_alone = !partial || (is_mapped(a.page(0), page_size()) && is_mapped(a.page(2), page_size()));
  const bool b_reclaimed = is_unmapped(b.data(), b.size());
  a.release();
  b.release();
  p.detail = std::string("a_left_alone=") + (a_left_alone ? "1" : "0") + " b_reclaimed=" + (b_reclaimed ? "1" : "0");
  const bool ok = p.err == VM_RECLAIM_SUCCESS && p.stats.guard_faults[VMRECLAIM_GUARD_DEALLOC_GAP] == 1 &&
                  a_left_alone && b_reclaimed && p.stats.reclaimable_bytes == 0;
  return {ok, describe(p, VMRECLAIM_GUARD_DEALLOC_GAP)};
}

// A FREE entry over 3 MiB whose middle MiB the program unmapped: the top MiB
// is a live mapping the entry must not release. Nothing of the entry is
// released (the bottom MiB keeps its contents too); later entries are.
ScenarioOutcome free_gap() {
  mach_vm_reclaim_ring_t r = allocate_ring();
  if (r == nullptr) return {false, "allocate failed"};
  constexpr size_t kMiB = size_t{1} << 20;
  Mapping a(3 * kMiB), b = Mapping::pages(2);
  if (a.data() == nullptr || b.data() == nullptr) return {false, "mmap failed"};
  if (::munmap(a.data() + kMiB, kMiB) != 0) return {false, "munmap failed"};
  fill(a.data(), kMiB, 41);
  fill(a.data() + 2 * kMiB, kMiB, 42);
  fill(b.data(), b.size(), 43);
  enter(r, a.data(), 3 * kMiB, VM_RECLAIM_FREE);
  enter(r, b.data(), b.size(), VM_RECLAIM_FREE);
  Probe p = with_stats(r, mach_vm_reclaim_ring_flush(r, 2));
  const bool top = holds(a.data() + 2 * kMiB, kMiB, 42), bottom = holds(a.data(), kMiB, 41);
  const bool b_released = all_zero(b.data(), b.size());
  ::munmap(a.data(), kMiB);
  ::munmap(a.data() + 2 * kMiB, kMiB);
  a.release();
  p.detail = std::string("top_intact=") + (top ? "1" : "0") + " bottom_intact=" + (bottom ? "1" : "0") +
             " b_released=" + (b_released ? "1" : "0");
  const bool ok = p.err == VM_RECLAIM_SUCCESS && p.stats.guard_faults[VMRECLAIM_GUARD_FREE_GAP] == 1 && top && bottom &&
                  b_released && p.stats.reclaimable_bytes == 0;
  return {ok, describe(p, VMRECLAIM_GUARD_FREE_GAP)};
}

// The largest entry there is (4 GiB - 1) starting at a fresh 1 MiB mapping:
// it runs over whatever the process mapped above (libraries' data, the
// ring, thread stacks) and over holes between them. Releasing what is mapped
// there zeroed the C library's data and the process died of SIGSEGV. Now
// nothing is released: the entry covers the ring (allocated just before the
// mapping, so above it), which is RECLAIM_ENGINE_OVERLAP, or else a hole.
ScenarioOutcome free_gap_4g() {
  mach_vm_reclaim_ring_t r = allocate_ring();
  if (r == nullptr) return {false, "allocate failed"};
  Mapping a = Mapping::pages(256);
  if (a.data() == nullptr) return {false, "mmap failed"};
  fill(a.data(), a.size(), 44);
  const uint64_t size = VM_RECLAIM_REGION_SIZE_MAX;
  // The premise: the range has a hole (msync reports ENOMEM for one).
  if (::msync(a.data(), size, MS_ASYNC) == 0 || errno != ENOMEM) return {false, "no hole above the mapping"};
  enter(r, a.data(), size, VM_RECLAIM_FREE);
  Probe p = with_stats(r, mach_vm_reclaim_ring_flush(r, 1));
  const bool intact = holds(a.data(), a.size(), 44);
  char line[64];
  std::snprintf(line, sizeof line, "stdio works %d", 1);  // the C library's state survived
  p.detail = std::string("intact=") + (intact ? "1" : "0") + " " + line;
  const uint64_t faults =
      p.stats.guard_faults[VMRECLAIM_GUARD_FREE_GAP] + p.stats.guard_faults[VMRECLAIM_GUARD_ENGINE_OVERLAP];
  const bool ok = p.err == VM_RECLAIM_SUCCESS && faults == 1 && intact && p.stats.reclaimable_bytes == 0;
  return {ok, describe(p, VMRECLAIM_GUARD_FREE_GAP) + " " + describe(p, VMRECLAIM_GUARD_ENGINE_OVERLAP)};
}

enum class OwnMemory { engine_state, ring_header, library_data };

// A FREE entry over memory the engine itself depends on: its state (tunables,
// its view of the ring, its counters), the ring's header, the library's data.
// Before, the engine's state was in the program's heap: such an entry zeroed
// it and the engine then read its guard mode as fatal and failed with an
// unrelated fault. Now the entry is refused as what it is, and in log mode
// the engine goes on with its settings intact.
ScenarioOutcome engine_overlap(OwnMemory what) {
  mach_vm_reclaim_ring_t r = allocate_ring();
  if (r == nullptr) return {false, "allocate failed"};
  engine::Engine* e = process::Registry::get().lookup(r);
  if (e == nullptr) return {false, "no engine"};
  const void* target = nullptr;
  switch (what) {
    case OwnMemory::engine_state: target = &e->config(); break;
    case OwnMemory::ring_header: target = r; break;
    case OwnMemory::library_data: target = &process::g_current_ring; break;
  }
  enter(r, target, 64, VM_RECLAIM_FREE);
  Mapping a = Mapping::pages(1);
  fill(a.data(), a.size(), 45);
  enter(r, a.data(), a.size(), VM_RECLAIM_FREE);
  Probe p = with_stats(r, mach_vm_reclaim_ring_flush(r, 2));
  const bool guard_log = e->config().guard == policy::GuardMode::log &&
                         process::Registry::get().tunables().guard == policy::GuardMode::log;
  const bool a_released = all_zero(a.data(), a.size());
  const bool ring_ok = ring::load(r->head) == 2 && ring::load(r->len) == mach_vm_reclaim_round_capacity(1);
  p.detail = std::string("guard_log=") + (guard_log ? "1" : "0") + " a_released=" + (a_released ? "1" : "0") +
             " ring_ok=" + (ring_ok ? "1" : "0");
  const bool ok = p.err == VM_RECLAIM_SUCCESS && p.stats.guard_faults[VMRECLAIM_GUARD_ENGINE_OVERLAP] == 1 &&
                  guard_log && a_released && ring_ok && p.stats.reclaimable_bytes == 0;
  return {ok, describe(p, VMRECLAIM_GUARD_ENGINE_OVERLAP)};
}

// The program scribbles an action that does not exist into an entry.
ScenarioOutcome unknown_action() {
  mach_vm_reclaim_ring_t r = allocate_ring();
  if (r == nullptr) return {false, "allocate failed"};
  Mapping a = Mapping::pages(1);
  fill(a.data(), a.size(), 77);
  const mach_vm_reclaim_id_t id = enter(r, a.data(), a.size(), VM_RECLAIM_FREE);
  r->entries[id % r->len].behavior = 7;
  Probe p = with_stats(r, mach_vm_reclaim_ring_flush(r, 1));
  const bool intact = holds(a.data(), a.size(), 77);
  p.detail = std::string("contents_intact=") + (intact ? "1" : "0");
  const bool ok = p.err == VM_RECLAIM_SUCCESS && p.stats.guard_faults[VMRECLAIM_GUARD_DEALLOCATE_FAILURE] == 1 &&
                  intact && p.stats.reclaimable_bytes == 0;
  return {ok, describe(p, VMRECLAIM_GUARD_DEALLOCATE_FAILURE)};
}

enum class IndexDamage { busy_ahead, busy_behind, tail_beyond, tail_behind, tail_far_behind };

// The program overwrites indices only the engine may write (or a tail that
// claims more entries than the ring has).
ScenarioOutcome index_failure(IndexDamage damage) {
  mach_vm_reclaim_ring_t r = allocate_ring();
  if (r == nullptr) return {false, "allocate failed"};
  Mapping a = Mapping::pages(2);
  enter(r, a.page(0), page_size(), VM_RECLAIM_FREE);
  if (mach_vm_reclaim_ring_flush(r, 1) != VM_RECLAIM_SUCCESS) return {false, "first flush failed"};
  enter(r, a.page(1), page_size(), VM_RECLAIM_FREE);
  const uint64_t head = ring::load(r->head);
  switch (damage) {
    case IndexDamage::busy_ahead: ring::store(r->busy, head + 17); break;  // more than a chunk
    case IndexDamage::busy_behind: ring::store(r->busy, head - 1); break;
    case IndexDamage::tail_beyond: ring::store(r->tail, head + ring::load(r->len) + 5); break;
    case IndexDamage::tail_behind:
      // head = busy = 5, tail = 1: indices going backwards, for good (a
      // cancel's lock is released within a moment).
      enter(r, a.page(0), page_size(), VM_RECLAIM_FREE);
      enter(r, a.page(1), page_size(), VM_RECLAIM_FREE);
      enter(r, a.page(0), page_size(), VM_RECLAIM_FREE);
      if (mach_vm_reclaim_ring_flush(r, 4) != VM_RECLAIM_SUCCESS || ring::load(r->head) != 5) {
        return {false, "could not bring head to 5"};
      }
      ring::store(r->tail, uint64_t{1});
      break;
    case IndexDamage::tail_far_behind:
      ring::store(r->head, uint64_t{ring::load(r->len)} + 10);
      ring::store(r->busy, uint64_t{ring::load(r->len)} + 10);
      ring::store(r->tail, uint64_t{5});
      break;
  }
  Probe p = with_stats(r, mach_vm_reclaim_ring_flush(r, 1));
  const bool ok = p.err == VM_RECLAIM_INVALID_RING && p.stats.guard_faults[VMRECLAIM_GUARD_INDEX_FAILURE] == 1;
  return {ok, describe(p, VMRECLAIM_GUARD_INDEX_FAILURE)};
}

// The program lost count: the ring claims fewer bytes than its entries hold.
ScenarioOutcome accounting_failure() {
  mach_vm_reclaim_ring_t r = allocate_ring();
  if (r == nullptr) return {false, "allocate failed"};
  Mapping a = Mapping::pages(2);
  enter(r, a.page(0), page_size(), VM_RECLAIM_FREE);
  enter(r, a.page(1), page_size(), VM_RECLAIM_FREE);
  ring::store(r->reclaimable_bytes, uint64_t{page_size()});
  Probe p = with_stats(r, mach_vm_reclaim_ring_flush(r, 2));
  const bool ok = p.err == VM_RECLAIM_SUCCESS && p.stats.guard_faults[VMRECLAIM_GUARD_ACCOUNTING_FAILURE] == 1 &&
                  p.stats.reclaimable_bytes == 0;
  return {ok, describe(p, VMRECLAIM_GUARD_ACCOUNTING_FAILURE)};
}

const std::map<std::string, std::function<ScenarioOutcome()>>& runners() {
  static const auto* m = new std::map<std::string, std::function<ScenarioOutcome()>>{
      {"copyio-flush", [] { return copyio([](auto r) { return mach_vm_reclaim_ring_flush(r, 1); }, true); }},
      {"copyio-drain", [] { return copyio([](auto r) { return vmreclaim_ring_drain(r, nullptr); }, true); }},
      {"copyio-update",
       [] { return copyio([](auto r) { return mach_vm_reclaim_update_kernel_accounting(r); }, true); }},
      {"copyio-resize", [] { return copyio([](auto r) { return mach_vm_reclaim_ring_resize(r, 600); }, true); }},
      {"copyio-protected", [] { return copyio([](auto r) { return mach_vm_reclaim_ring_flush(r, 1); }, false); }},
      {"dealloc-gap", [] { return dealloc_gap(false); }},
      {"dealloc-partial-gap", [] { return dealloc_gap(true); }},
      {"unknown-action", [] { return unknown_action(); }},
      {"index-busy-ahead", [] { return index_failure(IndexDamage::busy_ahead); }},
      {"index-busy-behind", [] { return index_failure(IndexDamage::busy_behind); }},
      {"index-tail-beyond", [] { return index_failure(IndexDamage::tail_beyond); }},
      {"index-tail-behind", [] { return index_failure(IndexDamage::tail_behind); }},
      {"index-tail-far-behind", [] { return index_failure(IndexDamage::tail_far_behind); }},
      {"accounting", [] { return accounting_failure(); }},
      {"free-gap", [] { return free_gap(); }},
      {"engine-state", [] { return engine_overlap(OwnMemory::engine_state); }},
      {"engine-ring-header", [] { return engine_overlap(OwnMemory::ring_header); }},
      {"engine-library-data", [] { return engine_overlap(OwnMemory::library_data); }},
      {"free-gap-4g", [] { return free_gap_4g(); }},
  };
  return *m;
}

}  // namespace

ScenarioOutcome run_suspend_on_unmapped_ring() {
  Mapping m = Mapping::pages(1);
  ScenarioOutcome failed;
  if (ring_taken_away(m, /*unmap=*/true, &failed) == nullptr) return failed;
  // A terminal stop: the engine thread drains before the process stops.
  ::kill(::getpid(), SIGTSTP);
  for (int i = 0; i < 500; i++) ::usleep(10'000);
  return {false, "survived the suspend drain of an unmapped ring"};
}

const std::vector<GuardScenario>& guard_scenarios() {
  static const std::vector<GuardScenario> v = {
      {"copyio-flush", "RECLAIM_COPYIO_FAILURE"},
      {"copyio-drain", "RECLAIM_COPYIO_FAILURE"},
      {"copyio-update", "RECLAIM_COPYIO_FAILURE"},
      {"copyio-resize", "RECLAIM_COPYIO_FAILURE"},
      {"copyio-protected", "RECLAIM_COPYIO_FAILURE"},
      {"dealloc-gap", "DEALLOC_GAP"},
      {"dealloc-partial-gap", "DEALLOC_GAP"},
      {"unknown-action", "RECLAIM_DEALLOCATE_FAILURE"},
      {"index-busy-ahead", "RECLAIM_INDEX_FAILURE"},
      {"index-busy-behind", "RECLAIM_INDEX_FAILURE"},
      {"index-tail-beyond", "RECLAIM_INDEX_FAILURE"},
      {"accounting", "RECLAIM_ACCOUNTING_FAILURE"},
      {"index-tail-behind", "RECLAIM_INDEX_FAILURE"},
      {"index-tail-far-behind", "RECLAIM_INDEX_FAILURE"},
      {"engine-state", "RECLAIM_ENGINE_OVERLAP"},
      {"engine-ring-header", "RECLAIM_ENGINE_OVERLAP"},
      {"engine-library-data", "RECLAIM_ENGINE_OVERLAP"},
      {"free-gap", "FREE_GAP"},
      {"free-gap-4g", "(FREE_GAP|RECLAIM_ENGINE_OVERLAP)"},
  };
  return v;
}

ScenarioOutcome run_guard_scenario(const std::string& name) {
  auto it = runners().find(name);
  if (it == runners().end()) return {false, "no scenario " + name};
  return it->second();
}

}  // namespace vmreclaim::test
