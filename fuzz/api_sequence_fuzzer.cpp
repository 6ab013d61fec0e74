// API-sequence fuzzer: the input is a program of ring operations (enter, re-enter
// by ID, cancel, query through the user-side protocol in src/ring; flush,
// drain, trim, resize, accounting updates and samples through an Engine built
// on the harness's own memory and fake platform). Single-threaded, so every
// answer is determined: after each operation the ring, the engine's kernel
// requests and its accounting are compared with a small reference model of
// IDs, entry states, bytes and the working-set estimator written from
// docs/design.md, not from the code.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "engine/engine.h"
#include "fake_platform.h"
#include "platform/linux/clock.h"
#include "policy/governor.h"
#include "policy/pressure.h"
#include "ring/protocol.h"

namespace vmreclaim::fuzz {
namespace {

constexpr uint32_t kMaxLen = 300;  // two pages of entries: a resize can cross a page
constexpr int kMaxOps = 96;
constexpr uint64_t kRegionBase = 0x100000000000ull;  // fake addresses; nothing is mapped there
constexpr uint64_t kWmaUnit = 256;                   // docs/design.md §6: 1/256-byte units

struct Region {
  uint64_t addr;
  uint32_t size;
  uint8_t action;
};

enum class St : uint8_t { live, cancelled, reclaimed };

struct IdRecord {
  Region region;
  St st;
};

class Harness {
 public:
  explicit Harness(FuzzedDataProvider& in)
      : in_(in),
        len_(in.ConsumeIntegralInRange<uint32_t>(1, 9)),
        level_(pick_level(in.ConsumeIntegralInRange<int>(0, 3))),
        pressure_(level_),
        mem_(len_, kMaxLen) {
    tunables_.chunk_size = in.ConsumeIntegralInRange<uint32_t>(1, 17);
    tunables_.guard = policy::GuardMode::log;  // a fault is counted (and checked), not fatal
    vm_.reservation = mem_.addr();
    vm_.reservation_len = mem_.bytes();
    governor_.emplace(tunables_, &pressure_, &footprint_);
    engine_.emplace(mem_.ring(), mem_.bytes(), len_, kMaxLen, policy::engine_config(tunables_),
                    engine::Platform{&clock_, &vm_, &*governor_});
    last_sample_ = clock_.now;
    deadline_ = next_deadline();
    FUZZ_TRACE("ring: len %u, pressure %d, chunk %u", len_, static_cast<int>(level_), tunables_.chunk_size);
    check_ring();
  }

  void run() {
    for (int op = 0; op < kMaxOps && in_.remaining_bytes() > 0; op++) {
      switch (in_.ConsumeIntegralInRange<int>(0, 12)) {
        case 0:
        case 1: enter(); break;
        case 2: reenter(); break;
        case 3:
        case 4: cancel(); break;
        case 5: query(); break;
        case 6: flush(); break;
        case 7: drain(); break;
        case 8: trim(); break;
        case 9: resize(); break;
        case 10: advance_clock(); break;
        case 11: update_accounting(); break;
        case 12: sample_now(); break;
      }
      check_ring();
    }
    // Whatever the program did, a drain leaves nothing behind.
    drain();
    for (const IdRecord& r : ids_) FUZZ_CHECK(r.st != St::live);
    FUZZ_CHECK(bytes_ == 0, bytes_);
  }

 private:
  static policy::PressureLevel pick_level(int v) { return static_cast<policy::PressureLevel>(v); }
  ring::Ring* ring() const { return mem_.ring(); }
  uint64_t tail() const { return ids_.size(); }
  uint64_t period() const { return tunables_.period_ns(level_); }
  // The deadline the engine publishes after a sample: a period from now, or
  // 0 (always due, no clock needed) when the period is 0.
  uint64_t next_deadline() const { return period() == 0 ? 0 : clock_.now + period(); }

  // ---- user side ----

