#include "ring/protocol.h"

#include <cstdlib>

#include "platform/linux/clock.h"
#include "support/log.h"

namespace vmreclaim::ring {
namespace {

constexpr auto relaxed = std::memory_order_relaxed;
constexpr auto acquire = std::memory_order_acquire;
constexpr auto release = std::memory_order_release;

// Lowers reclaimable_bytes_min to `bytes` if it is above. Only the cancel
// path and settlement lower it; the engine resets it at each sample.
inline void lower_min(Ring* r, uint64_t bytes) noexcept {
  auto min = ref(r->reclaimable_bytes_min);
  uint64_t cur = min.load(relaxed);
  while (bytes < cur && !min.compare_exchange_weak(cur, bytes, relaxed, relaxed)) {
  }
}

// Whether the caller should hand accounting to the engine now: the sample
// deadline passed, or the ring holds more than the engine's ceiling.
inline bool update_due(const Ring* r, uint64_t bytes) noexcept {
  return platform::coarse_now_ns() >= load(r->next_sample_deadline_abs) ||
         bytes > load(r->reclaimable_bytes_ceiling);
}

[[noreturn]] void trap_mismatch(mach_vm_reclaim_id_t id, uint64_t addr, uint32_t size, uint8_t action,
                                EntryWords e) noexcept {
  support::log_always(
      "try_cancel(id=%llu, addr=%#llx, size=%u, action=%u) does not match the entry "
      "(addr=%#llx, size=%u, action=%u): the caller cancelled twice or passed the wrong region",
      static_cast<unsigned long long>(id), static_cast<unsigned long long>(addr), size, action,
      static_cast<unsigned long long>(e.address), e.size(), e.behavior());
  __builtin_trap();
}

}  // namespace

mach_vm_reclaim_id_t enter(Ring* r, uint64_t addr, uint32_t size, uint8_t action, bool* update) noexcept {
  const uint64_t len = load(r->len);
  const uint64_t tail = load(r->tail);  // only this side writes it
  const uint64_t head = load(r->head, acquire);
  // A stale head only makes the ring look fuller than it is. head > tail
  // (a corrupted ring) wraps to a huge difference and reads as full.
  if (len == 0 || tail - head >= len) {
    *update = false;
    return VM_RECLAIM_ID_NULL;
  }
  // Count the bytes before the entry becomes visible, so the engine can never
  // report reclaiming bytes the count does not yet hold.
  uint64_t bytes = ref(r->reclaimable_bytes).fetch_add(size, relaxed) + size;
  store_entry(r, tail % len, {addr, pack_meta(size, action)});
  // Orders the entry's words before the new tail: an engine that sees the
  // tail sees the entry.
  full_fence();
  store(r->tail, tail + 1, release);
  *update = update_due(r, bytes);
  return tail;
}

mach_vm_reclaim_error_t reenter(Ring* r, mach_vm_reclaim_id_t* id, uint64_t addr, uint32_t size, uint8_t action,
                                bool* update) noexcept {
  const mach_vm_reclaim_id_t want = *id;
  const uint64_t len = load(r->len);
  const uint64_t tail = load(r->tail);
  *update = false;
  if (want >= tail || len == 0) return VM_RECLAIM_INVALID_ID;
  // Checked before the window below: an ID reclaimed long ago (more than a
  // ring's length behind the tail) is just as reclaimed as a recent one.
  if (want < load(r->head, acquire)) {
    *id = VM_RECLAIM_ID_NULL;  // already reclaimed: the slot is gone
    return VM_RECLAIM_SUCCESS;
  }
  if (tail - want > len) return VM_RECLAIM_INVALID_ID;  // only with corrupted indices
  // Tail as a lock: with tail pulled back to `want`, the engine cannot take
  // `want` into a chunk (it reclaims only below the tail it reads).
  store(r->tail, want, relaxed);
  // Orders our tail store before the busy load, pairing with the engine's
  // fence between its busy store and tail load: at least one of us sees the
  // other's write.
  full_fence();
  const uint64_t busy = load(r->busy, acquire);
  if (want < busy) {
    store(r->tail, tail, release);
    *id = VM_RECLAIM_ID_NULL;  // the engine owns it now
    return VM_RECLAIM_SUCCESS;
  }
  const uint64_t slot = want % len;
  if (!load_entry(r, slot).empty()) {
    store(r->tail, tail, release);  // a live entry: never overwrite it
    return VM_RECLAIM_INVALID_ID;
  }
  uint64_t bytes = ref(r->reclaimable_bytes).fetch_add(size, relaxed) + size;
  store_entry(r, slot, {addr, pack_meta(size, action)});
  // Orders the entry before the tail is restored (the engine may then take it).
  full_fence();
  store(r->tail, tail, release);
  *update = update_due(r, bytes);
  return VM_RECLAIM_SUCCESS;
}

mach_vm_reclaim_error_t cancel(Ring* r, mach_vm_reclaim_id_t id, uint64_t addr, uint32_t size, uint8_t action,
                               mach_vm_reclaim_state_t* state, bool* update) noexcept {
  *update = false;
  if (id < load(r->head, acquire)) {
    // Reclaimed; the acquire makes the engine's madvise/munmap visible.
    *state = reclaimed_state(action);
    return VM_RECLAIM_SUCCESS;
  }
  const uint64_t len = load(r->len);
  const uint64_t tail = load(r->tail);
  if (id >= tail || len == 0 || tail - id > len) return VM_RECLAIM_INVALID_ID;
  store(r->tail, id, relaxed);
  // Same pairing as in reenter(): tail store before busy load.
  full_fence();
  const uint64_t busy = load(r->busy, acquire);
  if (id < busy) {
    store(r->tail, tail, release);
    *state = id < load(r->head, acquire) ? reclaimed_state(action) : mach_vm_reclaim_state_t{VM_RECLAIM_BUSY};
    return VM_RECLAIM_SUCCESS;
  }
  const uint64_t slot = id % len;
  const EntryWords e = load_entry(r, slot);
  if (e.address != addr || e.meta != pack_meta(size, action)) {
    store(r->tail, tail, release);
    trap_mismatch(id, addr, size, action, e);
  }
  store_entry(r, slot, {0, 0});  // a zeroed slot is skipped by the engine
  // Orders the cleared entry before the tail is restored.
  full_fence();
  store(r->tail, tail, release);
  uint64_t bytes = ref(r->reclaimable_bytes).fetch_sub(size, relaxed) - size;
  lower_min(r, bytes);
  *state = VM_RECLAIM_UNRECLAIMED;
  *update = update_due(r, bytes);
  return VM_RECLAIM_SUCCESS;
}

mach_vm_reclaim_error_t query(const Ring* r, mach_vm_reclaim_id_t id, uint8_t action,
                              mach_vm_reclaim_state_t* state) noexcept {
  if (id < load(r->head, acquire)) {
    *state = reclaimed_state(action);
    return VM_RECLAIM_SUCCESS;
  }
  // No check against the tail: a cancel on another thread pulls it back for
  // a moment, and a query must not fail for a valid ID because of that.
  if (id < load(r->busy, acquire)) {
    *state = id < load(r->head, acquire) ? reclaimed_state(action) : mach_vm_reclaim_state_t{VM_RECLAIM_BUSY};
    return VM_RECLAIM_SUCCESS;
  }
  *state = VM_RECLAIM_UNRECLAIMED;
  return VM_RECLAIM_SUCCESS;
}

void account_reclaimed(Ring* r, uint64_t bytes) noexcept {
  if (bytes == 0) return;
  uint64_t now = ref(r->reclaimable_bytes).fetch_sub(bytes, relaxed) - bytes;
  lower_min(r, now);
}

unsigned claim_due_work(Ring* r, uint64_t now_ns) noexcept {
  unsigned claimed = kClaimNone;
  auto ceiling = ref(r->reclaimable_bytes_ceiling);
  uint64_t c = ceiling.load(relaxed);
  if (c != UINT64_MAX && load(r->reclaimable_bytes) > c &&
      ceiling.compare_exchange_strong(c, UINT64_MAX, relaxed, relaxed)) {
    claimed |= kClaimLimit;
  }
  auto deadline = ref(r->next_sample_deadline_abs);
  uint64_t d = deadline.load(relaxed);
  if (d != UINT64_MAX && now_ns >= d && deadline.compare_exchange_strong(d, UINT64_MAX, relaxed, relaxed)) {
    claimed |= kClaimSample;
  }
  return claimed;
}

}  // namespace vmreclaim::ring
