// How the demo shows its results: a comparison table with notes, or JSON.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdio>
#include <vector>

#include "demo_run.h"

namespace vmreclaim::tools::demo {

void print_table(std::FILE* out, const RunConfig& config, const std::vector<ModeResult>& results);

// {"config": {...}, "modes": [{"mode": "munmap", ...}, ...]}
nlohmann::json to_json(const RunConfig& config, const std::vector<ModeResult>& results);

}  // namespace vmreclaim::tools::demo
