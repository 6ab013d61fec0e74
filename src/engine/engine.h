// The reclaim engine: Darwin's kernel half, running inside the process.
// It owns the authoritative metadata of one ring (its length, the working-set
// state, bytes reclaimed but not yet reported), reads the shared ring
// defensively (every access guarded, every index checked), and reclaims
// through the platform layer. All entry points are thread-safe; reclaimers
// are serialised by one mutex. Nothing here knows whether the caller came
// through the C API, the C++ API, a background thread or a control endpoint.
#pragma once

#include <mutex>

#include "engine/config.h"
#include "engine/entry_reclaimer.h"
#include "engine/governor.h"
#include "engine/stats.h"
#include "platform/linux/clock.h"
#include "platform/linux/vm_ops.h"
#include "ring/layout.h"

namespace vmreclaim::ring {
struct ChunkClaim;
}

namespace vmreclaim::engine {

// What the engine reads the world through and whom it asks how much to
// reclaim; tests pass fakes.
struct Platform {
  platform::Clock* clock;
  platform::VmOps* vm;
  Governor* governor;  // sampling decisions and limits (policy::Governor)
};

// The thread that samples the ring on its own schedule
// (policy::EngineThread). While it sleeps on an empty ring, the first
// accounting call after the ring filled wakes it through ring_filled()
// (docs/policy.md, "The engine thread and an empty ring").
class Background {
 public:
  // Called with the engine's lock held, on the caller's thread: wake up and
  // look at pressure and limits now. Must not call into the engine.
  virtual void ring_filled() noexcept = 0;

 protected:
  ~Background() = default;
};

class Engine {
 public:
  // `ring` points at `reserved_bytes` of reserved address space, of which
  // the first ring_bytes(len) are accessible. The header is initialised here.
  Engine(ring::Ring* ring, uint64_t reserved_bytes, mach_vm_reclaim_count_t len, mach_vm_reclaim_count_t max_len,
         const Config& config, Platform platform) noexcept;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // An engine in a mapping of its own (vm_reclaim_engine), out of the
  // program's heap, which entries are refused over (RECLAIM_ENGINE_OVERLAP):
  // a FREE entry over a heap page cannot zero the engine's settings, its
  // view of the ring or its counters. nullptr if the mapping failed.
  static Engine* create(ring::Ring* ring, uint64_t reserved_bytes, mach_vm_reclaim_count_t len,
                        mach_vm_reclaim_count_t max_len, const Config& config, Platform platform) noexcept;
  static void destroy(Engine* e) noexcept;

  // More memory no entry may cover (the state the engine's platform lives
  // in, the library's image). Before the engine is shared with other threads.
  void protect_memory(uint64_t addr, uint64_t len) noexcept { own_.add(addr, len); }

  ring::Ring* ring() const noexcept { return ring_; }
  uint64_t reserved_bytes() const noexcept { return reserved_bytes_; }
  const Config& config() const noexcept { return config_; }
  Stats& stats() noexcept { return stats_; }
  mach_vm_reclaim_count_t capacity() const noexcept;
  mach_vm_reclaim_count_t max_capacity() const noexcept { return max_len_; }

  // Entry points. Each reports the bytes it (and any earlier unreported
  // work) reclaimed back to the ring's accounting and republishes the
  // deadline. VM_RECLAIM_INVALID_RING if the ring could not be accessed
  // (only returned in VMRECLAIM_GUARD=log mode; otherwise the process is dead).
  mach_vm_reclaim_error_t flush(mach_vm_reclaim_count_t entries) noexcept;
  mach_vm_reclaim_error_t resize(mach_vm_reclaim_count_t new_len) noexcept;
  mach_vm_reclaim_error_t drain(Cause cause, uint64_t* bytes_out = nullptr) noexcept;
  mach_vm_reclaim_error_t trim(uint64_t bytes, Cause cause, uint64_t* bytes_out = nullptr) noexcept;
  // The accounting trap: settle, and sample if this caller claims a due sample.
  mach_vm_reclaim_error_t update_accounting() noexcept;
  // Sample now, whatever the deadline (background thread, tests).
  mach_vm_reclaim_error_t sample_now(Cause trim_cause = Cause::trim) noexcept;
  // Checks the limits now: reclaims what they require and republishes the
  // ring's byte ceiling.
  mach_vm_reclaim_error_t enforce_limits() noexcept;

