#include "policy/tunables.h"

#include <cstdio>
#include <cstdlib>
#include <iterator>
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

template <class M>
struct MemberOf;
template <class C, class T>
struct MemberOf<T C::*> {
  using type = T;
};

// Access to one field, as a number or as the index of a word.
template <auto Field>
std::optional<uint64_t> get_number(const Tunables& t) noexcept {
  return static_cast<uint64_t>(t.*Field);
}
template <auto Field>
void set_number(Tunables& t, uint64_t v) noexcept {
  t.*Field = static_cast<typename MemberOf<decltype(Field)>::type>(v);
}
template <auto Field>
std::optional<uint64_t> get_bytes(const Tunables& t) noexcept {
  return t.*Field;
}
template <auto Field>
void set_bytes(Tunables& t, uint64_t v) noexcept {
  t.*Field = v;
}
template <const auto& Choices>
std::string_view choice_text(size_t i) noexcept {
  return i < std::size(Choices) ? Choices[i].text : std::string_view();
}
template <const auto& Choices, class T>
std::optional<uint64_t> index_of(const T& value) noexcept {
  for (size_t i = 0; i < std::size(Choices); i++) {
    if (Choices[i].value == value) return i;
  }
  return std::nullopt;
}
template <class T>
inline constexpr bool kIsOptional = false;
template <class T>
inline constexpr bool kIsOptional<std::optional<T>> = true;

template <auto Field, const auto& Choices>
std::optional<uint64_t> get_choice(const Tunables& t) noexcept {
  if constexpr (kIsOptional<typename MemberOf<decltype(Field)>::type>) {
    return (t.*Field).has_value() ? index_of<Choices>(*(t.*Field)) : std::nullopt;
  } else {
    return index_of<Choices>(t.*Field);
  }
}
template <auto Field, const auto& Choices>
void set_choice(Tunables& t, uint64_t i) noexcept {
  if (i < std::size(Choices)) t.*Field = Choices[i].value;
}

template <auto Field>
constexpr TunableSpec number_spec(const char* env, TunableSpec::Kind kind, uint64_t lo, uint64_t hi,
                                  std::string_view help) {
  return {env, kind, false, lo, hi, 0, nullptr, {}, help, &get_number<Field>, &set_number<Field>, nullptr};
}
template <auto Field, const auto& Choices>
constexpr TunableSpec choice_spec(const char* env, std::string_view unset, std::string_view help) {
  constexpr bool optional = kIsOptional<typename MemberOf<decltype(Field)>::type>;
  return {env,
          TunableSpec::Kind::choice,
          optional,
          0,
          0,
          std::size(Choices),
          &choice_text<Choices>,
          unset,
          help,
          &get_choice<Field, Choices>,
          &set_choice<Field, Choices>,
          nullptr};
}
template <auto Field>
constexpr TunableSpec bytes_spec(const char* env, uint64_t lo, uint64_t hi, std::string_view unset,
                                 std::string_view help) {
  return {env,    TunableSpec::Kind::bytes, true, lo, hi, 0, nullptr, unset, help, &get_bytes<Field>, &set_bytes<Field>,
          nullptr};
}
constexpr TunableSpec path_spec(const char* env, SocketPath Tunables::*field, std::string_view help) {
  return {env, TunableSpec::Kind::path, false, 0, SocketPath::kMax, 0, nullptr, {}, help, nullptr, nullptr, field};
}

// One spec per line of tunables.def.
#define VMR_KIND_COUNT TunableSpec::Kind::count
#define VMR_KIND_NS TunableSpec::Kind::nanoseconds
constexpr TunableSpec kSpecs[] = {
#define VMRECLAIM_TUNABLE_NUMBER(type, field, dflt, env, unit, lo, hi, help) \
  number_spec<&Tunables::field>(env, VMR_KIND_##unit, lo, hi, help),
#define VMRECLAIM_TUNABLE_CHOICE(type, field, dflt, env, choices, help) \
  choice_spec<&Tunables::field, choices>(env, {}, help),
#define VMRECLAIM_TUNABLE_OPTIONAL(type, field, env, choices, unset, help) \
  choice_spec<&Tunables::field, choices>(env, unset, help),
#define VMRECLAIM_TUNABLE_BYTES(field, env, lo, hi, unset, help) bytes_spec<&Tunables::field>(env, lo, hi, unset, help),
#define VMRECLAIM_TUNABLE_PATH(field, env, dflt, help) path_spec(env, &Tunables::field, help),
#include "policy/tunables.def"
};
#undef VMR_KIND_COUNT
#undef VMR_KIND_NS

// The value `text` gives `spec`: a number, or the index of a word.
std::optional<uint64_t> parse_value(const TunableSpec& spec, std::string_view text) noexcept {
  switch (spec.kind) {
    case TunableSpec::Kind::count:
    case TunableSpec::Kind::nanoseconds:
    case TunableSpec::Kind::bytes: {
      const support::ParsedNumber n =
          spec.kind == TunableSpec::Kind::bytes ? support::parse_byte_size(text) : support::parse_number(text);
      if (!n.ok() || n.value < spec.lo || n.value > spec.hi) return std::nullopt;
      return n.value;
    }
    case TunableSpec::Kind::choice:
      for (size_t i = 0; i < spec.choices; i++) {
        if (spec.choice_text(i) == text) return i;
      }
      return std::nullopt;
    case TunableSpec::Kind::path: return std::nullopt;  // parse_path
  }
  return std::nullopt;
}

// A path tunable's value: `0` or empty is none; else an absolute path that
// fits (spec.hi, SocketPath::kMax, bytes at most).
std::optional<SocketPath> parse_path(std::string_view text) noexcept {
  if (text.empty() || text == "0") return SocketPath{};
  if (!support::is_socket_path(text)) return std::nullopt;
  return SocketPath{text};
}

// The bad value's message and what is kept instead.
void complain_bad(const EnvComplaint& complain, const std::string& bad, const std::string& kept) {
  complain((bad + "; using " + kept).c_str());
}

// The index in kSpecs of the tunable of `field`; std::size(kSpecs) if none.
constexpr size_t path_tunable_index(SocketPath Tunables::*field) {
  size_t i = 0;
  while (i < std::size(kSpecs) && !(kSpecs[i].kind == TunableSpec::Kind::path && kSpecs[i].path == field)) i++;
  return i;
}

}  // namespace

