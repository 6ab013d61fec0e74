// What the Google Benchmark programs share: a quiet library environment, a
// ring that lives for one benchmark run, page helpers and per-item counters.
#pragma once

#include <benchmark/benchmark.h>
#include <mach/vm_reclaim.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vmreclaim/vmreclaim.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace vmreclaim::bench {

// The library reads its environment once, at its first call, so this must
// run first thing in main(). The engine thread stays on, as in every
// program that does not opt out: with pressure forced to normal it wakes
// once per 10 s sampling period, and while it samples on its own the user
// side reads no clock — that is the configuration users get. Pressure forced
// to normal: the figures must not depend on what else runs on the machine.
// VMRECLAIM_ENGINE_THREAD=0 measures the path where every enter/cancel
// checks the deadline against the coarse clock.
// A value already set in the environment wins (for experiments); both are
// printed in the benchmark context either way.
inline void quiet_library_environment() {
  ::setenv("VMRECLAIM_PRESSURE", "normal", 0);
  for (const char* name : {"VMRECLAIM_ENGINE_THREAD", "VMRECLAIM_PRESSURE", "VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS",
                           "VMRECLAIM_FREE_ADVICE"}) {
    const char* v = std::getenv(name);
    benchmark::AddCustomContext(name, v != nullptr ? v : "(unset)");
  }
}

inline size_t page_size() { return static_cast<size_t>(::sysconf(_SC_PAGESIZE)); }

// The process's one ring for the duration of one benchmark run; destroyed
// (drained and unmapped) at the end so the next run can allocate again.
// Declare it after the Mappings its entries point into: the drain at
// destruction must find them still mapped.
class ScopedRing {
 public:
  ScopedRing(benchmark::State& state, mach_vm_reclaim_count_t capacity) {
    mach_vm_reclaim_count_t cap = mach_vm_reclaim_round_capacity(capacity);
    mach_vm_reclaim_error_t err = mach_vm_reclaim_ring_allocate(&ring_, cap, cap);
    if (err != VM_RECLAIM_SUCCESS) {
      ring_ = nullptr;
      state.SkipWithError((std::string("ring allocate: ") + vmreclaim_strerror(err)).c_str());
    }
  }
  ~ScopedRing() {
    if (ring_ != nullptr) (void)vmreclaim_ring_destroy(ring_);
  }
  ScopedRing(const ScopedRing&) = delete;
  ScopedRing& operator=(const ScopedRing&) = delete;

  mach_vm_reclaim_ring_t get() const { return ring_; }
  explicit operator bool() const { return ring_ != nullptr; }

 private:
  mach_vm_reclaim_ring_t ring_ = nullptr;
};

// Private anonymous memory for regions; unmapped on scope exit.
class Mapping {
 public:
  explicit Mapping(size_t bytes) : bytes_(bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    base_ = p == MAP_FAILED ? nullptr : static_cast<char*>(p);
  }
  ~Mapping() {
    if (base_ != nullptr) ::munmap(base_, bytes_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  char* data() const { return base_; }
  size_t size() const { return bytes_; }
  uint64_t addr(size_t offset = 0) const { return reinterpret_cast<uint64_t>(base_ + offset); }
  explicit operator bool() const { return base_ != nullptr; }

 private:
  char* base_ = nullptr;
  size_t bytes_;
};

// One write per page: faults the page in if it was released.
inline void touch_pages(char* p, size_t bytes, size_t stride) {
  for (size_t off = 0; off < bytes; off += stride) {
    *static_cast<volatile char*>(p + off) = 1;
  }
}

// How many of `n` pages, `stride` bytes apart from `p`, are resident.
inline size_t resident_pages(char* p, size_t n, size_t stride) {
  size_t resident = 0;
  unsigned char v = 0;
  for (size_t i = 0; i < n; i++) {
    if (::mincore(p + i * stride, page_size(), &v) == 0 && (v & 1) != 0) resident++;
  }
  return resident;
}

// A counter that shows the time per item when a benchmark iteration handles
// `items_per_iteration` items (a batch): seconds per item, printed with SI
// prefixes (e.g. "812n" = 812 ns).
inline benchmark::Counter seconds_per_item(double items_per_iteration) {
  return benchmark::Counter(items_per_iteration,
                            benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

}  // namespace vmreclaim::bench

// main() for a benchmark program: the environment first, then Google Benchmark.
#define VMRECLAIM_BENCHMARK_MAIN()                                    \
  int main(int argc, char** argv) {                                   \
    vmreclaim::bench::quiet_library_environment();                    \
    benchmark::Initialize(&argc, argv);                               \
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1; \
    benchmark::RunSpecifiedBenchmarks();                              \
    benchmark::Shutdown();                                            \
    return 0;                                                         \
  }
