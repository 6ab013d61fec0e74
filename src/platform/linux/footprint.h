// The process footprint as the policy sees it: anonymous + shmem resident +
// swapped, Linux's counterpart of Darwin's phys_footprint.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace vmreclaim::platform {

class FootprintSource {
 public:
  virtual ~FootprintSource() = default;
  // Current footprint in bytes; nullopt if it cannot be read.
  virtual std::optional<uint64_t> footprint_bytes() noexcept = 0;
};

// Parses the text of /proc/PID/status. nullopt unless RssAnon is present and
// well formed; RssShmem and VmSwap count when present.
std::optional<uint64_t> parse_status_footprint(std::string_view status) noexcept;

class ProcFootprint final : public FootprintSource {
 public:
  std::optional<uint64_t> footprint_bytes() noexcept override;
};

}  // namespace vmreclaim::platform