std::span<const TunableSpec> tunable_specs() noexcept { return kSpecs; }

const TunableSpec& daemon_socket_tunable() noexcept {
  static constexpr size_t kIndex = path_tunable_index(&Tunables::daemon_socket);
  static_assert(kIndex < std::size(kSpecs), "tunables.def has a line for daemon_socket");
  return kSpecs[kIndex];
}

std::string bad_value_text(std::string_view name, std::string_view value, std::string_view expected) {
  return std::string(name) + "=\"" + std::string(value.substr(0, 64)) + "\" is not valid (expected " +
         std::string(expected) + ")";
}

std::optional<std::string> set_tunable(const TunableSpec& spec, const char* text, Tunables& t) {
  if (spec.kind == TunableSpec::Kind::path) {
    if (auto p = parse_path(text)) {
      t.*spec.path = *p;
      return std::nullopt;
    }
  } else if (auto v = parse_value(spec, text)) {
    spec.set(t, *v);
    return std::nullopt;
  }
  return bad_value_text(spec.env, text, expected_text(spec, false));
}

std::string expected_text(const TunableSpec& spec, bool markdown) {
  const std::string q = markdown ? "`" : "";
  switch (spec.kind) {
    case TunableSpec::Kind::count:
    case TunableSpec::Kind::nanoseconds:
      return "a whole number from " + q + std::to_string(spec.lo) + q + " to " + q + std::to_string(spec.hi) + q;
    case TunableSpec::Kind::bytes: {
      std::string range = spec.lo == 1 && spec.hi == UINT64_MAX ? "a positive byte count"
                                                                : "a byte count from " + q + std::to_string(spec.lo) +
                                                                      q + " to " + q + std::to_string(spec.hi) + q;
      return range + " with an optional " + q + "K" + q + ", " + q + "M" + q + " or " + q + "G" + q + " suffix";
    }
    case TunableSpec::Kind::path:
      return "an absolute path of at most " + q + std::to_string(spec.hi) + q + " bytes, or " + q + "0" + q +
             " or empty for none";
    case TunableSpec::Kind::choice: {
      std::string words;
      for (size_t i = 0; i < spec.choices; i++) {
        if (i > 0) words += i + 1 == spec.choices ? " or " : ", ";
        words += q + std::string(spec.choice_text(i)) + q;
      }
      return words;
    }
  }
  return "?";
}

std::string value_text(const TunableSpec& spec, const Tunables& t) {
  if (spec.kind == TunableSpec::Kind::path) {
    const SocketPath& p = t.*spec.path;
    return p.empty() ? std::string("0") : std::string(p.view());
  }
  const std::optional<uint64_t> v = spec.get(t);
  if (!v) return std::string(spec.unset);
  return spec.kind == TunableSpec::Kind::choice ? std::string(spec.choice_text(*v)) : std::to_string(*v);
}

Tunables tunables_from_env(const EnvLookup& lookup, const EnvComplaint& complain) {
  Tunables t;
  for (const TunableSpec& spec : tunable_specs()) {
    const char* s = lookup(spec.env);
    if (s == nullptr) continue;
    if (auto bad = set_tunable(spec, s, t)) complain_bad(complain, *bad, value_text(spec, t));
  }
  // Weights that do not sum to the denominator make the average drift: all
  // three keep their defaults.
  if (t.wma_weight_base + t.wma_weight_cur != t.wma_denom) {
    const Tunables d;
    char got[96], dflt[64];
    std::snprintf(got, sizeof got, "%u+%u vs %u", t.wma_weight_base, t.wma_weight_cur, t.wma_denom);
    std::snprintf(dflt, sizeof dflt, "%u/%u/%u", d.wma_weight_base, d.wma_weight_cur, d.wma_denom);
    complain_bad(complain, bad_value_text("VMRECLAIM_WMA_WEIGHT_BASE/_CUR/_DENOM", got, "BASE + CUR == DENOM"), dflt);
    t.wma_weight_base = d.wma_weight_base;
    t.wma_weight_cur = d.wma_weight_cur;
    t.wma_denom = d.wma_denom;
  }
  return t;
}

Tunables tunables_from_process_env() {
  // secure_getenv: a privileged (AT_SECURE) process reads no tunables.
  return tunables_from_env([](const char* name) { return support::setting_from_env(name); },
                           [](const char* msg) { support::log_always("%s", msg); });
}

}  // namespace vmreclaim::policy
