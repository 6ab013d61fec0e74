#include "platform/linux/suspend_signal.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace vmreclaim::platform {
namespace {

std::atomic<SuspendHook> g_hook{nullptr};
struct sigaction g_prior {};
std::atomic<PriorTstp> g_prior_kind{PriorTstp::none};

void on_tstp(int sig, siginfo_t* info, void* uctx) {
  if (SuspendHook h = g_hook.load(std::memory_order_acquire)) {
    h();
  } else if (g_prior_kind.load(std::memory_order_relaxed) == PriorTstp::defaulted) {
    ::kill(::getpid(), SIGSTOP);  // no engine to drain: behave like the default
  }
  if (g_prior_kind.load(std::memory_order_relaxed) == PriorTstp::handler) {
    if ((g_prior.sa_flags & SA_SIGINFO) != 0) {
      g_prior.sa_sigaction(sig, info, uctx);
    } else {
      g_prior.sa_handler(sig);
    }
  }
}

}  // namespace

PriorTstp install_suspend_handler(SuspendHook hook) noexcept {
  g_hook.store(hook, std::memory_order_release);
  if (g_prior_kind.load() != PriorTstp::none) return g_prior_kind.load();
  struct sigaction cur {};
  if (sigaction(SIGTSTP, nullptr, &cur) != 0) return PriorTstp::none;
  if ((cur.sa_flags & SA_SIGINFO) == 0 && cur.sa_handler == SIG_IGN) {
    g_prior_kind.store(PriorTstp::ignored);
    return PriorTstp::ignored;
  }
  g_prior = cur;
  PriorTstp kind = (cur.sa_flags & SA_SIGINFO) == 0 && cur.sa_handler == SIG_DFL ? PriorTstp::defaulted
                                                                                  : PriorTstp::handler;
  struct sigaction sa {};
  sa.sa_sigaction = on_tstp;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  g_prior_kind.store(kind);
  if (sigaction(SIGTSTP, &sa, nullptr) != 0) {
    g_prior_kind.store(PriorTstp::none);
    return PriorTstp::none;
  }
  return kind;
}

bool suspend_stops_process() noexcept { return g_prior_kind.load() == PriorTstp::defaulted; }

void stop_process() noexcept { ::kill(::getpid(), SIGSTOP); }

}  // namespace vmreclaim::platform
