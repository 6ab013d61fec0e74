// Hostile-ring fuzzer: between engine calls the input scribbles on the ring's
// header fields and entries (any value, not only what the user side would
// write), makes the ring inaccessible, or makes the fake kernel fail, and the
// engine runs with guard faults in their non-fatal mode. For every engine
// call the harness snapshots the ring and then checks (docs/design.md §4, §5, §7):
//  - the engine never crashes and never loops (every call returns; aborted
//    rounds stay within the engine's bound);
//  - it only takes IDs in [head, tail) off the ring, oldest first, and asks
//    the kernel to release or unmap exactly the page-rounded ranges of the
//    entries it took, each once: nothing that no entry covered;
//  - each bad thing it finds is reported as its named fault: bad indices
//    RECLAIM_INDEX_FAILURE, an unreadable ring RECLAIM_COPYIO_FAILURE, an
//    unknown action or failing munmap RECLAIM_DEALLOCATE_FAILURE, a gap
//    under a DEALLOCATE entry DEALLOC_GAP, under a FREE entry FREE_GAP (and
//    nothing of that entry released), an entry over the ring itself
//    RECLAIM_ENGINE_OVERLAP, more bytes than the ring holds
//    RECLAIM_ACCOUNTING_FAILURE, a tail below head that stays there (no
//    cancel's lock) or lies more than a ring below it RECLAIM_INDEX_FAILURE;
//  - it never writes the entries, the tail or max_len, and never raises the
//    ring's byte count.
#include <fuzzer/FuzzedDataProvider.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/engine.h"
#include "engine/guard.h"
#include "fake_platform.h"
#include "policy/pressure.h"
#include "ring/protocol.h"

namespace vmreclaim::fuzz {
namespace {

constexpr uint32_t kMaxLen = 300;  // two pages of entries
constexpr int kMaxOps = 64;
constexpr uint64_t kBase = 0x200000000000ull;  // fake addresses
// 1,000 yields, then a look every millisecond for a second (the fake clock
// advances by the engine's sleeps), then RECLAIM_INDEX_FAILURE.
constexpr uint64_t kMaxAbortedPerReclaim = 2002;
constexpr int kHeaderWords = sizeof(ring::Ring) / 8;
constexpr int kMaxStalledCalls = 3;

using engine::GuardFault;

struct Snapshot {
  std::array<uint64_t, kHeaderWords> header;
  std::vector<ring::EntryWords> entries;  // slots [0, engine length)
  uint64_t head() const { return header[offsetof(ring::Ring, head) / 8]; }
  uint64_t busy() const { return header[offsetof(ring::Ring, busy) / 8]; }
  uint64_t tail() const { return header[offsetof(ring::Ring, tail) / 8]; }
  uint64_t bytes() const { return header[offsetof(ring::Ring, reclaimable_bytes) / 8]; }
};

struct Counts {
  uint64_t faults[engine::kGuardFaultKinds] = {};
  uint64_t free_failures = 0;
  uint64_t aborted = 0;
};

enum class Op { flush, drain, trim, resize, update_accounting, sample_now };

const char* op_name(Op op) {
  switch (op) {
    case Op::flush: return "flush";
    case Op::drain: return "drain";
    case Op::trim: return "trim";
    case Op::resize: return "resize";
    case Op::update_accounting: return "update_accounting";
    case Op::sample_now: return "sample_now";
  }
  return "?";
}

class Harness {
 public:
  explicit Harness(FuzzedDataProvider& in)
      : in_(in),
        len_(in.ConsumeIntegralInRange<uint32_t>(1, 9)),
        level_(static_cast<policy::PressureLevel>(in.ConsumeIntegralInRange<int>(0, 3))),
        tunables_(fuzz_tunables(in)),
        on_(vm_, tunables_, {.len = len_, .max_len = kMaxLen, .pressure = level_}) {
    fail_outside_the_ring(vm_);
    FUZZ_TRACE("ring: len %u, pressure %d, chunk %u", len_, static_cast<int>(pressure_.level()), tunables_.chunk_size);
  }

  void run() {
    for (int op = 0; op < kMaxOps && in_.remaining_bytes() > 0; op++) {
      switch (in_.ConsumeIntegralInRange<int>(0, 15)) {
        case 0:
        case 1:
        case 2: scribble_header(); break;
        case 3:
        case 4: scribble_entry(); break;
        case 5:
        case 6: enter_well_formed(); break;
        case 7: configure_kernel(); break;
        case 8:
          protect_next_ = true;
          FUZZ_TRACE("ring inaccessible for the next call");
          break;
        case 9: call(Op::flush); break;
        case 10: call(Op::drain); break;
        case 11: call(Op::trim); break;
        case 12: call(Op::resize); break;
        case 13: call(Op::update_accounting); break;
        case 14: call(Op::sample_now); break;
        case 15: advance_clock(); break;
      }
    }
  }

