#include "engine/entry_reclaimer.h"

#include <algorithm>
#include <cerrno>

#include "support/probes.h"

namespace vmreclaim::engine {
namespace {

// Spans closer than this are checked as one range: a hole between them
// (memory no entry names) only costs a second look at each of them.
constexpr uint64_t kMergeGap = uint64_t{1} << 20;

void count_fault(EntryBatchResult& res, const Config& t, GuardFault f, uint64_t addr, const char* what) noexcept {
  res.faults[static_cast<int>(f)]++;
  raise_guard(f, addr, t.guard, what);  // returns only in log mode: skip the entry
}

// FREE entries waiting for one batched release. An entry is checked before
// any page of the batch is released: one that is not wholly mapped is a
// guard fault and none of it is released (madvise would release what is
// mapped, then fail).
class PendingFrees {
 public:
  PendingFrees(platform::VmOps& vm, const Config& t, EntryBatchResult& res, const MappedSpan* mapped) noexcept
      : vm_(vm), t_(t), res_(res), mapped_(mapped) {}

  void add(platform::Span span, uint64_t entry_addr) noexcept {
    spans_[n_] = span;
    addrs_[n_] = entry_addr;
    n_++;
  }

  bool overlaps_any(uint64_t start, uint64_t end) const noexcept {
    for (uint32_t i = 0; i < n_; i++) {
      if (start < spans_[i].addr + spans_[i].len && spans_[i].addr < end) return true;
    }
    return false;
  }

  // Checks every pending span, then releases those that passed in one call.
  void release() noexcept {
    if (n_ == 0) return;
    bool ok[Config::kMaxChunk];
    check(ok);
    platform::Span pass[Config::kMaxChunk];
    int errs[Config::kMaxChunk];
    uint32_t npass = 0;
    for (uint32_t i = 0; i < n_; i++) {
      if (ok[i]) pass[npass++] = spans_[i];
    }
    if (npass > 0) {
      vm_.release(pass, npass, t_.free_advice, errs);
      for (uint32_t i = 0; i < npass; i++) res_.free_failures += errs[i] != 0 ? 1 : 0;
    }
    n_ = 0;
  }

 private:
  // One probe per run of spans lying close together (sorted by address); a
  // run with a hole somewhere is probed again span by span, so only the
  // spans that really cover a hole fail. A probe that fails for another
  // reason than ENOMEM is no evidence of a hole.
  void check(bool* ok) noexcept {
    uint16_t order[Config::kMaxChunk];
    for (uint32_t i = 0; i < n_; i++) order[i] = static_cast<uint16_t>(i);
    std::sort(order, order + n_, [&](uint16_t a, uint16_t b) { return spans_[a].addr < spans_[b].addr; });
    uint32_t first = 0;
    while (first < n_) {
      uint64_t run_start = spans_[order[first]].addr;
      uint64_t run_end = run_start + spans_[order[first]].len;
      uint32_t last = first + 1;
      while (last < n_ && spans_[order[last]].addr <= run_end + kMergeGap) {
        run_end = std::max(run_end, spans_[order[last]].addr + spans_[order[last]].len);
        last++;
      }
      const bool whole = last - first == 1;
      if ((mapped_ != nullptr && mapped_->covers(run_start, run_end)) ||
          vm_.probe_mapped(run_start, run_end - run_start) != ENOMEM) {
        for (uint32_t k = first; k < last; k++) ok[order[k]] = true;
      } else {
        for (uint32_t k = first; k < last; k++) {
          const uint32_t i = order[k];
          ok[i] = !whole && vm_.probe_mapped(spans_[i].addr, spans_[i].len) != ENOMEM;
          if (!ok[i]) {
            count_fault(res_, t_, GuardFault::free_gap, addrs_[i],
                        "reclaim of a FREE entry (part of it is not mapped)");
          }
        }
      }
      first = last;
    }
  }

