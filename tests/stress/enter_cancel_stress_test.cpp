// Many threads on one ring (docs/design.md §8): workers enter and cancel regions
// under one mutex (the API requires the caller's lock for enter, cancel and
// resize) while other threads flush, trim, query and update the accounting
// with no lock at all, and the engine thread samples and trims as often as it
// may (a 1 ms period; it keeps to its own 10 ms minimum).
// What must hold, whatever the interleaving:
//   - a region cancelled as UNRECLAIMED holds exactly the pattern written
//     before it was entered; a FREED one reads zero;
//   - every entered byte is either taken back or reclaimed, and the ring's
//     count returns exactly to 0 after a full drain.
#include <gtest/gtest.h>
#include <mach/vm_reclaim.h>
#include <sys/mman.h>
#include <vmreclaim/vmreclaim.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ring/layout.h"
#include "support/memory.h"

namespace vmreclaim::test {
namespace {

using namespace std::chrono_literals;

constexpr int kWorkers = 4;
constexpr int kRegionsPerWorker = 96;  // 384 regions for a 251- or 507-entry ring: it fills up
constexpr auto kDuration = 2s;
// ... and longer if need be, until a cancel has met a chunk in progress
// (BUSY): the race the test is about must have happened.
constexpr auto kMaxDuration = 60s;

// Sample and trim often, and let trims through whatever the footprint.
class StressEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    ::setenv("VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS", "1000000", 0);
    ::setenv("VMRECLAIM_AUTOTRIM_PCT_NORMAL", "0", 0);
  }
};
[[maybe_unused]] ::testing::Environment* const kEnv = ::testing::AddGlobalTestEnvironment(new StressEnvironment);

struct Region {
  unsigned char* addr = nullptr;
  size_t size = 0;
  mach_vm_reclaim_action_t action = VM_RECLAIM_FREE;
  mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
  bool in_ring = false;
  bool engine_owned = false;  // a cancel answered BUSY
  bool backed_off = false;    // ... and the entry was later seen back in the ring
  uint64_t seed = 0;
};

// Region contents, a word at a time (regions are whole pages): every word
// differs per region generation and position.
uint64_t word_pattern(uint64_t seed, size_t i) { return seed ^ (i * 0x9e3779b97f4a7c15ull); }
void fill_words(unsigned char* p, size_t size, uint64_t seed) {
  auto* w = reinterpret_cast<uint64_t*>(p);
  for (size_t i = 0; i < size / 8; i++) w[i] = word_pattern(seed, i);
}
bool holds_words(const unsigned char* p, size_t size, uint64_t seed) {
  auto* w = reinterpret_cast<const uint64_t*>(p);
  for (size_t i = 0; i < size / 8; i++) {
    if (w[i] != word_pattern(seed, i)) return false;
  }
  return true;
}
bool zero_words(const unsigned char* p, size_t size) {
  auto* w = reinterpret_cast<const uint64_t*>(p);
  for (size_t i = 0; i < size / 8; i++) {
    if (w[i] != 0) return false;
  }
  return true;
}

unsigned char* map_region(size_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<unsigned char*>(p);
}

struct Counts {
  std::atomic<uint64_t> entered{0}, full{0}, unreclaimed{0}, freed{0}, deallocated{0}, busy{0}, busy_backed_off{0};
  std::atomic<uint64_t> reentered{0}, reenter_lost{0}, resizes{0}, flushes{0}, updates{0}, queries{0};
  std::atomic<uint64_t> corrupt{0}, not_zero{0}, errors{0}, map_failures{0};
};

