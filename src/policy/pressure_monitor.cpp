#include "policy/pressure_monitor.h"

#include <algorithm>

#include "support/log.h"

namespace vmreclaim::policy {

PressureLevel level_from_psi(const platform::PsiReading& psi, const PressureThresholds& t) noexcept {
  if (psi.full_avg10 >= t.psi_full_critical) return PressureLevel::critical;
  if (psi.full_avg10 >= t.psi_full_urgent || psi.some_avg10 >= t.psi_some_urgent) return PressureLevel::urgent;
  if (psi.some_avg10 >= t.psi_some_warning) return PressureLevel::warning;
  return PressureLevel::normal;
}

PressureLevel level_from_meminfo(const platform::MemInfo& m, const PressureThresholds& t) noexcept {
  double pct = 100.0 * static_cast<double>(m.available) / static_cast<double>(m.total);
  if (pct <= t.avail_critical_pct) return PressureLevel::critical;
  if (pct <= t.avail_urgent_pct) return PressureLevel::urgent;
  if (pct <= t.avail_warning_pct) return PressureLevel::warning;
  return PressureLevel::normal;
}

PressureLevel level_from_cgroup(const platform::CgroupMemory& c, const PressureThresholds& t) noexcept {
  if (!c.limited() || c.limit == 0) return PressureLevel::normal;
  double pct = 100.0 * static_cast<double>(c.working_set()) / static_cast<double>(c.limit);
  if (pct >= t.cgroup_critical_pct) return PressureLevel::critical;
  if (pct >= t.cgroup_urgent_pct) return PressureLevel::urgent;
  if (pct >= t.cgroup_warning_pct) return PressureLevel::warning;
  return PressureLevel::normal;
}

PressureLevel level_from(const PressureInputs& in, const PressureThresholds& t) noexcept {
  PressureLevel l = PressureLevel::normal;
  if (in.system_psi) l = std::max(l, level_from_psi(*in.system_psi, t));
  if (in.cgroup_psi) l = std::max(l, level_from_psi(*in.cgroup_psi, t));
  if (in.meminfo) l = std::max(l, level_from_meminfo(*in.meminfo, t));
  if (in.cgroup) l = std::max(l, level_from_cgroup(*in.cgroup, t));
  return l;
}

template <class T>
void PressureMonitor::take(std::optional<T>& slot, std::optional<T> fresh, bool& failed_before, const char* what) {
  if (fresh) {
    slot = fresh;
    if (failed_before) support::log(support::LogLevel::info, "%s readable again", what);
    failed_before = false;
    return;
  }
  // Keep the last good value; say so once per outage.
  if (!failed_before) {
    support::log(support::LogLevel::info, "cannot read %s; %s", what,
                 slot ? "keeping its last reading" : "pressure is judged without it");
  }
  failed_before = true;
}

PressureLevel PressureMonitor::refresh() {
  take(inputs_.system_psi, readers_.system_psi(), failed_[0], "system PSI (/proc/pressure/memory)");
  if (readers_.has_cgroup_psi()) {
    take(inputs_.cgroup_psi, readers_.cgroup_psi(), failed_[1], "the cgroup's memory.pressure");
  }
  take(inputs_.meminfo, readers_.meminfo(), failed_[2], "/proc/meminfo");
  if (readers_.has_cgroup()) {
    take(inputs_.cgroup, readers_.cgroup(), failed_[3], "the memory cgroup's usage and limit");
  }
  PressureLevel l = level_from(inputs_, thresholds_);
  auto prev = static_cast<PressureLevel>(level_.exchange(static_cast<uint8_t>(l), std::memory_order_relaxed));
  if (prev != l) {
    support::log(support::LogLevel::info, "memory pressure %.*s -> %.*s", static_cast<int>(to_string(prev).size()),
                 to_string(prev).data(), static_cast<int>(to_string(l).size()), to_string(l).data());
  }
  return l;
}

LinuxPressureReaders::LinuxPressureReaders() : cgroup_(platform::MemoryCgroup::discover()) {
  if (cgroup_ && !cgroup_->pressure_path().empty()) {
    cgroup_psi_ = std::make_unique<platform::PsiFile>(cgroup_->pressure_path());
  }
  // 150 ms of stall in any 1 s window: an early sign worth waking for.
  platform::PsiFile* trig = cgroup_psi_ ? cgroup_psi_.get() : &system_psi_;
  trigger_fd_ = trig->open_trigger(150'000, 1'000'000);
  if (trigger_fd_ < 0) {
    support::log(support::LogLevel::info, "PSI triggers unavailable on %s (errno %d); polling the averages",
                 trig->path().c_str(), trig->last_error());
  }
}

std::optional<platform::PsiReading> LinuxPressureReaders::system_psi() { return system_psi_.read(); }
std::optional<platform::PsiReading> LinuxPressureReaders::cgroup_psi() {
  return cgroup_psi_ ? cgroup_psi_->read() : std::nullopt;
}
std::optional<platform::MemInfo> LinuxPressureReaders::meminfo() { return platform::read_meminfo(); }
std::optional<platform::CgroupMemory> LinuxPressureReaders::cgroup() {
  return cgroup_ ? cgroup_->read() : std::nullopt;
}

}  // namespace vmreclaim::policy
