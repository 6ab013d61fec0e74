// What the demo measures about its own process: anonymous resident memory,
// minor faults, elapsed time; and the progress line it shows meanwhile.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace vmreclaim::tools::demo {

// Fields of /proc/self/status, in bytes.
struct MemoryStatus {
  uint64_t rss_anon = 0;
  uint64_t rss_file = 0;
  uint64_t rss_shmem = 0;
  uint64_t hwm = 0;  // VmHWM: the peak of all three together
};
std::optional<MemoryStatus> read_memory_status() noexcept;

// Restarts VmHWM at the current RSS (/proc/self/clear_refs "5"). False if
// the kernel refused; the peak then falls back to sampling alone.
bool reset_peak_rss() noexcept;

uint64_t minor_faults() noexcept;

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point t) noexcept {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Peak RssAnon over a run: sampled now and then, and cross-checked with the
// kernel's high-water mark (which sees peaks between samples). Time spent
// sampling is kept so that it can be left out of the run's speed.
class RssTracker {
 public:
  // Starts a run: resets the high-water mark and takes the baseline.
  void start();
  // Samples RssAnon if `interval` passed since the last sample (or `force`).
  void maybe_sample(Clock::time_point now, bool force = false);
  // A last sample; folds in the high-water mark.
  void finish();

  uint64_t baseline() const noexcept { return baseline_; }
  uint64_t last() const noexcept { return last_; }
  uint64_t peak() const noexcept { return peak_; }
  double sampling_seconds() const noexcept { return sampling_seconds_; }

 private:
  void sample();

  static constexpr auto kInterval = std::chrono::milliseconds(2);
  bool hwm_valid_ = false;
  uint64_t baseline_ = 0, last_ = 0, peak_ = 0;
  Clock::time_point last_sample_{};
  double sampling_seconds_ = 0;
};

// One line on stderr saying how far a run is, shown only once the run has
// taken more than a second: rewritten in place on a terminal, a plain line
// per second otherwise.
class ProgressLine {
 public:
  explicit ProgressLine(std::string label);
  void update(Clock::time_point now, uint64_t done, uint64_t total, uint64_t rss_anon);
  void finish();

 private:
  std::string label_;
  bool tty_;
  bool shown_ = false;
  Clock::time_point start_, last_;
};

std::string format_bytes(uint64_t bytes);

}  // namespace vmreclaim::tools::demo
