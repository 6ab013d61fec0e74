// A child program for the policy process tests. Each mode sets up a ring in
// a specific way, then answers "ping" lines on stdin with "pong <RssAnon kB>"
// so the test can observe it from outside (stopped, trimmed, alive).
// Environment variables (sampling period, limits) are the test's to set:
// tunables are read once per process, hence a separate program.
#include <mach/vm_reclaim_private.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vmreclaim/vmreclaim.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <poll.h>
#include <sys/wait.h>
#include <time.h>

#include <cerrno>
#include <string>
#include <vector>

#include "process/registry.h"

namespace {

constexpr size_t kBlock = 4u << 20;

long long now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

long rss_anon_kb() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long v = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "RssAnon:", 8) == 0) v = std::atol(line + 8);
  }
  std::fclose(f);
  return v;
}

void* map_block(size_t len) {
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("mmap");
    std::exit(3);
  }
  std::memset(p, 0x5a, len);
  return p;
}

mach_vm_reclaim_ring_t make_ring() {
  mach_vm_reclaim_ring_t r = nullptr;
  mach_vm_reclaim_error_t e = mach_vm_reclaim_ring_allocate(&r, 1024, 8192);
  if (e != VM_RECLAIM_SUCCESS) {
    std::fprintf(stderr, "allocate: %s\n", vmreclaim_strerror(e));
    std::exit(3);
  }
  return r;
}

// Enters a region, re-using the slot of `reuse` (an ID this program
// cancelled) when it is still available, as allocators do to keep the ring compact.
mach_vm_reclaim_id_t enter(mach_vm_reclaim_ring_t r, void* p, size_t len, mach_vm_reclaim_action_t a, bool call,
                           mach_vm_reclaim_id_t reuse = VM_RECLAIM_ID_NULL) {
  mach_vm_reclaim_id_t id = reuse;
  bool update = false;
  if (reuse != VM_RECLAIM_ID_NULL) {
    if (mach_vm_reclaim_try_enter(r, reinterpret_cast<mach_vm_address_t>(p), len, a, &id, &update) !=
        VM_RECLAIM_SUCCESS) {
      std::fprintf(stderr, "re-enter failed\n");
      std::exit(3);
    }
    if (id != VM_RECLAIM_ID_NULL) {
      if (update && call) mach_vm_reclaim_update_kernel_accounting(r);
      return id;
    }
  }
  if (mach_vm_reclaim_try_enter(r, reinterpret_cast<mach_vm_address_t>(p), len, a, &id, &update) !=
          VM_RECLAIM_SUCCESS ||
      id == VM_RECLAIM_ID_NULL) {
    std::fprintf(stderr, "enter failed\n");
    std::exit(3);
  }
  if (update && call) mach_vm_reclaim_update_kernel_accounting(r);
  return id;
}

long limit_reclaimed_kb(mach_vm_reclaim_ring_t r) {
  struct vmreclaim_ring_stats s {};
  if (r == nullptr || vmreclaim_ring_get_stats(r, &s) != VM_RECLAIM_SUCCESS) return -1;
  return static_cast<long>(s.reclaimed_bytes[VMRECLAIM_CAUSE_LIMIT] / 1024);
}

// Answers lines until stdin closes: "ping" with "pong <RssAnon kB>"; "limit
// <bytes>" calls vmreclaim_set_footprint_limit(bytes), then answers "limited
// <RssAnon kB> <vmreclaim_get_footprint_limit()> <kB reclaimed for the limit>".
int serve(mach_vm_reclaim_ring_t ring = nullptr) {
  std::printf("ready %ld\n", rss_anon_kb());
  std::fflush(stdout);
  // Wake every 50 ms even with no input: ThreadSanitizer runs a signal
  // handler only when the thread next passes through the runtime, and the
  // SIGTSTP handler is what these tests exercise.
  std::string pending;
  for (;;) {
    pollfd p{0, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char buf[64];
    ssize_t n = read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    pending.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1)) {
      if (pending.rfind("limit ", 0) == 0) {
        vmreclaim_set_footprint_limit(std::strtoull(pending.c_str() + 6, nullptr, 10));
        std::printf("limited %ld %llu %ld\n", rss_anon_kb(),
                    static_cast<unsigned long long>(vmreclaim_get_footprint_limit()), limit_reclaimed_kb(ring));
      } else {
        std::printf("pong %ld\n", rss_anon_kb());
      }
      std::fflush(stdout);
    }
  }
}