class Stress : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(mach_vm_reclaim_ring_allocate(&ring_, mach_vm_reclaim_round_capacity(1), 600), VM_RECLAIM_SUCCESS);
  }
  void TearDown() override {
    if (ring_ != nullptr) {
      EXPECT_EQ(vmreclaim_ring_destroy(ring_), VM_RECLAIM_SUCCESS);
    }
    for (auto& regions : regions_) {
      for (Region& r : regions) {
        if (r.addr != nullptr) ::munmap(r.addr, r.size);
      }
    }
  }

  // An unexpected result; the first few are kept for the failure message.
  void error(const char* what, long value) {
    counts_.errors.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lk(errors_mu_);
    if (errors_.size() < 10) errors_.push_back(std::string(what) + ": " + std::to_string(value));
  }

  // What a region's contents must be after the engine (or nobody) dealt with it.
  void check_outcome(Region& r, mach_vm_reclaim_state_t st) {
    switch (st) {
      case VM_RECLAIM_UNRECLAIMED:
        counts_.unreclaimed++;
        if (!holds_words(r.addr, r.size, r.seed)) counts_.corrupt++;
        break;
      case VM_RECLAIM_FREED:
        counts_.freed++;
        if (r.action != VM_RECLAIM_FREE || !zero_words(r.addr, r.size)) counts_.not_zero++;
        break;
      case VM_RECLAIM_DEALLOCATED:
        counts_.deallocated++;
        if (r.action != VM_RECLAIM_DEALLOCATE) error("DEALLOCATED for a FREE region", r.action);
        // Gone: the worker maps a new region (anywhere: others may have taken the range).
        r.addr = map_region(r.size);
        if (r.addr == nullptr) counts_.map_failures++;
        break;
      default: error("unknown state", st); break;
    }
    r.in_ring = false;
  }

  // A cancel that answered BUSY gave the region to the engine for good. The
  // engine may still back off that chunk (it shrinks a chunk a cancel reached
  // into, docs/design.md §4), leaving the entry in the ring for a later reclaim:
  // the region is the program's again only once its ID is reclaimed.
  void settle_engine_owned(Region& r) {
    mach_vm_reclaim_state_t st = 0;
    if (mach_vm_reclaim_query_state(ring_, r.id, r.action, &st) != VM_RECLAIM_SUCCESS) error("query", 0);
    if (st == VM_RECLAIM_FREED || st == VM_RECLAIM_DEALLOCATED) {
      r.engine_owned = false;
      check_outcome(r, st);
    } else if (st == VM_RECLAIM_UNRECLAIMED && !r.backed_off) {
      r.backed_off = true;
      counts_.busy_backed_off++;
    }
  }

  void worker(int w) {
    std::mt19937_64 rng(static_cast<uint64_t>(w) * 7919 + 1);
    std::vector<Region>& regions = regions_[w];
    uint64_t ops = 0;
    while (!stop_.load(std::memory_order_relaxed)) {
      Region& r = regions[rng() % regions.size()];
      if (r.addr == nullptr) continue;
      bool update = false;
      if (r.engine_owned) {
        settle_engine_owned(r);
      } else if (!r.in_ring) {
        r.seed = rng() | 1;
        fill_words(r.addr, r.size, r.seed);
        mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
        mach_vm_reclaim_error_t err;
        {
          std::lock_guard lk(mu_);
          err = mach_vm_reclaim_try_enter(ring_, reinterpret_cast<mach_vm_address_t>(r.addr), r.size, r.action, &id,
                                          &update);
        }
        if (err != VM_RECLAIM_SUCCESS) error("try_enter", err);
        if (id == VM_RECLAIM_ID_NULL) {
          counts_.full++;
        } else {
          counts_.entered++;
          r.id = id;
          r.in_ring = true;
        }
      } else {
        mach_vm_reclaim_state_t st = 0;
        mach_vm_reclaim_error_t err;
        {
          std::lock_guard lk(mu_);
          err = mach_vm_reclaim_try_cancel(ring_, r.id, reinterpret_cast<mach_vm_address_t>(r.addr), r.size, r.action,
                                           &st, &update);
        }
        if (err != VM_RECLAIM_SUCCESS) error("try_cancel", err);
        if (st == VM_RECLAIM_BUSY) {
          counts_.busy++;
          r.engine_owned = true;
          r.backed_off = false;
        } else if (st == VM_RECLAIM_UNRECLAIMED && rng() % 4 == 0) {
          // Put it straight back into the slot it was cancelled from, as an
          // allocator does when it changes its mind.
          if (!holds_words(r.addr, r.size, r.seed)) counts_.corrupt++;
          mach_vm_reclaim_id_t id = r.id;
          {
            std::lock_guard lk(mu_);
            err = mach_vm_reclaim_try_enter(ring_, reinterpret_cast<mach_vm_address_t>(r.addr), r.size, r.action, &id,
                                            &update);
          }
          if (err != VM_RECLAIM_SUCCESS) error("re-enter", err);
          if (id == r.id) {
            counts_.reentered++;
          } else {
            counts_.reenter_lost++;  // reclaimed meanwhile; the memory is still ours
            counts_.unreclaimed++;
            r.in_ring = false;
          }
        } else {
          check_outcome(r, st);
        }
      }
      if (update) {
        if (mach_vm_reclaim_update_kernel_accounting(ring_) != VM_RECLAIM_SUCCESS) error("worker update", 0);
      }
      if (w == 0 && ++ops % 3000 == 0) {
        // Resize is legal concurrently with flush and accounting, under the caller's lock.
        std::lock_guard lk(mu_);
        mach_vm_reclaim_count_t cap = 0;
        mach_vm_reclaim_ring_capacity(ring_, &cap);
        if (auto err = mach_vm_reclaim_ring_resize(ring_, cap > 300 ? 1 : 500); err != VM_RECLAIM_SUCCESS) {
          error("resize", err);
        }
        counts_.resizes++;
      }
    }
  }

  void flusher() {
    std::mt19937 rng(42);
    for (uint64_t i = 0; !stop_.load(std::memory_order_relaxed); i++) {
      if (auto err = mach_vm_reclaim_ring_flush(ring_, 1 + rng() % 32); err != VM_RECLAIM_SUCCESS) error("flush", err);
      if (i % 16 == 0) {
        if (auto err = vmreclaim_ring_trim(ring_, 64 * 1024, nullptr); err != VM_RECLAIM_SUCCESS) error("trim", err);
      }
      counts_.flushes++;
      std::this_thread::sleep_for(200us);
    }
  }

  void accountant() {
    std::mt19937_64 rng(7);
    while (!stop_.load(std::memory_order_relaxed)) {
      if (auto err = mach_vm_reclaim_update_kernel_accounting(ring_); err != VM_RECLAIM_SUCCESS) error("update", err);
      counts_.updates++;
      // Query is read-only and needs no lock; any ID issued so far is valid.
      const uint64_t tail = vmreclaim::ring::load(ring_->tail);
      if (tail > 0) {
        mach_vm_reclaim_state_t st = 0;
        if (mach_vm_reclaim_query_state(ring_, rng() % tail, VM_RECLAIM_FREE, &st) != VM_RECLAIM_SUCCESS ||
            st < VM_RECLAIM_UNRECLAIMED || st > VM_RECLAIM_BUSY) {
          error("query state", st);
        }
        counts_.queries++;
      }
      std::this_thread::sleep_for(100us);
    }
  }

  mach_vm_reclaim_ring_t ring_ = nullptr;
  std::mutex mu_;
  std::atomic<bool> stop_{false};
  std::vector<Region> regions_[kWorkers];
  Counts counts_;
  std::mutex errors_mu_;
  std::vector<std::string> errors_;
};