  Region new_region() {
    const uint64_t n = regions_++;
    Region r;
    r.addr = kRegionBase + n * (64ull << 20) + in_.ConsumeIntegralInRange<uint64_t>(0, 2 * page());
    r.size = in_.ConsumeBool() ? in_.ConsumeIntegralInRange<uint32_t>(1, 4 * page())
                               : in_.ConsumeIntegralInRange<uint32_t>(1, UINT32_MAX);
    r.action = in_.ConsumeBool() ? VM_RECLAIM_FREE : VM_RECLAIM_DEALLOCATE;
    return r;
  }

  void enter() {
    Region r = new_region();
    bool update = false;
    mach_vm_reclaim_id_t id = ring::enter(ring(), r.addr, r.size, r.action, &update);
    FUZZ_TRACE("enter(%#llx, %u, %u) -> %lld", static_cast<unsigned long long>(r.addr), r.size, r.action,
               static_cast<long long>(id));
    if (tail() - head_ >= len_) {
      FUZZ_CHECK(id == VM_RECLAIM_ID_NULL, id);  // full
      return;
    }
    FUZZ_CHECK(id == tail(), id, tail());
    ids_.push_back({r, St::live});
    bytes_ += r.size;
  }

  // An ID of the wanted kind, or tail + something (never issued).
  uint64_t choose_id(St want) {
    std::vector<uint64_t> c;
    for (uint64_t id = 0; id < ids_.size(); id++) {
      if (ids_[id].st == want) c.push_back(id);
    }
    if (!c.empty() && in_.ConsumeIntegralInRange<int>(0, 7) != 0) {
      return c[in_.ConsumeIntegralInRange<size_t>(0, c.size() - 1)];
    }
    if (!ids_.empty() && in_.ConsumeBool()) return in_.ConsumeIntegralInRange<uint64_t>(0, ids_.size() - 1);
    return tail() + in_.ConsumeIntegralInRange<uint64_t>(0, 3);
  }

  void reenter() {
    const uint64_t want = choose_id(St::cancelled);
    Region r = want < ids_.size() && in_.ConsumeBool() ? ids_[want].region : new_region();
    mach_vm_reclaim_id_t id = want;
    bool update = false;
    mach_vm_reclaim_error_t err = ring::reenter(ring(), &id, r.addr, r.size, r.action, &update);
    FUZZ_TRACE("reenter(%llu, %#llx, %u, %u) -> %#x, id %lld", static_cast<unsigned long long>(want),
               static_cast<unsigned long long>(r.addr), r.size, r.action, err, static_cast<long long>(id));
    if (want >= tail()) {
      FUZZ_CHECK(err == VM_RECLAIM_INVALID_ID, err);  // never issued
      FUZZ_CHECK(id == want);
    } else if (want < head_) {
      FUZZ_CHECK(err == VM_RECLAIM_SUCCESS, err, want);  // reclaimed: the slot is gone
      FUZZ_CHECK(id == VM_RECLAIM_ID_NULL, id);
    } else if (ids_[want].st == St::live) {
      FUZZ_CHECK(err == VM_RECLAIM_INVALID_ID, err);  // never overwrite a live entry
    } else {
      FUZZ_CHECK(err == VM_RECLAIM_SUCCESS && id == want, err, id);
      ids_[want] = {r, St::live};
      bytes_ += r.size;
    }
  }

