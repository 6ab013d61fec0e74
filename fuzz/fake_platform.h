// The world as the fuzzers show it to an Engine: a clock that moves only when
// told, a VmOps that records what the engine asks of the kernel instead of
// touching memory (entries may name any address), a footprint that says what
// it is told, and a ring mapped by the harness itself.
#pragma once

#include <fcntl.h>
#include <sanitizer/common_interface_defs.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <tuple>
#include <vector>

#include "engine/engine.h"
#include "platform/linux/footprint.h"
#include "ring/layout.h"

namespace vmreclaim::fuzz {

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

inline uint64_t page() { return ring::page_size(); }
inline uint64_t page_down(uint64_t a) { return a & ~(page() - 1); }

class FakeClock final : public platform::Clock {
 public:
  uint64_t now_ns() noexcept override { return now; }
  void sleep_ns(uint64_t ns) noexcept override { now += ns; }
  // Starts early so that the real monotonic clock, which a few user-side
  // checks read instead, is usually ahead of it.
  uint64_t now = 1'000'000'000ull;
};

class FakeFootprint final : public platform::FootprintSource {
 public:
  std::optional<uint64_t> footprint_bytes() noexcept override { return value; }
  std::optional<uint64_t> value;
};

// One request the engine made of the kernel.
struct VmCall {
  enum Kind : uint8_t { release, probe, unmap } kind;
  uint64_t addr;
  uint64_t len;
  bool operator<(const VmCall& o) const { return std::tie(kind, addr, len) < std::tie(o.kind, o.addr, o.len); }
  bool operator==(const VmCall& o) const { return kind == o.kind && addr == o.addr && len == o.len; }
};

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

// Half-open address range [lo, hi) that some fake system call treats specially.
struct Range {
  uint64_t lo = 0, hi = 0;
  bool overlaps(uint64_t a, uint64_t len) const { return a < hi && lo < a + len; }
};

// Records entry reclamation (release, probe, unmap) without doing it; lets
// chosen ranges fail. Ring storage calls (protect, discard) are real, but
// only inside the harness's own reservation.
class RecordingVmOps final : public platform::VmOps {
 public:
  void release(const platform::Span* spans, size_t n, platform::FreeAdvice, int* errs) noexcept override {
    for (size_t i = 0; i < n; i++) {
      calls.push_back({VmCall::release, spans[i].addr, spans[i].len});
      errs[i] = release_fails.overlaps(spans[i].addr, spans[i].len) ? EINVAL : 0;
    }
  }
  int unmap(uint64_t addr, uint64_t len) noexcept override {
    calls.push_back({VmCall::unmap, addr, len});
    return unmap_fails.overlaps(addr, len) ? EINVAL : 0;
  }
  int probe_mapped(uint64_t addr, uint64_t len) noexcept override {
    calls.push_back({VmCall::probe, addr, len});
    return hole.overlaps(addr, len) ? ENOMEM : 0;
  }
  void* reserve(size_t, const char*) noexcept override { return nullptr; }
  int release_reservation(void*, size_t) noexcept override { return EINVAL; }
  int protect(void* addr, size_t len, bool accessible) noexcept override {
    check_in_reservation(addr, len, "protect");
    return ::mprotect(addr, len, accessible ? PROT_READ | PROT_WRITE : PROT_NONE) == 0 ? 0 : errno;
  }
  int discard(void* addr, size_t len) noexcept override {
    check_in_reservation(addr, len, "discard");
    return ::madvise(addr, len, MADV_DONTNEED) == 0 ? 0 : errno;
  }

  std::vector<VmCall> calls;
  Range hole;           // probe_mapped says ENOMEM (a double free)
  Range unmap_fails;    // munmap says EINVAL
  Range release_fails;  // madvise says EINVAL
  uint64_t reservation = 0, reservation_len = 0;

 private:
  void check_in_reservation(void* addr, size_t len, const char* what) const {
    auto a = reinterpret_cast<uint64_t>(addr);
    if (a < reservation || a + len > reservation + reservation_len || a + len < a) fail(what, a, len);
  }
};

// The ring's address space, reserved for max_len entries with the first len
// accessible: what Registry::allocate does, by hand.
class RingMemory {
 public:
  RingMemory(uint32_t len, uint32_t max_len) : bytes_(ring::ring_bytes(max_len)) {
    void* p = ::mmap(nullptr, bytes_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) fail("mmap of the ring", errno);
    if (::mprotect(p, ring::ring_bytes(len), PROT_READ | PROT_WRITE) != 0) fail("mprotect of the ring", errno);
    base_ = static_cast<ring::Ring*>(p);
  }
  ~RingMemory() { ::munmap(base_, bytes_); }
  RingMemory(const RingMemory&) = delete;
  RingMemory& operator=(const RingMemory&) = delete;

  ring::Ring* ring() const { return base_; }
  uint64_t addr() const { return reinterpret_cast<uint64_t>(base_); }
  uint64_t bytes() const { return bytes_; }

 private:
  ring::Ring* base_ = nullptr;
  uint64_t bytes_;
};

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
