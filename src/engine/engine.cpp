#include "engine/engine.h"

#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <new>

#include "engine/entry_reclaimer.h"
#include "platform/linux/copyio.h"
#include "ring/protocol.h"
#include "support/log.h"
#include "support/probes.h"

namespace vmreclaim::engine {
namespace {

constexpr auto relaxed = std::memory_order_relaxed;
constexpr auto acquire = std::memory_order_acquire;
constexpr auto release = std::memory_order_release;

// A cancel or re-enter holds the tail below head for a few instructions (its
// lock, docs/protocol-proof.md F2). The engine yields this many times, then
// looks every kStallPauseNs; a tail that stays below head for kStallLimitNs
// is no lock (a thread preempted inside one is back long before) but indices
// the user side cannot produce: RECLAIM_INDEX_FAILURE.
constexpr uint64_t kYieldRounds = 1000;
constexpr uint64_t kStallPauseNs = 1'000'000;
constexpr uint64_t kStallLimitNs = 1'000'000'000;

uint64_t ring_addr(const ring::Ring* r) { return reinterpret_cast<uint64_t>(r); }

}  // namespace

const char* cause_name(Cause cause) noexcept {
  switch (cause) {
    case Cause::flush: return "flush";
    case Cause::trim: return "trim";
    case Cause::drain: return "drain";
    case Cause::resize: return "resize";
    case Cause::limit: return "limit";
    case Cause::suspend: return "suspend";
    case Cause::background: return "background";
    case Cause::count_: break;
  }
  return "unknown";
}

Engine::Engine(ring::Ring* ring, uint64_t reserved_bytes, mach_vm_reclaim_count_t len, mach_vm_reclaim_count_t max_len,
               const Config& config, Platform platform) noexcept
    : ring_(ring), reserved_bytes_(reserved_bytes), len_(len), max_len_(max_len), config_(config), platform_(platform) {
  platform::copyio_install();
  own_.add(ring_addr(ring), reserved_bytes);
  const uint64_t now = platform_.clock->now_ns();
  platform_.governor->start(now);
  ring::store(ring_->len, len);
  ring::store(ring_->max_len, max_len);
  ring::store(ring_->head, uint64_t{0});
  ring::store(ring_->busy, uint64_t{0});
  ring::store(ring_->tail, uint64_t{0});
  ring::store(ring_->reclaimable_bytes, uint64_t{0});
  ring::store(ring_->reclaimable_bytes_min, uint64_t{0});
  ring::store(ring_->reclaimable_bytes_ceiling, UINT64_MAX);
  ring::store(ring_->last_sample_abs, now);
  ring::store(ring_->next_sample_deadline_abs, next_deadline(now, platform_.governor->period_ns()));
}

namespace {
uint64_t engine_mapping_bytes() noexcept {
  const uint64_t page = ring::page_size();
  return (sizeof(Engine) + page - 1) / page * page;
}
}  // namespace

Engine* Engine::create(ring::Ring* ring, uint64_t reserved_bytes, mach_vm_reclaim_count_t len,
                       mach_vm_reclaim_count_t max_len, const Config& config, Platform platform) noexcept {
  void* p = platform::map_private(engine_mapping_bytes(), "vm_reclaim_engine");
  if (p == nullptr) return nullptr;
  auto* e = new (p) Engine(ring, reserved_bytes, len, max_len, config, platform);
  e->own_.add(reinterpret_cast<uint64_t>(p), engine_mapping_bytes());
  return e;
}

void Engine::destroy(Engine* e) noexcept {
  if (e == nullptr) return;
  e->~Engine();
  platform::unmap_private(e, engine_mapping_bytes());
}

mach_vm_reclaim_count_t Engine::capacity() const noexcept {
  std::lock_guard lk(mu_);
  return len_;
}

uint64_t Engine::last_sample_ns() noexcept {
  std::lock_guard lk(mu_);
  return platform_.governor->last_sample_ns();
}

uint64_t Engine::ring_bytes() noexcept {
  uint64_t held = 0;
  if (!platform::copyio([&] { held = ring::load(ring_->reclaimable_bytes); })) return 0;
  uint64_t unreported = unreported_.load(relaxed);
  return held > unreported ? held - unreported : 0;
}

void Engine::guard(GuardFault fault, uint64_t addr, const char* what) noexcept {
  stats_.guard_faults[static_cast<int>(fault)].add(1);
  raise_guard(fault, addr, config_.guard, what);
}

Engine::ChunkResult Engine::reclaim_chunk(uint64_t byte_target, uint32_t max_entries, Cause cause) noexcept {
  ChunkResult out;
  ring::Ring* const r = ring_;
  uint64_t head = 0, busy = 0, tail = 0;
  if (!platform::copyio([&] {
        head = ring::load(r->head, acquire);
        busy = ring::load(r->busy, acquire);
        tail = ring::load(r->tail, acquire);
      })) {
    guard(GuardFault::copyio_failure, ring_addr(r), "reading the ring indices");
    out.failed = true;
    return out;
  }
  // Only the engine writes head and busy, and between chunks busy == head.
  if (busy < head || busy - head > config_.chunk_size) {
    guard(GuardFault::index_failure, ring_addr(r), "a chunk (busy/head corrupted)");
    out.failed = true;
    return out;
  }
  // The lock a cancel or re-enter takes is an ID at most a ring's length
  // below the tail it found, and that tail was at or above head: a tail
  // further below head than that is never a lock.
  if (tail < head && head - tail > len_) {
    guard(GuardFault::index_failure, ring_addr(r), "a chunk (tail more than the ring's length below head)");
    out.failed = true;
    return out;
  }
  if (tail < head) {
    out.aborted = true;  // a cancel is in flight
    return out;
  }
  if (tail - head > len_) {
    guard(GuardFault::index_failure, ring_addr(r), "a chunk (tail beyond capacity)");
    out.failed = true;
    return out;
  }
  uint64_t k = std::min<uint64_t>({tail - head, max_entries, config_.chunk_size});
  if (k == 0) return out;

  bool ok = true;
  for (;;) {
    busy = head + k;
    ok = platform::copyio([&] {
      ring::store(r->busy, busy, relaxed);
      // Orders the busy store before the tail load; pairs with the user
      // side's fence between its tail store and busy load (cancel, reenter).
      ring::full_fence();
      tail = ring::load(r->tail, acquire);
    });
    if (!ok || tail >= busy) break;
    // A cancel pulled the tail into the chunk: take only what is below it.
    // The chunk only shrinks, so this converges.
    if (tail <= head) {
      ok = platform::copyio([&] { ring::store(r->busy, head, release); });
      if (ok) {
        // The tail came down to head or below: a cancel of the oldest ID is
        // in flight, not an empty ring (F2). Try again after it.
        out.aborted = true;
        return out;
      }
      break;
    }
    k = tail - head;
  }
  if (!ok) {
    guard(GuardFault::copyio_failure, ring_addr(r), "publishing busy");
    out.failed = true;
    return out;
  }

  // [head, busy) is ours now: the user side cannot cancel or reuse it.
  ring::EntryWords copies[Config::kMaxChunk];
  const uint64_t len = len_;
  if (!platform::copyio([&] {
        for (uint64_t i = 0; i < k; i++) copies[i] = ring::load_entry(r, (head + i) % len);
      })) {
    guard(GuardFault::copyio_failure, ring_addr(r), "copying entries");
    out.failed = true;
    return out;
  }
  EntryBatchResult res = reclaim_entries(copies, static_cast<uint32_t>(k), byte_target, *platform_.vm, config_, own_);
  for (int f = 0; f < kGuardFaultKinds; f++) stats_.guard_faults[f].add(res.faults[f]);
  stats_.free_failures.add(res.free_failures);

  head += res.consumed;
  if (!platform::copyio([&] {
        // Release: whoever sees the new head sees the memory reclaimed.
        ring::store(r->head, head, release);
        ring::store(r->busy, head, release);
      })) {
    guard(GuardFault::copyio_failure, ring_addr(r), "publishing head");
    out.failed = true;
  }
  unreported_.fetch_add(res.bytes, relaxed);
  stats_.reclaimed_entries[static_cast<int>(cause)].add(res.consumed);
  stats_.reclaimed_bytes[static_cast<int>(cause)].add(res.bytes);
  out.consumed = res.consumed;
  out.bytes = res.bytes;
  return out;
}

bool Engine::reclaim(uint64_t byte_target, uint64_t entry_target, Cause cause, uint64_t* bytes_out) noexcept {
  uint64_t bytes = 0, entries = 0;
  uint64_t aborted_rounds = 0;  // consecutive: reset by a chunk that makes progress
  uint64_t stall_start = 0;
  bool accessible = true;
  while (bytes < byte_target && entries < entry_target) {
    uint64_t want = std::min<uint64_t>(entry_target - entries, config_.chunk_size);
    ChunkResult c = reclaim_chunk(byte_target - bytes, static_cast<uint32_t>(want), cause);
    bytes += c.bytes;
    entries += c.consumed;
    if (c.failed) {
      accessible = false;
      break;
    }
    if (c.aborted) {
      stats_.aborted_chunks.add(1);
      if (++aborted_rounds <= kYieldRounds) {
        ::sched_yield();
        continue;
      }
      const uint64_t now = platform_.clock->now_ns();
      if (aborted_rounds == kYieldRounds + 1) {
        stall_start = now;
      } else if (now - stall_start >= kStallLimitNs || aborted_rounds > kYieldRounds + kStallLimitNs / kStallPauseNs) {
        guard(GuardFault::index_failure, ring_addr(ring_), "a chunk (tail stayed below head for a second)");
        accessible = false;
        break;
      }
      platform_.clock->sleep_ns(kStallPauseNs);
      continue;
    }
    aborted_rounds = 0;
    if (c.consumed == 0) break;  // empty
  }
  if (bytes_out != nullptr) *bytes_out = bytes;
  return accessible;
}

bool Engine::settle() noexcept {
  uint64_t bytes = unreported_.exchange(0, relaxed);
  if (bytes == 0) return true;
  uint64_t held = 0;
  if (!platform::copyio([&] { held = ring::load(ring_->reclaimable_bytes); })) {
    unreported_.fetch_add(bytes, relaxed);
    guard(GuardFault::copyio_failure, ring_addr(ring_), "reporting reclaimed bytes");
    return false;
  }
  if (bytes > held) {
    // The user side entered fewer bytes than the engine found in entries.
    guard(GuardFault::accounting_failure, held, "reporting reclaimed bytes");
    bytes = held;
  }
  return platform::copyio([&] { ring::account_reclaimed(ring_, bytes); });
}

bool Engine::sample_locked(Cause trim_cause) noexcept {
  ring::Ring* const r = ring_;
  const uint64_t now = platform_.clock->now_ns();
  uint64_t min = 0, cur = 0;
  if (!platform::copyio([&] {
        min = ring::load(r->reclaimable_bytes_min);
        cur = ring::load(r->reclaimable_bytes);
        ring::store(r->reclaimable_bytes_min, cur);  // a new period starts
      })) {
    guard(GuardFault::copyio_failure, ring_addr(r), "sampling");
    return false;
  }
  SampleReading in;
  in.now_ns = now;
  in.min_bytes = min;
  in.cur_bytes = cur;
  in.unreported_bytes = unreported_.load(relaxed);
  in.page_size = ring::page_size();
  const SampleDecision res = platform_.governor->sample(in);
  const uint64_t period = res.period_ns;
  stats_.samples.add(1);
  stats_.wma_bytes.store(res.wma_bytes, relaxed);
  stats_.last_min_bytes.store(res.min_bytes, relaxed);
  stats_.footprint_max.store(res.footprint_max, relaxed);
  VMR_PROBE5(reclaim_sample, static_cast<int>(::getpid()), res.wma, res.min_bytes, res.cur_bytes, res.trim_bytes);
  support::log(support::LogLevel::debug, "sample: min %llu cur %llu wma %llu threshold %llu trim %llu",
               static_cast<unsigned long long>(res.min_bytes), static_cast<unsigned long long>(res.cur_bytes),
               static_cast<unsigned long long>(res.wma_bytes), static_cast<unsigned long long>(res.autotrim_threshold),
               static_cast<unsigned long long>(res.trim_bytes));
  bool accessible = true;
  if (res.accounting_failure) {
    guard(GuardFault::accounting_failure, cur, "sampling");
  } else if (res.trim_bytes > 0) {
    uint64_t got = 0;
    accessible = reclaim(res.trim_bytes, UINT64_MAX, trim_cause, &got);
    stats_.trims.add(1);
    VMR_PROBE3(reclaim_trim, static_cast<int>(::getpid()), res.trim_bytes, got);
  }
  if (!accessible) return false;
  const uint64_t deadline = next_deadline(now, period);
  return platform::copyio([&] {
    ring::store(r->last_sample_abs, now);
    ring::store(r->next_sample_deadline_abs, deadline, release);
  });
}

mach_vm_reclaim_error_t Engine::flush(mach_vm_reclaim_count_t entries) noexcept {
  std::lock_guard lk(mu_);
  uint64_t bytes = 0;
  bool ok = reclaim(UINT64_MAX, entries, Cause::flush, &bytes);
  VMR_PROBE2(reclaim_flush, entries, bytes);
  if (!ok || !settle()) return VM_RECLAIM_INVALID_RING;
  return VM_RECLAIM_SUCCESS;
}

mach_vm_reclaim_error_t Engine::drain(Cause cause, uint64_t* bytes_out) noexcept {
  std::lock_guard lk(mu_);
  uint64_t bytes = 0;
  bool ok = reclaim(UINT64_MAX, UINT64_MAX, cause, &bytes);
  VMR_PROBE2(reclaim_drain, static_cast<int>(::getpid()), bytes);
  if (bytes_out != nullptr) *bytes_out = bytes;
  if (!ok || !settle()) return VM_RECLAIM_INVALID_RING;
  return VM_RECLAIM_SUCCESS;
}

mach_vm_reclaim_error_t Engine::trim(uint64_t target, Cause cause, uint64_t* bytes_out) noexcept {
  std::lock_guard lk(mu_);
  uint64_t bytes = 0;
  bool ok = reclaim(target, UINT64_MAX, cause, &bytes);
  VMR_PROBE3(reclaim_trim, static_cast<int>(::getpid()), target, bytes);
  if (bytes_out != nullptr) *bytes_out = bytes;
  if (!ok || !settle()) return VM_RECLAIM_INVALID_RING;
  return VM_RECLAIM_SUCCESS;
}

mach_vm_reclaim_error_t Engine::resize(mach_vm_reclaim_count_t new_len) noexcept {
  std::lock_guard lk(mu_);
  const mach_vm_reclaim_count_t old_len = len_;
  // Every entry goes first: IDs would map to other slots under a new length.
  uint64_t bytes = 0;
  if (!reclaim(UINT64_MAX, UINT64_MAX, Cause::resize, &bytes)) return VM_RECLAIM_INVALID_RING;
  uint64_t head = 0, tail = 0;
  if (!platform::copyio([&] {
        head = ring::load(ring_->head, acquire);
        tail = ring::load(ring_->tail, acquire);
      })) {
    guard(GuardFault::copyio_failure, ring_addr(ring_), "resize");
    return VM_RECLAIM_INVALID_RING;
  }
  if (head != tail) {
    // Only a caller entering or cancelling concurrently (which the API
    // forbids) leaves entries behind; changing the length now would alias them.
    support::log_always("resize: entries were entered during the resize; capacity left at %u", old_len);
    settle();
    return VM_RECLAIM_RESOURCE_SHORTAGE;
  }
  auto* base = reinterpret_cast<char*>(ring_);
  const uint64_t old_bytes = ring::ring_bytes(old_len), new_bytes = ring::ring_bytes(new_len);
  if (new_bytes > old_bytes) {
    if (platform_.vm->protect(base + old_bytes, new_bytes - old_bytes, true) != 0) {
      settle();
      return VM_RECLAIM_RESOURCE_SHORTAGE;
    }
  } else if (new_bytes < old_bytes) {
    // Give the unused entry pages back; failure only costs memory.
    platform_.vm->discard(base + new_bytes, old_bytes - new_bytes);
    platform_.vm->protect(base + new_bytes, old_bytes - new_bytes, false);
  }
  len_ = new_len;
  // IDs keep increasing: head == busy == tail stays where it was.
  if (!platform::copyio([&] { ring::store(ring_->len, new_len, release); })) {
    guard(GuardFault::copyio_failure, ring_addr(ring_), "resize");
    return VM_RECLAIM_INVALID_RING;
  }
  VMR_PROBE2(reclaim_ring_resize, old_len, new_len);
  return settle() ? VM_RECLAIM_SUCCESS : VM_RECLAIM_INVALID_RING;
}

mach_vm_reclaim_error_t Engine::update_accounting() noexcept {
  // Settling and claiming are atomics only: callers that find nothing due
  // (or lose the claim) never wait for the engine's lock.
  if (!settle()) return VM_RECLAIM_INVALID_RING;
  // Without reading any clock: is the ceiling passed, or is there a
  // deadline at all (none while the engine thread samples on its own)?
  bool maybe = false;
  if (!platform::copyio([&] {
        maybe = ring::load(ring_->reclaimable_bytes) > ring::load(ring_->reclaimable_bytes_ceiling) ||
                ring::load(ring_->next_sample_deadline_abs) < ring::kNoDeadline;
      })) {
    guard(GuardFault::copyio_failure, ring_addr(ring_), "update accounting");
    return VM_RECLAIM_INVALID_RING;
  }
  if (!maybe) return VM_RECLAIM_SUCCESS;
  unsigned claimed = ring::kClaimNone;
  const uint64_t now = platform_.clock->now_ns();
  if (!platform::copyio([&] { claimed = ring::claim_due_work(ring_, now); })) {
    guard(GuardFault::copyio_failure, ring_addr(ring_), "update accounting");
    return VM_RECLAIM_INVALID_RING;
  }
  if (claimed == ring::kClaimNone) return VM_RECLAIM_SUCCESS;
  std::lock_guard lk(mu_);
  if ((claimed & ring::kClaimLimit) != 0 && !enforce_limits_locked()) return VM_RECLAIM_INVALID_RING;
  if ((claimed & ring::kClaimSample) != 0 && !sample_locked(Cause::trim)) return VM_RECLAIM_INVALID_RING;
  return settle() ? VM_RECLAIM_SUCCESS : VM_RECLAIM_INVALID_RING;
}

uint64_t Engine::next_deadline(uint64_t now, uint64_t period) const noexcept {
  // Period 0 samples at every call, as on Darwin: 0 is always due and needs
  // no clock on the user side. Otherwise, while the engine thread samples on
  // its own schedule, the user side has no deadline to watch.
  if (period == 0) return 0;
  return background_sampling_.load(relaxed) ? ring::kNoDeadline : now + period;
}

void Engine::set_background_sampling(bool on) noexcept {
  std::lock_guard lk(mu_);
  background_sampling_.store(on, relaxed);
  const uint64_t deadline = next_deadline(platform_.clock->now_ns(), platform_.governor->period_ns());
  if (!platform::copyio([&] { ring::store(ring_->next_sample_deadline_abs, deadline, release); })) {
    guard(GuardFault::copyio_failure, ring_addr(ring_), "publishing the deadline");
  }
}

mach_vm_reclaim_error_t Engine::enforce_limits() noexcept {
  std::lock_guard lk(mu_);
  return enforce_limits_locked() && settle() ? VM_RECLAIM_SUCCESS : VM_RECLAIM_INVALID_RING;
}

bool Engine::enforce_limits_locked() noexcept {
  uint64_t ceiling = UINT64_MAX;
  if (LimitVerdict d; platform_.governor->check_limits(ring_bytes(), &d)) {
    if (d.reclaim_bytes > 0 && !reclaim(d.reclaim_bytes, UINT64_MAX, Cause::limit, nullptr)) return false;
    if (d.unreachable && !limit_unreachable_) {
      support::log_always(
          "memory use is above its limit even with the ring empty; the ring is drained "
          "and the next check waits for further growth");
    }
    limit_unreachable_ = d.unreachable;
    // In the user side's terms once this call settles (every entry point
    // settles before returning); UINT64_MAX stays reserved for "none".
    ceiling = std::min(d.ceiling, UINT64_MAX - 1);
  }
  return platform::copyio([&] { ring::store(ring_->reclaimable_bytes_ceiling, ceiling, release); });
}

mach_vm_reclaim_error_t Engine::sample_now(Cause trim_cause) noexcept {
  std::lock_guard lk(mu_);
  if (!sample_locked(trim_cause) || !settle()) return VM_RECLAIM_INVALID_RING;
  return VM_RECLAIM_SUCCESS;
}

}  // namespace vmreclaim::engine
