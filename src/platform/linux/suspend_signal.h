// SIGTSTP (terminal stop): the engine drains the ring before the process
// stops, like Darwin's scavenger for suspended apps. The handler only calls
// the hook (which must be async-signal-safe: it pokes the engine thread);
// the thread drains and then stops the process with SIGSTOP. A handler the
// program installed earlier is chained; SIG_IGN is respected (nothing is
// installed then).
#pragma once

namespace vmreclaim::platform {

using SuspendHook = void (*)() noexcept;

enum class PriorTstp { none, defaulted, ignored, handler };

// Installs the handler (once per process). Returns what was there before;
// `ignored` means nothing was installed.
PriorTstp install_suspend_handler(SuspendHook hook) noexcept;
// Whether the engine must stop the process itself after draining (the
// program had the default action).
bool suspend_stops_process() noexcept;
// Stops the whole process now.
void stop_process() noexcept;

}  // namespace vmreclaim::platform
