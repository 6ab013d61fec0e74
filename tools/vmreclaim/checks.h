// Checks of the vmreclaim command's numeric arguments, with messages that
// say what was wrong in a few words (CLI11's own Range and PositiveNumber
// print the largest double in full, and call "abc" out of range).
#pragma once

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace vmreclaim::tools {

// An integer from `lo` to `hi` (decimal digits, an optional sign).
inline CLI::Validator integer_in(long long lo, long long hi) {
  return CLI::Validator(
      [lo, hi](std::string& s) -> std::string {
        const char* p = s.c_str();
        char* end = nullptr;
        errno = 0;
        long long v = std::strtoll(p, &end, 10);
        if (s.empty() || end == p || *end != '\0') return "not a number: '" + s + "'";
        if (errno == ERANGE || v < lo || v > hi) {
          return "out of range: '" + s + "' (from " + std::to_string(lo) + " to " + std::to_string(hi) + ")";
        }
        return "";
      },
      "INT in [" + std::to_string(lo) + " - " + std::to_string(hi) + "]");
}

// A number of seconds from `lo` to `hi`.
inline CLI::Validator seconds_in(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& s) -> std::string {
        const char* p = s.c_str();
        char* end = nullptr;
        errno = 0;
        double v = std::strtod(p, &end);
        if (s.empty() || end == p || *end != '\0') return "not a number: '" + s + "'";
        if (errno == ERANGE || !(v >= lo && v <= hi)) {
          char range[96];
          std::snprintf(range, sizeof range, " (from %g to %g seconds)", lo, hi);
          return "out of range: '" + s + "'" + range;
        }
        return "";
      },
      "SECONDS");
}

// A pid: 1 to the largest pid_max Linux allows (2^22).
inline CLI::Validator pid_number() { return integer_in(1, 4194304); }

}  // namespace vmreclaim::tools
