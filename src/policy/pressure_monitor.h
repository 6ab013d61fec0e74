// The live pressure level from Linux's own signals (docs/design.md §6):
//   - PSI: /proc/pressure/memory and, on cgroup v2, the cgroup's memory.pressure;
//   - MemAvailable against MemTotal;
//   - the working set (usage minus inactive page cache) under the memory
//     cgroup's limit (v1 hierarchical limit, v2 memory.max/memory.high).
// Each source maps to a level through the thresholds below; the level is the
// worst of them. A source that cannot be read is logged once and its last
// good reading kept; a source that never worked simply does not vote.
#pragma once

#include <atomic>
#include <memory>
#include <optional>

#include "platform/linux/cgroup.h"
#include "platform/linux/meminfo.h"
#include "platform/linux/psi.h"
#include "policy/pressure.h"

namespace vmreclaim::policy {

// Why these numbers (docs/policy.md has the long form):
// PSI "some" is the share of wall time at least one task waited for memory;
// "full" the share all runnable tasks did. A few percent of "some" already
// means reclaim is slowing someone down (warning); a third of the time, or
// any sustained "full" stall, means the system is thrashing (urgent); a fifth
// of the time fully stalled is the point where OOM kills follow (critical).
// Available memory and cgroup headroom use the same three steps: the kernel
// starts background reclaim well before 15 % free, direct reclaim nearer 5 %.
struct PressureThresholds {
  double psi_some_warning = 10.0, psi_some_urgent = 30.0;
  double psi_full_urgent = 5.0, psi_full_critical = 20.0;
  double avail_warning_pct = 15.0, avail_urgent_pct = 8.0, avail_critical_pct = 4.0;
  double cgroup_warning_pct = 85.0, cgroup_urgent_pct = 92.0, cgroup_critical_pct = 97.0;
};

struct PressureInputs {
  std::optional<platform::PsiReading> system_psi, cgroup_psi;
  std::optional<platform::MemInfo> meminfo;
  std::optional<platform::CgroupMemory> cgroup;
};

PressureLevel level_from_psi(const platform::PsiReading& psi, const PressureThresholds& t) noexcept;
PressureLevel level_from_meminfo(const platform::MemInfo& m, const PressureThresholds& t) noexcept;
PressureLevel level_from_cgroup(const platform::CgroupMemory& c, const PressureThresholds& t) noexcept;
PressureLevel level_from(const PressureInputs& in, const PressureThresholds& t) noexcept;

// Where readings come from; tests substitute their own.
class PressureReaders {
 public:
  virtual ~PressureReaders() = default;
  virtual std::optional<platform::PsiReading> system_psi() = 0;
  virtual std::optional<platform::PsiReading> cgroup_psi() = 0;
  virtual std::optional<platform::MemInfo> meminfo() = 0;
  virtual std::optional<platform::CgroupMemory> cgroup() = 0;
  // An fd that becomes readable (POLLPRI) when pressure rises, or -1.
  virtual int trigger_fd() { return -1; }
  // Sources this process simply does not have (no cgroup v2 PSI file, no
  // memory cgroup) are not failures.
  virtual bool has_cgroup_psi() { return true; }
  virtual bool has_cgroup() { return true; }
};

// The real files. PSI triggers are tried once; on EINVAL (as on this
// project's VMs) the monitor polls the averages instead.
class LinuxPressureReaders final : public PressureReaders {
 public:
  LinuxPressureReaders();
  std::optional<platform::PsiReading> system_psi() override;
  std::optional<platform::PsiReading> cgroup_psi() override;
  std::optional<platform::MemInfo> meminfo() override;
  std::optional<platform::CgroupMemory> cgroup() override;
  int trigger_fd() override { return trigger_fd_; }
  bool has_cgroup_psi() override { return cgroup_psi_ != nullptr; }
  bool has_cgroup() override { return cgroup_.has_value(); }
  platform::MemoryCgroup* memory_cgroup() noexcept { return cgroup_ ? &*cgroup_ : nullptr; }

 private:
  platform::PsiFile system_psi_{"/proc/pressure/memory"};
  std::unique_ptr<platform::PsiFile> cgroup_psi_;
  std::optional<platform::MemoryCgroup> cgroup_;
  int trigger_fd_ = -1;
};

class PressureMonitor final : public PressureSource {
 public:
  explicit PressureMonitor(PressureReaders& readers, PressureThresholds thresholds = {})
      : readers_(readers), thresholds_(thresholds) {}

  // Reads every source now and returns the new level.
  PressureLevel refresh();
  // [daemon hook] Takes the level vmreclaimd published instead of reading
  // the sources (policy/daemon_link.h).
  PressureLevel publish(PressureLevel l) noexcept {
    level_.store(static_cast<uint8_t>(l), std::memory_order_relaxed);
    return l;
  }
  PressureLevel level() noexcept override { return static_cast<PressureLevel>(level_.load(std::memory_order_relaxed)); }
  const PressureInputs& last_inputs() const noexcept { return inputs_; }
  PressureReaders& readers() noexcept { return readers_; }

 private:
  template <class T>
  void take(std::optional<T>& slot, std::optional<T> fresh, bool& failed_before, const char* what);

  PressureReaders& readers_;
  PressureThresholds thresholds_;
  PressureInputs inputs_;
  bool failed_[4] = {};
  std::atomic<uint8_t> level_{0};
};

}  // namespace vmreclaim::policy
