// Faults that belong to the program, not the engine: touching memory a
// DEALLOCATE entry gave back is a SIGSEGV; a program's own SIGSEGV handler
// still gets faults the library did not cause; a cancel that does not match
// its entry is a caller bug and traps.
#include <gtest/gtest.h>
#include <mach/vm_reclaim.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vmreclaim/vmreclaim.h>

#include <cstdio>
#include <ostream>
#include <string>

#include "support/memory.h"

namespace vmreclaim::test {
namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// The sanitizer's own SEGV handler (which the library chains to) reports the
// fault and exits instead of dying of the signal.
constexpr bool kSanitizer = true;
constexpr const char* kSegvReport = "about to touch.*SEGV";
#else
constexpr bool kSanitizer = false;
constexpr const char* kSegvReport = "about to touch";
#endif

bool died_of_segv(int status) {
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) return true;
  return kSanitizer && WIFEXITED(status) && WEXITSTATUS(status) != 0;
}

class ProcessFault : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

mach_vm_reclaim_ring_t allocate_or_exit() {
  mach_vm_reclaim_ring_t ring = nullptr;
  if (mach_vm_reclaim_ring_allocate(&ring, 1, 1) != VM_RECLAIM_SUCCESS) _exit(90);
  return ring;
}

// Enters a region with DEALLOCATE, flushes, checks it is reported gone, then reads it.
void touch_after_deallocate() {
  mach_vm_reclaim_ring_t ring = allocate_or_exit();
  Mapping m = Mapping::pages(2);
  fill(m.data(), m.size(), 1);
  mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
  bool update = false;
  if (mach_vm_reclaim_try_enter(ring, m.address(), m.size(), VM_RECLAIM_DEALLOCATE, &id, &update) != VM_RECLAIM_SUCCESS)
    _exit(91);
  if (mach_vm_reclaim_ring_flush(ring, 1) != VM_RECLAIM_SUCCESS) _exit(92);
  mach_vm_reclaim_state_t st = 0;
  if (mach_vm_reclaim_try_cancel(ring, id, m.address(), m.size(), VM_RECLAIM_DEALLOCATE, &st, &update) !=
          VM_RECLAIM_SUCCESS ||
      st != VM_RECLAIM_DEALLOCATED || mach_vm_reclaim_is_reusable(st))
    _exit(93);
  std::fprintf(stderr, "about to touch\n");
  volatile unsigned char* p = m.data() + m.size() - 1;
  (void)*p;
  _exit(0);  // reached only if the region was still there
}

TEST_F(ProcessFault, TouchingAFlushedDeallocateRegionFaults) {
  EXPECT_EXIT(touch_after_deallocate(), died_of_segv, kSegvReport);
}

void on_own_segv(int) {
  static const char msg[] = "own handler\n";
  ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)n;
  _exit(42);
}

// A handler the program installed before the ring existed still sees the
// faults the library did not cause.
void own_handler_then_fault() {
  struct sigaction sa {};
  sa.sa_handler = on_own_segv;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSEGV, &sa, nullptr) != 0) _exit(94);
  mach_vm_reclaim_ring_t ring = allocate_or_exit();
  Mapping m = Mapping::pages(1);
  mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
  bool update = false;
  if (mach_vm_reclaim_try_enter(ring, m.address(), m.size(), VM_RECLAIM_DEALLOCATE, &id, &update) !=
          VM_RECLAIM_SUCCESS ||
      mach_vm_reclaim_ring_flush(ring, 1) != VM_RECLAIM_SUCCESS)
    _exit(95);
  volatile unsigned char* p = m.data();
  (void)*p;
  _exit(0);
}

TEST_F(ProcessFault, ProgramsOwnSegvHandlerStillRuns) {
  EXPECT_EXIT(own_handler_then_fault(), ::testing::ExitedWithCode(42), "own handler");
}

// try_cancel with arguments that do not match the entry.
enum class Mismatch { address, size, action, twice };

const char* name_of(Mismatch m) {
  switch (m) {
    case Mismatch::address: return "Address";
    case Mismatch::size: return "Size";
    case Mismatch::action: return "Action";
    case Mismatch::twice: return "CancelledTwice";
  }
  return "Unknown";
}
void PrintTo(Mismatch m, std::ostream* os) { *os << name_of(m); }

void cancel_mismatched(Mismatch what) {
  mach_vm_reclaim_ring_t ring = allocate_or_exit();
  Mapping m = Mapping::pages(2);
  mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
  bool update = false;
  if (mach_vm_reclaim_try_enter(ring, m.address(), m.size(), VM_RECLAIM_FREE, &id, &update) != VM_RECLAIM_SUCCESS)
    _exit(96);
  mach_vm_address_t addr = m.address();
  mach_vm_size_t size = m.size();
  mach_vm_reclaim_action_t action = VM_RECLAIM_FREE;
  mach_vm_reclaim_state_t st = 0;
  switch (what) {
    case Mismatch::address: addr += page_size(); break;
    case Mismatch::size: size -= 1; break;
    case Mismatch::action: action = VM_RECLAIM_DEALLOCATE; break;
    case Mismatch::twice:
      if (mach_vm_reclaim_try_cancel(ring, id, addr, size, action, &st, &update) != VM_RECLAIM_SUCCESS) _exit(97);
      break;
  }
  mach_vm_reclaim_try_cancel(ring, id, addr, size, action, &st, &update);
  _exit(0);  // reached only if the mismatch went unnoticed
}

class CancelMismatch : public ProcessFault, public ::testing::WithParamInterface<Mismatch> {};

TEST_P(CancelMismatch, Traps) {
  EXPECT_EXIT(cancel_mismatched(GetParam()), ::testing::KilledBySignal(SIGILL), "does not match the entry");
}

INSTANTIATE_TEST_SUITE_P(Kinds, CancelMismatch,
                         ::testing::Values(Mismatch::address, Mismatch::size, Mismatch::action, Mismatch::twice),
                         [](const auto& p) { return std::string(name_of(p.param)); });

}  // namespace
}  // namespace vmreclaim::test
