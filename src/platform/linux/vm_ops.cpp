#include "platform/linux/vm_ops.h"

#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "platform/linux/fd.h"
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif
#include "support/log.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif
#ifndef MADV_FREE
#define MADV_FREE 8
#endif
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

namespace vmreclaim::platform {
namespace {

// Linux >= 6.14 lets process_madvise() name the caller's own process without
// a pidfd; older kernels need pidfd_open(getpid()).
constexpr int kPidfdSelfThreadGroup = -10001;
// process_madvise() takes at most UIO_MAXIOV ranges per call.
constexpr size_t kMaxIov = 1024;

int advice_of(FreeAdvice a) { return a == FreeAdvice::free ? MADV_FREE : MADV_DONTNEED; }

support::LogOnce g_release_fail_log;

}  // namespace

bool image_of(const void* addr, Span* out) noexcept {
  struct Search {
    uint64_t addr;
    Span found;
    bool ok;
  } s{reinterpret_cast<uint64_t>(addr), {}, false};
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) -> int {
        auto* search = static_cast<Search*>(data);
        uint64_t lo = UINT64_MAX, hi = 0;
        for (int i = 0; i < info->dlpi_phnum; i++) {
          const auto& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD) continue;
          lo = std::min<uint64_t>(lo, info->dlpi_addr + ph.p_vaddr);
          hi = std::max<uint64_t>(hi, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
        }
        if (lo >= hi || search->addr < lo || search->addr >= hi) return 0;
        const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
        lo &= ~(page - 1);
        hi = (hi + page - 1) & ~(page - 1);
        search->found = {lo, hi - lo};
        search->ok = true;
        return 1;
      },
      &s);
  if (s.ok) *out = s.found;
  return s.ok;
}

void* map_private(size_t len, const char* name) noexcept {
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  // Only a name in /proc/PID/maps; without CONFIG_ANON_VMA_NAME it is anonymous.
  (void)::prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p, len, name);
#if defined(__SANITIZE_ADDRESS__)
  // LeakSanitizer looks for pointers in globals, stacks and the heap, not in
  // mappings of our own: what the engine's state points to would read as
  // leaked.
  __lsan_register_root_region(p, len);
#endif
  return p;
}

void unmap_private(void* p, size_t len) noexcept {
#if defined(__SANITIZE_ADDRESS__)
  __lsan_unregister_root_region(p, len);
#endif
  ::munmap(p, len);
}

int LinuxVmOps::self_pidfd() noexcept {
  int pid = static_cast<int>(::getpid());
  int fd = pidfd_.load(std::memory_order_acquire);
  if (fd >= 0 && pidfd_owner_.load(std::memory_order_relaxed) == pid) return fd;
  count_syscall();
  long nfd = ::syscall(SYS_pidfd_open, pid, 0);
  if (nfd < 0) return -1;
  nfd = move_fd_high(static_cast<int>(nfd));  // out of the program's way
  int expected = fd;
  if (!pidfd_.compare_exchange_strong(expected, static_cast<int>(nfd))) {
    ::close(static_cast<int>(nfd));
    return pidfd_.load();
  }
  pidfd_owner_.store(pid, std::memory_order_relaxed);
  // The parent's descriptor, inherited by a fork, is left to the program.
  return static_cast<int>(nfd);
}

void LinuxVmOps::after_fork_child() noexcept {
  // The inherited descriptor names the parent: never use it for our memory.
  int fd = pidfd_.exchange(-1);
  if (fd >= 0) ::close(fd);
  pidfd_owner_.store(0);
}

