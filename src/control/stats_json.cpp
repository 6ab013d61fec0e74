#include "control/stats_json.h"

#include <limits>

#include "engine/stats.h"

namespace vmreclaim::control {
namespace {

// The engine's causes are the C API's, in the same order: one list of names.
static_assert(engine::kCauses == VMRECLAIM_CAUSE_COUNT);
// Likewise the guard faults: their names are the engine's (engine/guard.cpp).
static_assert(engine::kGuardFaultKinds == VMRECLAIM_GUARD_COUNT);
const char* guard_key(int g) noexcept { return engine::guard_name(static_cast<engine::GuardFault>(g)); }

// Each scalar field once, so both directions stay in step.
// clang-format off
#define VMR_STATS_SCALARS(X)                                                                  \
  X(entries) X(reclaimable_bytes) X(unreported_bytes)                                         \
  X(entered_entries) X(entered_bytes) X(reentered_entries) X(enter_full)                      \
  X(cancelled_unreclaimed) X(cancelled_busy) X(cancelled_freed) X(cancelled_deallocated)      \
  X(cancelled_bytes) X(samples) X(trims) X(aborted_chunks) X(free_failures)                   \
  X(wma_bytes) X(last_min_bytes) X(footprint_max) X(syscalls)
// clang-format on

template <class T>
bool read_field(const nlohmann::json& j, const char* key, T* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) return false;
  uint64_t v = it->template get<uint64_t>();
  if (v > std::numeric_limits<T>::max()) return false;
  *out = static_cast<T>(v);
  return true;
}

}  // namespace

const char* cause_name(int cause) noexcept {
  return cause >= 0 && cause < VMRECLAIM_CAUSE_COUNT ? engine::cause_name(static_cast<engine::Cause>(cause))
                                                     : "unknown";
}

const char* guard_fault_name(int fault) noexcept {
  return fault >= 0 && fault < VMRECLAIM_GUARD_COUNT ? guard_key(fault) : "unknown";
}

nlohmann::json stats_to_json(const vmreclaim_ring_stats& s) {
  nlohmann::json j = nlohmann::json::object();
  j["capacity"] = s.capacity;
  j["max_capacity"] = s.max_capacity;
#define VMR_PUT(f) j[#f] = s.f;
  VMR_STATS_SCALARS(VMR_PUT)
#undef VMR_PUT
  nlohmann::json entries = nlohmann::json::object(), bytes = nlohmann::json::object();
  for (int c = 0; c < VMRECLAIM_CAUSE_COUNT; c++) {
    entries[cause_name(c)] = s.reclaimed_entries[c];
    bytes[cause_name(c)] = s.reclaimed_bytes[c];
  }
  j["reclaimed_entries"] = std::move(entries);
  j["reclaimed_bytes"] = std::move(bytes);
  nlohmann::json faults = nlohmann::json::object();
  for (int g = 0; g < VMRECLAIM_GUARD_COUNT; g++) faults[guard_key(g)] = s.guard_faults[g];
  j["guard_faults"] = std::move(faults);
  return j;
}

std::optional<vmreclaim_ring_stats> stats_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  vmreclaim_ring_stats s{};
  bool ok = read_field(j, "capacity", &s.capacity) && read_field(j, "max_capacity", &s.max_capacity);
#define VMR_GET(f) ok = ok && read_field(j, #f, &s.f);
  VMR_STATS_SCALARS(VMR_GET)
#undef VMR_GET
  if (!ok) return std::nullopt;
  auto re = j.find("reclaimed_entries"), rb = j.find("reclaimed_bytes"), gf = j.find("guard_faults");
  if (re == j.end() || rb == j.end() || gf == j.end() || !re->is_object() || !rb->is_object() || !gf->is_object()) {
    return std::nullopt;
  }
  for (int c = 0; c < VMRECLAIM_CAUSE_COUNT; c++) {
    if (!read_field(*re, cause_name(c), &s.reclaimed_entries[c]) ||
        !read_field(*rb, cause_name(c), &s.reclaimed_bytes[c])) {
      return std::nullopt;
    }
  }
  for (int g = 0; g < VMRECLAIM_GUARD_COUNT; g++) {
    if (!read_field(*gf, guard_key(g), &s.guard_faults[g])) return std::nullopt;
  }
  return s;
}

}  // namespace vmreclaim::control
