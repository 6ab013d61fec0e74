// The user side of the ring protocol (docs/design.md §4): enter, cancel,
// re-enter by ID, query, and the byte accounting. No system calls, no locks,
// no allocation. Arguments are assumed valid (src/capi checks them); the
// ring's own contents are not trusted beyond what the protocol needs.
#pragma once

#include "platform/linux/clock.h"
#include "ring/layout.h"

namespace vmreclaim::ring {

// Values of next_sample_deadline_abs that are not times: a sample claimed by
// a caller and in progress, and "no deadline" (the engine thread samples on
// its own schedule).
inline constexpr uint64_t kDeadlineClaimed = UINT64_MAX;
inline constexpr uint64_t kNoDeadline = UINT64_MAX - 1;
// A deadline long passed, published by the engine thread before it sleeps on
// an empty ring (docs/policy.md, "The engine thread and an empty ring"): the
// first enter that fills the ring tells its caller to update the accounting,
// and that call wakes the thread instead of sampling. To the user side it is
// what any passed deadline is: "call update_kernel_accounting now".
inline constexpr uint64_t kDeadlineFill = 1;

// The state of a reclaimed ID follows from its action alone.
inline mach_vm_reclaim_state_t reclaimed_state(uint8_t action) noexcept {
  return action == VM_RECLAIM_FREE ? mach_vm_reclaim_state_t{VM_RECLAIM_FREED}
                                   : mach_vm_reclaim_state_t{VM_RECLAIM_DEALLOCATED};
}

// A cancel whose region does not match its entry: a caller bug. One line on
// stderr, then a trap.
[[noreturn]] void trap_mismatch(mach_vm_reclaim_id_t id, uint64_t addr, uint32_t size, uint8_t action,
                                EntryWords e) noexcept;

// Lowers reclaimable_bytes_min to `bytes` if it is above. Only the cancel
// path and settlement lower it; the engine resets it at each sample.
inline void lower_min(Ring* r, uint64_t bytes) noexcept {
  auto min = ref(r->reclaimable_bytes_min);
  uint64_t cur = min.load(std::memory_order_relaxed);
  while (bytes < cur && !min.compare_exchange_weak(cur, bytes, std::memory_order_relaxed, std::memory_order_relaxed)) {
  }
}

// Whether the caller should hand accounting to the engine now: the sample
// deadline passed, or the ring holds more than the engine's ceiling.
inline bool update_due(const Ring* r, uint64_t bytes) noexcept {
  if (bytes > load(r->reclaimable_bytes_ceiling)) return true;
  // While the engine thread samples on its own schedule there is no deadline
  // to check, and no clock to read on this path. Seq_cst (a plain load on
  // x86): with the seq_cst add to reclaimable_bytes before it, the other
  // half of the pairing with the engine thread's arm_fill_watch (a seq_cst
  // CAS of the deadline, then a seq_cst load of the bytes): either this
  // load sees kDeadlineFill, or the thread sees the bytes and stays awake.
  const uint64_t deadline = load(r->next_sample_deadline_abs, std::memory_order_seq_cst);
  if (deadline >= kNoDeadline) return false;
  // 0: sampling period 0 (critical pressure), every call is due.
  // kDeadlineFill (the engine thread sleeps on what was an empty ring) is a
  // time long passed, due by the clock like any other (the clock is read
  // only while it is set): a compare of its own here measured 5-10 ns more
  // per cancel + re-enter pair of the C API in bench_ring_ops, though the
  // machine code differed in that compare alone.
  return deadline == 0 || platform::coarse_now_ns() >= deadline;
}

// One more enter, re-enter or cancel, for the engine thread's idle trim
// (docs/policy.md, "Idle trim"), which reads the count at its wake-ups.
// Relaxed load and store, not a read-modify-write: the user side's
// operations are serialised by its caller, and only the user side writes
// the count. It shares the tail's cache line, which the operation has just
// written, so it costs no miss; called last, after everything the protocol
// orders.
inline void count_user_op(Ring* r) noexcept { store(r->user_ops, load(r->user_ops) + 1); }

// Enter at the tail. Returns the new ID, or VM_RECLAIM_ID_NULL if the ring is
// full. Inline, like reenter() and cancel(): they are the allocator's hot path.
inline mach_vm_reclaim_id_t enter(Ring* r, uint64_t addr, uint32_t size, uint8_t action, bool* update) noexcept {
  const uint64_t len = load(r->len);
  const uint64_t tail = load(r->tail);  // only this side writes it
  const uint64_t head = load(r->head, std::memory_order_acquire);
  // A stale head only makes the ring look fuller than it is. head > tail
  // (a corrupted ring) wraps to a huge difference and reads as full.
  if (len == 0 || tail - head >= len) {
    *update = false;
    return VM_RECLAIM_ID_NULL;
  }
  // Count the bytes before the entry becomes visible, so the engine can never
  // report reclaiming bytes the count does not yet hold. Seq_cst (the same
  // locked add as relaxed on x86): the first half of update_due's pairing
  // with the engine thread's arm_fill_watch.
  uint64_t bytes = ref(r->reclaimable_bytes).fetch_add(size, std::memory_order_seq_cst) + size;
  store_entry(r, tail % len, {addr, pack_meta(size, action)});
  // Publishing needs only release: the engine loads the tail with acquire
  // before it copies entries, so it sees the entry's words. No full fence:
  // nothing is loaded after this store that the engine writes.
  store(r->tail, tail + 1, std::memory_order_release);
  *update = update_due(r, bytes);
  count_user_op(r);
  return tail;
}

// Put a region back into the slot of an ID cancelled earlier. Returns `id`,
// or VM_RECLAIM_ID_NULL if that ID was reclaimed or is being reclaimed.
// VM_RECLAIM_INVALID_ID (and nothing changed) if the ID was never issued or
// its slot still holds a live entry.
inline mach_vm_reclaim_error_t reenter(Ring* r, mach_vm_reclaim_id_t* id, uint64_t addr, uint32_t size, uint8_t action,
                                       bool* update) noexcept {
  const mach_vm_reclaim_id_t want = *id;
  const uint64_t len = load(r->len);
  const uint64_t tail = load(r->tail);
  *update = false;
  if (want >= tail || len == 0) return VM_RECLAIM_INVALID_ID;
  // Checked before the window below: an ID reclaimed long ago (more than a
  // ring's length behind the tail) is just as reclaimed as a recent one.
  if (want < load(r->head, std::memory_order_acquire)) {
    *id = VM_RECLAIM_ID_NULL;  // already reclaimed: the slot is gone
    return VM_RECLAIM_SUCCESS;
  }
  if (tail - want > len) return VM_RECLAIM_INVALID_ID;  // only with corrupted indices
  // Tail as a lock: with tail pulled back to `want`, the engine cannot take
  // `want` into a chunk (it reclaims only below the tail it reads).
  // Release (F6, docs/protocol-proof.md): an engine that reads this lock
  // value copies slots below it, and must see what this thread wrote there
  // (a cleared slot, an entry) before; a relaxed store would not carry that.
  store(r->tail, want, std::memory_order_release);
  // Orders our tail store before the busy load, pairing with the engine's
  // fence between its busy store and tail load: at least one of us sees the
  // other's write.
  full_fence();
  const uint64_t busy = load(r->busy, std::memory_order_acquire);
  if (want < busy) {
    store(r->tail, tail, std::memory_order_release);
    *id = VM_RECLAIM_ID_NULL;  // the engine owns it now
    return VM_RECLAIM_SUCCESS;
  }
  const uint64_t slot = want % len;
  if (!load_entry(r, slot).empty()) {
    store(r->tail, tail, std::memory_order_release);  // a live entry: never overwrite it
    return VM_RECLAIM_INVALID_ID;
  }
  // Seq_cst: as in enter(), the first half of update_due's pairing with
  // arm_fill_watch (a re-enter can fill an empty ring too).
  uint64_t bytes = ref(r->reclaimable_bytes).fetch_add(size, std::memory_order_seq_cst) + size;
  store_entry(r, slot, {addr, pack_meta(size, action)});
  // Release: the entry is visible to an engine that sees the restored tail.
  store(r->tail, tail, std::memory_order_release);
  *update = update_due(r, bytes);
  count_user_op(r);
  return VM_RECLAIM_SUCCESS;
}

// Take an entry back; *state says whether its memory is reusable.
inline mach_vm_reclaim_error_t cancel(Ring* r, mach_vm_reclaim_id_t id, uint64_t addr, uint32_t size, uint8_t action,
                                      mach_vm_reclaim_state_t* state, bool* update) noexcept {
  *update = false;
  if (id < load(r->head, std::memory_order_acquire)) {
    // Reclaimed; the acquire makes the engine's madvise/munmap visible.
    *state = reclaimed_state(action);
    return VM_RECLAIM_SUCCESS;
  }
  const uint64_t len = load(r->len);
  const uint64_t tail = load(r->tail);
  if (id >= tail || len == 0 || tail - id > len) return VM_RECLAIM_INVALID_ID;
  store(r->tail, id, std::memory_order_release);  // release: as in reenter() (F6)
  // Same pairing as in reenter(): tail store before busy load.
  full_fence();
  const uint64_t busy = load(r->busy, std::memory_order_acquire);
  if (id < busy) {
    store(r->tail, tail, std::memory_order_release);
    *state = id < load(r->head, std::memory_order_acquire) ? reclaimed_state(action)
                                                           : mach_vm_reclaim_state_t{VM_RECLAIM_BUSY};
    return VM_RECLAIM_SUCCESS;
  }
  const uint64_t slot = id % len;
  const EntryWords e = load_entry(r, slot);
  if (e.address != addr || e.meta != pack_meta(size, action)) {
    store(r->tail, tail, std::memory_order_release);
    trap_mismatch(id, addr, size, action, e);
  }
  store_entry(r, slot, {0, 0});  // a zeroed slot is skipped by the engine
  // Release: the cleared slot is visible to an engine that sees the restored tail.
  store(r->tail, tail, std::memory_order_release);
  uint64_t bytes = ref(r->reclaimable_bytes).fetch_sub(size, std::memory_order_relaxed) - size;
  lower_min(r, bytes);
  *state = VM_RECLAIM_UNRECLAIMED;
  *update = update_due(r, bytes);
  count_user_op(r);
  return VM_RECLAIM_SUCCESS;
}

mach_vm_reclaim_error_t query(const Ring* r, mach_vm_reclaim_id_t id, uint8_t action,
                              mach_vm_reclaim_state_t* state) noexcept;

// Subtracts bytes the engine reclaimed from the ring's count and lowers the
// minimum to match. Thread-safe.
void account_reclaimed(Ring* r, uint64_t bytes) noexcept;

// What a caller of update_kernel_accounting found due and claimed. Claiming
// swaps the deadline (or ceiling) to "never", so of a herd of callers only
// the first enters the engine for it; the engine publishes the next value.
// kClaimFill: the deadline was kDeadlineFill, now kNoDeadline; the caller
// wakes the engine thread (no sample).
enum Claim : unsigned { kClaimNone = 0, kClaimSample = 1, kClaimLimit = 2, kClaimFill = 4 };
unsigned claim_due_work(Ring* r, uint64_t now_ns) noexcept;

}  // namespace vmreclaim::ring
