#include "ring/reclaimer.h"

namespace vmreclaim::ring {

void init_header(Ring* r, mach_vm_reclaim_count_t len, mach_vm_reclaim_count_t max_len, uint64_t now,
                 uint64_t deadline) noexcept {
  store(r->len, len);
  store(r->max_len, max_len);
  store(r->head, uint64_t{0});
  store(r->busy, uint64_t{0});
  store(r->tail, uint64_t{0});
  store(r->reclaimable_bytes, uint64_t{0});
  store(r->reclaimable_bytes_min, uint64_t{0});
  store(r->reclaimable_bytes_ceiling, UINT64_MAX);
  store(r->last_sample_abs, now);
  store(r->next_sample_deadline_abs, deadline);
}

IndexState check_indices(const Indices& ix, uint64_t len, uint64_t chunk) noexcept {
  // Only the reclaimer writes head and busy, and between chunks busy == head.
  if (ix.busy < ix.head || ix.busy - ix.head > chunk) return IndexState::busy_corrupt;
  // The lock a cancel or re-enter takes is an ID at most a ring's length
  // below the tail it found, and that tail was at or above head: a tail
  // further below head than that is never a lock.
  if (ix.tail < ix.head) return ix.head - ix.tail > len ? IndexState::tail_far_below : IndexState::cancel_in_flight;
  if (ix.tail - ix.head > len) return IndexState::tail_beyond;
  return IndexState::ok;
}

const char* index_state_text(IndexState s) noexcept {
  switch (s) {
    case IndexState::busy_corrupt: return "a chunk (busy/head corrupted)";
    case IndexState::tail_far_below: return "a chunk (tail more than the ring's length below head)";
    case IndexState::tail_beyond: return "a chunk (tail beyond capacity)";
    case IndexState::ok:
    case IndexState::cancel_in_flight: break;
  }
  return "a chunk";
}

}  // namespace vmreclaim::ring