  platform::VmOps& vm_;
  const Config& t_;
  EntryBatchResult& res_;
  const MappedSpan* mapped_;  // found mapped earlier in this engine call; may be null
  platform::Span spans_[Config::kMaxChunk];
  uint64_t addrs_[Config::kMaxChunk];
  uint32_t n_ = 0;
};

}  // namespace

bool EngineMemory::overlaps(uint64_t start, uint64_t end) const noexcept {
  for (uint32_t i = 0; i < n; i++) {
    if (start < ranges[i].addr + ranges[i].len && ranges[i].addr < end) return true;
  }
  return false;
}

void EngineMemory::add(uint64_t addr, uint64_t len) noexcept {
  if (len != 0 && n < kMax) ranges[n++] = {addr, len};
}

MappedSpan probe_free_span(const ring::EntryWords* entries, uint32_t n, platform::VmOps& vm) noexcept {
  platform::Span spans[Config::kMaxChunk];
  uint32_t k = 0;
  const uint64_t mask = ring::page_size() - 1;
  for (uint32_t i = 0; i < n && k < Config::kMaxChunk; i++) {
    const ring::EntryWords& e = entries[i];
    if (e.behavior() != VM_RECLAIM_FREE || e.size() == 0) continue;
    const uint64_t start = e.address & ~mask;
    const uint64_t end = (e.address + e.size() + mask) & ~mask;
    if (end <= start || e.address + e.size() < e.address) continue;  // refused when reclaimed
    spans[k++] = {start, end - start};
  }
  MappedSpan out;
  if (k == 0) return out;
  std::sort(spans, spans + k, [](const platform::Span& a, const platform::Span& b) { return a.addr < b.addr; });
  uint64_t end = spans[0].addr + spans[0].len;
  for (uint32_t i = 1; i < k; i++) {
    if (spans[i].addr > end + kMergeGap) return out;  // far apart: the chunks check their own runs
    end = std::max(end, spans[i].addr + spans[i].len);
  }
  // Only a probe that succeeds vouches for the span (one that fails for
  // another reason than ENOMEM is no evidence either way: each chunk then
  // probes its own runs).
  if (vm.probe_mapped(spans[0].addr, end - spans[0].addr) == 0) out = {spans[0].addr, end};
  return out;
}

EntryBatchResult reclaim_entries(const ring::EntryWords* entries, uint32_t n, uint64_t byte_target, platform::VmOps& vm,
                                 const Config& t, const EngineMemory& own, MappedSpan* mapped) noexcept {
  EntryBatchResult res;
  PendingFrees frees(vm, t, res, mapped);
  const uint64_t mask = ring::page_size() - 1;
  auto fault = [&](GuardFault f, uint64_t addr, const char* what) { count_fault(res, t, f, addr, what); };

  for (uint32_t i = 0; i < n && res.bytes < byte_target; i++) {
    const ring::EntryWords& e = entries[i];
    res.consumed++;
    if (e.empty()) continue;  // cancelled
    res.bytes += e.size();
    if (e.behavior() != VM_RECLAIM_FREE && e.behavior() != VM_RECLAIM_DEALLOCATE) {
      fault(GuardFault::deallocate_failure, e.address, "reclaim (unknown action)");
      continue;
    }
    // A zero-size entry frees nothing, wherever it points (the user side
    // never enters one; only a scribbled ring has them).
    if (e.size() == 0) continue;
    // Truncate the start, round the end up: every page the entry touches.
    const uint64_t start = e.address & ~mask;
    const uint64_t end = (e.address + e.size() + mask) & ~mask;
    VMR_PROBE3(vm_reclaim_entry, e.address, e.size(), e.behavior());
    if (end <= start || e.address + e.size() < e.address) {
      fault(GuardFault::deallocate_failure, e.address, "reclaim (range wraps the address space)");
      continue;
    }
    if (own.overlaps(start, end)) {
      fault(GuardFault::engine_overlap, e.address, "reclaim (the entry covers the engine's own memory)");
      continue;
    }
    switch (e.behavior()) {
      case VM_RECLAIM_FREE: frees.add({start, end - start}, e.address); break;
      case VM_RECLAIM_DEALLOCATE: {
        // Entries take effect in ID order: FREE entries entered before this
        // one over the same pages are released while those are still mapped.
        if (frees.overlaps_any(start, end)) frees.release();
        int probe = vm.probe_mapped(start, end - start);
        if (probe == ENOMEM) {
          fault(GuardFault::dealloc_gap, e.address, "reclaim of a DEALLOCATE entry (part of it is not mapped)");
          break;
        }
        int err = vm.unmap(start, end - start);
        // Pages this call found mapped may be gone now: a later FREE entry
        // over them is probed again.
        if (mapped != nullptr && mapped->overlaps(start, end)) mapped->clear();
        if (err != 0) fault(GuardFault::deallocate_failure, e.address, "munmap of a DEALLOCATE entry");
        break;
      }
    }
  }
  frees.release();
  return res;
}

}  // namespace vmreclaim::engine
