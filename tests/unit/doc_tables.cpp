// Prints what the documents show of the project's tables, for the tests that
// keep them in step (cmake/check_doc_tables.cmake):
//   tunables      README.md's table of tunables, made from
//                 src/policy/tunables.def through the parser's own specs
//                 (after a change to the table, paste it into the README);
//   guard-faults  the names of include/vmreclaim/guard_faults.def, sorted, one
//                 a line (the documents' tables of guard faults list them).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "engine/guard.h"

#include "policy/tunables.h"

namespace {

using vmreclaim::policy::TunableSpec;

// 10000000000 -> "10 s": the largest unit that divides the value.
std::string duration(uint64_t ns) {
  struct Unit {
    uint64_t ns;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{3600'000'000'000ull, "h"}, {1'000'000'000, "s"}, {1'000'000, "ms"}, {1'000, "us"}};
  if (ns == 0) return "0";
  for (const Unit& u : kUnits) {
    if (ns % u.ns == 0) return std::to_string(ns / u.ns) + " " + u.name;
  }
  return std::to_string(ns) + " ns";
}

int print_guard_faults() {
  std::vector<std::string> names;
  for (int f = 0; f < vmreclaim::engine::kGuardFaultKinds; f++) {
    names.emplace_back(vmreclaim::engine::guard_name(static_cast<vmreclaim::engine::GuardFault>(f)));
  }
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) std::printf("%s\n", n.c_str());
  return 0;
}

int print_tunables() {
  const vmreclaim::policy::Tunables defaults;
  std::printf("| variable | default | accepted | meaning |\n");
  std::printf("|---|---|---|---|\n");
  for (const TunableSpec& spec : vmreclaim::policy::tunable_specs()) {
    std::string dflt = value_text(spec, defaults);
    std::string accepted = expected_text(spec, /*markdown=*/true);
    if (spec.optional && !spec.get(defaults)) {
      dflt = "unset (" + dflt + ")";
    } else {
      dflt = "`" + dflt + "`";
    }
    if (spec.kind == TunableSpec::Kind::nanoseconds) {
      const uint64_t v = spec.get(defaults).value_or(0);
      if (v != 0) dflt += " (" + duration(v) + ")";
      accepted += " (nanoseconds: " + duration(spec.lo) + " to " + duration(spec.hi) + ")";
    }
    std::printf("| `%s` | %s | %s | %.*s |\n", spec.env, dflt.c_str(), accepted.c_str(),
                static_cast<int>(spec.help.size()), spec.help.data());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "tunables") == 0) return print_tunables();
  if (argc == 2 && std::strcmp(argv[1], "guard-faults") == 0) return print_guard_faults();
  std::fprintf(stderr, "usage: %s tunables|guard-faults\n", argv[0]);
  return 2;
}
