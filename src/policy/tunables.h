// The engine's settings (docs/design.md §9), listed once in tunables.def.
// Read once from the environment; a bad value is reported on stderr, naming
// the variable, and the default kept. Programs that embed the library can
// build a Tunables themselves.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "engine/config.h"
#include "platform/linux/vm_ops.h"
#include "policy/pressure.h"
#include "support/choice.h"
#include "support/daemon_socket.h"
#include "support/log.h"

namespace vmreclaim::policy {

// The engine defines what a guard fault does; the tunable picks one.
using GuardMode = engine::GuardMode;

// The words of the choice tunables (tunables.def); kPressureLevels is pressure.h's.
using support::Choice;
inline constexpr Choice<bool> kOffOn[] = {{"0", false}, {"1", true}};
inline constexpr Choice<GuardMode> kGuardModes[] = {{"fatal", GuardMode::fatal}, {"log", GuardMode::log}};
inline constexpr Choice<support::LogLevel> kLogLevels[] = {
    {"debug", support::LogLevel::debug}, {"info", support::LogLevel::info}, {"error", support::LogLevel::error}};
inline constexpr Choice<platform::FreeAdvice> kFreeAdvice[] = {{"dontneed", platform::FreeAdvice::dontneed},
                                                               {"free", platform::FreeAdvice::free}};
inline constexpr uint64_t kHourNs = 3600ull * 1'000'000'000ull;

// A path tunable: what fits a sockaddr_un's sun_path (with its NUL), held
// in place so that Tunables copies without allocating. Empty: none.
struct SocketPath {
  static constexpr size_t kMax = support::kMaxSocketPath;
  std::array<char, kMax + 1> text{};
  constexpr SocketPath() = default;
  constexpr SocketPath(std::string_view s) {  // NOLINT(google-explicit-constructor): the table's defaults
    for (size_t i = 0; i < s.size() && i < kMax; i++) text[i] = s[i];
  }
  std::string_view view() const noexcept { return text.data(); }
  bool empty() const noexcept { return text[0] == '\0'; }
};

// One field per line of tunables.def, where each is explained.
struct Tunables {
  static constexpr uint32_t kMaxChunk = engine::Config::kMaxChunk;

#define VMRECLAIM_TUNABLE_NUMBER(type, field, dflt, env, unit, lo, hi, help) type field = dflt;
#define VMRECLAIM_TUNABLE_CHOICE(type, field, dflt, env, choices, help) type field = dflt;
#define VMRECLAIM_TUNABLE_OPTIONAL(type, field, env, choices, unset, help) std::optional<type> field;
#define VMRECLAIM_TUNABLE_BYTES(field, env, lo, hi, unset, help) std::optional<uint64_t> field;
#define VMRECLAIM_TUNABLE_PATH(field, env, dflt, help) SocketPath field{dflt};
#include "policy/tunables.def"

  uint64_t period_ns(PressureLevel level) const noexcept;
  uint32_t autotrim_pct(PressureLevel level) const noexcept;
};

// What the environment parser and the README's table know of a tunable:
// one entry per line of tunables.def, in its order.
struct TunableSpec {
  enum class Kind : uint8_t { count, nanoseconds, choice, bytes, path };
  const char* env;  // "VMRECLAIM_..."
  Kind kind;
  bool optional;    // unset by default
  uint64_t lo, hi;  // count, nanoseconds, bytes
  size_t choices;   // choice: how many words
  std::string_view (*choice_text)(size_t i) noexcept;
  std::string_view unset;  // optional: what unset means
  std::string_view help;   // Markdown
  // The value as a number or as the index of a word; nullopt when unset.
  std::optional<uint64_t> (*get)(const Tunables& t) noexcept;
  void (*set)(Tunables& t, uint64_t v) noexcept;
  // path: the field itself (get and set are null).
  SocketPath Tunables::*path;
};
std::span<const TunableSpec> tunable_specs() noexcept;
// What a value must look like ("a whole number from 1 to 256", "0 or 1");
// with `markdown`, values in backticks.
std::string expected_text(const TunableSpec& spec, bool markdown);
// The value of `spec` in `t` as it would be written ("16", "fatal"), or
// the `unset` text.
std::string value_text(const TunableSpec& spec, const Tunables& t);

// The line of tunables.def of the daemon's socket (VMRECLAIM_DAEMON_SOCKET):
// its name and its check, for the tools that look for the daemon where the
// engine does (daemon/client.h).
const TunableSpec& daemon_socket_tunable() noexcept;
// How every bad setting is reported, by the parser and by the tools:
// `NAME="value" is not valid (expected ...)` (the value cut at 64 bytes).
std::string bad_value_text(std::string_view name, std::string_view value, std::string_view expected);
// One tunable from `text` into `t`, checked as tunables_from_env checks it.
// A bad value leaves `t` as it was and returns bad_value_text for it.
std::optional<std::string> set_tunable(const TunableSpec& spec, const char* text, Tunables& t);

// Looks a variable up; returns nullptr when unset.
using EnvLookup = std::function<const char*(const char*)>;
// Receives one message per bad value.
using EnvComplaint = std::function<void(const char* message)>;

Tunables tunables_from_env(const EnvLookup& lookup, const EnvComplaint& complain);
// From the process environment (support::setting_from_env: nothing in a
// privileged process), complaining on stderr.
Tunables tunables_from_process_env();

}  // namespace vmreclaim::policy
