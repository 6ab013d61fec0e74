// The demo's workload: a deterministic churn of large blocks whose working set
// rises and falls, run against a BlockAllocator (one per way of freeing). The
// same seed gives every allocator the same sequence of requests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace vmreclaim::tools::demo {

// A small, fully specified generator (splitmix64): the sequence must not
// depend on the standard library's distribution implementations.
class Rng {
 public:
  explicit Rng(uint64_t seed) noexcept : state_(seed) {}
  uint64_t next() noexcept {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n).
  uint64_t below(uint64_t n) noexcept { return next() % n; }

 private:
  uint64_t state_;
};

// Block sizes an allocator of large blocks would use: two classes per power
// of two (128 KiB, 192 KiB, 256 KiB, 384 KiB, ...) up to max_block.
class SizeClasses {
 public:
  static constexpr size_t kMinBlock = size_t{128} << 10;

  explicit SizeClasses(size_t max_block);
  size_t count() const noexcept { return sizes_.size(); }
  size_t size(size_t cls) const noexcept { return sizes_[cls]; }

 private:
  std::vector<size_t> sizes_;
};

struct WorkloadConfig {
  uint64_t ops = 6000;  // allocations + frees of the churn
  size_t max_block = size_t{4} << 20;
  uint64_t seed = 0x766d7265636c61ull;
  // The live bytes follow a triangle wave between these, one period per
  // wave_ops operations: on the way down freed memory piles up idle.
  uint64_t low_live_bytes = uint64_t{16} << 20;
  uint64_t high_live_bytes = uint64_t{192} << 20;
  uint64_t wave_ops = 2000;
};

// One way of getting and giving back blocks. Implementations count the
// memory system calls they issue themselves.
class BlockAllocator {
 public:
  struct Block {
    void* addr = nullptr;
    size_t size = 0;
    uint32_t cls = 0;
    uint64_t ring_id = UINT64_MAX;  // the ring allocator's ID to re-enter with
  };
  virtual ~BlockAllocator() = default;
  // Throws std::runtime_error when the system refuses (the demo stops).
  virtual Block allocate(uint32_t cls, size_t size) = 0;
  virtual void release(const Block& block) = 0;
  virtual uint64_t syscalls() const noexcept = 0;
};

struct WorkloadProgress {
  uint64_t ops_done = 0;
  uint64_t live_bytes = 0;
};

struct WorkloadOutcome {
  uint64_t ops = 0;  // operations done, including freeing what was live at the end
  uint64_t allocations = 0;
  uint64_t allocated_bytes = 0;
  uint64_t peak_live_bytes = 0;
  bool stopped_early = false;  // the time limit ended the churn
};

// Runs the churn, then frees every block still live. Every page of each
// allocated block is written (a program uses what it allocates); the first
// word of each page gets the allocation's serial number. `on_step` is called
// after every operation; returning false stops the churn.
WorkloadOutcome run_workload(const WorkloadConfig& config, BlockAllocator& allocator,
                             const std::function<bool(const WorkloadProgress&)>& on_step);

}  // namespace vmreclaim::tools::demo
