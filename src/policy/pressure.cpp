#include "policy/pressure.h"

namespace vmreclaim::policy {

std::string_view to_string(PressureLevel level) noexcept {
  switch (level) {
    case PressureLevel::normal: return "normal";
    case PressureLevel::warning: return "warning";
    case PressureLevel::urgent: return "urgent";
    case PressureLevel::critical: return "critical";
  }
  return "unknown";
}

std::optional<PressureLevel> parse_pressure_level(std::string_view text) noexcept {
  for (auto l : {PressureLevel::normal, PressureLevel::warning, PressureLevel::urgent, PressureLevel::critical}) {
    if (text == to_string(l)) return l;
  }
  return std::nullopt;
}

}  // namespace vmreclaim::policy
