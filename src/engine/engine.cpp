#include "engine/engine.h"

#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <new>

#include "engine/entry_reclaimer.h"
#include "platform/linux/copyio.h"
#include "ring/protocol.h"
#include "ring/reclaimer.h"
#include "support/log.h"
#include "support/probes.h"

namespace vmreclaim::engine {
namespace {

constexpr auto relaxed = std::memory_order_relaxed;

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

Engine::Engine(ring::Ring* ring, uint64_t reserved_bytes, mach_vm_reclaim_count_t len, mach_vm_reclaim_count_t max_len,
               const Config& config, Platform platform) noexcept
    : ring_(ring), reserved_bytes_(reserved_bytes), len_(len), max_len_(max_len), config_(config), platform_(platform) {
  platform::copyio_install();
  own_.add(ring_addr(ring), reserved_bytes);
  const uint64_t now = platform_.clock->now_ns();
  platform_.governor->start(now);
  ring::init_header(ring_, len, max_len, now, next_deadline(now, platform_.governor->period_ns()));
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

void Engine::guard(GuardFault fault, uint64_t addr, const char* what) noexcept {
  stats_.guard_faults[static_cast<int>(fault)].add(1);
  raise_guard(fault, addr, config_.guard, what);
}

// Copy-I/O, then the guard: every access of the engine to the shared ring
// goes through here (or through unguarded_access(), where a failure is only
// reported as VM_RECLAIM_INVALID_RING).
template <class Fn>
bool Engine::access_ring(const char* what, Fn&& fn) noexcept {
  if (platform::copyio(fn)) return true;
  guard(GuardFault::copyio_failure, ring_addr(ring_), what);
  return false;
}

auto Engine::guarded_access() noexcept {
  return [this](const char* what, auto&& fn) { return access_ring(what, fn); };
}

auto Engine::unguarded_access() noexcept {
  return [](const char*, auto&& fn) { return platform::copyio(fn); };
}

uint64_t Engine::ring_bytes() noexcept {
  uint64_t held = 0;
  // A ring that cannot be read holds nothing to report; no guard here (the
  // next reclaim reports it).
  if (!ring::read_bytes(ring_, &held, "", unguarded_access())) return 0;
  uint64_t unreported = unreported_.load(relaxed);
  return held > unreported ? held - unreported : 0;
}

uint64_t Engine::user_ops() noexcept {
  uint64_t ops = 0;
  // As ring_bytes(): no guard here; the next reclaim reports an unreadable ring.
  if (!ring::read_user_ops(ring_, &ops, unguarded_access())) return 0;
  return ops;
}

bool Engine::claim_chunk(uint32_t max_entries, ring::ChunkClaim& c, ChunkResult& out) noexcept {
  c = ring::claim(ring_, len_, config_.chunk_size, max_entries, guarded_access());
  switch (c.status) {
    case ring::ChunkStatus::claimed: return true;
    case ring::ChunkStatus::empty: break;
    case ring::ChunkStatus::aborted: out.aborted = true; break;
    case ring::ChunkStatus::index_failure:
      guard(GuardFault::index_failure, ring_addr(ring_), c.what);
      out.failed = true;
      break;
    case ring::ChunkStatus::access_failure: out.failed = true; break;  // reported by the access
  }
  return false;
}

EntryBatchResult Engine::reclaim_copies(const ring::EntryWords* copies, uint32_t n, uint64_t byte_target,
                                        MappedSpan& mapped) noexcept {
  EntryBatchResult res = reclaim_entries(copies, n, byte_target, *platform_.vm, config_, own_, &mapped);
  for (int f = 0; f < kGuardFaultKinds; f++) stats_.guard_faults[f].add(res.faults[f]);
  stats_.free_failures.add(res.free_failures);
  return res;
}

void Engine::count_reclaimed(const EntryBatchResult& res, Cause cause) noexcept {
  unreported_.fetch_add(res.bytes, relaxed);
  stats_.reclaimed_entries[static_cast<int>(cause)].add(res.consumed);
  stats_.reclaimed_bytes[static_cast<int>(cause)].add(res.bytes);
}

// The entries ahead of a chunk, peeked (a hint), and one probe over their
// span if they lie in one run (probe_free_span).
void Engine::check_ahead(uint64_t from, uint64_t entries_wanted, FreeCheck& check) noexcept {
  ring::EntryWords ahead[Config::kMaxChunk];
  uint64_t n = 0;
  const uint64_t max = std::min<uint64_t>(entries_wanted, Config::kMaxChunk);
  // Unguarded: a ring that cannot be read here fails the chunk's own copy.
  if (!ring::peek_entries(ring_, len_, from, max, ahead, &n, unguarded_access())) n = 0;
  check.mapped = probe_free_span(ahead, static_cast<uint32_t>(n), *platform_.vm);
  check.until = from + n;
}

// One chunk: claim it (busy), copy its entries out, reclaim them, retire it
// (head). The protocol steps are ring::claim/copy_chunk/retire
// (src/ring/reclaimer.h); here are the guards and the statistics.
Engine::ChunkResult Engine::reclaim_chunk(uint64_t byte_target, uint32_t max_entries, uint64_t entries_wanted,
                                          Cause cause, FreeCheck& check) noexcept {
  ChunkResult out;
  ring::ChunkClaim c;
  if (!claim_chunk(max_entries, c, out)) return out;
  // More chunks to come: one probe over the span of the next entries (up to
  // kMaxChunk of them) instead of one per chunk, redone once the chunks
  // pass them. A single chunk checks its own runs, as before.
  if (entries_wanted > c.count && c.head + c.count > check.until) check_ahead(c.head, entries_wanted, check);
  // [head, head + count) is ours now: the user side cannot cancel or reuse it.
  ring::EntryWords copies[Config::kMaxChunk];
  if (!ring::copy_chunk(ring_, len_, c.head, c.count, copies, guarded_access())) {
    out.failed = true;
    return out;
  }
  const EntryBatchResult res = reclaim_copies(copies, static_cast<uint32_t>(c.count), byte_target, check.mapped);
  if (!ring::retire(ring_, c.head + res.consumed, guarded_access())) out.failed = true;
  count_reclaimed(res, cause);
  out.consumed = res.consumed;
  out.bytes = res.bytes;
  return out;
}

bool Engine::reclaim(uint64_t byte_target, uint64_t entry_target, Cause cause, uint64_t* bytes_out) noexcept {
  uint64_t bytes = 0, entries = 0;
  uint64_t aborted_rounds = 0;  // consecutive: reset by a chunk that makes progress
  uint64_t stall_start = 0;
  bool accessible = true;
  FreeCheck check;  // for this call only
  while (bytes < byte_target && entries < entry_target) {
    uint64_t want = std::min<uint64_t>(entry_target - entries, config_.chunk_size);
    ChunkResult c =
        reclaim_chunk(byte_target - bytes, static_cast<uint32_t>(want), entry_target - entries, cause, check);
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
  if (!ring::read_bytes(ring_, &held, "reporting reclaimed bytes", guarded_access())) {
    unreported_.fetch_add(bytes, relaxed);
    return false;
  }
  if (bytes > held) {
    // The user side entered fewer bytes than the engine found in entries.
    guard(GuardFault::accounting_failure, held, "reporting reclaimed bytes");
    bytes = held;
  }
  return ring::report_reclaimed(ring_, bytes, unguarded_access());
}

bool Engine::sample_locked(Cause trim_cause) noexcept {
  const uint64_t now = platform_.clock->now_ns();
  uint64_t min = 0, cur = 0;
  if (!ring::start_period(ring_, &min, &cur, guarded_access())) return false;
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
  return ring::publish_sample(ring_, now, next_deadline(now, period), unguarded_access());
}

mach_vm_reclaim_error_t Engine::reclaim_settled(uint64_t byte_target, uint64_t entry_target, Cause cause,
                                                uint64_t* bytes_out) noexcept {
  std::lock_guard lk(mu_);
  uint64_t bytes = 0;
  const bool ok = reclaim(byte_target, entry_target, cause, &bytes);
  if (bytes_out != nullptr) *bytes_out = bytes;
  return ok && settle() ? VM_RECLAIM_SUCCESS : VM_RECLAIM_INVALID_RING;
}

mach_vm_reclaim_error_t Engine::flush(mach_vm_reclaim_count_t entries) noexcept {
  uint64_t bytes = 0;
  const mach_vm_reclaim_error_t err = reclaim_settled(UINT64_MAX, entries, Cause::flush, &bytes);
  VMR_PROBE2(reclaim_flush, entries, bytes);
  return err;
}

mach_vm_reclaim_error_t Engine::drain(Cause cause, uint64_t* bytes_out) noexcept {
  uint64_t bytes = 0;
  const mach_vm_reclaim_error_t err = reclaim_settled(UINT64_MAX, UINT64_MAX, cause, &bytes);
  VMR_PROBE2(reclaim_drain, static_cast<int>(::getpid()), bytes);
  if (bytes_out != nullptr) *bytes_out = bytes;
  return err;
}

mach_vm_reclaim_error_t Engine::trim(uint64_t target, Cause cause, uint64_t* bytes_out) noexcept {
  uint64_t bytes = 0;
  const mach_vm_reclaim_error_t err = reclaim_settled(target, UINT64_MAX, cause, &bytes);
  VMR_PROBE3(reclaim_trim, static_cast<int>(::getpid()), target, bytes);
  if (bytes_out != nullptr) *bytes_out = bytes;
  return err;
}

mach_vm_reclaim_error_t Engine::resize(mach_vm_reclaim_count_t new_len) noexcept {
  std::lock_guard lk(mu_);
  const mach_vm_reclaim_count_t old_len = len_;
  // Every entry goes first: IDs would map to other slots under a new length.
  uint64_t bytes = 0;
  if (!reclaim(UINT64_MAX, UINT64_MAX, Cause::resize, &bytes)) return VM_RECLAIM_INVALID_RING;
  ring::Indices ix;
  if (!ring::read_indices(ring_, &ix, guarded_access())) return VM_RECLAIM_INVALID_RING;
  if (ix.head != ix.tail) {
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
  if (!ring::publish_len(ring_, new_len, guarded_access())) return VM_RECLAIM_INVALID_RING;
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
  if (!ring::work_maybe_due(ring_, &maybe, guarded_access())) return VM_RECLAIM_INVALID_RING;
  if (!maybe) return VM_RECLAIM_SUCCESS;
  unsigned claimed = ring::kClaimNone;
  if (!ring::claim_due(ring_, platform_.clock->now_ns(), &claimed, guarded_access())) return VM_RECLAIM_INVALID_RING;
  if (claimed == ring::kClaimNone) return VM_RECLAIM_SUCCESS;
  std::lock_guard lk(mu_);
  // The ring filled while the background thread slept: one wake-up, only
  // on that transition (the claim put the deadline back to "none").
  if ((claimed & ring::kClaimFill) != 0 && background_ != nullptr) background_->ring_filled();
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

void Engine::set_background_sampling(Background* background) noexcept {
  std::lock_guard lk(mu_);
  background_ = background;
  background_sampling_.store(background != nullptr, relaxed);
  const uint64_t deadline = next_deadline(platform_.clock->now_ns(), platform_.governor->period_ns());
  ring::publish_deadline(ring_, deadline, guarded_access());
}

bool Engine::watch_for_fill() noexcept {
  std::lock_guard lk(mu_);
  if (background_ == nullptr) return false;
  bool armed = false;
  uint64_t held = 0;
  // Unguarded: a ring that cannot be read is reported by the next reclaim.
  if (!ring::arm_fill_watch(ring_, &armed, &held, unguarded_access())) return false;
  if (held <= unreported_.load(relaxed)) return armed;
  // It filled meanwhile: the thread stays awake, so no caller need wake it.
  ring::disarm_fill_watch(ring_, unguarded_access());
  return false;
}

bool Engine::watch_for_enter(uint64_t held) noexcept {
  std::lock_guard lk(mu_);
  if (background_ == nullptr) return false;
  bool armed = false;
  uint64_t now_held = 0;
  // The same pairing as watch_for_fill (ring::arm_fill_watch): an enter
  // after the deadline is set asks for the call, or its bytes are seen here.
  if (!ring::arm_fill_watch(ring_, &armed, &now_held, unguarded_access())) return false;
  const uint64_t unreported = unreported_.load(relaxed);
  if ((now_held > unreported ? now_held - unreported : 0) <= held) return armed;
  ring::disarm_fill_watch(ring_, unguarded_access());
  return false;
}

void Engine::unwatch_fill() noexcept { ring::disarm_fill_watch(ring_, unguarded_access()); }

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
  return ring::publish_ceiling(ring_, ceiling, unguarded_access());
}

mach_vm_reclaim_error_t Engine::sample_now(Cause trim_cause) noexcept {
  std::lock_guard lk(mu_);
  if (!sample_locked(trim_cause) || !settle()) return VM_RECLAIM_INVALID_RING;
  return VM_RECLAIM_SUCCESS;
}

}  // namespace vmreclaim::engine
