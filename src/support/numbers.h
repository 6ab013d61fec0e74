// The one parser of whole numbers and of byte counts for every setting the
// library, the allocation layer and the tools read ("4096", "64K", "512M",
// "2G"). Header only and allocation free: the layer parses its settings
// inside malloc.
//
// A number is one or more decimal digits, nothing else: no sign, no space,
// no "0x", no digit group separator. A byte count is a number, optionally
// followed by one of K, M or G (either case), powers of 1024. Anything else,
// and anything above 2^64 - 1, is refused with the reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace vmreclaim::support {

enum class NumberError : uint8_t { none, empty, not_a_number, bad_suffix, too_large };

// What was wrong, for a message that names the setting and the value.
constexpr const char* number_error_text(NumberError e) noexcept {
  switch (e) {
    case NumberError::none: return "no error";
    case NumberError::empty: return "empty";
    case NumberError::not_a_number: return "not a whole number (decimal digits only)";
    case NumberError::bad_suffix: return "an unknown suffix (K, M or G only, once, at the end)";
    case NumberError::too_large: return "too large (more than 2^64 - 1)";
  }
  return "malformed";
}

struct ParsedNumber {
  uint64_t value = 0;
  NumberError error = NumberError::none;
  constexpr bool ok() const noexcept { return error == NumberError::none; }
};

// A whole number, as described above.
constexpr ParsedNumber parse_number(std::string_view text) noexcept {
  if (text.empty()) return {0, NumberError::empty};
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return {0, NumberError::not_a_number};
    const auto d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return {0, NumberError::too_large};
    v = v * 10 + d;
  }
  return {v, NumberError::none};
}

// A byte count, as described above.
constexpr ParsedNumber parse_byte_size(std::string_view text) noexcept {
  if (text.empty()) return {0, NumberError::empty};
  unsigned shift = 0;
  switch (text.back()) {
    case 'k':
    case 'K': shift = 10; break;
    case 'm':
    case 'M': shift = 20; break;
    case 'g':
    case 'G': shift = 30; break;
    default: break;
  }
  if (shift != 0) text.remove_suffix(1);
  if (text.empty()) return {0, NumberError::not_a_number};  // a suffix alone
  ParsedNumber n = parse_number(text);
  if (!n.ok()) {
    // "1T", "1KB": digits, then letters that are no suffix.
    size_t i = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') i++;
    bool letters = i > 0 && shift == 0;
    for (size_t j = i; letters && j < text.size(); j++) {
      letters = (text[j] >= 'a' && text[j] <= 'z') || (text[j] >= 'A' && text[j] <= 'Z');
    }
    if (n.error == NumberError::not_a_number && letters) n.error = NumberError::bad_suffix;
    return n;
  }
  if (shift != 0 && n.value > (UINT64_MAX >> shift)) return {0, NumberError::too_large};
  return {n.value << shift, NumberError::none};
}

// The same, for callers that only need yes or no.
constexpr std::optional<uint64_t> parse_u64(std::string_view text) noexcept {
  const ParsedNumber n = parse_number(text);
  return n.ok() ? std::optional<uint64_t>(n.value) : std::nullopt;
}
constexpr std::optional<uint64_t> parse_bytes(std::string_view text) noexcept {
  const ParsedNumber n = parse_byte_size(text);
  return n.ok() ? std::optional<uint64_t>(n.value) : std::nullopt;
}

}  // namespace vmreclaim::support
