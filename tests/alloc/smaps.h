// The kernel's view of the mapping that holds an address, from
// /proc/self/smaps: its bounds, whether it is advised for transparent huge
// pages (VmFlags "hg"), and how much of it huge pages back. Header-only and
// malloc-light (stdio only), for the unit tests and the probes alike.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace vmreclaim::test {

struct SmapsEntry {
  bool found = false;
  uintptr_t lo = 0, hi = 0;
  bool huge_advised = false;
  unsigned long anon_huge_kb = 0;
};

inline SmapsEntry smaps_of(const void* p) {
  SmapsEntry e;
  FILE* f = std::fopen("/proc/self/smaps", "re");
  if (f == nullptr) return e;
  const auto a = reinterpret_cast<uintptr_t>(p);
  char line[512];
  bool in = false;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned long long lo = 0, hi = 0;
    char c = 0;
    // A mapping's first line is "lo-hi perms ..."; its fields follow as
    // "Name: value" (no field name parses as two hex numbers and a dash).
    if (std::sscanf(line, "%llx-%llx %c", &lo, &hi, &c) == 3) {
      if (in) break;  // past the mapping we read
      in = lo <= a && a < hi;
      if (in) {
        e.found = true;
        e.lo = static_cast<uintptr_t>(lo);
        e.hi = static_cast<uintptr_t>(hi);
      }
      continue;
    }
    if (!in) continue;
    unsigned long kb = 0;
    if (std::sscanf(line, "AnonHugePages: %lu kB", &kb) == 1) e.anon_huge_kb = kb;
    if (std::strncmp(line, "VmFlags:", 8) == 0) e.huge_advised = std::strstr(line, " hg") != nullptr;
  }
  std::fclose(f);
  return e;
}

// Whether the kernel would back advised mappings with huge pages at all
// ("[always]" or "[madvise]"; not "[never]", nor a kernel without them).
inline bool huge_pages_on_advice() {
  FILE* f = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
  if (f == nullptr) return false;
  char line[128] = {};
  const bool ok = std::fgets(line, sizeof line, f) != nullptr;
  std::fclose(f);
  return ok && std::strstr(line, "[never]") == nullptr;
}

// How many times the kernel could not have a huge page at fault time and
// used small pages instead (/proc/vmstat thp_fault_fallback; 0 if absent).
inline unsigned long long thp_fault_fallbacks() {
  FILE* f = std::fopen("/proc/vmstat", "re");
  if (f == nullptr) return 0;
  char line[128];
  unsigned long long n = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "thp_fault_fallback %llu", &n) == 1) break;
  }
  std::fclose(f);
  return n;
}

}  // namespace vmreclaim::test
