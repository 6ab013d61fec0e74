// Typed, atomic access to the shared ring (include/mach/vm_reclaim_private.h).
// The header's fields are plain integers so the layout is valid C; here every
// shared access goes through std::atomic_ref, so the user side, the engine
// and ThreadSanitizer all see atomics. An entry is accessed as two 64-bit
// words: the address, and size | behavior << 32 (little-endian layout).
#pragma once

#include <mach/vm_reclaim_private.h>

#include <atomic>
#include <bit>
#include <cstdint>

namespace vmreclaim::ring {

using Ring = mach_vm_reclaim_ring_s;

static_assert(std::endian::native == std::endian::little, "entry word packing assumes little-endian");
static_assert(offsetof(mach_vm_reclaim_entry_s, size) == 8 && offsetof(mach_vm_reclaim_entry_s, behavior) == 12);

inline constexpr uint64_t kHeaderBytes = sizeof(Ring);
inline constexpr uint64_t kEntryBytes = sizeof(mach_vm_reclaim_entry_s);

// Only tests/unit/ring_order_test.cpp defines this (and links no library
// code): it records every store and fence of the user side, with its memory
// order, to check them against the orders the model assumes (F6).
#ifdef VMRECLAIM_RING_ORDER_TRACE
void trace_order(const void* field, uint64_t value, std::memory_order order) noexcept;
#define VMRECLAIM_TRACE_ORDER(field, value, order) trace_order(field, value, order)
#else
#define VMRECLAIM_TRACE_ORDER(field, value, order) static_cast<void>(0)
#endif

template <class T>
inline T load(const T& field, std::memory_order order = std::memory_order_relaxed) noexcept {
  return std::atomic_ref<T>(const_cast<T&>(field)).load(order);
}
template <class T>
inline void store(T& field, T value, std::memory_order order = std::memory_order_relaxed) noexcept {
  VMRECLAIM_TRACE_ORDER(&field, static_cast<uint64_t>(value), order);
  std::atomic_ref<T>(field).store(value, order);
}
template <class T>
inline std::atomic_ref<T> ref(T& field) noexcept {
  return std::atomic_ref<T>(field);
}

// The full fence the protocol needs between a store and a later load of a
// different location: the user side's tail store before its busy load
// (cancel, reenter), paired with the reclaimer's busy store before its tail
// load (ring::claim). It no longer publishes entry words: since the F6 fix
// every store of the tail is a release store, and the reclaimer's acquire
// load of the tail is what makes the words below it visible
// (docs/protocol-proof.md §1.5). ThreadSanitizer does not model stand-alone
// fences (and gcc warns about them under -fsanitize=thread), so there it is a
// sequentially consistent read-modify-write of a private atomic instead: a
// full barrier on x86-64 and arm64 alike, and an operation TSan understands.
inline void full_fence() noexcept {
  VMRECLAIM_TRACE_ORDER(nullptr, 0, std::memory_order_seq_cst);
#if defined(__SANITIZE_THREAD__)
  static std::atomic<unsigned> fence_word{0};
  fence_word.fetch_add(0, std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

struct EntryWords {
  uint64_t address;
  uint64_t meta;  // size | behavior << 32

  uint32_t size() const noexcept { return static_cast<uint32_t>(meta); }
  uint8_t behavior() const noexcept { return static_cast<uint8_t>(meta >> 32); }
  bool empty() const noexcept { return address == 0 && meta == 0; }
};

inline uint64_t pack_meta(uint32_t size, uint8_t behavior) noexcept {
  return static_cast<uint64_t>(size) | static_cast<uint64_t>(behavior) << 32;
}

inline uint64_t* entry_words(Ring* r, uint64_t slot) noexcept { return reinterpret_cast<uint64_t*>(&r->entries[slot]); }

inline EntryWords load_entry(const Ring* r, uint64_t slot) noexcept {
  uint64_t* w = entry_words(const_cast<Ring*>(r), slot);
  return {std::atomic_ref<uint64_t>(w[0]).load(std::memory_order_relaxed),
          std::atomic_ref<uint64_t>(w[1]).load(std::memory_order_relaxed)};
}

inline void store_entry(Ring* r, uint64_t slot, EntryWords e) noexcept {
  uint64_t* w = entry_words(r, slot);
  VMRECLAIM_TRACE_ORDER(&w[0], e.address, std::memory_order_relaxed);
  VMRECLAIM_TRACE_ORDER(&w[1], e.meta, std::memory_order_relaxed);
  std::atomic_ref<uint64_t>(w[0]).store(e.address, std::memory_order_relaxed);
  std::atomic_ref<uint64_t>(w[1]).store(e.meta, std::memory_order_relaxed);
}

uint64_t page_size() noexcept;

// Page-rounded size of a ring of `len` entries.
inline uint64_t ring_bytes(uint64_t len) noexcept {
  uint64_t p = page_size();
  return (kHeaderBytes + len * kEntryBytes + p - 1) / p * p;
}

// The largest count that fits the page-rounded size of a ring of `n`
// entries, capped at VM_RECLAIM_MAX_CAPACITY.
mach_vm_reclaim_count_t round_capacity(mach_vm_reclaim_count_t n) noexcept;

}  // namespace vmreclaim::ring
