// The findings of docs/protocol-proof.md ("Findings"), each pinned by a test
// that fails when its fix is reverted (F1 is mutant 9 of the model and a
// fuzzer regression input; F5 is ReleaseFallback.*; F6 is
// RingStoreOrders.* in tests/unit/ring_order_test.cpp).
#include <gtest/gtest.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "support/engine_on_ring.h"
#include "support/memory.h"

namespace vmreclaim::test {
namespace {

using policy::GuardMode;

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  if (WIFSTOPPED(status)) return "stopped by signal " + std::to_string(WSTOPSIG(status));
  return "status " + std::to_string(status);
}

uint64_t all_guard_faults(EngineOnRing& e) {
  uint64_t n = 0;
  for (int f = 0; f < engine::kGuardFaultKinds; f++) n += e.stats().guard_faults[f].get();
  return n;
}

// F3: a zero-size entry frees nothing and is no fault, wherever it points.
// Before 1061e94 one at a page-aligned address raised
// RECLAIM_DEALLOCATE_FAILURE ("range wraps the address space"), and one at
// an unaligned address was rounded out to the whole page: released (FREE)
// or unmapped (DEALLOCATE).
TEST(FindingF3, ZeroSizeEntriesAreSkippedWhereverTheyPoint) {
  platform::LinuxVmOps vm;
  EngineOnRing e(vm, tunables_with(GuardMode::log));
  Mapping m = Mapping::pages(4);
  ASSERT_TRUE(m.ok());
  for (size_t i = 0; i < 4; i++) fill(m.page(i), page_size(), 7);
  e.enter(m.page(0), 0, VM_RECLAIM_FREE);
  e.enter(m.page(1), 0, VM_RECLAIM_DEALLOCATE);
  e.enter(m.page(2) + 100, 0, VM_RECLAIM_FREE);
  e.enter(m.page(3) + 100, 0, VM_RECLAIM_DEALLOCATE);
  ASSERT_EQ(e.engine().drain(engine::Cause::drain), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(e.head(), 4u) << "all four taken off the ring";
  EXPECT_EQ(all_guard_faults(e), 0u) << "a zero-size entry is no fault";
  for (size_t i = 0; i < 4; i++) {
    ASSERT_TRUE(is_mapped(m.page(i), page_size())) << "page " << i << " was unmapped";
    EXPECT_TRUE(holds(m.page(i), page_size(), 7)) << "page " << i << " was released";
  }
}

// F4: update_accounting decides by the engine's own clock whether a sample
// is due. Before 1061e94 it first asked ring::work_maybe_due, which compares
// the deadline with the real CLOCK_MONOTONIC_COARSE: with a clock ahead of
// the real one (here a century) a due sample was skipped.
TEST(FindingF4, UpdateAccountingSamplesByTheEnginesClock) {
  platform::LinuxVmOps vm;
  EngineOnRing e(vm, tunables_with(GuardMode::log));
  e.clock.now = 100ull * 365 * 24 * 3600 * 1'000'000'000ull;
  ASSERT_EQ(e.engine().sample_now(), VM_RECLAIM_SUCCESS);  // deadline = now + the normal period
  const uint64_t samples = e.stats().samples.get();
  ASSERT_EQ(e.engine().update_accounting(), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(e.stats().samples.get(), samples) << "nothing is due before the deadline";
  e.clock.now += policy::Tunables{}.period_ns(policy::PressureLevel::normal);
  ASSERT_EQ(e.engine().update_accounting(), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(e.stats().samples.get(), samples + 1) << "due by the engine's clock: sampled";
}

// F2: a flush or drain racing with a cancel of the oldest ID. When the
// chunk's re-read of the tail finds it at head (the cancel's lock value is
// exactly head), the engine must report the chunk aborted and retry, not
// take it for an empty ring; before 1061e94 the drain stopped there and left
// every entry above the cancelled one behind.
//
// The race is made deterministic by single-stepping: the drain runs in a
// child that the test traces one instruction at a time (hardware watchpoints
// would be quicker, but virtual machines often do not deliver them), reading
// `busy` after each. Once the chunk has stored busy, the test writes the
// cancel's lock value (tail = head) into the child; once the engine has
// stored busy back at head (giving the chunk up), it restores the tail, as a
// cancel that found its ID in the engine's chunk (BUSY) does, and lets the
// child run on.
namespace f2 {

constexpr int kEntries = 4;

// The child: a ring with four entries; stops for the tracer, then drains.
// Exits with the number of entries the drain took off the ring.
[[noreturn]] void drain_in_child(int report_fd) {
  platform::LinuxVmOps vm;
  EngineOnRing e(vm, tunables_with(GuardMode::log));
  Mapping m = Mapping::pages(kEntries);
  for (int i = 0; i < kEntries; i++) e.enter(m.page(static_cast<size_t>(i)), page_size(), VM_RECLAIM_FREE);
  ring::Ring* r = e.ring();
  const uint64_t addrs[2] = {reinterpret_cast<uint64_t>(&r->busy), reinterpret_cast<uint64_t>(&r->tail)};
  if (::write(report_fd, addrs, sizeof addrs) != sizeof addrs) ::_exit(100);
  if (::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) ::_exit(101);
  ::raise(SIGSTOP);
  if (e.engine().drain(engine::Cause::drain) != VM_RECLAIM_SUCCESS) ::_exit(102);
  ::_exit(static_cast<int>(e.head()));
}

std::optional<uint64_t> peek(pid_t pid, uint64_t addr) {
  errno = 0;
  const long v = ::ptrace(PTRACE_PEEKDATA, pid, reinterpret_cast<void*>(addr), nullptr);
  if (errno != 0) return std::nullopt;
  return static_cast<uint64_t>(v);
}
bool poke(pid_t pid, uint64_t addr, uint64_t value) {
  return ::ptrace(PTRACE_POKEDATA, pid, reinterpret_cast<void*>(addr), reinterpret_cast<void*>(value)) == 0;
}

}  // namespace f2

TEST(FindingF2, ADrainThatMeetsACancelOfTheOldestIdRetriesAndEmptiesTheRing) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    f2::drain_in_child(fds[1]);
  }
  ::close(fds[1]);
  uint64_t addrs[2] = {};
  const ssize_t got = ::read(fds[0], addrs, sizeof addrs);
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(got, static_cast<ssize_t>(sizeof addrs)) << "the child did not report its ring";
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP) << describe(status);
  const uint64_t busy_at = addrs[0], tail_at = addrs[1];
  int stage = 0;  // 0: before the chunk's busy store, 1: tail held at head, 2: restored
  uint64_t tail = 0;
  long steps = 0;
  for (;;) {
    const auto request = stage < 2 ? PTRACE_SINGLESTEP : PTRACE_CONT;
    ASSERT_EQ(::ptrace(request, pid, nullptr, nullptr), 0);
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    if (!WIFSTOPPED(status)) break;
    ASSERT_EQ(WSTOPSIG(status), SIGTRAP) << "the child stopped for something else";
    if (++steps > 5'000'000) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      FAIL() << "five million instructions and the engine has not given the chunk up";
    }
    auto busy = f2::peek(pid, busy_at);
    ASSERT_TRUE(busy.has_value());
    if (stage == 0 && *busy > 0) {
      auto t = f2::peek(pid, tail_at);
      ASSERT_TRUE(t.has_value());
      tail = *t;
      ASSERT_TRUE(f2::poke(pid, tail_at, 0)) << "tail = head: the cancel of ID 0 is in flight";
      stage = 1;
    } else if (stage == 1 && *busy == 0) {
      ASSERT_TRUE(f2::poke(pid, tail_at, tail)) << "the cancel restores the tail";
      stage = 2;
    }
  }
  ASSERT_TRUE(WIFEXITED(status)) << describe(status);
  EXPECT_EQ(stage, 2) << "the race was not staged (the engine never stored busy twice)";
  EXPECT_EQ(WEXITSTATUS(status), f2::kEntries)
      << "the drain stopped at the cancel in flight and left entries behind (F2)";
}

}  // namespace
}  // namespace vmreclaim::test
