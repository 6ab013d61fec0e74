// System-wide available memory from /proc/meminfo.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace vmreclaim::platform {

struct MemInfo {
  uint64_t total = 0;      // bytes
  uint64_t available = 0;  // bytes the kernel estimates it can give without swapping
};

// nullopt unless MemTotal and MemAvailable are present and sane.
std::optional<MemInfo> parse_meminfo(std::string_view text) noexcept;
std::optional<MemInfo> read_meminfo(int* error = nullptr) noexcept;

}  // namespace vmreclaim::platform