TEST_F(Stress, EnterCancelAgainstFlushAndAccounting) {
  std::mt19937 rng(1);
  for (int w = 0; w < kWorkers; w++) {
    for (int i = 0; i < kRegionsPerWorker; i++) {
      Region r;
      r.size = (1 + rng() % 4) * page_size();
      r.action = i % 2 == 0 ? VM_RECLAIM_FREE : VM_RECLAIM_DEALLOCATE;
      r.addr = map_region(r.size);
      ASSERT_NE(r.addr, nullptr);
      regions_[w].push_back(r);
    }
  }

  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; w++) threads.emplace_back([this, w] { worker(w); });
  threads.emplace_back([this] { flusher(); });
  threads.emplace_back([this] { accountant(); });
  std::this_thread::sleep_for(kDuration);
  for (std::chrono::milliseconds waited = kDuration; counts_.busy.load() == 0 && waited < kMaxDuration;
       waited += 100ms) {
    std::this_thread::sleep_for(100ms);
  }
  stop_ = true;
  for (auto& t : threads) t.join();

  // Take back everything still in the ring. The engine thread still samples
  // and trims, so a cancel may still meet a chunk in progress (BUSY).
  for (auto& regions : regions_) {
    for (Region& r : regions) {
      if (!r.in_ring || r.engine_owned) continue;
      mach_vm_reclaim_state_t st = 0;
      bool update = false;
      ASSERT_EQ(mach_vm_reclaim_try_cancel(ring_, r.id, reinterpret_cast<mach_vm_address_t>(r.addr), r.size, r.action,
                                           &st, &update),
                VM_RECLAIM_SUCCESS);
      if (st == VM_RECLAIM_BUSY) {
        r.engine_owned = true;
      } else {
        check_outcome(r, st);
      }
    }
  }
  // What BUSY answers gave the engine is all a drain may still find.
  ASSERT_EQ(vmreclaim_ring_drain(ring_, nullptr), VM_RECLAIM_SUCCESS);
  for (auto& regions : regions_) {
    for (Region& r : regions) {
      if (!r.engine_owned) continue;
      settle_engine_owned(r);
      EXPECT_FALSE(r.engine_owned) << "a drain reclaims everything";
    }
  }

  vmreclaim_ring_stats s{};
  ASSERT_EQ(vmreclaim_ring_get_stats(ring_, &s), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(s.reclaimable_bytes, 0u);
  EXPECT_EQ(s.unreported_bytes, 0u);
  EXPECT_EQ(vmreclaim::ring::load(ring_->reclaimable_bytes_min), 0u);
  EXPECT_EQ(vmreclaim::ring::load(ring_->head), vmreclaim::ring::load(ring_->tail));
  EXPECT_EQ(vmreclaim::ring::load(ring_->busy), vmreclaim::ring::load(ring_->tail));
  uint64_t reclaimed = 0;
  for (uint64_t b : s.reclaimed_bytes) reclaimed += b;
  EXPECT_EQ(s.entered_bytes, s.cancelled_bytes + reclaimed) << "every entered byte taken back or reclaimed";
  for (uint64_t f : s.guard_faults) EXPECT_EQ(f, 0u);

  EXPECT_EQ(counts_.corrupt.load(), 0u) << "an UNRECLAIMED region lost its contents";
  EXPECT_EQ(counts_.not_zero.load(), 0u) << "a FREED region was not zero";
  EXPECT_EQ(counts_.errors.load(), 0u) << ::testing::PrintToString(errors_);
  EXPECT_EQ(counts_.map_failures.load(), 0u);
  // The run exercised what it claims to.
  EXPECT_GT(counts_.unreclaimed.load(), 0u);
  EXPECT_GT(counts_.freed.load(), 0u);
  EXPECT_GT(counts_.deallocated.load(), 0u);
  EXPECT_GT(counts_.reentered.load(), 0u);
  EXPECT_GT(counts_.busy.load(), 0u) << "no cancel met a chunk in progress: the race was not exercised";
  EXPECT_GT(s.samples, 0u);
  std::printf(
      "entered %llu (ring full %llu), cancelled: unreclaimed %llu freed %llu deallocated %llu busy %llu "
      "(backed off %llu); "
      "re-entered %llu (lost %llu); resizes %llu, flushes %llu, updates %llu, queries %llu; "
      "engine: samples %llu trims %llu aborted chunks %llu\n",
      static_cast<unsigned long long>(counts_.entered.load()), static_cast<unsigned long long>(counts_.full.load()),
      static_cast<unsigned long long>(counts_.unreclaimed.load()),
      static_cast<unsigned long long>(counts_.freed.load()),
      static_cast<unsigned long long>(counts_.deallocated.load()), static_cast<unsigned long long>(counts_.busy.load()),
      static_cast<unsigned long long>(counts_.busy_backed_off.load()),
      static_cast<unsigned long long>(counts_.reentered.load()),
      static_cast<unsigned long long>(counts_.reenter_lost.load()),
      static_cast<unsigned long long>(counts_.resizes.load()), static_cast<unsigned long long>(counts_.flushes.load()),
      static_cast<unsigned long long>(counts_.updates.load()), static_cast<unsigned long long>(counts_.queries.load()),
      static_cast<unsigned long long>(s.samples), static_cast<unsigned long long>(s.trims),
      static_cast<unsigned long long>(s.aborted_chunks));
}

}  // namespace
}  // namespace vmreclaim::test
