// Every system call the engine makes on memory goes through VmOps, so tests
// can replace it (fault injection, counting) and the engine never names a
// syscall itself.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace vmreclaim::platform {

struct Span {
  uint64_t addr;
  uint64_t len;
};

enum class FreeAdvice : uint8_t { dontneed, free };

class VmOps {
 public:
  virtual ~VmOps() = default;

  // Releases the pages of each span, keeping the mappings. errs[i] receives 0
  // or the errno for span i. Batches into one call where the kernel allows.
  virtual void release(const Span* spans, size_t n, FreeAdvice advice, int* errs) noexcept = 0;
  // 0, or the errno of munmap.
  virtual int unmap(uint64_t addr, uint64_t len) noexcept = 0;
  // 0 if every page of [addr, addr+len) is mapped, ENOMEM if any is not,
  // another errno if the probe itself failed. `addr` is page-aligned; the
  // cost does not grow with `len`.
  virtual int probe_mapped(uint64_t addr, uint64_t len) noexcept = 0;

  // Ring storage: reserve private, inaccessible address space that other
  // processes can find by `name` in /proc/PID/maps; make a part accessible
  // or not; drop the contents of a part.
  virtual void* reserve(size_t len, const char* name) noexcept = 0;
  virtual int release_reservation(void* addr, size_t len) noexcept = 0;
  virtual int protect(void* addr, size_t len, bool accessible) noexcept = 0;
  virtual int discard(void* addr, size_t len) noexcept = 0;

  // System calls issued so far through this object (for stats and the demo).
  uint64_t syscalls() const noexcept { return syscalls_.load(std::memory_order_relaxed); }

 protected:
  void count_syscall(uint64_t n = 1) noexcept { syscalls_.fetch_add(n, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> syscalls_{0};
};

// The loaded ELF object (executable or shared library) that holds `addr`:
// the page-rounded range from its first to the end of its last PT_LOAD
// segment (data and bss included). False if no object holds it.
bool image_of(const void* addr, Span* out) noexcept;

// A private read-write anonymous mapping of `len` bytes of its own, named
// `name` in /proc/PID/maps where the kernel allows; nullptr if mmap failed.
void* map_private(size_t len, const char* name) noexcept;
// Unmaps what map_private() returned.
void unmap_private(void* p, size_t len) noexcept;

// The real thing. Uses process_madvise() on the process itself when the
// kernel accepts it (Linux >= 6.13 for MADV_DONTNEED/MADV_FREE), else a
// madvise() per span.
class LinuxVmOps final : public VmOps {
 public:
  void release(const Span* spans, size_t n, FreeAdvice advice, int* errs) noexcept override;
  int unmap(uint64_t addr, uint64_t len) noexcept override;
  int probe_mapped(uint64_t addr, uint64_t len) noexcept override;
  void* reserve(size_t len, const char* name) noexcept override;
  int release_reservation(void* addr, size_t len) noexcept override;
  int protect(void* addr, size_t len, bool accessible) noexcept override;
  int discard(void* addr, size_t len) noexcept override;

  // Forget the cached pidfd; called in a forked child, whose pidfd from the
  // parent names the parent.
  void after_fork_child() noexcept;
  bool batching() const noexcept { return batch_state_.load(std::memory_order_relaxed) != kBatchOff; }

 private:
  static constexpr int kBatchUnknown = 0, kBatchOn = 1, kBatchOff = 2;
  size_t release_batch(const Span* spans, size_t n, int advice) noexcept;
  int self_pidfd() noexcept;

  std::atomic<int> batch_state_{kBatchUnknown};
  std::atomic<int> pidfd_{-1};
  std::atomic<int> pidfd_owner_{0};
};

}  // namespace vmreclaim::platform
