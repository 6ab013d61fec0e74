// vmreclaim_ring_stats as JSON, the form the control protocol and the tools
// use. Per-cause and per-fault counters become objects keyed by name.
#pragma once

#include <vmreclaim/vmreclaim.h>

#include <nlohmann/json.hpp>
#include <optional>

namespace vmreclaim::control {

// Names of the VMRECLAIM_CAUSE_* and VMRECLAIM_GUARD_* indices.
const char* cause_name(int cause) noexcept;
const char* guard_fault_name(int fault) noexcept;

nlohmann::json stats_to_json(const vmreclaim_ring_stats& stats);

// Inverse of stats_to_json; nullopt if a field is missing or not an
// unsigned integer of the right range.
std::optional<vmreclaim_ring_stats> stats_from_json(const nlohmann::json& j);

}  // namespace vmreclaim::control
