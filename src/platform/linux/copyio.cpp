#include "platform/linux/copyio.h"

#include <pthread.h>
#include <signal.h>

#include <mutex>

#include "support/log.h"

namespace vmreclaim::platform {
namespace {

// initial-exec: the handler must read it without calling into the TLS
// allocator, which is not async-signal-safe.
__attribute__((tls_model("initial-exec"))) thread_local CopyioFrame* t_frame = nullptr;

struct sigaction g_old_segv {};
struct sigaction g_old_bus {};

void on_fault(int sig, siginfo_t* info, void* uctx) {
  if (CopyioFrame* f = t_frame; f != nullptr) siglongjmp(f->env, 1);
  // Not a guarded access: behave as if we were never installed.
  const struct sigaction& old = sig == SIGBUS ? g_old_bus : g_old_segv;
  if ((old.sa_flags & SA_SIGINFO) != 0 && old.sa_sigaction != nullptr) {
    old.sa_sigaction(sig, info, uctx);
    return;
  }
  if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN && old.sa_handler != nullptr) {
    old.sa_handler(sig);
    return;
  }
  // Default action: restore it and return; the faulting instruction runs
  // again and the process dies of the original signal.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
}

}  // namespace

CopyioFrame*& copyio_frame() noexcept { return t_frame; }

void copyio_after_fault() noexcept {
  sigset_t faults;
  sigemptyset(&faults);
  sigaddset(&faults, SIGSEGV);
  sigaddset(&faults, SIGBUS);
  pthread_sigmask(SIG_UNBLOCK, &faults, nullptr);
}

bool copyio_install() noexcept {
  static bool ok = false;
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    ok = sigaction(SIGSEGV, &sa, &g_old_segv) == 0 && sigaction(SIGBUS, &sa, &g_old_bus) == 0;
    if (!ok) support::log_always("cannot install the fault handler; an unmapped ring will crash");
  });
  return ok;
}

}  // namespace vmreclaim::platform
