// Reading small kernel-generated text files (/proc, /sys/fs/cgroup) and
// pulling numbers out of them. Parsers take text, never paths, so tests feed
// them fixtures; every parser returns nullopt on anything malformed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vmreclaim::platform {

// Calls fn(line) for each line of `text`, without its '\n'; stops early
// when fn returns false.
template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    if (!fn(text.substr(pos, eol - pos))) return;
    pos = eol + 1;
  }
}

// Reads up to cap bytes of a file into buf; the length read, or -errno.
long read_small_file(const char* path, char* buf, unsigned long cap) noexcept;

// Whole file as a string (at most 64 KiB); nullopt and errno set on failure.
std::optional<std::string> read_text_file(const std::string& path);

// A decimal u64 at the start of `text` (trailing whitespace allowed,
// nothing else). "max" is UINT64_MAX (cgroup v2's "no limit").
std::optional<uint64_t> parse_u64_field(std::string_view text) noexcept;

// The value of "key value" / "key: value [kB]" in a line-oriented file.
// With `kb`, the value must end in " kB" and is returned in bytes.
std::optional<uint64_t> find_keyed_u64(std::string_view text, std::string_view key, bool kb) noexcept;

}  // namespace vmreclaim::platform