 private:
  ring::Ring* ring() const { return mem_.ring(); }
  uint64_t* header_words() const { return reinterpret_cast<uint64_t*>(ring()); }
  // Entries in the accessible part of the mapping (the engine may read only
  // its first len_).
  uint32_t accessible_slots() const {
    return static_cast<uint32_t>((ring::ring_bytes(len_) - ring::kHeaderBytes) / ring::kEntryBytes);
  }

  uint64_t interesting_u64() {
    const uint64_t h = ring::load(ring()->head), t = ring::load(ring()->tail);
    switch (in_.ConsumeIntegralInRange<int>(0, 9)) {
      case 0: return 0;
      case 1: return UINT64_MAX - in_.ConsumeIntegralInRange<uint64_t>(0, 20);
      case 2: return h + in_.ConsumeIntegralInRange<uint64_t>(0, 20);
      case 3: return h - in_.ConsumeIntegralInRange<uint64_t>(1, 20);
      case 4: return t + in_.ConsumeIntegralInRange<uint64_t>(0, 20);
      case 5: return t - in_.ConsumeIntegralInRange<uint64_t>(1, 20);
      case 6: return in_.ConsumeIntegralInRange<uint64_t>(0, 1000);
      case 7: return 1ull << in_.ConsumeIntegralInRange<int>(0, 63);
      default: return in_.ConsumeIntegral<uint64_t>();
    }
  }

  void scribble_header() {
    const int word = in_.ConsumeIntegralInRange<int>(0, kHeaderWords - 1);
    ring::store(header_words()[word], interesting_u64());
    FUZZ_TRACE("header word %d = %#llx", word, static_cast<unsigned long long>(ring::load(header_words()[word])));
  }

  uint64_t fuzz_address() {
    switch (in_.ConsumeIntegralInRange<int>(0, 5)) {
      case 0: return 0;
      case 5:  // the ring itself: the engine's own memory
        return mem_.addr() + in_.ConsumeIntegralInRange<uint64_t>(0, mem_.bytes() - 1);
      case 1: return UINT64_MAX - in_.ConsumeIntegralInRange<uint64_t>(0, 2 * page());
      case 2: return in_.ConsumeIntegral<uint64_t>();
      default:  // pages the kernel knobs below can make fail
        return kBase + in_.ConsumeIntegralInRange<uint64_t>(0, 15) * page() +
               (in_.ConsumeBool() ? 0 : in_.ConsumeIntegralInRange<uint64_t>(1, page() - 1));
    }
  }

  uint32_t fuzz_size() {
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: return 0;
      case 1: return UINT32_MAX;
      case 2: return in_.ConsumeIntegral<uint32_t>();
      default: return in_.ConsumeIntegralInRange<uint32_t>(1, 4 * page());
    }
  }

  uint8_t fuzz_action() {
    switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: return VM_RECLAIM_FREE;
      case 1: return VM_RECLAIM_DEALLOCATE;
      default: return in_.ConsumeIntegral<uint8_t>();
    }
  }

  void scribble_entry() {
    const uint32_t slot = in_.ConsumeIntegralInRange<uint32_t>(0, accessible_slots() - 1);
    ring::EntryWords e;
    if (in_.ConsumeBool()) {
      const uint64_t addr = fuzz_address();
      const uint32_t size = fuzz_size();
      e = {addr, ring::pack_meta(size, fuzz_action())};
    } else {
      e = {in_.ConsumeIntegral<uint64_t>(), in_.ConsumeIntegral<uint64_t>()};  // padding bytes too
    }
    ring::store_entry(ring(), slot, e);
    FUZZ_TRACE("slot %u = {%#llx, %#llx}", slot, static_cast<unsigned long long>(e.address),
               static_cast<unsigned long long>(e.meta));
  }