  // While a background thread samples at least once per period, the ring
  // carries no deadline and the user side reads no clock. nullptr: none
  // (callers sample on the deadline again).
  void set_background_sampling(Background* background) noexcept;
  // The background thread is about to sleep with the ring empty: the first
  // enter that fills it asks its caller for an accounting call, which wakes
  // the thread (Background::ring_filled). False if that could not be
  // arranged or the ring holds memory after all: then it must not sleep
  // until its next sample.
  bool watch_for_fill() noexcept;
  // The same for a ring that holds `held` bytes (ring_bytes() as read after
  // a sample) and that the thread means to leave unsampled for a while: the
  // next enter asks for the call that wakes it. False if that could not be
  // arranged or the ring holds more than `held` already.
  bool watch_for_enter(uint64_t held) noexcept;
  // The background thread is awake with memory in the ring: callers need
  // not wake it.
  void unwatch_fill() noexcept;

  // What the ring holds that the engine has not reclaimed.
  uint64_t ring_bytes() noexcept;
  uint64_t last_sample_ns() noexcept;
  // The user side's enters, re-enters and cancels so far (ring header); 0
  // if the ring cannot be read.
  uint64_t user_ops() noexcept;

  uint64_t unreported_bytes() const noexcept { return unreported_.load(std::memory_order_relaxed); }

  // fork(): hold the lock across it so the child never inherits it held.
  void lock_for_fork() noexcept { mu_.lock(); }
  void unlock_after_fork() noexcept { mu_.unlock(); }

 private:
  struct ChunkResult {
    uint32_t consumed = 0;
    uint64_t bytes = 0;
    bool aborted = false;  // lost a race with a cancel; try again later
    bool failed = false;   // guard fault (log mode): stop this operation
  };

  // The hole check of FREE entries across the chunks of one reclaim():
  // `mapped` was found wholly mapped by one probe over the entries below ID
  // `until` (issue 9).
  struct FreeCheck {
    MappedSpan mapped;
    uint64_t until = 0;
  };

  // One chunk: claim_chunk, copy, reclaim_copies, retire and count_reclaimed.
  ChunkResult reclaim_chunk(uint64_t byte_target, uint32_t max_entries, uint64_t entries_wanted, Cause cause,
                            FreeCheck& check) noexcept;
  // False if nothing was claimed (`out` says whether aborted or failed).
  bool claim_chunk(uint32_t max_entries, ring::ChunkClaim& c, ChunkResult& out) noexcept;
  void check_ahead(uint64_t from, uint64_t entries_wanted, FreeCheck& check) noexcept;
  EntryBatchResult reclaim_copies(const ring::EntryWords* copies, uint32_t n, uint64_t byte_target,
                                  MappedSpan& mapped) noexcept;
  void count_reclaimed(const EntryBatchResult& res, Cause cause) noexcept;
  // flush, drain and trim: reclaim under the lock, then settle.
  mach_vm_reclaim_error_t reclaim_settled(uint64_t byte_target, uint64_t entry_target, Cause cause,
                                          uint64_t* bytes_out) noexcept;
  // Copy-I/O on the shared ring, then the guard (RECLAIM_COPYIO_FAILURE
  // naming `what`) if it faulted. The accessors hand it to src/ring.
  template <class Fn>
  bool access_ring(const char* what, Fn&& fn) noexcept;
  auto guarded_access() noexcept;
  auto unguarded_access() noexcept;
  // Reclaims chunks until `byte_target` bytes or `entry_target` entries are
  // reclaimed or the ring is empty. False if the ring became inaccessible.
  bool reclaim(uint64_t byte_target, uint64_t entry_target, Cause cause, uint64_t* bytes_out) noexcept;
  bool sample_locked(Cause trim_cause) noexcept;
  bool enforce_limits_locked() noexcept;
  // Hands unreported bytes to the ring's accounting (atomics only, no lock
  // needed). False if the ring could not be accessed.
  bool settle() noexcept;
  void guard(GuardFault fault, uint64_t addr, const char* what) noexcept;
  uint64_t next_deadline(uint64_t now, uint64_t period) const noexcept;

  ring::Ring* const ring_;
  const uint64_t reserved_bytes_;
  mach_vm_reclaim_count_t len_;  // authoritative: the ring's copy is only informational
  const mach_vm_reclaim_count_t max_len_;
  const Config config_;
  Platform platform_;
  mutable std::mutex mu_;
  std::atomic<uint64_t> unreported_{0};
  bool limit_unreachable_ = false;  // logged once per episode
  std::atomic<bool> background_sampling_{false};
  Background* background_ = nullptr;  // under mu_
  Stats stats_;
  EngineMemory own_;  // what no entry may cover: the ring's reservation, ...
};

}  // namespace vmreclaim::engine
