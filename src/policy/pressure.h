// Memory pressure levels, in Darwin's order. Sources of the level are behind
// PressureSource so tests and the live Linux readers plug in alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "support/choice.h"

namespace vmreclaim::policy {

enum class PressureLevel : uint8_t { normal = 0, warning = 1, urgent = 2, critical = 3 };

// The levels' names (logs, VMRECLAIM_PRESSURE), in order.
inline constexpr support::Choice<PressureLevel> kPressureLevels[] = {{"normal", PressureLevel::normal},
                                                                     {"warning", PressureLevel::warning},
                                                                     {"urgent", PressureLevel::urgent},
                                                                     {"critical", PressureLevel::critical}};

std::string_view to_string(PressureLevel level) noexcept;

class PressureSource {
 public:
  virtual ~PressureSource() = default;
  virtual PressureLevel level() noexcept = 0;
};

// A fixed level: VMRECLAIM_PRESSURE, or normal when nothing else is known.
class FixedPressure final : public PressureSource {
 public:
  explicit FixedPressure(PressureLevel level = PressureLevel::normal) : level_(level) {}
  PressureLevel level() noexcept override { return level_; }
  void set(PressureLevel level) noexcept { level_ = level; }

 private:
  PressureLevel level_;
};

}  // namespace vmreclaim::policy
