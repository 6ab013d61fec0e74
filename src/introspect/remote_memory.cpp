#include "introspect/remote_memory.h"

#include <sys/uio.h>

#include <cerrno>

namespace vmreclaim::introspect {

RemoteRead read_remote(pid_t pid, uint64_t addr, void* out, size_t len) noexcept {
  RemoteRead r;
  auto* dst = static_cast<char*>(out);
  while (r.bytes < len) {
    if (addr + r.bytes < addr) {  // the range wraps the address space
      r.error = EFAULT;
      break;
    }
    iovec local{dst + r.bytes, len - r.bytes};
    // An address in the other process: never dereferenced here.
    iovec remote{reinterpret_cast<void*>(addr + r.bytes), len - r.bytes};  // NOLINT(performance-no-int-to-ptr)
    ssize_t n = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r.error = errno;
      break;
    }
    if (n == 0) {  // nothing more is readable at this address
      r.error = EFAULT;
      break;
    }
    r.bytes += static_cast<size_t>(n);
  }
  return r;
}

}  // namespace vmreclaim::introspect
