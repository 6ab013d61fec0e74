#include "address_range.h"

#include <sched.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>

namespace vmreclaim::alloc {
namespace {

constexpr size_t kPage = 4096;
constexpr int kReserveFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;

uintptr_t align_down(uintptr_t v, size_t a) noexcept { return v & ~(uintptr_t{a} - 1); }

// Where in the window: from the kernel's random pool, else from the bytes
// the kernel gave the program at exec (AT_RANDOM), mixed.
uint64_t random_word() noexcept {
  uint64_t v = 0;
  if (::getrandom(&v, sizeof v, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof v)) return v;
  if (const auto* at = reinterpret_cast<const unsigned char*>(::getauxval(AT_RANDOM))) {
    std::memcpy(&v, at + 8, sizeof v);
  }
  v ^= reinterpret_cast<uintptr_t>(&v);
  v *= 0x9E3779B97F4A7C15ull;
  return v ^ (v >> 29);
}

// The process's range: four times the RAM, at least 64 GiB (a program may map
// more than it touches), at most 16 TiB (half the window), and no more than
// a quarter of an address-space limit. Blocks that find no room in it go to
// the backend.
size_t process_range_bytes() noexcept {
  size_t bytes = size_t{64} << 30;
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  if (pages > 0 && static_cast<size_t>(pages) <= (size_t{4} << 40) / kPage) {
    const size_t four_rams = 4 * static_cast<size_t>(pages) * kPage;
    if (four_rams > bytes) bytes = four_rams;
  } else if (pages > 0) {
    bytes = size_t{16} << 40;
  }
  rlimit as{};
  if (::getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY && as.rlim_cur / 4 < bytes) {
    bytes = static_cast<size_t>(as.rlim_cur / 4);
  }
  return bytes & ~(kPage - 1);
}

}  // namespace

AddressRange::~AddressRange() {
  if (bytes_ != 0) ::munmap(reinterpret_cast<void*>(base_), bytes_);
  if (parts_ != nullptr) ::munmap(parts_, kMaxParts * sizeof(Part));
}

bool AddressRange::reserve(size_t bytes, Placement where) noexcept {
  for (size_t want = bytes & ~(kPage - 1); want >= kMinBytes; want /= 2) {
    void* hint = nullptr;
    int flags = kReserveFlags;
    if (where == Placement::window) {
      if (want > kWindowBytes) continue;
      const uint64_t slots = (kWindowBytes - want) / kPage + 1;
      hint = reinterpret_cast<void*>(kWindowBase + (random_word() % slots) * kPage);
      // Never over anything: a spot taken fails with EEXIST and a smaller
      // range is tried elsewhere.
      flags |= MAP_FIXED_NOREPLACE;
    }
    void* p = ::mmap(hint, want, PROT_NONE, flags, -1, 0);
    if (p == MAP_FAILED) continue;
    if (hint != nullptr && p != hint) {  // a kernel before 4.17 took the flag for a hint
      ::munmap(p, want);
      continue;
    }
    base_ = reinterpret_cast<uintptr_t>(p);
    bytes_ = want;
    bottom_ = base_ + want;
    return true;
  }
  return false;
}

bool AddressRange::ensure_parts_locked() noexcept {
  if (parts_ != nullptr) return true;
  void* p = ::mmap(nullptr, kMaxParts * sizeof(Part), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  parts_ = static_cast<Part*>(p);
  return true;
}

void AddressRange::remove_at_locked(size_t i) noexcept {
  std::memmove(parts_ + i, parts_ + i + 1, (nparts_ - i - 1) * sizeof(Part));
  nparts_--;
}

void AddressRange::carve_locked(size_t i, uintptr_t start, uintptr_t end) noexcept {
  Part& f = parts_[i];
  if (start == f.start && end == f.end) {
    remove_at_locked(i);
  } else if (start == f.start) {
    f.start = end;
  } else if (end == f.end) {
    f.end = start;
  } else {
    // Inside the part (alignment, or growth into its middle): what is left
    // on either side stays free.
    const uintptr_t back = f.end;
    f.end = start;
    insert_locked(end, back);
  }
}

uintptr_t AddressRange::take(size_t bytes, size_t align) noexcept {
  if (bytes == 0 || bytes > bytes_) return 0;
  pthread_mutex_lock(&mu_);
  uintptr_t at = 0;
  // The highest free part that fits, at its top, as the kernel places
  // mappings: a block's neighbour above is older than it, and a freed block
  // is reused before lower addresses are touched.
  for (size_t i = nparts_; i-- > 0 && at == 0;) {
    Part& f = parts_[i];
    if (f.end - f.start < bytes) continue;
    const uintptr_t start = align_down(f.end - bytes, align);
    if (start < f.start) continue;
    at = start;
    carve_locked(i, start, start + bytes);
  }
  if (at == 0 && bottom_ - base_ >= bytes) {
    const uintptr_t start = align_down(bottom_ - bytes, align);
    if (start >= base_) {
      if (start + bytes < bottom_) insert_locked(start + bytes, bottom_);
      at = start;
      bottom_ = start;
    }
  }
  pthread_mutex_unlock(&mu_);
  return at;
}

bool AddressRange::take_at(uintptr_t at, size_t bytes) noexcept {
  const uintptr_t end = at + bytes;
  if (bytes == 0 || at < base_ || end > base_ + bytes_ || end < at) return false;
  pthread_mutex_lock(&mu_);
  bool ok = false;
  if (end <= bottom_) {
    // Below the bottom: everything between it and the end stays free.
    if (end < bottom_) insert_locked(end, bottom_);
    bottom_ = at;
    ok = true;
  } else if (at >= bottom_) {
    for (size_t i = 0; i < nparts_; i++) {
      Part& f = parts_[i];
      if (f.start > at) break;
      if (f.end < end) continue;
      carve_locked(i, at, end);
      ok = true;
      break;
    }
  }
  pthread_mutex_unlock(&mu_);
  return ok;
}

void AddressRange::insert_locked(uintptr_t start, uintptr_t end) noexcept {
  if (start == bottom_) {
    // The part above the bottom joins it, with a free part it now touches.
    bottom_ = end;
    if (nparts_ > 0 && parts_[0].start == bottom_) {
      bottom_ = parts_[0].end;
      remove_at_locked(0);
    }
    return;
  }
  if (!ensure_parts_locked()) {
    lost_.fetch_add(end - start, std::memory_order_relaxed);
    return;
  }
  // Binary search for the first part after `start`.
  size_t lo = 0, hi = nparts_;
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (parts_[mid].start < start) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  const bool joins_before = lo > 0 && parts_[lo - 1].end == start;
  const bool joins_after = lo < nparts_ && parts_[lo].start == end;
  if (joins_before && joins_after) {
    parts_[lo - 1].end = parts_[lo].end;
    remove_at_locked(lo);
  } else if (joins_before) {
    parts_[lo - 1].end = end;
  } else if (joins_after) {
    parts_[lo].start = start;
  } else if (nparts_ == kMaxParts) {
    lost_.fetch_add(end - start, std::memory_order_relaxed);
  } else {
    std::memmove(parts_ + lo + 1, parts_ + lo, (nparts_ - lo) * sizeof(Part));
    parts_[lo] = {start, end};
    nparts_++;
  }
}

void AddressRange::give(uintptr_t at, size_t bytes) noexcept {
  if (bytes == 0) return;
  pthread_mutex_lock(&mu_);
  insert_locked(at, at + bytes);
  pthread_mutex_unlock(&mu_);
}

int AddressRange::reserve_over(uintptr_t at, size_t bytes, int fixed) noexcept {
  void* p = ::mmap(reinterpret_cast<void*>(at), bytes, PROT_NONE, kReserveFlags | fixed, -1, 0);
  if (p != MAP_FAILED && p == reinterpret_cast<void*>(at)) {
    give(at, bytes);
    return 0;
  }
  const int err = p == MAP_FAILED ? errno : EEXIST;
  if (p != MAP_FAILED) ::munmap(p, bytes);  // a kernel before 4.17 took NOREPLACE for a hint
  pthread_mutex_lock(&mu_);
  lost_.fetch_add(bytes, std::memory_order_relaxed);
  pthread_mutex_unlock(&mu_);
  return err;
}

// MAP_FIXED over our own part: the block's pages go and the reservation
// takes their place in one step, leaving no hole.
int AddressRange::release(uintptr_t at, size_t bytes) noexcept { return reserve_over(at, bytes, MAP_FIXED); }

int AddressRange::release_hole(uintptr_t at, size_t bytes) noexcept {
  return reserve_over(at, bytes, MAP_FIXED_NOREPLACE);
}

namespace {
// Never destroyed: frees keep arriving from exit handlers and other
// libraries' destructors (as for the layer itself, layer.h).
alignas(AddressRange) unsigned char g_range_storage[sizeof(AddressRange)];
// 0: not reserved; 1: a thread is reserving; 2: done (ok or not).
std::atomic<int> g_range_state{0};
bool g_range_ok = false;
}  // namespace

AddressRange* process_range() noexcept {
  auto* range = reinterpret_cast<AddressRange*>(g_range_storage);
  std::atomic<int>& state = g_range_state;
  if (state.load(std::memory_order_acquire) != 2) {
    int expected = 0;
    if (state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
      new (g_range_storage) AddressRange();
      g_range_ok = range->reserve(process_range_bytes(), AddressRange::Placement::window);
      // Release: g_range_ok and the range's bounds before the state; pairs with
      // the acquire loads above and below.
      state.store(2, std::memory_order_release);
    } else {
      while (state.load(std::memory_order_acquire) != 2) ::sched_yield();
    }
  }
  return g_range_ok ? range : nullptr;
}

}  // namespace vmreclaim::alloc
