// An Engine on a ring the test maps itself (reserved for max_len entries, the
// first len accessible, as Registry::allocate does), on the fakes of
// support/fake_platform.h: the VmOps the test chooses, a clock it moves, a
// footprint and a pressure level it sets. No registry is involved, so several
// live in one process. No GoogleTest here (the fuzzers use it too): a ring
// that cannot be mapped shows as ok() == false.
#pragma once

#include <mach/vm_reclaim_private.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "engine/engine.h"
#include "policy/governor.h"
#include "policy/pressure.h"
#include "ring/protocol.h"
#include "support/fake_platform.h"
#include "support/memory.h"

namespace vmreclaim::test {

// The ring's address space, reserved for max_len entries with the first len
// accessible.
class RingMemory {
 public:
  RingMemory(uint32_t len, uint32_t max_len) : bytes_(ring::ring_bytes(max_len)) {
    void* p = ::mmap(nullptr, bytes_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return;
    if (::mprotect(p, ring::ring_bytes(len), PROT_READ | PROT_WRITE) != 0) {
      ::munmap(p, bytes_);
      return;
    }
    base_ = static_cast<ring::Ring*>(p);
  }
  ~RingMemory() {
    if (base_ != nullptr) ::munmap(base_, bytes_);
  }
  RingMemory(const RingMemory&) = delete;
  RingMemory& operator=(const RingMemory&) = delete;

  bool ok() const { return base_ != nullptr; }
  ring::Ring* ring() const { return base_; }
  uint64_t addr() const { return reinterpret_cast<uint64_t>(base_); }
  uint64_t bytes() const { return bytes_; }

 private:
  ring::Ring* base_ = nullptr;
  uint64_t bytes_;
};

inline policy::Tunables tunables_with(policy::GuardMode guard) {
  policy::Tunables t;
  t.guard = guard;
  return t;
}

class EngineOnRing {
 public:
  struct Options {
    uint32_t len = 16;
    uint32_t max_len = 600;
    uint64_t clock_start = FakeClock::kStart;
    policy::PressureLevel pressure = policy::PressureLevel::normal;
    policy::LimitSource* limits = nullptr;
  };

  // With a FakeVmOps the ring is where its real storage calls may go.
  EngineOnRing(FakeVmOps& vm, const policy::Tunables& t, const Options& o)
      : EngineOnRing(static_cast<platform::VmOps&>(vm), t, o) {
    vm.confine_to(mem_.addr(), mem_.bytes());
  }
  EngineOnRing(FakeVmOps& vm, const policy::Tunables& t) : EngineOnRing(vm, t, Options{}) {}
  EngineOnRing(platform::VmOps& vm, const policy::Tunables& t, const Options& o)
      : clock(o.clock_start), pressure(o.pressure), mem_(o.len, o.max_len) {
    if (mem_.ok()) {
      governor_.emplace(t, &pressure, &footprint, o.limits);
      engine_.emplace(mem_.ring(), mem_.bytes(), o.len, o.max_len, policy::engine_config(t),
                      engine::Platform{&clock, &vm, &*governor_});
    }
  }
  EngineOnRing(platform::VmOps& vm, const policy::Tunables& t) : EngineOnRing(vm, t, Options{}) {}
  ~EngineOnRing() { engine_.reset(); }  // before the ring (and the governor) go
  EngineOnRing(const EngineOnRing&) = delete;
  EngineOnRing& operator=(const EngineOnRing&) = delete;

  bool ok() const { return engine_.has_value(); }
  engine::Engine& engine() {
    if (!engine_) {
      std::fprintf(stderr, "EngineOnRing: the ring could not be mapped\n");
      std::abort();
    }
    return *engine_;
  }
  const RingMemory& memory() const { return mem_; }
  ring::Ring* ring() const { return mem_.ring(); }
  uint64_t reserved_bytes() const { return mem_.bytes(); }
  engine::Stats& stats() { return engine().stats(); }
  policy::Governor& governor() { return *governor_; }
  uint64_t guard_faults(engine::GuardFault f) { return stats().guard_faults[static_cast<int>(f)].get(); }
  uint64_t head() const { return ring::load(ring()->head); }
  uint64_t bytes() const { return ring::load(ring()->reclaimable_bytes); }
  uint64_t min_bytes() const { return ring::load(ring()->reclaimable_bytes_min); }

  // The user side, straight through the protocol (as the C API does).
  mach_vm_reclaim_id_t enter(uint64_t addr, uint64_t size, mach_vm_reclaim_action_t action) {
    bool update = false;
    return ring::enter(ring(), addr, static_cast<uint32_t>(size), action, &update);
  }
  mach_vm_reclaim_id_t enter(const void* addr, uint64_t size, mach_vm_reclaim_action_t action) {
    return enter(reinterpret_cast<uint64_t>(addr), size, action);
  }
  mach_vm_reclaim_id_t enter(const Mapping& m, mach_vm_reclaim_action_t action) {
    return enter(m.data(), m.size(), action);
  }

  FakeClock clock;
  FakeFootprint footprint;
  policy::FixedPressure pressure;

 private:
  RingMemory mem_;
  std::optional<policy::Governor> governor_;
  std::optional<engine::Engine> engine_;
};

}  // namespace vmreclaim::test
