// The one way the library, the allocation layer and the tools read a
// VMRECLAIM_* setting from the environment.
//
// A process that runs with more privilege than the user who started it
// (set-user-ID or set-group-ID, file capabilities, an LSM transition: the
// kernel's AT_SECURE) reads none of them: its environment is the invoker's,
// and a setting such as VMRECLAIM_GUARD=log or VMRECLAIM_MALLOC_REPORT=/path
// would let an unprivileged user weaken its guard or make it write files.
// Such a process runs with the defaults (and may still be configured
// through the C API).
#pragma once

#include <stdlib.h>

namespace vmreclaim::support {

// The value of `name`, or nullptr when unset or when the process is
// privileged (secure_getenv). Async-signal-safe as getenv is: no allocation.
inline const char* setting_from_env(const char* name) noexcept { return ::secure_getenv(name); }

}  // namespace vmreclaim::support
