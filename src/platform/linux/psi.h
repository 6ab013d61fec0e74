// Pressure stall information (Documentation/accounting/psi.rst): the share of
// time some / all tasks stalled on memory, averaged over 10 s, 60 s, 300 s.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace vmreclaim::platform {

struct PsiReading {
  double some_avg10 = 0, some_avg60 = 0;
  double full_avg10 = 0, full_avg60 = 0;
};

// Parses /proc/pressure/memory or a cgroup's memory.pressure. The "full"
// line is optional (older kernels, the CPU file); "some" is required.
std::optional<PsiReading> parse_psi(std::string_view text) noexcept;

// A PSI file, read on demand. open_trigger() asks the kernel to wake a
// poll(POLLPRI) when stalls exceed a threshold; kernels (or VMs) that refuse
// it return -1 and the caller polls the averages instead.
class PsiFile {
 public:
  explicit PsiFile(std::string path) : path_(std::move(path)) {}
  ~PsiFile();
  PsiFile(const PsiFile&) = delete;
  PsiFile& operator=(const PsiFile&) = delete;

  const std::string& path() const noexcept { return path_; }
  // nullopt if unreadable or malformed (errno-style reason in last_error()).
  std::optional<PsiReading> read();
  int last_error() const noexcept { return last_error_; }
  // A trigger for `stall_us` of "some" stall per `window_us`; the fd, or -1.
  int open_trigger(unsigned stall_us, unsigned window_us) noexcept;
  void close_trigger() noexcept;

 private:
  std::string path_;
  int trigger_fd_ = -1;
  int last_error_ = 0;
};

}  // namespace vmreclaim::platform
