#include "engine/guard.h"

#include <signal.h>
#include <unistd.h>

#include "support/log.h"

namespace vmreclaim::engine {

const char* guard_name(GuardFault fault) noexcept {
  switch (fault) {
    case GuardFault::dealloc_gap: return "DEALLOC_GAP";
    case GuardFault::copyio_failure: return "RECLAIM_COPYIO_FAILURE";
    case GuardFault::index_failure: return "RECLAIM_INDEX_FAILURE";
    case GuardFault::deallocate_failure: return "RECLAIM_DEALLOCATE_FAILURE";
    case GuardFault::accounting_failure: return "RECLAIM_ACCOUNTING_FAILURE";
    case GuardFault::free_gap: return "FREE_GAP";
    case GuardFault::engine_overlap: return "RECLAIM_ENGINE_OVERLAP";
    case GuardFault::count_: break;
  }
  return "UNKNOWN";
}

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
