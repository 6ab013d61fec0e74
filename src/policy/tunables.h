// The engine's settings (docs/design.md §9). Read once from the environment;
// a bad value is reported on stderr, naming the variable, and the default
// kept. Programs that embed the library can build a Tunables themselves.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "engine/config.h"
#include "platform/linux/vm_ops.h"
#include "policy/pressure.h"
#include "support/log.h"

namespace vmreclaim::policy {

// The engine defines what a guard fault does; the tunable picks one.
using GuardMode = engine::GuardMode;

struct Tunables {
  bool enabled = true;
  // Sampling period by pressure: normal, warning/urgent, critical.
  uint64_t period_normal_ns = 10'000'000'000ull;
  uint64_t period_pressure_ns = 1'000'000'000ull;
  uint64_t period_critical_ns = 0;
  // Autotrim threshold, percent of the lifetime maximum footprint.
  uint32_t autotrim_pct_normal = 10;
  uint32_t autotrim_pct_pressure = 5;
  uint32_t autotrim_pct_critical = 1;
  // WMA = (base * old + cur * new) / denom.
  uint32_t wma_weight_base = 3;
  uint32_t wma_weight_cur = 1;
  uint32_t wma_denom = 4;
  uint32_t abandonment_periods = 512;
  uint32_t chunk_size = 16;
  // How often the engine thread reads the pressure sources and limits while
  // the ring holds anything (the fallback when PSI triggers are refused).
  uint64_t pressure_poll_ns = 1'000'000'000ull;
  // Drain the ring on SIGTSTP before the process stops. Off by default: the
  // handler this needs makes a stop/continue interrupt the call the signal
  // met (nanosleep, poll, select return EINTR), which the default action
  // never does (docs/policy.md, "Suspend").
  bool suspend_drain = false;
  // Run the background engine thread.
  bool engine_thread = true;
  // Serve the control endpoint (@vmreclaim/<pid>/<random>) from the engine thread.
  bool control = true;
  std::optional<PressureLevel> forced_pressure;
  std::optional<uint64_t> footprint_limit;
  GuardMode guard = GuardMode::fatal;
  support::LogLevel log_level = support::LogLevel::error;
  platform::FreeAdvice free_advice = platform::FreeAdvice::dontneed;

  static constexpr uint32_t kMaxChunk = engine::Config::kMaxChunk;

  uint64_t period_ns(PressureLevel level) const noexcept;
  uint32_t autotrim_pct(PressureLevel level) const noexcept;
};

// Looks a variable up; returns nullptr when unset.
using EnvLookup = std::function<const char*(const char*)>;
// Receives one message per bad value.
using EnvComplaint = std::function<void(const char* message)>;

Tunables tunables_from_env(const EnvLookup& lookup, const EnvComplaint& complain);
// From the process environment (support::setting_from_env: nothing in a
// privileged process), complaining on stderr.
Tunables tunables_from_process_env();

// Parsers, exposed for tests. nullopt on anything malformed or out of range.
std::optional<uint64_t> parse_u64(std::string_view text) noexcept;
std::optional<uint64_t> parse_bytes(std::string_view text) noexcept;  // K/M/G suffixes

}  // namespace vmreclaim::policy
