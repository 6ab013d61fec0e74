// The address range the layer's blocks live in: one reservation of address
// space (PROT_NONE, no memory, no commit charge), carved into blocks by an
// address-ordered map of the free parts. A block is mapped over its
// part of the reservation and, when the heap gives it back, the reservation
// is mapped over it again: the range never has a hole another mapping could
// fall into, so "is `p` the layer's?" is a range test, true for none of the
// backend's pointers.
//
// Blocks are placed as the kernel places mappings, from the top down: the
// highest free part that fits, at its top. (Lowest-first placement put a
// block's newer neighbours above it, which realloc then absorbed: CPython's
// large-object churn peaked 12 % higher and used 30 % more CPU.)
//
// The process's range lies in a fixed window of the address space, so that
// free() can ask "may `p` be the layer's?" with a shift and a compare of
// constants, no load (docs/allocator.md, "Routing a pointer"). Where in the
// window is random. Nothing else maps there: the kernel hands out addresses
// from the top of the address space down, and the executable, its heap and
// the libraries sit far above the window.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace vmreclaim::alloc {

// The window: [32 TiB, 64 TiB), below everything the kernel places by itself
// on x86-64 and arm64 with 48-bit addresses. Where the address space is
// smaller the window cannot be reserved and the layer serves no block
// (every request goes to the backend).
inline constexpr unsigned kWindowShift = 45;
inline constexpr uintptr_t kWindowBase = uintptr_t{1} << kWindowShift;
inline constexpr size_t kWindowBytes = size_t{1} << kWindowShift;
// Which window `p` lies in, counted from this one: 0 inside it, the largest
// value below it. One shift and one subtraction, so that free() can compare
// it with a key as well (fast_paths.h, direct_free).
inline uintptr_t window_index(const void* p) noexcept { return (reinterpret_cast<uintptr_t>(p) >> kWindowShift) - 1; }
inline bool in_window(const void* p) noexcept { return window_index(p) == 0; }

class AddressRange {
 public:
  enum class Placement {
    window,    // a random place in the window (the process's range)
    anywhere,  // where the kernel puts it (tests: sanitizer runtimes own the window)
  };

  AddressRange() = default;
  ~AddressRange();
  AddressRange(const AddressRange&) = delete;
  AddressRange& operator=(const AddressRange&) = delete;

  // Reserves `bytes` (page multiple), halving down to kMinBytes while the
  // kernel refuses (an RLIMIT_AS, an occupied spot). False if even that
  // failed; the range then contains nothing and hands out nothing.
  bool reserve(size_t bytes, Placement where) noexcept;
  static constexpr size_t kMinBytes = size_t{256} << 20;

  bool contains(const void* p) const noexcept { return reinterpret_cast<uintptr_t>(p) - base_ < bytes_; }
  uintptr_t base() const noexcept { return base_; }
  size_t bytes() const noexcept { return bytes_; }

  // A free part of `bytes` (a page multiple) at a multiple of `align` (a
  // power of two, at least a page), taken; 0 if none is large enough. The
  // caller maps it (its pages are still reserved, PROT_NONE).
  uintptr_t take(size_t bytes, size_t align) noexcept;
  // Takes [at, at + bytes) if all of it is free (a block growing in place).
  bool take_at(uintptr_t at, size_t bytes) noexcept;
  // Hands back a part taken before, once the caller has mapped the
  // reservation over it again (or it was never mapped).
  void give(uintptr_t at, size_t bytes) noexcept;

  // Reserves [at, at + bytes) again (PROT_NONE over a block: its memory goes
  // back to the kernel) and hands it back. 0 or errno; on failure the part
  // is neither mapped usable nor handed back (lost to the range, counted).
  int release(uintptr_t at, size_t bytes) noexcept;
  // The same for a part the kernel left unmapped (the source of a moving
  // mremap): reserved only if still free, so nothing that landed there in
  // between is replaced.
  int release_hole(uintptr_t at, size_t bytes) noexcept;

  // Relaxed: a statistic, read without the lock (the exit report).
  size_t lost_bytes() const noexcept { return lost_.load(std::memory_order_relaxed); }

  // fork(): held across it, so the child never inherits it held.
  void lock() noexcept { pthread_mutex_lock(&mu_); }
  void unlock() noexcept { pthread_mutex_unlock(&mu_); }

 private:
  struct Part {
    uintptr_t start, end;
  };
  // Free parts above bottom_, address-ordered, never adjacent (merged when
  // handed back); everything from the base up to bottom_ is free. The array is
  // mapped on first need (not from malloc); when it is full a part handed
  // back is lost to the range rather than remembered.
  static constexpr size_t kMaxParts = 65536;
  bool ensure_parts_locked() noexcept;
  void insert_locked(uintptr_t start, uintptr_t end) noexcept;
  void remove_at_locked(size_t i) noexcept;
  // Takes [start, end) out of free part i, which holds it.
  void carve_locked(size_t i, uintptr_t start, uintptr_t end) noexcept;
  // Maps the reservation over [at, at + bytes) with `fixed` (MAP_FIXED or
  // MAP_FIXED_NOREPLACE) and hands the part back; counts it lost if refused.
  int reserve_over(uintptr_t at, size_t bytes, int fixed) noexcept;

  pthread_mutex_t mu_ = PTHREAD_MUTEX_INITIALIZER;
  uintptr_t base_ = 0;
  size_t bytes_ = 0;
  uintptr_t bottom_ = 0;
  Part* parts_ = nullptr;
  size_t nparts_ = 0;
  std::atomic<size_t> lost_{0};  // written under the lock
};

// The process's range, in the window, reserved on first call (the bootstrap
// arena is its first part); nullptr if it could not be reserved.
AddressRange* process_range() noexcept;

}  // namespace vmreclaim::alloc
