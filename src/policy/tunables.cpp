#include "policy/tunables.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "support/environment.h"
#include "support/numbers.h"

namespace vmreclaim::policy {

uint64_t Tunables::period_ns(PressureLevel level) const noexcept {
  switch (level) {
    case PressureLevel::normal: return period_normal_ns;
    case PressureLevel::warning:
    case PressureLevel::urgent: return period_pressure_ns;
    case PressureLevel::critical: return period_critical_ns;
  }
  return period_normal_ns;
}

uint32_t Tunables::autotrim_pct(PressureLevel level) const noexcept {
  switch (level) {
    case PressureLevel::normal: return autotrim_pct_normal;
    case PressureLevel::warning:
    case PressureLevel::urgent: return autotrim_pct_pressure;
    case PressureLevel::critical: return autotrim_pct_critical;
  }
  return autotrim_pct_normal;
}

namespace {

class Reader {
 public:
  Reader(const EnvLookup& lookup, const EnvComplaint& complain) : lookup_(lookup), complain_(complain) {}

  void number(const char* name, uint64_t& out, uint64_t lo, uint64_t hi) {
    const char* s = lookup_(name);
    if (s == nullptr) return;
    auto v = support::parse_u64(s);
    if (!v || *v < lo || *v > hi) {
      bad(name, s, ("a whole number from " + std::to_string(lo) + " to " + std::to_string(hi)).c_str(),
          std::to_string(out).c_str());
      return;
    }
    out = *v;
  }
  void number(const char* name, uint32_t& out, uint32_t lo, uint32_t hi) {
    uint64_t v = out;
    number(name, v, lo, hi);
    out = static_cast<uint32_t>(v);
  }
  template <class T>
  void choice(const char* name, T& out, std::initializer_list<std::pair<std::string_view, T>> options,
              const char* expected, const char* dflt) {
    const char* s = lookup_(name);
    if (s == nullptr) return;
    for (const auto& [text, value] : options) {
      if (text == s) {
        out = value;
        return;
      }
    }
    bad(name, s, expected, dflt);
  }
  const char* raw(const char* name) { return lookup_(name); }
  void bad(const char* name, const char* value, const char* expected, const char* dflt) {
    char msg[512];
    std::snprintf(msg, sizeof msg, "%s=\"%.64s\" is not valid (expected %s); using %s", name, value, expected, dflt);
    complain_(msg);
  }

 private:
  const EnvLookup& lookup_;
  const EnvComplaint& complain_;
};

}  // namespace

Tunables tunables_from_env(const EnvLookup& lookup, const EnvComplaint& complain) {
  Tunables t;
  Reader r(lookup, complain);
  r.choice<bool>("VMRECLAIM_ENABLED", t.enabled, {{"1", true}, {"0", false}}, "0 or 1", "1");
  constexpr uint64_t kHour = 3600ull * 1'000'000'000ull;
  r.number("VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS", t.period_normal_ns, 0, kHour);
  r.number("VMRECLAIM_SAMPLING_PERIOD_PRESSURE_NS", t.period_pressure_ns, 0, kHour);
  r.number("VMRECLAIM_SAMPLING_PERIOD_CRITICAL_NS", t.period_critical_ns, 0, kHour);
  r.number("VMRECLAIM_AUTOTRIM_PCT_NORMAL", t.autotrim_pct_normal, 0, 100);
  r.number("VMRECLAIM_AUTOTRIM_PCT_PRESSURE", t.autotrim_pct_pressure, 0, 100);
  r.number("VMRECLAIM_AUTOTRIM_PCT_CRITICAL", t.autotrim_pct_critical, 0, 100);
  Tunables weights = t;
  r.number("VMRECLAIM_WMA_WEIGHT_BASE", weights.wma_weight_base, 0, 1024);
  r.number("VMRECLAIM_WMA_WEIGHT_CUR", weights.wma_weight_cur, 0, 1024);
  r.number("VMRECLAIM_WMA_DENOM", weights.wma_denom, 1, 2048);
  if (weights.wma_weight_base + weights.wma_weight_cur != weights.wma_denom) {
    // Weights that do not sum to the denominator make the average drift.
    char got[96];
    std::snprintf(got, sizeof got, "%u+%u vs %u", weights.wma_weight_base, weights.wma_weight_cur, weights.wma_denom);
    r.bad("VMRECLAIM_WMA_WEIGHT_BASE/_CUR/_DENOM", got, "BASE + CUR == DENOM", "3/1/4");
  } else {
    t.wma_weight_base = weights.wma_weight_base;
    t.wma_weight_cur = weights.wma_weight_cur;
    t.wma_denom = weights.wma_denom;
  }
  r.number("VMRECLAIM_ABANDONMENT_THRESHOLD", t.abandonment_periods, 1, 1u << 20);
  r.number("VMRECLAIM_CHUNK_SIZE", t.chunk_size, 1, Tunables::kMaxChunk);
  r.number("VMRECLAIM_PRESSURE_POLL_NS", t.pressure_poll_ns, 10'000'000, kHour);
  r.choice<bool>("VMRECLAIM_SUSPEND_DRAIN", t.suspend_drain, {{"1", true}, {"0", false}}, "0 or 1", "0");
  r.choice<bool>("VMRECLAIM_ENGINE_THREAD", t.engine_thread, {{"1", true}, {"0", false}}, "0 or 1", "1");
  r.choice<bool>("VMRECLAIM_CONTROL", t.control, {{"1", true}, {"0", false}}, "0 or 1", "1");
  if (const char* s = r.raw("VMRECLAIM_PRESSURE"); s != nullptr) {
    if (auto l = parse_pressure_level(s)) {
      t.forced_pressure = l;
    } else {
      r.bad("VMRECLAIM_PRESSURE", s, "normal, warning, urgent or critical", "live pressure");
    }
  }
  if (const char* s = r.raw("VMRECLAIM_FOOTPRINT_LIMIT"); s != nullptr) {
    auto v = support::parse_bytes(s);
    if (v && *v > 0) {
      t.footprint_limit = v;
    } else {
      r.bad("VMRECLAIM_FOOTPRINT_LIMIT", s, "a positive byte count with an optional K, M or G suffix", "no limit");
    }
  }
  r.choice<GuardMode>("VMRECLAIM_GUARD", t.guard, {{"fatal", GuardMode::fatal}, {"log", GuardMode::log}},
                      "fatal or log", "fatal");
  r.choice<support::LogLevel>(
      "VMRECLAIM_LOG", t.log_level,
      {{"debug", support::LogLevel::debug}, {"info", support::LogLevel::info}, {"error", support::LogLevel::error}},
      "debug, info or error", "error");
  r.choice<platform::FreeAdvice>("VMRECLAIM_FREE_ADVICE", t.free_advice,
                                 {{"dontneed", platform::FreeAdvice::dontneed}, {"free", platform::FreeAdvice::free}},
                                 "dontneed or free", "dontneed");
  return t;
}

Tunables tunables_from_process_env() {
  // secure_getenv: a privileged (AT_SECURE) process reads no tunables.
  return tunables_from_env([](const char* name) { return support::setting_from_env(name); },
                           [](const char* msg) { support::log_always("%s", msg); });
}

}  // namespace vmreclaim::policy
