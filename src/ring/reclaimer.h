// The reclaimer side of the ring protocol (docs/design.md §4), beside the
// user side in protocol.h: claim a chunk with busy, copy it, retire it with
// head, and publish the header fields the user side reads (deadline,
// ceiling, length). The model (model/ring.pml) checks these steps against
// the user side; docs/protocol-proof.md maps each one to a function here.
//
// The reclaimer cannot trust the ring: the program may unmap or protect it,
// or scribble on it. So every function below reaches the shared ring only
// through `access`, a callable the caller supplies:
//
//   bool access(const char* what, Fn&& fn)
//
// runs fn() over the ring and returns false if the ring could not be
// accessed (`what` names the step, for the caller's report). The engine
// passes its copy-I/O (platform/linux/copyio.h, SIGSEGV-guarded) with its
// guard; tests may pass a plain call. A function whose access fails returns
// false (or a failed ChunkClaim) at once; what that means is the caller's.
// Each fn only copies plain data: a fault may abandon it mid-way.
//
// Memory orders: every store and load of the shared header says what it
// pairs with; the user side's half of each pair is in protocol.h.
#pragma once

#include <cstdint>

#include "ring/layout.h"
#include "ring/protocol.h"

namespace vmreclaim::ring {

// Fills in the header of a ring that no other thread can see yet: relaxed
// stores; the ring is published to the user side by the call that returns it
// (thread creation or a return value: happens-before, no ordering needed).
void init_header(Ring* r, mach_vm_reclaim_count_t len, mach_vm_reclaim_count_t max_len, uint64_t now,
                 uint64_t deadline) noexcept;

// ---- chunks: claim, copy, retire ----

struct Indices {
  uint64_t head = 0, busy = 0, tail = 0;
};

// What the indices read at the start of a chunk say. Only the reclaimer
// writes head and busy, and between chunks busy == head; a cancel or
// re-enter pulls the tail below head only as its lock (an ID at most a
// ring's length below the tail it found, which was at or above head).
enum class IndexState {
  ok,                // head <= tail <= head + len: tail - head entries to take
  cancel_in_flight,  // tail below head, within a ring's length: a lock, try again
  busy_corrupt,      // busy < head, or busy - head > chunk
  tail_far_below,    // tail more than a ring's length below head: never a lock
  tail_beyond,       // tail more than a ring's length above head
};
IndexState check_indices(const Indices& ix, uint64_t len, uint64_t chunk) noexcept;
// The guard report's text for a corrupt state ("a chunk (...)").
const char* index_state_text(IndexState s) noexcept;

enum class ChunkStatus {
  claimed,         // [head, head + count) is the reclaimer's until retire()
  empty,           // nothing to take
  aborted,         // lost a race with a cancel; try again later
  index_failure,   // indices the user side cannot produce (`what` says which)
  access_failure,  // `access` failed (it has reported)
};

struct ChunkClaim {
  ChunkStatus status = ChunkStatus::empty;
  uint64_t head = 0;
  uint64_t count = 0;
  const char* what = nullptr;  // index_failure: index_state_text()
};

// Claims the oldest entries, at most min(max_entries, chunk), by publishing
// busy = head + k, then re-reads the tail: a cancel or re-enter that pulled
// the tail into the chunk wins, and the chunk shrinks to below it (or is
// given up if the tail fell to head or below: docs/protocol-proof.md F2).
// `len` and `chunk` are the reclaimer's own values, not the ring's copy.
// The reclaimer's lock must be held: only its holder writes head and busy.
template <class Access>
ChunkClaim claim(Ring* r, uint64_t len, uint64_t chunk, uint64_t max_entries, Access&& access) noexcept {
  ChunkClaim out;
  Indices ix;
  if (!access("reading the ring indices", [&] {
        // Relaxed: head and busy are written only by the reclaimer holding
        // the lock the caller holds now; the lock orders them.
        ix.head = load(r->head);
        ix.busy = load(r->busy);
        // Acquire, pairs with the user side's release stores of the tail
        // (enter, the lock and restore in cancel and reenter). The re-read
        // below is what the copy relies on; this one is acquire as the model
        // has it (ACQUIRE_TAIL), which costs nothing on x86-64.
        ix.tail = load(r->tail, std::memory_order_acquire);
      })) {
    out.status = ChunkStatus::access_failure;
    return out;
  }
  switch (const IndexState state = check_indices(ix, len, chunk)) {
    case IndexState::ok: break;
    case IndexState::cancel_in_flight: out.status = ChunkStatus::aborted; return out;
    case IndexState::busy_corrupt:
    case IndexState::tail_far_below:
    case IndexState::tail_beyond:
      out.status = ChunkStatus::index_failure;
      out.what = index_state_text(state);
      return out;
  }
  const uint64_t head = ix.head;
  uint64_t k = ix.tail - head;
  if (k > max_entries) k = max_entries;
  if (k > chunk) k = chunk;
  out.head = head;
  if (k == 0) return out;  // empty

  for (;;) {
    const uint64_t busy = head + k;
    uint64_t tail = 0;
    if (!access("publishing busy", [&] {
          // Relaxed: the fence below orders it before the tail load.
          store(r->busy, busy);
          // Orders the busy store before the tail load; pairs with the user
          // side's full_fence() between its tail store and busy load (cancel,
          // reenter): at least one side sees the other's store (§1.5, 1).
          full_fence();
          // Acquire, pairs with the user side's release stores of the tail,
          // the lock value included (F6): the entry words below the tail
          // read here are visible to the copy.
          tail = load(r->tail, std::memory_order_acquire);
        })) {
      out.status = ChunkStatus::access_failure;
      return out;
    }
    if (tail >= busy) break;
    // A cancel pulled the tail into the chunk: take only what is below it.
    // The chunk only shrinks, so this converges.
    if (tail <= head) {
      // Relaxed: nothing of the chunk was read, so there is nothing for the
      // user side to see before it; the user's acquire load of busy needs no
      // partner here.
      if (!access("publishing busy", [&] { store(r->busy, head); })) {
        out.status = ChunkStatus::access_failure;
        return out;
      }
      // The tail came down to head or below: a cancel of the oldest ID is
      // in flight, not an empty ring (F2). Try again after it.
      out.status = ChunkStatus::aborted;
      return out;
    }
    k = tail - head;
  }
  out.status = ChunkStatus::claimed;
  out.count = k;
  return out;
}

// Copies the claimed entries [head, head + count) out of the ring, relaxed:
// the acquire load of the tail in claim() made their words visible, and the
// user side cannot write these slots until retire() hands them back.
template <class Access>
bool copy_chunk(const Ring* r, uint64_t len, uint64_t head, uint64_t count, EntryWords* out, Access&& access) noexcept {
  return access("copying entries", [&] {
    for (uint64_t i = 0; i < count; i++) out[i] = load_entry(r, (head + i) % len);
  });
}

// Copies up to `max` entries from ID `from` on (at most a ring's length, and
// none at or above the tail) into `out`, without claiming them: the user
// side may cancel or rewrite them meanwhile, so the copies are a hint (the
// engine uses them to choose what to probe ahead), never something to
// reclaim. Relaxed loads: nothing is relied on. `*n` gets the count.
template <class Access>
bool peek_entries(const Ring* r, uint64_t len, uint64_t from, uint64_t max, EntryWords* out, uint64_t* n,
                  Access&& access) noexcept {
  *n = 0;
  return access("reading entries ahead", [&] {
    const uint64_t tail = load(r->tail);
    uint64_t k = tail > from ? tail - from : 0;
    if (k > max) k = max;
    if (k > len) k = len;
    for (uint64_t i = 0; i < k; i++) out[i] = load_entry(r, (from + i) % len);
    *n = k;
  });
}

// Ends a claimed chunk: entries below `new_head` are reclaimed, those from
// new_head up to the claim's busy go back to the ring (a trim that stopped
// early). Head first, then busy = head.
template <class Access>
bool retire(Ring* r, uint64_t new_head, Access&& access) noexcept {
  return access("publishing head", [&] {
    // Release, pairs with the user side's acquire loads of head (enter,
    // reenter, cancel, query): whoever sees the new head sees the memory
    // reclaimed (madvise/munmap returned) and the reclaimer's copies of the
    // slots done, before it answers FREED/DEALLOCATED or reuses a slot.
    store(r->head, new_head, std::memory_order_release);
    // Release, pairs with the user side's acquire loads of busy (cancel,
    // reenter, query): the copies of the slots handed back are done before
    // a user that sees them outside busy clears or rewrites them.
    store(r->busy, new_head, std::memory_order_release);
  });
}

// ---- the header fields the reclaimer publishes ----
//
// The deadline, the ceiling and the length are single-word values the user
// side reads relaxed (update_due, claim_due_work, enter/cancel/reenter) and
// nothing is read on the strength of them, so they are stored relaxed:
// - deadline and ceiling say when to call update_kernel_accounting; a stale
//   value costs one call more or less, and claiming is a CAS on the same
//   word (coherence picks one winner);
// - the length changes only in resize, which the API runs on the user's
//   thread (or under the caller's lock with enter and cancel), so the user
//   side's loads are ordered after it by that thread or lock; the
//   reclaimer's own copy of the length is the authoritative one.

// Reads head and tail (resize: is every entry gone?). Relaxed: only the
// values are compared, nothing is read on the strength of them.
template <class Access>
bool read_indices(const Ring* r, Indices* ix, Access&& access) noexcept {
  return access("resize", [&] {
    ix->head = load(r->head);
    ix->busy = load(r->busy);
    ix->tail = load(r->tail);
  });
}

template <class Access>
bool publish_len(Ring* r, mach_vm_reclaim_count_t len, Access&& access) noexcept {
  return access("resize", [&] { store(r->len, len); });  // relaxed: see above
}

// Relaxed load of the byte count (a snapshot; the count is only
// read-modify-written).
template <class Access>
bool read_bytes(const Ring* r, uint64_t* bytes, const char* what, Access&& access) noexcept {
  return access(what, [&] { *bytes = load(r->reclaimable_bytes); });
}

// Relaxed load of the user side's operation count (a snapshot: the engine
// thread only compares it with the one it read at its last wake-up).
template <class Access>
bool read_user_ops(const Ring* r, uint64_t* ops, Access&& access) noexcept {
  return access("", [&] { *ops = load(r->user_ops); });
}

// The start of a sampling period: the minimum and the current count of the
// period that ends, and the minimum restarted at the current count.
// Relaxed: the minimum is lowered only by a relaxed CAS (lower_min), and a
// lowering that lands between the load and the store is lost only to this
// period's minimum, which then reads the current count (the same as if the
// cancel came after the sample).
template <class Access>
bool start_period(Ring* r, uint64_t* min, uint64_t* cur, Access&& access) noexcept {
  return access("sampling", [&] {
    *min = load(r->reclaimable_bytes_min);
    *cur = load(r->reclaimable_bytes);
    store(r->reclaimable_bytes_min, *cur);
  });
}

// The sample's time and the next deadline (kNoDeadline: none, the engine
// thread samples on its own schedule). Relaxed: see above.
template <class Access>
bool publish_sample(Ring* r, uint64_t now, uint64_t deadline, Access&& access) noexcept {
  return access("publishing the deadline", [&] {
    store(r->last_sample_abs, now);
    store(r->next_sample_deadline_abs, deadline);
  });
}

template <class Access>
bool publish_deadline(Ring* r, uint64_t deadline, Access&& access) noexcept {
  return access("publishing the deadline", [&] { store(r->next_sample_deadline_abs, deadline); });  // relaxed
}

// The engine thread is about to sleep on what looks like an empty ring
// (docs/policy.md, "The engine thread and an empty ring"): kDeadlineFill
// replaces "no deadline" (and nothing else: a claimed sample or a period-0
// deadline stay), then the byte count is read again. *armed: the deadline
// now asks the first enter for an accounting call (kDeadlineFill, or 0);
// *held: the bytes the ring holds, as read after the deadline was set.
// Seq_cst CAS then seq_cst load: pairs with the user side's seq_cst add to
// reclaimable_bytes then seq_cst load of the deadline (enter, reenter,
// update_due), so one of the two sides sees the other's write: an enter
// that fills the ring after this CAS asks for the call, or this load sees
// its bytes and the thread does not sleep on them.
template <class Access>
bool arm_fill_watch(Ring* r, bool* armed, uint64_t* held, Access&& access) noexcept {
  return access("watching for the ring to fill", [&] {
    auto deadline = ref(r->next_sample_deadline_abs);
    uint64_t d = kNoDeadline;
    const bool set =
        deadline.compare_exchange_strong(d, kDeadlineFill, std::memory_order_seq_cst, std::memory_order_seq_cst);
    *armed = set || d == kDeadlineFill || d == 0;
    *held = load(r->reclaimable_bytes, std::memory_order_seq_cst);
  });
}

// The engine thread is awake with memory in the ring: a kDeadlineFill nobody
// claimed goes back to "no deadline", so callers are not sent to wake a
// thread that is not asleep. Relaxed: a stale value costs one call more.
template <class Access>
bool disarm_fill_watch(Ring* r, Access&& access) noexcept {
  return access("watching for the ring to fill", [&] {
    auto deadline = ref(r->next_sample_deadline_abs);
    uint64_t d = kDeadlineFill;
    deadline.compare_exchange_strong(d, kNoDeadline, std::memory_order_relaxed, std::memory_order_relaxed);
  });
}

// UINT64_MAX: no ceiling. Relaxed: see above.
template <class Access>
bool publish_ceiling(Ring* r, uint64_t ceiling, Access&& access) noexcept {
  return access("publishing the ceiling", [&] { store(r->reclaimable_bytes_ceiling, ceiling); });
}

// Hands bytes the reclaimer reclaimed to the ring's count
// (account_reclaimed(): relaxed read-modify-writes; the count is only ever
// read-modify-written by both sides, so no update is lost whatever the
// order, docs/protocol-proof.md §1.5, point 5). Thread-safe.
template <class Access>
bool report_reclaimed(Ring* r, uint64_t bytes, Access&& access) noexcept {
  return access("reporting reclaimed bytes", [&] { account_reclaimed(r, bytes); });
}

// Whether update_kernel_accounting may have work, without reading a clock:
// the ceiling is passed, or there is a deadline at all. Relaxed loads: a
// hint; claim_due_work() decides.
template <class Access>
bool work_maybe_due(const Ring* r, bool* due, Access&& access) noexcept {
  return access("update accounting", [&] {
    *due = load(r->reclaimable_bytes) > load(r->reclaimable_bytes_ceiling) ||
           load(r->next_sample_deadline_abs) < kNoDeadline;
  });
}

// claim_due_work() (protocol.h: relaxed CASes on the deadline and the
// ceiling) for a caller of update_kernel_accounting, at the reclaimer's
// time `now`.
template <class Access>
bool claim_due(Ring* r, uint64_t now, unsigned* claimed, Access&& access) noexcept {
  return access("update accounting", [&] { *claimed = claim_due_work(r, now); });
}

}  // namespace vmreclaim::ring
