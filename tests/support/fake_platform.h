// The one set of fakes for what the engine and the policy read the machine
// through (src/platform/linux, src/policy/pressure*.h), shared by the unit,
// policy and fault-injection tests and by the fuzzers. No GoogleTest here:
// the fuzzers (fuzz/) include it too, so everything is deterministic (no real
// clock, no threads of its own) and a misuse reports through a hook instead
// of a test assertion.
//   FakeClock           moves only when told (or when the engine sleeps on it)
//   FakeFootprint       whatever the test says, unreadable included; counts reads
//   FakePressureReaders scripted PSI and meminfo readings for the monitor
//   FakeVmOps           records every request; fails the ones a test chooses;
//                       touches no entry memory unless told to pass through
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <tuple>
#include <vector>

#include "platform/linux/clock.h"
#include "platform/linux/footprint.h"
#include "platform/linux/vm_ops.h"
#include "policy/pressure_monitor.h"

namespace vmreclaim::test {

class FakeClock final : public platform::Clock {
 public:
  // Early, so that the real monotonic clock, which a few user-side checks
  // read instead, is usually ahead of it.
  static constexpr uint64_t kStart = 1'000'000'000ull;

  explicit FakeClock(uint64_t start = kStart) : now(start) {}

  uint64_t now_ns() noexcept override { return now.load(std::memory_order_relaxed); }
  void advance(uint64_t ns) noexcept { now.fetch_add(ns, std::memory_order_relaxed); }
  // The engine's back-off while a cancel holds the tail: time passes at once.
  void sleep_ns(uint64_t ns) noexcept override {
    advance(ns);
    sleeps++;
    if (on_sleep) on_sleep(sleeps);
  }

  // Atomic only because several threads of one test may read it while the
  // test moves it; it orders nothing else, so every access is relaxed.
  std::atomic<uint64_t> now;
  uint64_t sleeps = 0;
  std::function<void(uint64_t sleeps)> on_sleep;  // e.g. a cancel's lock let go after a while
};

class FakeFootprint final : public platform::FootprintSource {
 public:
  std::optional<uint64_t> footprint_bytes() noexcept override {
    reads++;
    return value;
  }
  std::optional<uint64_t> value;  // nullopt: unreadable
  int reads = 0;
};

// What the pressure monitor reads: system PSI and meminfo as scripted, no
// cgroup.
class FakePressureReaders final : public policy::PressureReaders {
 public:
  std::optional<platform::PsiReading> system_psi() override { return psi; }
  std::optional<platform::PsiReading> cgroup_psi() override { return std::nullopt; }
  std::optional<platform::MemInfo> meminfo() override { return mem; }
  std::optional<platform::CgroupMemory> cgroup() override { return std::nullopt; }
  bool has_cgroup_psi() override { return false; }
  bool has_cgroup() override { return false; }

  std::optional<platform::PsiReading> psi;  // nullopt: the file is unreadable
  std::optional<platform::MemInfo> mem;
};

// One request the engine made of the kernel.
struct VmCall {
  enum Kind : uint8_t { release, unmap, probe, reserve, protect, discard };
  Kind kind;
  uint64_t addr;
  uint64_t len;
  bool accessible = false;  // protect: made accessible or not
  bool operator<(const VmCall& o) const { return std::tie(kind, addr, len) < std::tie(o.kind, o.addr, o.len); }
  bool operator==(const VmCall& o) const { return kind == o.kind && addr == o.addr && len == o.len; }
};

// Half-open address range [lo, hi) that a fake system call treats specially.
struct Range {
  uint64_t lo = 0, hi = 0;
  bool overlaps(uint64_t a, uint64_t len) const { return a < hi && lo < a + len; }
};

// VmOps for tests. Two ways to run:
//   FakeVmOps()                       the entry requests (release, unmap,
//       probe) are recorded and succeed without touching memory, so entries
//       may name any address; the ring's storage calls (protect, discard) are
//       real but only inside the range given to confine_to() (an engine's
//       ring), anything else goes to on_outside; reserve gives nothing.
//   FakeVmOps(FakeVmOps::kPassThrough) every call goes to the real LinuxVmOps.
// Either way every call is recorded, and a call fails with the errno a test
// chose, doing nothing: by count (fail()) or by address (the ranges below).
class FakeVmOps final : public platform::VmOps {
 public:
  enum Mode { kRecordOnly, kPassThrough };
  explicit FakeVmOps(Mode mode = kRecordOnly) : mode_(mode) {}

