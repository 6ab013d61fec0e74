// Test helpers for real memory: anonymous mappings that the tests enter into
// a ring, fill with a pattern and inspect afterwards (contents, mapped or not).
#pragma once

#include <mach/vm_reclaim_private.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

namespace vmreclaim::test {

inline size_t page_size() { return static_cast<size_t>(::sysconf(_SC_PAGESIZE)); }

// Whether every page of [addr, addr+len) is mapped (mincore fails with ENOMEM
// on any hole).
inline bool is_mapped(const void* addr, size_t len) {
  std::vector<unsigned char> vec((len + page_size() - 1) / page_size() + 1);
  auto start = reinterpret_cast<uintptr_t>(addr) & ~(page_size() - 1);
  size_t span = reinterpret_cast<uintptr_t>(addr) + len - start;
  return ::mincore(reinterpret_cast<void*>(start), span, vec.data()) == 0;
}

// Whether no page of [addr, addr+len) is mapped.
inline bool is_unmapped(const void* addr, size_t len) {
  for (size_t off = 0; off < len; off += page_size()) {
    if (is_mapped(static_cast<const char*>(addr) + off, 1)) return false;
  }
  return true;
}

// A private anonymous mapping. Unmaps itself unless released (e.g. because
// the engine unmapped it through a DEALLOCATE entry).
class Mapping {
 public:
  Mapping() = default;
  explicit Mapping(size_t len) : len_(len) {
    void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    addr_ = p == MAP_FAILED ? nullptr : static_cast<unsigned char*>(p);
  }
  static Mapping pages(size_t n) { return Mapping(n * page_size()); }
  Mapping(Mapping&& o) noexcept : addr_(std::exchange(o.addr_, nullptr)), len_(std::exchange(o.len_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept {
    if (this != &o) {
      reset();
      addr_ = std::exchange(o.addr_, nullptr);
      len_ = std::exchange(o.len_, 0);
    }
    return *this;
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { reset(); }

  void reset() {
    if (addr_ != nullptr) ::munmap(addr_, len_);
    addr_ = nullptr;
    len_ = 0;
  }
  // Forget the range without unmapping it (it is gone or owned elsewhere).
  void release() { addr_ = nullptr; }

  bool ok() const { return addr_ != nullptr; }
  unsigned char* data() const { return addr_; }
  size_t size() const { return len_; }
  mach_vm_address_t address() const { return reinterpret_cast<mach_vm_address_t>(addr_); }
  unsigned char* page(size_t i) const { return addr_ + i * page_size(); }

 private:
  unsigned char* addr_ = nullptr;
  size_t len_ = 0;
};

// A byte pattern that differs per seed and per position, so a page moved,
// zeroed or mixed up with another region is caught.
inline unsigned char pattern_byte(uint64_t seed, size_t i) {
  return static_cast<unsigned char>((seed * 131u + i * 7u + (i >> 12)) | 1u);  // never zero
}
inline void fill(void* p, size_t len, uint64_t seed) {
  auto* b = static_cast<unsigned char*>(p);
  for (size_t i = 0; i < len; i++) b[i] = pattern_byte(seed, i);
}
inline bool holds(const void* p, size_t len, uint64_t seed) {
  auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < len; i++) {
    if (b[i] != pattern_byte(seed, i)) return false;
  }
  return true;
}
inline bool all_zero(const void* p, size_t len) {
  auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < len; i++) {
    if (b[i] != 0) return false;
  }
  return true;
}

// The accessible bytes of a ring (header and all current entries), to show
// that a rejected call changed nothing.
inline std::vector<unsigned char> snapshot(const mach_vm_reclaim_ring_s* r) {
  const size_t n = sizeof(mach_vm_reclaim_ring_s) + size_t{r->len} * sizeof(mach_vm_reclaim_entry_s);
  std::vector<unsigned char> v(n);
  std::memcpy(v.data(), r, n);
  return v;
}

}  // namespace vmreclaim::test
