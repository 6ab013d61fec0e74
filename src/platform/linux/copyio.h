// Guarded access to ring memory. The ring lives in the process's own address
// space and the program may unmap or protect it at any time (a bug, or a
// hostile caller). The engine must then report RECLAIM_COPYIO_FAILURE rather
// than die of SIGSEGV inside the library, so every engine access to the ring
// runs inside copyio(): a fault on the calling thread while it is inside
// jumps back out and copyio() returns false. Faults anywhere else go to the
// handler the program had before (or the default action).
#pragma once

#include <setjmp.h>

#include <atomic>

namespace vmreclaim::platform {

struct CopyioFrame {
  sigjmp_buf env;
};

// The innermost active frame of this thread, read by the fault handler.
CopyioFrame*& copyio_frame() noexcept;

// After a guarded fault: make sure SIGSEGV/SIGBUS are not left blocked on
// this thread (a sanitizer runtime may run handlers with every signal
// blocked, and savemask=0 does not restore the mask). Only on the fault path.
void copyio_after_fault() noexcept;

// Installs the SIGSEGV/SIGBUS handler once per process. False if it could not.
bool copyio_install() noexcept;

// Runs fn(); false if it faulted. fn must only copy plain data (no objects
// with destructors, no locks): a fault abandons it mid-way.
template <class Fn>
[[gnu::noinline]] bool copyio(Fn&& fn) noexcept {
  CopyioFrame frame;
  CopyioFrame* volatile prev = copyio_frame();
  // savemask=0: no sigprocmask syscall; the handler runs with SA_NODEFER so
  // leaving it by longjmp leaves no signal blocked.
  if (sigsetjmp(frame.env, 0) != 0) {
    copyio_frame() = prev;
    copyio_after_fault();
    return false;
  }
  copyio_frame() = &frame;
  std::atomic_signal_fence(std::memory_order_seq_cst);  // frame set before any access
  fn();
  std::atomic_signal_fence(std::memory_order_seq_cst);  // accesses done before frame cleared
  copyio_frame() = prev;
  return true;
}

}  // namespace vmreclaim::platform