std::string thread_names() {
  std::string out;
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string path = std::string("/proc/self/task/") + e->d_name + "/comm";
    if (FILE* f = std::fopen(path.c_str(), "r")) {
      char name[32] = {};
      if (std::fgets(name, sizeof name, f) != nullptr) {
        name[std::strcspn(name, "\n")] = 0;
        out += std::string(name) + ",";
      }
      std::fclose(f);
    }
  }
  closedir(d);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  std::string mode = argv[1];
  long mib = argc > 2 ? std::atol(argv[2]) : 64;
  if (mode == "hold") {  // MiB entered as FREE entries, then serve
    mach_vm_reclaim_ring_t r = make_ring();
    // Touch every block first, then enter them all at once: on a slow
    // machine a short sampling period would otherwise start trimming the
    // first blocks before the last are touched, and "ready" would report
    // less than the ring holds.
    std::vector<void*> blocks;
    for (long i = 0; i < mib / 4; i++) blocks.push_back(map_block(kBlock));
    for (void* p : blocks) enter(r, p, kBlock, VM_RECLAIM_FREE, true);
    return serve(r);
  }
  if (mode == "gap") {  // a DEALLOCATE entry whose range the program already unmapped
    mach_vm_reclaim_ring_t r = make_ring();
    void* p = map_block(kBlock);
    enter(r, p, kBlock, VM_RECLAIM_DEALLOCATE, false);
    munmap(p, kBlock);
    return serve();
  }
  if (mode == "cycle") {  // enter and cancel everything, over and over, for `mib` ms
    mach_vm_reclaim_ring_t r = make_ring();
    std::vector<void*> blocks;
    for (int i = 0; i < 16; i++) blocks.push_back(map_block(kBlock));
    std::vector<mach_vm_reclaim_id_t> ids(blocks.size(), VM_RECLAIM_ID_NULL);
    long rounds = 0, lost = 0;
    // The longest time the ring went without being empty: a sample trims
    // only what stayed in the ring for a whole period.
    long long last_empty = now_ms(), max_gap = 0;
    for (long t = 0; t < mib; t++) {
      for (size_t i = 0; i < blocks.size(); i++) ids[i] = enter(r, blocks[i], kBlock, VM_RECLAIM_FREE, true, ids[i]);
      usleep(1000);
      for (size_t i = 0; i < blocks.size(); i++) {
        mach_vm_reclaim_state_t st = 0;
        bool update = false;
        mach_vm_reclaim_try_cancel(r, ids[i], reinterpret_cast<mach_vm_address_t>(blocks[i]), kBlock,
                                   VM_RECLAIM_FREE, &st, &update);
        if (st != VM_RECLAIM_UNRECLAIMED || static_cast<unsigned char*>(blocks[i])[kBlock - 1] != 0x5a) lost++;
        if (update) mach_vm_reclaim_update_kernel_accounting(r);
      }
      const long long now = now_ms();
      if (now - last_empty > max_gap) max_gap = now - last_empty;
      last_empty = now;
      rounds++;
    }
    struct vmreclaim_ring_stats s {};
    vmreclaim_ring_get_stats(r, &s);
    std::printf("rounds %ld lost %ld samples %llu maxgap_ms %lld\n", rounds, lost,
                static_cast<unsigned long long>(s.samples), max_gap);
    return lost == 0 ? 0 : 1;
  }
  if (mode == "churn" || mode == "churn-noupdate") {  // `mib` MiB through the ring, never reused
    const bool call = mode == "churn";
    // Optional: microseconds to sleep after each block, a client that
    // allocates at a pace the engine thread can follow.
    const long pace_us = argc > 3 ? std::atol(argv[3]) : 0;
    mach_vm_reclaim_ring_t r = make_ring();
    long peak = 0;
    for (long i = 0; i < mib / 4; i++) {
      void* p = map_block(kBlock);
      // Before the enter, which may ask for the update that reclaims, and after.
      peak = std::max(peak, rss_anon_kb());
      enter(r, p, kBlock, VM_RECLAIM_DEALLOCATE, call);
      peak = std::max(peak, rss_anon_kb());
      if (pace_us > 0) usleep(static_cast<useconds_t>(pace_us));
    }
    struct vmreclaim_ring_stats s {};
    vmreclaim_ring_get_stats(r, &s);
    std::printf("peak %ld limit-reclaimed %llu\n", peak,
                static_cast<unsigned long long>(s.reclaimed_bytes[VMRECLAIM_CAUSE_LIMIT]));
    return 0;
  }
  if (mode == "fill-late") {  // `mib` MiB live, then argv[3] MiB into a ring the engine thread slept on empty
    const long ring_mib = argc > 3 ? std::atol(argv[3]) : 32;
    mach_vm_reclaim_ring_t r = make_ring();
    // The engine thread's first round finds the ring empty, and it goes to
    // sleep until its next sample. Its wake-ups from here on:
    usleep(300000);
    auto wakeups = [] {
      vmreclaim::policy::EngineThread* t = vmreclaim::process::Registry::get().engine_thread();
      return t != nullptr ? static_cast<long long>(t->wakeups()) : -1;
    };
    const long long asleep = wakeups();
    // Live memory beside the ring (the limit's headroom is gone), then the
    // ring filled, calling for the update whenever the API says so.
    map_block(static_cast<size_t>(mib) << 20);
    std::vector<void*> blocks;
    for (long i = 0; i < ring_mib / 4; i++) blocks.push_back(map_block(kBlock));
    const long long filled_at = wakeups();
    for (void* p : blocks) enter(r, p, kBlock, VM_RECLAIM_FREE, true);
    // Until the limit reclaims, or 5 s (the sampling period is the test's,
    // far longer): the time is reported, not judged here.
    const long long start = now_ms();
    while (limit_reclaimed_kb(r) <= 0 && now_ms() - start < 5000) usleep(10000);
    std::printf("limit-reclaimed %ld after_ms %lld rss %ld asleep-wakeups %lld fill-wakeups %lld\n",
                limit_reclaimed_kb(r), now_ms() - start, rss_anon_kb(), filled_at - asleep, wakeups() - filled_at);
    return 0;
  }
  if (mode == "threads") {  // the engine thread's name, in this process and in a forked child
    mach_vm_reclaim_ring_t r = make_ring();
    enter(r, map_block(kBlock), kBlock, VM_RECLAIM_FREE, true);
    usleep(20000);
    std::printf("parent %s\n", thread_names().c_str());
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      usleep(20000);
      std::printf("child %s\n", thread_names().c_str());
      std::fflush(stdout);
      _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return 0;  // returning from main with the engine thread running must exit
  }
  return 2;
}
