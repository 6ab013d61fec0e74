// The allocator comparison's workload: threads that churn large blocks.
// Allocator-agnostic (plain malloc/free; the allocator is chosen with
// LD_PRELOAD), so every allocator runs the same machine code.
//
//   alloc_churn churn  [options]   timed churn, then free everything
//   alloc_churn phased [options]   busy, idle, busy, idle (RssAnon sampled from outside)
//   alloc_churn giveback [options] churn, free everything, ask the allocator
//                                  to give memory back, time until it has
//   alloc_churn settle [options]   churn, free everything, time until the
//                                  allocator gives memory back on its own
//   alloc_churn spell [options]    churn for --busy seconds (or --ops
//                                  operations a thread, if given), free
//                                  everything, idle --idle seconds (RssAnon
//                                  sampled from outside: bench/alloc/idle_spell.py)
//
// Each thread keeps --slots blocks; an operation frees a random slot and
// allocates a block of a random size in [--min, --max], writing every page.
// With --realloc-every N, one operation in N (on average) instead resizes a
// random slot with realloc to a random size in [--min, --max], checks that
// the bytes it kept moved with it, and writes every page of the new size.
// Results go to stdout as key=value lines; phase changes as "phase=NAME t=SECONDS".
// churn and spell also print the peak of the bytes the program itself held
// (peak_live_kb: the sum of the live blocks' requested sizes, over all
// threads) beside the process's peak resident size (peak_rss_kb, VmHWM):
// how far memory follows the working set, whatever the number of operations.
#include <dlfcn.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string mode = "churn";
  int threads = 2;
  int slots = 8;
  long ops = 4000;  // per thread, churn and giveback modes
  double busy_s = 4;
  double idle_s = 30;
  size_t min = 192 * 1024;
  size_t max = 8 * 1024 * 1024;
  unsigned seed = 1;
  unsigned realloc_every = 0;  // 0: never
  bool ops_given = false;
};

Clock::time_point g_start;

double now_s() { return std::chrono::duration<double>(Clock::now() - g_start).count(); }

// The value of a "Key:   N kB" line of /proc/self/status, in KiB; -1 if
// unreadable.
long status_kb(const char* key) {
  FILE* f = std::fopen("/proc/self/status", "re");
  if (f == nullptr) return -1;
  char line[256];
  long kb = -1;
  const size_t n = std::strlen(key);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, key, n) == 0 && line[n] == ':') {
      char* end = nullptr;
      kb = std::strtol(line + n + 1, &end, 10);
      if (end == line + n + 1) kb = -1;
      break;
    }
  }
  std::fclose(f);
  return kb;
}

long rss_anon_kb() { return status_kb("RssAnon"); }
// Peak resident size so far.
long peak_rss_kb() { return status_kb("VmHWM"); }

// Bytes the program holds (requested sizes of its live blocks, all threads)
// and their peak.
std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak_live{0};

