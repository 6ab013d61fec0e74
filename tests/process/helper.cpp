// vmreclaim_test_helper: a fresh process for the cases that depend on the
// environment (tunables are read once per process) or on exec().
//   allocate          allocate a ring, use it; prints "allocate=<error name>"
//   guard SCENARIO    run a guard-fault scenario (process/scenarios.h); prints
//                     "ok ..." if the process survived and the fault was handled
//   sample            enter 17 pages, updating the accounting when asked to;
//                     prints "update=<asked on the last enter> reclaimable_pages=<n>
//                     sampled=<0|1>"
//   idle              enter 16 pages and make no further call for up to 5 s
//                     (until the ring is empty); prints "reclaimable_pages=<n>
//                     background_pages=<pages the engine thread reclaimed>"
//   fork-storm        allocate a ring, print "ready", then fork 400 children
//                     that each allocate and exit while the test keeps the
//                     engine thread busy; prints "forks=<n> hung=<0 or the
//                     fork whose child did not exit within 10 s>"
// Exit status 0 when the mode ran to completion and its checks held.
#include <mach/vm_reclaim.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vmreclaim/vmreclaim.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "process/scenarios.h"
#include "support/memory.h"

namespace {

using vmreclaim::test::Mapping;

int allocate() {
  mach_vm_reclaim_ring_t ring = nullptr;
  const mach_vm_reclaim_error_t err = mach_vm_reclaim_ring_allocate(&ring, 1, 1);
  std::printf("allocate=%s\n", vmreclaim_strerror(err));
  if (err != VM_RECLAIM_SUCCESS) return 0;
  // The new image's ring works and starts from ID 0.
  Mapping m = Mapping::pages(1);
  vmreclaim::test::fill(m.data(), m.size(), 5);
  mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
  bool update = false;
  mach_vm_reclaim_state_t st = 0;
  if (mach_vm_reclaim_try_enter(ring, m.address(), m.size(), VM_RECLAIM_FREE, &id, &update) != VM_RECLAIM_SUCCESS ||
      id != 0 ||
      mach_vm_reclaim_try_cancel(ring, id, m.address(), m.size(), VM_RECLAIM_FREE, &st, &update) !=
          VM_RECLAIM_SUCCESS ||
      st != VM_RECLAIM_UNRECLAIMED || !vmreclaim::test::holds(m.data(), m.size(), 5)) {
    std::printf("ring=broken\n");
    return 1;
  }
  std::printf("ring=ok\n");
  return 0;
}

int guard(const std::string& scenario) {
  vmreclaim::test::ScenarioOutcome out = vmreclaim::test::run_guard_scenario(scenario);
  std::printf("%s %s\n", out.ok ? "ok" : "FAILED", out.detail.c_str());
  return out.ok ? 0 : 1;
}

int sample() {
  mach_vm_reclaim_ring_t ring = nullptr;
  if (mach_vm_reclaim_ring_allocate(&ring, 64, 64) != VM_RECLAIM_SUCCESS) return 1;
  Mapping m = Mapping::pages(17);
  auto enter_page = [&](int i, bool* update) {
    mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
    return mach_vm_reclaim_try_enter(ring, reinterpret_cast<mach_vm_address_t>(m.page(i)), vmreclaim::test::page_size(),
                                     VM_RECLAIM_FREE, &id, update) == VM_RECLAIM_SUCCESS &&
           (!*update || mach_vm_reclaim_update_kernel_accounting(ring) == VM_RECLAIM_SUCCESS);
  };
  bool update = false;
  for (int i = 0; i < 16; i++) {
    if (!enter_page(i, &update)) return 1;
  }
  // The user side checks the deadline against the coarse clock, which may
  // lag the engine's by a tick: let more than a tick pass before the last one.
  ::usleep(50'000);
  if (!enter_page(16, &update)) return 1;
  vmreclaim_ring_stats s{};
  if (vmreclaim_ring_get_stats(ring, &s) != VM_RECLAIM_SUCCESS) return 1;
  std::printf("update=%d reclaimable_pages=%llu sampled=%d\n", update ? 1 : 0,
              static_cast<unsigned long long>(s.reclaimable_bytes / vmreclaim::test::page_size()),
              s.samples > 0 ? 1 : 0);
  return vmreclaim_ring_destroy(ring) == VM_RECLAIM_SUCCESS ? 0 : 1;
}

int idle() {
  mach_vm_reclaim_ring_t ring = nullptr;
  if (mach_vm_reclaim_ring_allocate(&ring, 64, 64) != VM_RECLAIM_SUCCESS) return 1;
  const uint64_t page = vmreclaim::test::page_size();
  Mapping m = Mapping::pages(16);
  for (int i = 0; i < 16; i++) {
    mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
    bool update = false;
    if (mach_vm_reclaim_try_enter(ring, reinterpret_cast<mach_vm_address_t>(m.page(i)), page, VM_RECLAIM_FREE, &id,
                                  &update) != VM_RECLAIM_SUCCESS) {
      return 1;
    }
  }
  vmreclaim_ring_stats s{};
  for (int waited_ms = 0; waited_ms < 5000; waited_ms += 5) {
    if (vmreclaim_ring_get_stats(ring, &s) != VM_RECLAIM_SUCCESS) return 1;
    if (s.reclaimable_bytes == 0) break;
    ::usleep(5000);
  }
  std::printf("reclaimable_pages=%llu background_pages=%llu\n",
              static_cast<unsigned long long>(s.reclaimable_bytes / page),
              static_cast<unsigned long long>(s.reclaimed_bytes[VMRECLAIM_CAUSE_BACKGROUND] / page));
  return 0;
}

int fork_storm() {
  mach_vm_reclaim_ring_t ring = nullptr;
  if (mach_vm_reclaim_ring_allocate(&ring, 64, 64) != VM_RECLAIM_SUCCESS) return 1;
  std::printf("ready\n");
  std::fflush(stdout);
  constexpr int kForks = 400;
  for (int i = 1; i <= kForks; i++) {
    const pid_t pid = ::fork();
    if (pid < 0) return 1;
    if (pid == 0) {
      // The child's first allocation: it hangs if fork() handed it a lock
      // that another thread held.
      std::string s(200000, 'x');
      ::_exit(s[static_cast<size_t>(i)] == 'x' ? 0 : 1);
    }
    int status = 0;
    pid_t got = 0;
    for (int ms = 0; ms < 10000 && got == 0; ms++) {
      got = ::waitpid(pid, &status, WNOHANG);
      if (got == 0) ::usleep(1000);
    }
    if (got != pid) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      std::printf("forks=%d hung=%d\n", i, i);
      return 1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  }
  std::printf("forks=%d hung=0\n", kForks);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "allocate") == 0) return allocate();
  if (argc >= 3 && std::strcmp(argv[1], "guard") == 0) return guard(argv[2]);
  if (argc >= 2 && std::strcmp(argv[1], "sample") == 0) return sample();
  if (argc >= 2 && std::strcmp(argv[1], "idle") == 0) return idle();
  if (argc >= 2 && std::strcmp(argv[1], "fork-storm") == 0) return fork_storm();
  std::fprintf(stderr, "usage: %s allocate | guard SCENARIO | sample | idle | fork-storm\n", argv[0]);
  return 2;
}
