#include "demo_workload.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

namespace vmreclaim::tools::demo {
namespace {

size_t page_size() noexcept {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

// Where the live bytes should be at operation `op`: a triangle wave.
uint64_t target_live_bytes(const WorkloadConfig& c, uint64_t op) noexcept {
  const uint64_t half = c.wave_ops / 2 > 0 ? c.wave_ops / 2 : 1;
  const uint64_t phase = op % (2 * half);
  const uint64_t rise = phase < half ? phase : 2 * half - phase;
  return c.low_live_bytes + (c.high_live_bytes - c.low_live_bytes) * rise / half;
}

void touch_pages(void* addr, size_t size, uint64_t serial) noexcept {
  auto* base = static_cast<char*>(addr);
  for (size_t off = 0; off < size; off += page_size()) {
    *reinterpret_cast<volatile uint64_t*>(base + off) = serial;
  }
}

}  // namespace

SizeClasses::SizeClasses(size_t max_block) {
  // 2^k and 1.5 * 2^k for every power of two from the minimum up.
  for (size_t pow2 = kMinBlock; pow2 <= max_block; pow2 *= 2) {
    sizes_.push_back(pow2);
    if (pow2 + pow2 / 2 <= max_block) sizes_.push_back(pow2 + pow2 / 2);
  }
}

WorkloadOutcome run_workload(const WorkloadConfig& config, BlockAllocator& allocator,
                             const std::function<bool(const WorkloadProgress&)>& on_step) {
  const SizeClasses classes(config.max_block);
  Rng rng(config.seed);
  std::vector<BlockAllocator::Block> live;
  WorkloadOutcome out;
  WorkloadProgress progress;

  for (uint64_t op = 0; op < config.ops; op++) {
    const bool grow = progress.live_bytes < target_live_bytes(config, op);
    // Mostly follow the wave, but keep churning both ways at every point of it.
    const bool allocate = live.empty() || rng.below(4) < (grow ? 3u : 1u);
    if (allocate) {
      // Uniform over classes, i.e. log-uniform over sizes: small blocks are common.
      const auto cls = static_cast<uint32_t>(rng.below(classes.count()));
      BlockAllocator::Block b = allocator.allocate(cls, classes.size(cls));
      touch_pages(b.addr, b.size, ++out.allocations);
      out.allocated_bytes += b.size;
      progress.live_bytes += b.size;
      live.push_back(b);
    } else {
      const size_t victim = rng.below(live.size());
      std::swap(live[victim], live.back());
      progress.live_bytes -= live.back().size;
      allocator.release(live.back());
      live.pop_back();
    }
    progress.ops_done = op + 1;
    out.peak_live_bytes = std::max(out.peak_live_bytes, progress.live_bytes);
    if (!on_step(progress)) {
      out.stopped_early = op + 1 < config.ops;
      break;
    }
  }
  out.ops = progress.ops_done;
  // The program ends its churn and gives everything back.
  while (!live.empty()) {
    allocator.release(live.back());
    live.pop_back();
    out.ops++;
  }
  return out;
}

}  // namespace vmreclaim::tools::demo