void note_live(int64_t delta) {
  const int64_t now = g_live.fetch_add(delta, std::memory_order_relaxed) + delta;
  int64_t peak = g_peak_live.load(std::memory_order_relaxed);
  while (now > peak && !g_peak_live.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

long minor_faults() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

// User + system CPU seconds of the process: unlike wall time, not inflated
// when the hypervisor stalls the VM on its own page faults.
double cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// xorshift: cheap and the same sequence under every allocator.
struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

struct Worker {
  std::vector<char*> blocks;
  std::vector<size_t> sizes;
  Rng rng;
  long ops = 0;
};

void touch(char* p, size_t n, char v) {
  for (size_t i = 0; i < n; i += 4096) p[i] = v;
  p[n - 1] = v;
}

// Every page of a block starts with the same byte (touch()): a realloc must
// keep the pages it keeps.
void check_kept(const char* p, size_t n, char v) {
  for (size_t i = 0; i < n; i += 4096) {
    if (p[i] != v) {
      std::fprintf(stderr, "realloc lost the contents at offset %zu\n", i);
      std::exit(1);
    }
  }
}

void one_op(Worker& w, const Options& o) {
  size_t slot = w.rng.next() % w.blocks.size();
  if (o.realloc_every != 0 && w.rng.next() % o.realloc_every == 0 && w.blocks[slot] != nullptr) {
    size_t n = o.min + w.rng.next() % (o.max - o.min + 1);
    const size_t old = w.sizes[slot];
    const char v = w.blocks[slot][0];
    auto* p = static_cast<char*>(std::realloc(w.blocks[slot], n));
    if (p == nullptr) {
      std::fprintf(stderr, "realloc(%zu) failed\n", n);
      std::exit(1);
    }
    check_kept(p, old < n ? old : n, v);
    note_live(static_cast<int64_t>(n) - static_cast<int64_t>(old));
    touch(p, n, static_cast<char>(w.ops));
    w.blocks[slot] = p;
    w.sizes[slot] = n;
    w.ops++;
    return;
  }
  std::free(w.blocks[slot]);
  note_live(-static_cast<int64_t>(w.sizes[slot]));
  w.sizes[slot] = 0;
  size_t n = o.min + w.rng.next() % (o.max - o.min + 1);
  auto* p = static_cast<char*>(std::malloc(n));
  if (p == nullptr) {
    std::fprintf(stderr, "malloc(%zu) failed\n", n);
    std::exit(1);
  }
  note_live(static_cast<int64_t>(n));
  touch(p, n, static_cast<char>(w.ops));
  w.blocks[slot] = p;
  w.sizes[slot] = n;
  w.ops++;
}

void free_all(std::vector<Worker>& ws) {
  for (Worker& w : ws) {
    for (size_t i = 0; i < w.blocks.size(); i++) {
      std::free(w.blocks[i]);
      w.blocks[i] = nullptr;
      note_live(-static_cast<int64_t>(w.sizes[i]));
      w.sizes[i] = 0;
    }
  }
}

// Runs every worker for `ops` operations each, or until `seconds` pass.
void run_phase(std::vector<Worker>& ws, const Options& o, long ops, double seconds) {
  std::vector<std::thread> ts;
  for (Worker& w : ws) {
    ts.emplace_back([&w, &o, ops, seconds] {
      const auto end = Clock::now() + std::chrono::duration<double>(seconds);
      for (long i = 0; ops > 0 ? i < ops : true; i++) {
        one_op(w, o);
        if (seconds > 0 && (i & 7) == 0 && Clock::now() >= end) break;
      }
    });
  }
  for (auto& t : ts) t.join();
}

std::vector<Worker> make_workers(const Options& o) {
  std::vector<Worker> ws(static_cast<size_t>(o.threads));
  for (size_t i = 0; i < ws.size(); i++) {
    ws[i].blocks.assign(static_cast<size_t>(o.slots), nullptr);
    ws[i].sizes.assign(static_cast<size_t>(o.slots), 0);
    ws[i].rng.s = 0x9E3779B97F4A7C15ull * (o.seed + i + 1);
  }
  return ws;
}

long total_ops(const std::vector<Worker>& ws) {
  long n = 0;
  for (const Worker& w : ws) n += w.ops;
  return n;
}

// The allocator's own "give memory back now" call, found by name.
const char* request_giveback() {
  if (auto drain = reinterpret_cast<int (*)(void*, uint64_t*)>(dlsym(RTLD_DEFAULT, "vmreclaim_ring_drain"))) {
    auto current = reinterpret_cast<void* (*)()>(dlsym(RTLD_DEFAULT, "vmreclaim_ring_current"));
    if (current != nullptr && current() != nullptr) {
      drain(current(), nullptr);
      return "vmreclaim_ring_drain";
    }
  }
  if (auto release = reinterpret_cast<void (*)()>(dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory"))) {
    release();
    return "MallocExtension_ReleaseFreeMemory";
  }
  if (auto collect = reinterpret_cast<void (*)(bool)>(dlsym(RTLD_DEFAULT, "mi_collect"))) {
    collect(true);
    return "mi_collect";
  }
  if (auto mallctl =
          reinterpret_cast<int (*)(const char*, void*, size_t*, void*, size_t)>(dlsym(RTLD_DEFAULT, "mallctl"))) {
    mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);  // 4096 = MALLCTL_ARENAS_ALL
    return "mallctl(arena.all.purge)";
  }
  if (auto trim = reinterpret_cast<int (*)(size_t)>(dlsym(RTLD_DEFAULT, "malloc_trim"))) {
    trim(0);
    return "malloc_trim";
  }
  return "none";
}

// Seconds until RssAnon is within `slack_kb` of `base_kb`, polling every
// millisecond; -1 if not within `limit_s`.
double time_to_reach(long base_kb, long slack_kb, double limit_s) {
  const double t0 = now_s();
  while (now_s() - t0 < limit_s) {
    if (rss_anon_kb() <= base_kb + slack_kb) return now_s() - t0;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return -1;
}

bool parse(int argc, char** argv, Options& o) {
  if (argc > 1) o.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--threads")
      o.threads = std::atoi(v);
    else if (k == "--slots")
      o.slots = std::atoi(v);
    else if (k == "--ops") {
      o.ops = std::atol(v);
      o.ops_given = true;
    } else if (k == "--busy")
      o.busy_s = std::atof(v);
    else if (k == "--idle")
      o.idle_s = std::atof(v);
    else if (k == "--min")
      o.min = std::strtoull(v, nullptr, 0);
    else if (k == "--max")
      o.max = std::strtoull(v, nullptr, 0);
    else if (k == "--seed")
      o.seed = static_cast<unsigned>(std::atoi(v));
    else if (k == "--realloc-every")
      o.realloc_every = static_cast<unsigned>(std::atoi(v));
    else
      return false;
  }
  return o.threads > 0 && o.slots > 0 && o.min > 0 && o.max >= o.min;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: alloc_churn churn|phased|giveback|settle|spell [--threads N] [--slots N] [--ops N] "
                 "[--busy S] [--idle S] [--min BYTES] [--max BYTES] [--seed N] [--realloc-every N]\n");
    return 2;
  }
  g_start = Clock::now();
  std::vector<Worker> ws = make_workers(o);
  const long rss0 = rss_anon_kb();
  std::printf("rss_start_kb=%ld\n", rss0);

  if (o.mode == "churn") {
    const long f0 = minor_faults();
    const double t0 = now_s(), c0 = cpu_s();
    run_phase(ws, o, o.ops, 0);
    const double wall = now_s() - t0, cpu = cpu_s() - c0;
    const long faults = minor_faults() - f0;
    const long hwm = peak_rss_kb();
    free_all(ws);
    std::printf("wall_s=%.4f\ncpu_s=%.4f\nops=%ld\nops_per_s=%.1f\nminor_faults=%ld\nrss_after_free_kb=%ld\n", wall,
                cpu, total_ops(ws), static_cast<double>(total_ops(ws)) / wall, faults, rss_anon_kb());
    std::printf("peak_live_kb=%lld\npeak_rss_kb=%ld\n", static_cast<long long>(g_peak_live.load() / 1024), hwm);
  } else if (o.mode == "phased") {
    std::printf("phase=busy1 t=%.3f\n", now_s());
    std::fflush(stdout);
    run_phase(ws, o, 0, o.busy_s);
    free_all(ws);
    std::printf("phase=idle1 t=%.3f\n", now_s());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::duration<double>(o.idle_s));
    std::printf("rss_end_idle1_kb=%ld\nphase=busy2 t=%.3f\n", rss_anon_kb(), now_s());
    std::fflush(stdout);
    run_phase(ws, o, 0, o.busy_s);
    free_all(ws);
    std::printf("phase=idle2 t=%.3f\n", now_s());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::duration<double>(o.idle_s));
    std::printf("rss_end_idle2_kb=%ld\nphase=end t=%.3f\nops=%ld\n", rss_anon_kb(), now_s(), total_ops(ws));
  } else if (o.mode == "spell") {
    const long f0 = minor_faults();
    const double c0 = cpu_s();
    std::printf("phase=busy t=%.3f\n", now_s());
    std::fflush(stdout);
    if (o.ops_given) {
      run_phase(ws, o, o.ops, 0);
    } else {
      run_phase(ws, o, 0, o.busy_s);
    }
    const long hwm = peak_rss_kb();
    free_all(ws);
    const double cpu = cpu_s() - c0;
    const long faults = minor_faults() - f0;
    std::printf("peak_live_kb=%lld\npeak_rss_kb=%ld\n", static_cast<long long>(g_peak_live.load() / 1024), hwm);
    std::printf("phase=idle t=%.3f\n", now_s());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::duration<double>(o.idle_s));
    std::printf("phase=end t=%.3f\nops=%ld\nbusy_cpu_s=%.4f\nbusy_minor_faults=%ld\nrss_end_kb=%ld\n", now_s(),
                total_ops(ws), cpu, faults, rss_anon_kb());
  } else if (o.mode == "giveback") {
    run_phase(ws, o, o.ops, 0);
    free_all(ws);
    const long before = rss_anon_kb();
    const double t0 = now_s();
    const char* how = request_giveback();
    const double call_s = now_s() - t0;
    const double reach = time_to_reach(rss0, 16 * 1024, 10.0);
    std::printf("rss_after_free_kb=%ld\nrequest=%s\nrequest_call_s=%.6f\ngiveback_s=%.6f\nrss_after_request_kb=%ld\n",
                before, how, call_s, reach < 0 ? -1 : reach + call_s, rss_anon_kb());
  } else if (o.mode == "settle") {
    run_phase(ws, o, o.ops, 0);
    free_all(ws);
    const long before = rss_anon_kb();
    const double reach = time_to_reach(rss0, 16 * 1024, o.idle_s);
    std::printf("rss_after_free_kb=%ld\nsettle_s=%.3f\nrss_after_settle_kb=%ld\n", before, reach, rss_anon_kb());
  } else {
    std::fprintf(stderr, "unknown mode %s\n", o.mode.c_str());
    return 2;
  }
  return 0;
}