  void cancel() {
    // Only what a correct caller may cancel: a live ID, or one the engine
    // reclaimed, with its own arguments; or one never issued. (Cancelling a
    // cancelled ID is a caller bug the user side traps on.)
    uint64_t id = choose_id(St::live);
    if (id < ids_.size() && ids_[id].st == St::cancelled) return;
    const Region r = id < ids_.size() ? ids_[id].region : new_region();
    mach_vm_reclaim_state_t state = 0;
    bool update = false;
    mach_vm_reclaim_error_t err = ring::cancel(ring(), id, r.addr, r.size, r.action, &state, &update);
    FUZZ_TRACE("cancel(%llu) -> %#x, state %u", static_cast<unsigned long long>(id), err, state);
    if (id < head_) {
      FUZZ_CHECK(err == VM_RECLAIM_SUCCESS, err);
      FUZZ_CHECK(state == ring::reclaimed_state(r.action), state);
    } else if (id >= tail()) {
      FUZZ_CHECK(err == VM_RECLAIM_INVALID_ID, err);
    } else {
      FUZZ_CHECK(err == VM_RECLAIM_SUCCESS && state == VM_RECLAIM_UNRECLAIMED, err, state);
      ids_[id].st = St::cancelled;
      bytes_ -= r.size;
      min_ = std::min(min_, bytes_);
    }
  }

  void query() {
    const uint64_t id = choose_id(in_.ConsumeBool() ? St::live : St::reclaimed);
    const uint8_t action = id < ids_.size() ? ids_[id].region.action : VM_RECLAIM_FREE;
    mach_vm_reclaim_state_t state = 0;
    FUZZ_CHECK(ring::query(ring(), id, action, &state) == VM_RECLAIM_SUCCESS);
    FUZZ_TRACE("query(%llu) -> state %u", static_cast<unsigned long long>(id), state);
    // Between engine calls busy == head: nothing is BUSY.
    FUZZ_CHECK(state == (id < head_ ? ring::reclaimed_state(action) : mach_vm_reclaim_state_t{VM_RECLAIM_UNRECLAIMED}),
               id, state);
  }

  // ---- engine ----

  // What the engine must ask of the kernel when it takes IDs [head_, to) off
  // the ring (docs/design.md §5); marks them reclaimed.
  void consume_to(uint64_t to, std::vector<VmCall>& want) {
    for (uint64_t id = head_; id < to; id++) {
      IdRecord& rec = ids_[id];
      if (rec.st != St::live) continue;  // a cancelled slot costs nothing
      const uint64_t start = page_down(rec.region.addr);
      const uint64_t len = page_down(rec.region.addr + rec.region.size + page() - 1) - start;
      if (rec.region.action == VM_RECLAIM_FREE) {
        want.push_back({VmCall::release, start, len});
      } else {
        want.push_back({VmCall::probe, start, len});
        want.push_back({VmCall::unmap, start, len});
      }
      rec.st = St::reclaimed;
      bytes_ -= rec.region.size;
    }
    head_ = to;
    min_ = std::min(min_, bytes_);
  }

  // Where a reclaim with a byte target stops: oldest first, cancelled slots
  // for free, until the target is met.
  uint64_t stop_for_bytes(uint64_t target) const {
    uint64_t id = head_, got = 0;
    for (; id < tail() && got < target; id++) {
      if (ids_[id].st == St::live) got += ids_[id].region.size;
    }
    return id;
  }

  void expect_calls(std::vector<VmCall> want, const char* op) {
    std::vector<VmCall> got = vm_.calls;
    vm_.calls.clear();
    if (!same_requests(got, want)) fail(op, got.size(), want.size());
  }

  void check_engine_clean() {
    engine::Stats& s = engine_->stats();
    for (int f = 0; f < engine::kGuardFaultKinds; f++) FUZZ_CHECK(s.guard_faults[f].get() == 0, f);
    FUZZ_CHECK(s.free_failures.get() == 0);
    FUZZ_CHECK(s.aborted_chunks.get() == 0);  // nothing runs concurrently
    FUZZ_CHECK(engine_->unreported_bytes() == 0, engine_->unreported_bytes());
  }

  void flush() {
    const uint32_t n = in_.ConsumeIntegralInRange<uint32_t>(1, 2 * len_ + 2);
    FUZZ_TRACE("flush(%u)", n);
    FUZZ_CHECK(engine_->flush(n) == VM_RECLAIM_SUCCESS);
    std::vector<VmCall> want;
    consume_to(std::min<uint64_t>(tail(), head_ + n), want);
    expect_calls(want, "flush: kernel requests differ from the model");
    check_engine_clean();
  }

