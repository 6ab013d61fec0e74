#include "introspect/proc_maps.h"

#include <optional>

namespace vmreclaim::introspect {
namespace {

// Consumes a hexadecimal number (at most 16 digits) from the front of `s`.
std::optional<uint64_t> take_hex(std::string_view& s) {
  uint64_t v = 0;
  size_t i = 0;
  for (; i < s.size() && i <= 16; i++) {
    char c = s[i];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0) break;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  if (i == 0 || i > 16) return std::nullopt;
  s.remove_prefix(i);
  return v;
}

bool take_char(std::string_view& s, char c) {
  if (s.empty() || s[0] != c) return false;
  s.remove_prefix(1);
  return true;
}

// Consumes a space-free field followed by one space.
bool skip_field(std::string_view& s) {
  size_t sp = s.find(' ');
  if (sp == 0 || sp == std::string_view::npos) return false;
  s.remove_prefix(sp + 1);
  return true;
}

std::optional<Mapping> parse_line(std::string_view line) {
  Mapping m;
  auto start = take_hex(line);
  if (!start || !take_char(line, '-')) return std::nullopt;
  auto end = take_hex(line);
  if (!end || *end <= *start || !take_char(line, ' ')) return std::nullopt;
  if (line.size() < 5 || line[4] != ' ') return std::nullopt;
  std::string_view perms = line.substr(0, 4);
  if ((perms[0] != 'r' && perms[0] != '-') || (perms[1] != 'w' && perms[1] != '-')) return std::nullopt;
  m.readable = perms[0] == 'r';
  m.writable = perms[1] == 'w';
  line.remove_prefix(5);
  auto offset = take_hex(line);
  if (!offset || !take_char(line, ' ')) return std::nullopt;
  if (!skip_field(line)) return std::nullopt;  // device major:minor
  // The inode ends the line when there is no name.
  size_t sp = line.find(' ');
  std::string_view inode = line.substr(0, sp);
  if (inode.empty() || inode.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  line.remove_prefix(sp == std::string_view::npos ? line.size() : sp);
  size_t name_at = line.find_first_not_of(' ');
  m.name = name_at == std::string_view::npos ? std::string_view() : line.substr(name_at);
  m.start = *start;
  m.end = *end;
  m.offset = *offset;
  return m;
}

}  // namespace

std::vector<Mapping> parse_maps(std::string_view maps) {
  std::vector<Mapping> out;
  size_t pos = 0;
  while (pos < maps.size()) {
    size_t eol = maps.find('\n', pos);
    if (eol == std::string_view::npos) eol = maps.size();
    if (auto m = parse_line(maps.substr(pos, eol - pos))) out.push_back(*m);
    pos = eol + 1;
  }
  return out;
}

}  // namespace vmreclaim::introspect