  // What a correct user side does, so that inputs can build real contents.
  void enter_well_formed() {
    const uint64_t h = ring::load(ring()->head), t = ring::load(ring()->tail);
    if (t < h || t - h >= len_) return;
    const uint32_t size = in_.ConsumeIntegralInRange<uint32_t>(1, 4 * page());
    ring::store_entry(ring(), t % len_, {fuzz_address(), ring::pack_meta(size, fuzz_action())});
    ring::ref(ring()->reclaimable_bytes).fetch_add(size);
    ring::store(ring()->tail, t + 1);
    FUZZ_TRACE("enter id %llu: {%#llx, %#llx}", static_cast<unsigned long long>(t),
               static_cast<unsigned long long>(ring::load_entry(ring(), t % len_).address),
               static_cast<unsigned long long>(ring::load_entry(ring(), t % len_).meta));
  }

  Range fuzz_range() {
    Range r;
    r.lo = kBase + in_.ConsumeIntegralInRange<uint64_t>(0, 15) * page();
    r.hi = r.lo + in_.ConsumeIntegralInRange<uint64_t>(0, 4) * page();
    return r;
  }

  void configure_kernel() {
    const int which = in_.ConsumeIntegralInRange<int>(0, 2);
    Range r = fuzz_range();
    (which == 0 ? vm_.hole : which == 1 ? vm_.unmap_fails : vm_.release_fails) = r;
    FUZZ_TRACE("kernel: %s in [%#llx, %#llx)",
               which == 0   ? "gap"
               : which == 1 ? "munmap fails"
                            : "madvise fails",
               static_cast<unsigned long long>(r.lo), static_cast<unsigned long long>(r.hi));
  }

  void advance_clock() {
    clock_.now += in_.ConsumeIntegralInRange<uint64_t>(0, 1ull << in_.ConsumeIntegralInRange<int>(0, 45));
    if (in_.ConsumeBool()) footprint_.value = in_.ConsumeIntegralInRange<uint64_t>(0, 1ull << 40);
  }

  Snapshot snapshot() const {
    Snapshot s;
    for (int w = 0; w < kHeaderWords; w++) s.header[w] = ring::load(header_words()[w]);
    for (uint32_t i = 0; i < len_; i++) s.entries.push_back(ring::load_entry(ring(), i));
    return s;
  }

  Counts counts() {
    engine::Stats& st = engine_->stats();
    Counts c;
    for (int f = 0; f < engine::kGuardFaultKinds; f++) c.faults[f] = st.guard_faults[f].get();
    c.free_failures = st.free_failures.get();
    c.aborted = st.aborted_chunks.get();
    return c;
  }

  // design.md §5 and §7 applied to one entry the engine took off the ring:
  // the kernel requests it must make and the faults it must report.
  void expect_entry(const ring::EntryWords& e, std::vector<VmCall>& calls, Counts& faults, uint64_t& bytes) const {
    if (e.empty()) return;  // a cancelled slot
    bytes += e.size();
    const uint64_t mask = page() - 1;
    const uint64_t start = e.address & ~mask;
    const uint64_t end = (e.address + e.size() + mask) & ~mask;
    const bool wraps = e.address + e.size() < e.address || end <= start;
    auto fault = [&](GuardFault f) { faults.faults[static_cast<int>(f)]++; };
    if (e.size() == 0) {
      // Nothing to reclaim and no fault, wherever it points (finding F3,
      // fixed in 1061e94); an unknown action is still one.
      if (e.behavior() != VM_RECLAIM_FREE && e.behavior() != VM_RECLAIM_DEALLOCATE)
        fault(GuardFault::deallocate_failure);
      return;
    }
    if (wraps) {
      fault(GuardFault::deallocate_failure);
      return;
    }
    const bool known = e.behavior() == VM_RECLAIM_FREE || e.behavior() == VM_RECLAIM_DEALLOCATE;
    if (known && start < mem_.addr() + mem_.bytes() && mem_.addr() < end) {
      fault(GuardFault::engine_overlap);
      return;
    }
    switch (e.behavior()) {
      case VM_RECLAIM_FREE:
        if (vm_.hole.overlaps(start, end - start)) {
          fault(GuardFault::free_gap);
          break;
        }
        calls.push_back({VmCall::release, start, end - start});
        if (vm_.release_fails.overlaps(start, end - start)) faults.free_failures++;
        break;
      case VM_RECLAIM_DEALLOCATE:
        calls.push_back({VmCall::probe, start, end - start});
        if (vm_.hole.overlaps(start, end - start)) {
          fault(GuardFault::dealloc_gap);
        } else {
          calls.push_back({VmCall::unmap, start, end - start});
          if (vm_.unmap_fails.overlaps(start, end - start)) fault(GuardFault::deallocate_failure);
        }
        break;
      default: fault(GuardFault::deallocate_failure); break;
    }
  }

