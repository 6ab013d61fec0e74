#include "policy/pressure.h"

namespace vmreclaim::policy {

std::string_view to_string(PressureLevel level) noexcept {
  for (const auto& c : kPressureLevels) {
    if (c.value == level) return c.text;
  }
  return "unknown";
}

}  // namespace vmreclaim::policy