  // Fails the next `times` calls of `kind` (after letting `skip` of them
  // through) with `err`. For release the count is of spans, not of batches.
  void fail(VmCall::Kind kind, int err, int times = 1, int skip = 0) {
    std::lock_guard lk(mu_);
    rules_.push_back({kind, err, times, skip});
  }
  // How many calls of `kind` were failed on purpose.
  int failed(VmCall::Kind kind) const {
    std::lock_guard lk(mu_);
    return failed_[kind];
  }
  Range hole;           // probe_mapped says ENOMEM (a gap, e.g. a double free)
  Range unmap_fails;    // munmap says EINVAL
  Range release_fails;  // madvise says EINVAL

  // Where the real storage calls of kRecordOnly may go.
  void confine_to(uint64_t addr, uint64_t len) {
    reservation_ = addr;
    reservation_len_ = len;
  }
  std::function<void(const char* what, uint64_t addr, uint64_t len)> on_outside = [](const char* what, uint64_t addr,
                                                                                     uint64_t len) {
    std::fprintf(stderr, "FakeVmOps: %s outside the ring's reservation (%#llx, %llu)\n", what,
                 static_cast<unsigned long long>(addr), static_cast<unsigned long long>(len));
    std::abort();
  };

  void release(const platform::Span* spans, size_t n, platform::FreeAdvice advice, int* errs) noexcept override {
    std::vector<platform::Span> pass;
    std::vector<size_t> where;
    {
      std::lock_guard lk(mu_);
      release_batches_.push_back(n);
      last_advice_ = advice;
      for (size_t i = 0; i < n; i++) {
        calls.push_back({VmCall::release, spans[i].addr, spans[i].len});
        errs[i] = injected(VmCall::release);
        if (errs[i] == 0 && release_fails.overlaps(spans[i].addr, spans[i].len)) errs[i] = EINVAL;
        if (errs[i] == 0 && mode_ == kPassThrough) {
          pass.push_back(spans[i]);
          where.push_back(i);
        }
      }
    }
    // The spans let through still go to the kernel in one batch, as usual.
    std::vector<int> pass_errs(pass.size());
    if (!pass.empty()) real.release(pass.data(), pass.size(), advice, pass_errs.data());
    for (size_t j = 0; j < pass.size(); j++) errs[where[j]] = pass_errs[j];
  }
  int unmap(uint64_t addr, uint64_t len) noexcept override {
    if (int e = record({VmCall::unmap, addr, len}, unmap_fails, EINVAL)) return e;
    return mode_ == kPassThrough ? real.unmap(addr, len) : 0;
  }
  int probe_mapped(uint64_t addr, uint64_t len) noexcept override {
    if (int e = record({VmCall::probe, addr, len}, hole, ENOMEM)) return e;
    return mode_ == kPassThrough ? real.probe_mapped(addr, len) : 0;
  }
  void* reserve(size_t len, const char* name) noexcept override {
    if (record({VmCall::reserve, 0, len}, {}, 0) != 0 || mode_ != kPassThrough) return nullptr;
    return real.reserve(len, name);
  }
  int release_reservation(void* addr, size_t len) noexcept override {
    return mode_ == kPassThrough ? real.release_reservation(addr, len) : EINVAL;
  }
  int protect(void* addr, size_t len, bool accessible) noexcept override {
    if (int e = record({VmCall::protect, address(addr), len, accessible}, {}, 0)) return e;
    if (mode_ == kPassThrough) return real.protect(addr, len, accessible);
    check_in_reservation(addr, len, "protect");
    return ::mprotect(addr, len, accessible ? PROT_READ | PROT_WRITE : PROT_NONE) == 0 ? 0 : errno;
  }
  int discard(void* addr, size_t len) noexcept override {
    if (int e = record({VmCall::discard, address(addr), len}, {}, 0)) return e;
    if (mode_ == kPassThrough) return real.discard(addr, len);
    check_in_reservation(addr, len, "discard");
    return ::madvise(addr, len, MADV_DONTNEED) == 0 ? 0 : errno;
  }