  void call(Op op) {
    const Snapshot before = snapshot();
    // A tail below head makes a reclaiming call yield 1,000 times before
    // it waits on the (fake) clock (finding O1): milliseconds each, seconds
    // on a loaded machine. A few such calls per input cover the path; more
    // would only make the fuzzer slow and its timeout flaky.
    if (before.tail() < before.head() && ++stalled_calls_ > kMaxStalledCalls) return;
    const Counts c0 = counts();
    const uint32_t len_before = len_;
    const bool inaccessible = protect_next_;
    protect_next_ = false;
    vm_.calls.clear();
    uint32_t flush_n = 0, new_len = len_;
    uint64_t trim_target = 0;
    if (op == Op::flush) flush_n = in_.ConsumeIntegralInRange<uint32_t>(1, 2 * len_ + 2);
    if (op == Op::trim) trim_target = in_.ConsumeBool() ? in_.ConsumeIntegral<uint64_t>() : UINT64_MAX;
    if (op == Op::resize) new_len = in_.ConsumeIntegralInRange<uint32_t>(1, kMaxLen);
    if (inaccessible && ::mprotect(ring(), ring::ring_bytes(len_), PROT_NONE) != 0) fail("mprotect", errno);

    mach_vm_reclaim_error_t err;
    {
      QuietStderr quiet;
      switch (op) {
        case Op::flush: err = engine_->flush(flush_n); break;
        case Op::drain: err = engine_->drain(engine::Cause::drain); break;
        case Op::trim: err = engine_->trim(trim_target, engine::Cause::trim); break;
        case Op::resize: err = engine_->resize(new_len); break;
        case Op::update_accounting: err = engine_->update_accounting(); break;
        case Op::sample_now: err = engine_->sample_now(); break;
      }
    }
    len_ = engine_->capacity();
    if (inaccessible && ::mprotect(ring(), ring::ring_bytes(len_), PROT_READ | PROT_WRITE) != 0) {
      fail("mprotect", errno);
    }
    const Counts c1 = counts();
    FUZZ_TRACE("%s -> %#x; head %llu -> %llu, %zu kernel requests", op_name(op), err,
               static_cast<unsigned long long>(before.head()),
               static_cast<unsigned long long>(ring::load(ring()->head)), vm_.calls.size());
    auto delta = [&](GuardFault f) { return c1.faults[static_cast<int>(f)] - c0.faults[static_cast<int>(f)]; };
    const bool reclaims = op == Op::flush || op == Op::drain || op == Op::resize || (op == Op::trim && trim_target > 0);

    // Bounded: a tail below head is retried a bounded number of times.
    FUZZ_CHECK(c1.aborted - c0.aborted <= 2 * kMaxAbortedPerReclaim, c1.aborted - c0.aborted);
    FUZZ_CHECK(len_ == new_len || len_ == len_before, len_, new_len);

    if (inaccessible) {
      // Nothing could be read, so nothing may have been reclaimed, and
      // whatever touched the ring must have said so.
      FUZZ_CHECK(vm_.calls.empty(), vm_.calls.size());
      FUZZ_CHECK(len_ == len_before);
      if (err != VM_RECLAIM_SUCCESS) FUZZ_CHECK(delta(GuardFault::copyio_failure) > 0, err);
      if (reclaims) FUZZ_CHECK(err == VM_RECLAIM_INVALID_RING && delta(GuardFault::copyio_failure) > 0, err);
      return;
    }

    const Snapshot after = snapshot();
    const uint64_t h0 = before.head(), b0 = before.busy(), t0 = before.tail(), h1 = after.head();
    const bool bad_busy = b0 < h0 || b0 - h0 > tunables_.chunk_size;
    const bool bad_tail = !bad_busy && ((t0 >= h0 && t0 - h0 > len_before) || (t0 < h0 && h0 - t0 > len_before));
    // The user side alone writes these; so does the harness, between calls.
    FUZZ_CHECK(after.tail() == t0);
    FUZZ_CHECK(after.header[0] >> 32 == before.header[0] >> 32);                    // max_len
    FUZZ_CHECK(after.header[kHeaderWords - 1] == before.header[kHeaderWords - 1]);  // user_ops
    for (uint32_t i = 0; i < std::min(len_before, len_); i++) {
      FUZZ_CHECK(
          after.entries[i].address == before.entries[i].address && after.entries[i].meta == before.entries[i].meta, i);
    }
    FUZZ_CHECK(after.bytes() <= before.bytes(), after.bytes(), before.bytes());

    if (bad_busy || bad_tail) {
      // The first chunk finds the indices corrupted: nothing is taken.
      FUZZ_CHECK(h1 == h0 && after.busy() == b0, h1, h0);
      FUZZ_CHECK(vm_.calls.empty());
      if (reclaims) FUZZ_CHECK(delta(GuardFault::index_failure) > 0 && err == VM_RECLAIM_INVALID_RING, err);
      return;
    }
    if (t0 < h0) {
      // A cancel's lock, for all the engine can tell at first; but nothing
      // lets go of it between calls here, so a reclaiming call waits it out
      // (a second on the fake clock) and reports the indices.
      FUZZ_CHECK(h1 == h0 && after.busy() == b0, h1, after.busy());
      FUZZ_CHECK(vm_.calls.empty());
      if (reclaims) FUZZ_CHECK(delta(GuardFault::index_failure) == 1 && err == VM_RECLAIM_INVALID_RING, err);
      if (delta(GuardFault::index_failure) > 0) FUZZ_CHECK(err == VM_RECLAIM_INVALID_RING, err);
      for (int f = 0; f < engine::kGuardFaultKinds; f++) {
        if (f != static_cast<int>(GuardFault::accounting_failure) && f != static_cast<int>(GuardFault::index_failure)) {
          FUZZ_CHECK(c1.faults[f] == c0.faults[f], f);
        }
      }
      return;
    }

    // IDs [h0, h1) came off the ring, oldest first, and nothing else.
    FUZZ_CHECK(h1 >= h0 && h1 <= t0, h1, t0);
    // busy is back at head, or untouched when no chunk was published.
    FUZZ_CHECK(after.busy() == h1 || (h1 == h0 && after.busy() == b0), after.busy(), h1);
    std::vector<VmCall> want;
    Counts expect;
    uint64_t bytes = 0;
    for (uint64_t id = h0; id < h1; id++) expect_entry(before.entries[id % len_before], want, expect, bytes);
    if (!same_requests(vm_.calls, want))
      fail("kernel requests differ from the entries taken", vm_.calls.size(), want.size());
    for (GuardFault f :
         {GuardFault::dealloc_gap, GuardFault::deallocate_failure, GuardFault::free_gap, GuardFault::engine_overlap}) {
      const uint64_t d = delta(f), e = expect.faults[static_cast<int>(f)];
      FUZZ_CHECK(d == e, d, e);
    }
    FUZZ_CHECK(c1.free_failures - c0.free_failures == expect.free_failures, c1.free_failures - c0.free_failures,
               expect.free_failures);
    FUZZ_CHECK(delta(GuardFault::index_failure) == 0 && delta(GuardFault::copyio_failure) == 0);
    // More bytes taken than the ring said it held: the accounting fault.
    if (bytes > before.bytes()) FUZZ_CHECK(delta(GuardFault::accounting_failure) > 0, bytes, before.bytes());

    // Where the engine had to stop.
    switch (op) {
      case Op::flush: FUZZ_CHECK(h1 == h0 + std::min<uint64_t>(flush_n, t0 - h0), h1, h0); break;
      case Op::drain: FUZZ_CHECK(h1 == t0, h1, t0); break;
      case Op::resize:
        FUZZ_CHECK(h1 == t0, h1, t0);
        FUZZ_CHECK(err == VM_RECLAIM_SUCCESS && len_ == new_len, err, len_);
        break;
      case Op::trim: {
        uint64_t id = h0, got_bytes = 0;
        for (; id < t0 && got_bytes < trim_target; id++)
          got_bytes += before.entries[id % len_before].size() * !before.entries[id % len_before].empty();
        FUZZ_CHECK(h1 == id, h1, id);
        break;
      }
      case Op::update_accounting:
      case Op::sample_now: break;  // the trim follows the estimator; checked above entry by entry
    }
    if (op != Op::update_accounting && op != Op::sample_now) FUZZ_CHECK(err == VM_RECLAIM_SUCCESS, err);
  }

  FuzzedDataProvider& in_;
  uint32_t len_;
  policy::PressureLevel level_;
  policy::Tunables tunables_;
  FakeVmOps vm_;
  EngineOnRing on_;
  test::FakeClock& clock_ = on_.clock;
  test::FakeFootprint& footprint_ = on_.footprint;
  policy::FixedPressure& pressure_ = on_.pressure;
  const test::RingMemory& mem_ = on_.memory();
  engine::Engine* engine_ = &on_.engine();
  bool protect_next_ = false;
  int stalled_calls_ = 0;
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