  void drain() {
    FUZZ_TRACE("drain");
    FUZZ_CHECK(engine_->drain(engine::Cause::drain) == VM_RECLAIM_SUCCESS);
    std::vector<VmCall> want;
    consume_to(tail(), want);
    expect_calls(want, "drain: kernel requests differ from the model");
    check_engine_clean();
  }

  void trim() {
    const uint64_t target = in_.ConsumeIntegralInRange<uint64_t>(0, bytes_ + page());
    uint64_t got = 0;
    FUZZ_TRACE("trim(%llu)", static_cast<unsigned long long>(target));
    FUZZ_CHECK(engine_->trim(target, engine::Cause::trim, &got) == VM_RECLAIM_SUCCESS);
    const uint64_t before = bytes_;
    std::vector<VmCall> want;
    consume_to(stop_for_bytes(target), want);
    FUZZ_CHECK(got == before - bytes_, got, before - bytes_);
    expect_calls(want, "trim: kernel requests differ from the model");
    check_engine_clean();
  }

  void resize() {
    const uint32_t n = in_.ConsumeIntegralInRange<uint32_t>(1, kMaxLen);
    FUZZ_TRACE("resize(%u)", n);
    FUZZ_CHECK(engine_->resize(n) == VM_RECLAIM_SUCCESS);
    std::vector<VmCall> want;
    consume_to(tail(), want);  // every entry goes first
    expect_calls(want, "resize: kernel requests differ from the model");
    len_ = n;
    FUZZ_CHECK(engine_->capacity() == n);
    check_engine_clean();
  }