  // What was asked, in order: `calls` holds the entry requests (release,
  // unmap, probe; a batch of releases as one call a span), the storage calls
  // are in storage_calls(). A test may clear `calls` between steps.
  std::vector<VmCall> calls;
  std::vector<platform::Span> requests(VmCall::Kind kind) const {
    std::lock_guard lk(mu_);
    std::vector<platform::Span> out;
    for (const VmCall& c :
         kind == VmCall::release || kind == VmCall::unmap || kind == VmCall::probe ? calls : storage_) {
      if (c.kind == kind) out.push_back({c.addr, c.len});
    }
    return out;
  }
  std::vector<platform::Span> released() const { return requests(VmCall::release); }
  std::vector<platform::Span> unmapped() const { return requests(VmCall::unmap); }
  std::vector<platform::Span> probed() const { return requests(VmCall::probe); }
  uint64_t released_bytes() const {
    uint64_t sum = 0;
    for (const platform::Span& s : released()) sum += s.len;
    return sum;
  }
  std::vector<VmCall> storage_calls() const {
    std::lock_guard lk(mu_);
    return storage_;
  }
  // How many spans each release() call carried.
  std::vector<size_t> release_batches() const {
    std::lock_guard lk(mu_);
    return release_batches_;
  }
  platform::FreeAdvice last_advice() const {
    std::lock_guard lk(mu_);
    return last_advice_;
  }

  platform::LinuxVmOps real;  // kPassThrough goes here (and counts its system calls)

 private:
  struct Rule {
    VmCall::Kind kind;
    int err;
    int times;
    int skip;
  };

  static uint64_t address(const void* p) { return reinterpret_cast<uint64_t>(p); }

  // Records `c`; the errno it is to fail with, or 0.
  int record(const VmCall& c, const Range& fails, int fail_err) noexcept {
    std::lock_guard lk(mu_);
    (c.kind == VmCall::unmap || c.kind == VmCall::probe ? calls : storage_).push_back(c);
    if (int e = injected(c.kind)) return e;
    return fails.overlaps(c.addr, c.len) ? fail_err : 0;
  }
  // With mu_ held.
  int injected(VmCall::Kind kind) noexcept {
    for (Rule& r : rules_) {
      if (r.kind != kind || r.times == 0) continue;
      if (r.skip > 0) {
        r.skip--;
        return 0;
      }
      r.times--;
      failed_[kind]++;
      return r.err;
    }
    return 0;
  }
  void check_in_reservation(void* addr, size_t len, const char* what) const {
    const uint64_t a = address(addr);
    if (a < reservation_ || a + len > reservation_ + reservation_len_ || a + len < a) on_outside(what, a, len);
  }

  const Mode mode_;
  mutable std::mutex mu_;  // several threads of one test may reclaim at once
  std::vector<Rule> rules_;
  int failed_[VmCall::discard + 1] = {};
  std::vector<VmCall> storage_;
  std::vector<size_t> release_batches_;
  platform::FreeAdvice last_advice_ = platform::FreeAdvice::dontneed;
  uint64_t reservation_ = 0, reservation_len_ = 0;
};

}  // namespace vmreclaim::test
