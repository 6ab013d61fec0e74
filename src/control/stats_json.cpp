#include "control/stats_json.h"

#include <iterator>
#include <limits>

namespace vmreclaim::control {
namespace {

// The names of causes.def and guard_faults.def, by index: the engine uses
// the same tables, so the endpoint needs nothing of the engine.
constexpr const char* kCauseNames[] = {
#define VMRECLAIM_CAUSE(ID, name, what) #name,
#include <vmreclaim/causes.def>
};
constexpr const char* kGuardFaultNames[] = {
#define VMRECLAIM_GUARD_FAULT(ID, key, NAME, when) NAME,
#include <vmreclaim/guard_faults.def>
};
static_assert(std::size(kCauseNames) == VMRECLAIM_CAUSE_COUNT);
static_assert(std::size(kGuardFaultNames) == VMRECLAIM_GUARD_COUNT);

using Name = const char* (*)(int) noexcept;

template <class T>
bool read_field(const nlohmann::json& j, const char* key, T* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) return false;
  uint64_t v = it->template get<uint64_t>();
  if (v > std::numeric_limits<T>::max()) return false;
  *out = static_cast<T>(v);
  return true;
}

// A per-cause or per-fault array: an object keyed by the names.
template <size_t N>
nlohmann::json keyed(const uint64_t (&a)[N], Name name) {
  nlohmann::json o = nlohmann::json::object();
  for (size_t i = 0; i < N; i++) o[name(static_cast<int>(i))] = a[i];
  return o;
}

template <size_t N>
bool read_keyed(const nlohmann::json& j, const char* key, uint64_t (&out)[N], Name name) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_object()) return false;
  for (size_t i = 0; i < N; i++) {
    if (!read_field(*it, name(static_cast<int>(i)), &out[i])) return false;
  }
  return true;
}

}  // namespace

const char* cause_name(int cause) noexcept {
  return cause >= 0 && cause < VMRECLAIM_CAUSE_COUNT ? kCauseNames[cause] : "unknown";
}

const char* guard_fault_name(int fault) noexcept {
  return fault >= 0 && fault < VMRECLAIM_GUARD_COUNT ? kGuardFaultNames[fault] : "unknown";
}

// Every statistic of stats.def under its own name, both ways.
nlohmann::json stats_to_json(const vmreclaim_ring_stats& s) {
  nlohmann::json j = nlohmann::json::object();
#define VMR_PUT_VALUE(name) j[#name] = s.name;
#define VMR_PUT_BY_CAUSE(name) j[#name] = keyed(s.name, cause_name);
#define VMR_PUT_BY_GUARD(name) j[#name] = keyed(s.name, guard_fault_name);
#define VMRECLAIM_STAT(SHAPE, type, name, SOURCE, meaning) VMR_PUT_##SHAPE(name)
#include <vmreclaim/stats.def>
#undef VMR_PUT_VALUE
#undef VMR_PUT_BY_CAUSE
#undef VMR_PUT_BY_GUARD
  return j;
}

std::optional<vmreclaim_ring_stats> stats_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  vmreclaim_ring_stats s{};
  bool ok = true;
#define VMR_GET_VALUE(name) ok = ok && read_field(j, #name, &s.name);
#define VMR_GET_BY_CAUSE(name) ok = ok && read_keyed(j, #name, s.name, cause_name);
#define VMR_GET_BY_GUARD(name) ok = ok && read_keyed(j, #name, s.name, guard_fault_name);
#define VMRECLAIM_STAT(SHAPE, type, name, SOURCE, meaning) VMR_GET_##SHAPE(name)
#include <vmreclaim/stats.def>
#undef VMR_GET_VALUE
#undef VMR_GET_BY_CAUSE
#undef VMR_GET_BY_GUARD
  if (!ok) return std::nullopt;
  return s;
}

}  // namespace vmreclaim::control
