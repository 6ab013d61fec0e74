// "No system call on enter/cancel" (README, docs/architecture.md): the user
// side is loads, stores and fences on shared memory. Checked with seccomp: a
// forked child allocates a ring, then forbids its own thread every system
// call but exit (the engine thread is not filtered: it may work meanwhile),
// and enters, cancels, re-enters and queries. Any system call kills it with
// SIGSYS.
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <mach/vm_reclaim.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "support/memory.h"

namespace vmreclaim::test {
namespace {

// Every system call but exit and exit_group kills the process. No_new_privs
// first, so that the filter needs no privilege.
bool forbid_system_calls() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0;
}

// The child's work; its exit status says what failed (0: nothing). Nothing
// here has a destructor: the child ends with exit_group.
int run_child(bool filtered) {
  mach_vm_reclaim_ring_t ring = nullptr;
  if (mach_vm_reclaim_ring_allocate(&ring, 64, 1024) != VM_RECLAIM_SUCCESS) return 10;
  Mapping m = Mapping::pages(16);
  if (!m.ok()) return 11;
  fill(m.data(), m.size(), 3);
  unsigned char* const base = m.data();
  m.release();  // the child's exit unmaps it
  if (filtered && !forbid_system_calls()) return 12;
  // From here on, only the user side of the ring.
  mach_vm_reclaim_id_t ids[16];
  for (int round = 0; round < 200; round++) {
    for (size_t i = 0; i < 16; i++) {
      bool update = false;
      ids[i] = round == 0 ? VM_RECLAIM_ID_NULL : ids[i];
      if (mach_vm_reclaim_try_enter(ring, reinterpret_cast<mach_vm_address_t>(base + i * page_size()), page_size(),
                                    VM_RECLAIM_FREE, &ids[i], &update) != VM_RECLAIM_SUCCESS) {
        return 20;
      }
    }
    for (size_t i = 0; i < 16; i++) {
      mach_vm_reclaim_state_t st = 0;
      bool update = false;
      if (ids[i] == VM_RECLAIM_ID_NULL) continue;
      if (mach_vm_reclaim_query_state(ring, ids[i], VM_RECLAIM_FREE, &st) != VM_RECLAIM_SUCCESS) return 21;
      if (mach_vm_reclaim_try_cancel(ring, ids[i], reinterpret_cast<mach_vm_address_t>(base + i * page_size()),
                                     page_size(), VM_RECLAIM_FREE, &st, &update) != VM_RECLAIM_SUCCESS) {
        return 22;
      }
    }
  }
  return 0;
}

int run_in_child(bool filtered) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    // exit_group directly: a call to the noreturn _exit is where
    // AddressSanitizer's instrumentation asks sigaltstack() about the stack,
    // which the filter would count against the library.
    ::syscall(SYS_exit_group, run_child(filtered));
    __builtin_unreachable();
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return status;
}

TEST(NoSystemCall, EnterCancelReenterAndQueryMakeNone) {
  // The same work unfiltered first: it runs, so a SIGSYS below is the filter's.
  const int plain = run_in_child(false);
  ASSERT_TRUE(WIFEXITED(plain) && WEXITSTATUS(plain) == 0) << "status " << plain;
  const int status = run_in_child(true);
  ASSERT_FALSE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
      << "the user side made a system call (killed by SIGSYS under the seccomp filter)";
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10-12: set-up failed, 20-22: an API call failed";
}

}  // namespace
}  // namespace vmreclaim::test