  void advance_clock() {
    start_ns_ = clock_.now;
    const uint64_t p = std::max<uint64_t>(period(), 1);
    switch (in_.ConsumeIntegralInRange<int>(0, 5)) {
      case 0: clock_.now += 1; break;
      case 1: clock_.now += p / 2; break;
      case 2: clock_.now += p; break;
      case 3: clock_.now += 3 * p + 1; break;
      case 4: clock_.now += 600 * p; break;  // past the abandonment threshold
      case 5: clock_.now += in_.ConsumeIntegralInRange<uint64_t>(0, 1000'000'000'000ull); break;
    }
    if (in_.ConsumeBool()) {
      footprint_.value = in_.ConsumeBool()
                             ? std::optional<uint64_t>(in_.ConsumeIntegralInRange<uint64_t>(0, 1ull << 36))
                             : std::nullopt;
    }
    FUZZ_TRACE("clock +%llu ns, footprint %lld", static_cast<unsigned long long>(clock_.now - start_ns_),
               footprint_.value ? static_cast<long long>(*footprint_.value) : -1LL);
    start_ns_ = clock_.now;
  }

  // The estimator of docs/design.md §6, kept independently of src/policy: how many
  // bytes a sample now must trim. Updates the model's sampler state.
  uint64_t sample_trim_bytes() {
    if (footprint_.value && *footprint_.value > footprint_max_) footprint_max_ = *footprint_.value;
    const uint64_t cur = bytes_;
    const uint64_t min = std::min(min_, cur);
    const uint64_t prev = last_sample_;
    last_sample_ = clock_.now;
    min_ = cur;  // a new period starts
    const uint64_t p = period();
    if (p == 0) return cur;  // critical: everything reclaimable goes
    const uint64_t periods = clock_.now > prev ? (clock_.now - prev) / p : 0;
    if (periods > tunables_.abandonment_periods) {
      wma_ = cur * kWmaUnit;
    } else {
      for (uint64_t i = 0; i < std::max<uint64_t>(periods, 1); i++) wma_ = (3 * wma_ + min * kWmaUnit) / 4;
    }
    const uint64_t unneeded = std::min(min, wma_ / kWmaUnit);
    const uint64_t threshold =
        static_cast<uint64_t>(static_cast<unsigned __int128>(footprint_max_) * tunables_.autotrim_pct(level_) / 100);
    if (unneeded < page() || unneeded < threshold) return 0;
    return (unneeded + page() - 1) / page() * page();
  }

  void expect_sample(bool sampled, const char* op) {
    std::vector<VmCall> want;
    if (sampled) {
      const uint64_t trim = sample_trim_bytes();
      if (trim > 0) consume_to(stop_for_bytes(trim), want);
      deadline_ = next_deadline();
      samples_++;
    }
    expect_calls(want, op);
    FUZZ_CHECK(engine_->stats().samples.get() == samples_, engine_->stats().samples.get(), samples_);
    FUZZ_CHECK(ring::load(ring()->next_sample_deadline_abs) == deadline_, ring::load(ring()->next_sample_deadline_abs),
               deadline_);
    if (sampled) FUZZ_CHECK(ring::load(ring()->last_sample_abs) == clock_.now);
    check_engine_clean();
  }

  void update_accounting() {
    // Due by the engine's own (here fake) clock, whatever the real one says
    // (finding F4, fixed in 1061e94: no real clock on the engine's side).
    const bool due = clock_.now >= deadline_;
    const uint64_t before = engine_->stats().samples.get();
    FUZZ_CHECK(engine_->update_accounting() == VM_RECLAIM_SUCCESS);
    const bool sampled = engine_->stats().samples.get() != before;
    FUZZ_TRACE("update_accounting (due: %d) -> sampled %d", due, sampled);
    FUZZ_CHECK(sampled == due, sampled, due);  // never before its deadline, always once due
    expect_sample(sampled, "update_accounting: kernel requests differ from the model");
  }

  void sample_now() {
    FUZZ_TRACE("sample_now");
    FUZZ_CHECK(engine_->sample_now() == VM_RECLAIM_SUCCESS);
    expect_sample(true, "sample_now: kernel requests differ from the model");
  }

  // The shared header agrees with the model after every operation.
  void check_ring() {
    ring::Ring* r = ring();
    FUZZ_CHECK(ring::load(r->head) == head_, ring::load(r->head), head_);
    FUZZ_CHECK(ring::load(r->busy) == head_, ring::load(r->busy), head_);
    FUZZ_CHECK(ring::load(r->tail) == tail(), ring::load(r->tail), tail());
    FUZZ_CHECK(ring::load(r->len) == len_, ring::load(r->len), len_);
    FUZZ_CHECK(ring::load(r->reclaimable_bytes) == bytes_, ring::load(r->reclaimable_bytes), bytes_);
    FUZZ_CHECK(ring::load(r->reclaimable_bytes_min) == min_, ring::load(r->reclaimable_bytes_min), min_);
    FUZZ_CHECK(vm_.calls.empty(), vm_.calls.size());
  }

  FuzzedDataProvider& in_;
  uint32_t len_;
  policy::PressureLevel level_;
  policy::Tunables tunables_;
  FakeClock clock_;
  RecordingVmOps vm_;
  FakeFootprint footprint_;
  policy::FixedPressure pressure_;
  RingMemory mem_;
  std::optional<policy::Governor> governor_;
  std::optional<engine::Engine> engine_;

  // The reference model.
  std::vector<IdRecord> ids_;  // by ID; the tail is its size
  uint64_t head_ = 0;
  uint64_t bytes_ = 0, min_ = 0;
  uint64_t regions_ = 0;
  uint64_t wma_ = 0, last_sample_ = 0, deadline_ = 0, footprint_max_ = 0, samples_ = 0;
  uint64_t start_ns_ = 0;  // for the trace
};

}  // namespace
}  // namespace vmreclaim::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  vmreclaim::fuzz::QuietStderr::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  vmreclaim::fuzz::Harness h(in);
  h.run();
  return 0;
}
