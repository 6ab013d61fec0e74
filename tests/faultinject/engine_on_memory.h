// An Engine on a ring this test maps itself (reserved for max_len entries,
// the first len accessible, as Registry::allocate does), with the VmOps the
// test chooses, a clock the test moves and a footprint the test sets.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <optional>

#include "engine/engine.h"
#include "policy/governor.h"
#include "policy/pressure.h"
#include "ring/protocol.h"
#include "support/memory.h"

namespace vmreclaim::faultinject {

class TestClock final : public platform::Clock {
 public:
  uint64_t now_ns() noexcept override { return now; }
  void sleep_ns(uint64_t ns) noexcept override { now += ns; }
  uint64_t now = 1'000'000'000ull;
};

// A footprint that is whatever the test says, including unreadable (nullopt).
class TestFootprint final : public platform::FootprintSource {
 public:
  std::optional<uint64_t> footprint_bytes() noexcept override {
    reads++;
    return value;
  }
  std::optional<uint64_t> value;
  int reads = 0;
};

inline policy::Tunables tunables_with(policy::GuardMode guard) {
  policy::Tunables t;
  t.guard = guard;
  return t;
}

class EngineOnMemory {
 public:
  EngineOnMemory(platform::VmOps& vm, const policy::Tunables& t, uint32_t len = 16, uint32_t max_len = 600)
      : reserved_(ring::ring_bytes(max_len)) {
    void* p = ::mmap(nullptr, reserved_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED || ::mprotect(p, ring::ring_bytes(len), PROT_READ | PROT_WRITE) != 0) {
      ADD_FAILURE() << "cannot map a ring: errno " << errno;
      return;
    }
    ring_ = static_cast<ring::Ring*>(p);
    governor_.emplace(t, &pressure, &footprint);
    engine_.emplace(ring_, reserved_, len, max_len, policy::engine_config(t),
                    engine::Platform{&clock, &vm, &*governor_});
  }
  ~EngineOnMemory() {
    engine_.reset();
    if (ring_ != nullptr) ::munmap(ring_, reserved_);
  }
  EngineOnMemory(const EngineOnMemory&) = delete;
  EngineOnMemory& operator=(const EngineOnMemory&) = delete;

  engine::Engine& engine() { return *engine_; }
  ring::Ring* ring() { return ring_; }
  engine::Stats& stats() { return engine_->stats(); }
  uint64_t guard_faults(engine::GuardFault f) { return stats().guard_faults[static_cast<int>(f)].get(); }
  uint64_t head() const { return ring::load(ring_->head); }
  uint64_t bytes() const { return ring::load(ring_->reclaimable_bytes); }

  mach_vm_reclaim_id_t enter(const void* addr, uint64_t size, mach_vm_reclaim_action_t action) {
    bool update = false;
    return ring::enter(ring_, reinterpret_cast<uint64_t>(addr), static_cast<uint32_t>(size), action, &update);
  }
  mach_vm_reclaim_id_t enter(const test::Mapping& m, mach_vm_reclaim_action_t action) {
    return enter(m.data(), m.size(), action);
  }

  TestClock clock;
  TestFootprint footprint;
  policy::FixedPressure pressure;

 private:
  uint64_t reserved_;
  ring::Ring* ring_ = nullptr;
  std::optional<policy::Governor> governor_;
  std::optional<engine::Engine> engine_;
};

}  // namespace vmreclaim::faultinject
