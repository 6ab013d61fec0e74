#include "engine/guard.h"

#include <signal.h>
#include <unistd.h>

#include "support/log.h"

namespace vmreclaim::engine {

void raise_guard(GuardFault fault, uint64_t addr, GuardMode mode, const char* context) noexcept {
  const bool fatal = mode == GuardMode::fatal;
  support::log_always("guard fault %s at %#llx during %s in pid %d%s", guard_name(fault),
                      static_cast<unsigned long long>(addr), context, static_cast<int>(::getpid()),
                      fatal ? "; killing the process" : " (VMRECLAIM_GUARD=log: continuing)");
  if (!fatal) return;
  // Like a kernel guard exception: no handler, no core, no unwinding.
  ::kill(::getpid(), SIGKILL);
  for (;;) ::pause();
}

}  // namespace vmreclaim::engine
