// What the fuzzers add to the tests' fakes (tests/support/fake_platform.h:
// a clock that moves only when told, a VmOps that records what the engine
// asks of the kernel instead of touching memory, so entries may name any
// address, a footprint that says what it is told; support/engine_on_ring.h:
// an engine on a ring the harness maps): harness assertions that abort so
// libFuzzer keeps the input, the comparison of kernel requests, and stderr
// kept quiet while the engine runs.
#pragma once

#include <fcntl.h>
#include <fuzzer/FuzzedDataProvider.h>
#include <sanitizer/common_interface_defs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "ring/layout.h"
#include "support/engine_on_ring.h"
#include "support/fake_platform.h"

namespace vmreclaim::fuzz {

using test::EngineOnRing;
using test::FakeVmOps;
using test::Range;
using test::VmCall;

// The process's real stderr while engine calls run with it silenced.
inline int g_real_stderr = -1;

// A harness assertion: says what broke (on the real stderr) and aborts, so
// libFuzzer keeps the input.
[[noreturn]] inline void fail(const char* what, unsigned long long a = 0, unsigned long long b = 0) {
  if (g_real_stderr >= 0) ::dup2(g_real_stderr, STDERR_FILENO);
  std::fprintf(stderr, "fuzz check failed: %s (%llu, %llu)\n", what, a, b);
  std::fflush(stderr);
  std::abort();
}
#define FUZZ_CHECK(cond, ...)                                   \
  do {                                                          \
    if (!(cond)) ::vmreclaim::fuzz::fail(#cond, ##__VA_ARGS__); \
  } while (0)

// VMRECLAIM_FUZZ_TRACE=1 prints each decoded operation: what an input does,
// when a regression input needs explaining.
inline const bool g_trace = std::getenv("VMRECLAIM_FUZZ_TRACE") != nullptr;
#define FUZZ_TRACE(...)                  \
  do {                                   \
    if (::vmreclaim::fuzz::g_trace) {    \
      std::fprintf(stderr, __VA_ARGS__); \
      std::fputc('\n', stderr);          \
    }                                    \
  } while (0)

// The harnesses' engine settings: the chunk size from the input; guard
// faults in log mode, so a fault is counted (and checked), not fatal.
inline policy::Tunables fuzz_tunables(FuzzedDataProvider& in) {
  policy::Tunables t;
  t.chunk_size = in.ConsumeIntegralInRange<uint32_t>(1, 17);
  t.guard = policy::GuardMode::log;
  return t;
}

// The fake's storage calls outside the harness's ring are harness failures.
inline void fail_outside_the_ring(FakeVmOps& vm) {
  vm.on_outside = [](const char* what, uint64_t addr, uint64_t len) { fail(what, addr, len); };
}

inline uint64_t page() { return ring::page_size(); }
inline uint64_t page_down(uint64_t a) { return a & ~(page() - 1); }

// The engine checks each entry for holes before it releases or unmaps it:
// DEALLOCATE entries one by one, FREE entries of a chunk in runs of nearby
// entries (then one by one in a run with a hole). `got` must hold exactly
// the releases and unmaps of `want` (probes in `want` are ignored), and
// each of those must lie inside a probe made in the same call.
inline bool same_requests(std::vector<VmCall> got, std::vector<VmCall> want) {
  std::vector<VmCall> probes;
  for (const VmCall& c : got) {
    if (c.kind == VmCall::probe) probes.push_back(c);
  }
  for (const VmCall& c : got) {
    if (c.kind == VmCall::probe) continue;
    bool covered = false;
    for (const VmCall& p : probes) covered = covered || (p.addr <= c.addr && c.addr + c.len <= p.addr + p.len);
    if (!covered) return false;
  }
  auto no_probe = [](std::vector<VmCall>& v) {
    v.erase(std::remove_if(v.begin(), v.end(), [](const VmCall& c) { return c.kind == VmCall::probe; }), v.end());
    std::sort(v.begin(), v.end());
  };
  no_probe(got);
  no_probe(want);
  return got == want;
}

// Guard faults in log mode write a line to stderr each; a fuzzer provoking
// thousands per second would bury its own output. Engine calls run with
// stderr on /dev/null; sanitizer reports keep the real stderr.
class QuietStderr {
 public:
  static void init() {
    g_real_stderr = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 10);
    null_ = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (g_real_stderr < 0 || null_ < 0) fail("cannot set up stderr redirection", errno);
    __sanitizer_set_report_fd(reinterpret_cast<void*>(static_cast<intptr_t>(g_real_stderr)));
  }
  QuietStderr() {
    if (null_ >= 0) ::dup2(null_, STDERR_FILENO);
  }
  ~QuietStderr() {
    if (g_real_stderr >= 0) ::dup2(g_real_stderr, STDERR_FILENO);
  }
  QuietStderr(const QuietStderr&) = delete;
  QuietStderr& operator=(const QuietStderr&) = delete;

 private:
  static inline int null_ = -1;
};

}  // namespace vmreclaim::fuzz