// Returns how many leading spans the batch covered completely.
size_t LinuxVmOps::release_batch(const Span* spans, size_t n, int advice) noexcept {
  iovec iov[kMaxIov];
  size_t done = 0;
  while (done < n) {
    size_t cnt = n - done < kMaxIov ? n - done : kMaxIov;
    uint64_t total = 0;
    for (size_t i = 0; i < cnt; i++) {
      iov[i].iov_base = reinterpret_cast<void*>(spans[done + i].addr);
      iov[i].iov_len = spans[done + i].len;
      total += spans[done + i].len;
    }
    int state = batch_state_.load(std::memory_order_relaxed);
    int fd = kPidfdSelfThreadGroup;
    count_syscall();
    long r = ::syscall(SYS_process_madvise, fd, iov, cnt, advice, 0u);
    if (r < 0 && errno == EBADF) {
      // No PIDFD_SELF on this kernel: use a real pidfd of our own.
      fd = self_pidfd();
      if (fd >= 0) {
        count_syscall();
        r = ::syscall(SYS_process_madvise, fd, iov, cnt, advice, 0u);
      }
    }
    if (r < 0) {
      if (state == kBatchUnknown &&
          (errno == ENOSYS || errno == EINVAL || errno == EPERM || errno == EBADF || errno == ESRCH)) {
        // This kernel cannot batch these advices on self: use madvise from now on.
        batch_state_.store(kBatchOff, std::memory_order_relaxed);
        support::log(support::LogLevel::info, "process_madvise on self unavailable (errno %d); using madvise per entry",
                     errno);
      }
      return done;
    }
    batch_state_.store(kBatchOn, std::memory_order_relaxed);
    // A short count means the kernel stopped at a failing range; everything
    // before it was advised.
    uint64_t advised = static_cast<uint64_t>(r);
    if (advised < total) {
      const size_t first = done;
      for (size_t i = first; i < first + cnt && advised >= spans[i].len; i++) {
        advised -= spans[i].len;
        done++;
      }
      return done;
    }
    done += cnt;
  }
  return done;
}

void LinuxVmOps::release(const Span* spans, size_t n, FreeAdvice advice, int* errs) noexcept {
  int adv = advice_of(advice);
  size_t done = 0;
  if (n > 1 && batch_state_.load(std::memory_order_relaxed) != kBatchOff) {
    done = release_batch(spans, n, adv);
  }
  for (size_t i = 0; i < done; i++) errs[i] = 0;
  // Whatever the batch did not cover (or could not do) goes one by one, so a
  // failing range is identified exactly and the others are still released.
  for (size_t i = done; i < n; i++) {
    count_syscall();
    errs[i] = ::madvise(reinterpret_cast<void*>(spans[i].addr), spans[i].len, adv) == 0 ? 0 : errno;
    if (errs[i] != 0) {
      g_release_fail_log(support::LogLevel::error, "madvise(%#llx, %llu) failed: errno %d",
                         static_cast<unsigned long long>(spans[i].addr), static_cast<unsigned long long>(spans[i].len),
                         errs[i]);
    }
  }
}

int LinuxVmOps::unmap(uint64_t addr, uint64_t len) noexcept {
  count_syscall();
  return ::munmap(reinterpret_cast<void*>(addr), len) == 0 ? 0 : errno;
}

int LinuxVmOps::probe_mapped(uint64_t addr, uint64_t len) noexcept {
  // msync(MS_ASYNC) walks the mappings of the range and fails with ENOMEM if
  // any page of it is unmapped; it writes nothing back (MS_ASYNC has been a
  // no-op since Linux 2.6.19), reads no page tables and needs no buffer, so
  // its cost follows the number of mappings, not the size of the range.
  // (mincore() answers the same question but fills a byte per page: a
  // 4 GiB range is a million bytes of vector and a page-table walk.)
  count_syscall();
  return ::msync(reinterpret_cast<void*>(addr), len, MS_ASYNC) == 0 ? 0 : errno;
}

void* LinuxVmOps::reserve(size_t len, const char* name) noexcept {
  count_syscall();
  void* p = ::mmap(nullptr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  count_syscall();
  if (::prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p, len, name) == 0) return p;
  // No CONFIG_ANON_VMA_NAME: back the reservation with a memfd of that name,
  // mapped privately. It shows in /proc/PID/maps as "/memfd:NAME (deleted)"
  // and still behaves as private memory across fork (the child gets a copy).
  ::munmap(p, len);
  count_syscall();
  int fd = ::memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) {
    count_syscall();
    p = ::mmap(nullptr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  void* q = MAP_FAILED;
  count_syscall();
  if (::ftruncate(fd, static_cast<off_t>(len)) == 0) {
    count_syscall();
    q = ::mmap(nullptr, len, PROT_NONE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
  }
  ::close(fd);  // the mapping keeps the file alive
  return q == MAP_FAILED ? nullptr : q;
}

int LinuxVmOps::release_reservation(void* addr, size_t len) noexcept {
  count_syscall();
  return ::munmap(addr, len) == 0 ? 0 : errno;
}

int LinuxVmOps::protect(void* addr, size_t len, bool accessible) noexcept {
  count_syscall();
  return ::mprotect(addr, len, accessible ? PROT_READ | PROT_WRITE : PROT_NONE) == 0 ? 0 : errno;
}

int LinuxVmOps::discard(void* addr, size_t len) noexcept {
  count_syscall();
  return ::madvise(addr, len, MADV_DONTNEED) == 0 ? 0 : errno;
}

}  // namespace vmreclaim::platform
