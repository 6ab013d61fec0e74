// Clocks. The ring's deadlines are CLOCK_MONOTONIC nanoseconds; the user side
// compares against them on every enter/cancel, so it reads the coarse clock
// (a vDSO read of the tick-updated time, ~7 ns here against ~28 ns for the
// precise clock). Both clocks share one epoch; the coarse one lags by at most
// a tick, which only delays a sample by that much.
#pragma once

#include <time.h>

#include <cerrno>

#include <cstdint>

namespace vmreclaim::platform {

inline uint64_t to_ns(const timespec& ts) noexcept {
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

inline uint64_t coarse_now_ns() noexcept {
  timespec ts{};
  // Cannot fail for a valid clock id; a zero time only delays a sample.
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return to_ns(ts);
}

// Replaceable in tests so the estimator can be driven through time.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual uint64_t now_ns() noexcept = 0;
  // Waits about `ns` (the engine's back-off while a cancel holds the ring's
  // tail). A test clock advances itself instead.
  virtual void sleep_ns(uint64_t ns) noexcept {
    timespec ts{static_cast<time_t>(ns / 1'000'000'000ull), static_cast<long>(ns % 1'000'000'000ull)};
    while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
  }
};

class MonotonicClock final : public Clock {
 public:
  uint64_t now_ns() noexcept override {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return to_ns(ts);
  }
};

}  // namespace vmreclaim::platform
