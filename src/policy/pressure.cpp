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

}  // namespace vmreclaim::policy
