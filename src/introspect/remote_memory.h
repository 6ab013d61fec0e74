// Reading another process's memory with process_vm_readv: allowed for the
// same user or with CAP_SYS_PTRACE (the ptrace read-access check).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace vmreclaim::introspect {

struct RemoteRead {
  size_t bytes = 0;  // read from the start of the range
  int error = 0;     // errno of the call that stopped short; 0 if all was read
};

// Reads [addr, addr + len) of process `pid` into `out`, continuing after
// partial transfers; stops at the first page that cannot be read (EFAULT),
// or at ESRCH (no such process) / EPERM (not ours to read).
RemoteRead read_remote(pid_t pid, uint64_t addr, void* out, size_t len) noexcept;

}  // namespace vmreclaim::introspect
