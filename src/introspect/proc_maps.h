// Parsing /proc/PID/maps. The parser takes text, never a path, so tests feed
// it fixtures and garbage; a line it cannot read is skipped, never trusted.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace vmreclaim::introspect {

struct Mapping {
  uint64_t start = 0;
  uint64_t end = 0;  // exclusive, > start
  uint64_t offset = 0;
  bool readable = false;
  bool writable = false;
  std::string_view name;  // pathname or [tag]; empty for plain anonymous memory
};

// Every well-formed line of `maps`, in file order. Views point into `maps`.
std::vector<Mapping> parse_maps(std::string_view maps);

}  // namespace vmreclaim::introspect
