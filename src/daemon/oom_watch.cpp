#include "daemon/oom_watch.h"

#include "platform/linux/proc_file.h"
#include "support/numbers.h"

namespace vmreclaim::daemon {
namespace {

// Calls fn(key, value) for each "key value" line; false when a line the
// caller knows (fn returns false) has a value that is not a number.
template <class Fn>
bool each_line(std::string_view text, Fn&& fn) noexcept {
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, sp);
    const support::ParsedNumber n = support::parse_number(line.substr(sp + 1));
    if (!fn(key, n)) return false;
  }
  return true;
}

}  // namespace

std::optional<OomControlV1> parse_oom_control(std::string_view text) noexcept {
  OomControlV1 r;
  bool saw_under_oom = false;
  const bool ok = each_line(text, [&](std::string_view key, const support::ParsedNumber& n) {
    if (key != "oom_kill_disable" && key != "under_oom" && key != "oom_kill") return true;
    if (!n.ok()) return false;
    if (key == "oom_kill_disable") r.oom_kill_disable = n.value != 0;
    if (key == "under_oom") {
      r.under_oom = n.value != 0;
      saw_under_oom = true;
    }
    if (key == "oom_kill") r.oom_kill = n.value;
    return true;
  });
  if (!ok || !saw_under_oom) return std::nullopt;
  return r;
}

std::optional<MemoryEventsV2> parse_memory_events(std::string_view text) noexcept {
  MemoryEventsV2 r;
  bool saw_oom = false;
  const bool ok = each_line(text, [&](std::string_view key, const support::ParsedNumber& n) {
    uint64_t* field = key == "low"        ? &r.low
                      : key == "high"     ? &r.high
                      : key == "max"      ? &r.max
                      : key == "oom"      ? &r.oom
                      : key == "oom_kill" ? &r.oom_kill
                                          : nullptr;
    if (field == nullptr) return true;
    if (!n.ok()) return false;
    *field = n.value;
    if (field == &r.oom) saw_oom = true;
    return true;
  });
  if (!ok || !saw_oom) return std::nullopt;
  return r;
}

std::optional<std::string> OomWatch::check(const platform::CgroupLocation& loc) {
  if (loc.version != 1 && loc.version != 2) return std::nullopt;
  const std::string path = loc.dir + (loc.version == 1 ? "/memory.oom_control" : "/memory.events");
  char buf[512];
  const long n = platform::read_small_file(path.c_str(), buf, sizeof buf);
  if (n <= 0) return std::nullopt;  // gone, or unreadable: no signal
  return check_text(loc.version, std::string_view(buf, static_cast<size_t>(n)));
}

std::optional<std::string> OomWatch::check_text(int version, std::string_view text) {
  uint64_t oom_kill = 0, max = 0, oom = 0;
  bool under_oom = false;
  if (version == 1) {
    auto c = parse_oom_control(text);
    if (!c) return std::nullopt;
    under_oom = c->under_oom;
    oom_kill = c->oom_kill;
  } else if (version == 2) {
    auto e = parse_memory_events(text);
    if (!e) return std::nullopt;
    oom_kill = e->oom_kill;
    max = e->max;
    oom = e->oom;
  } else {
    return std::nullopt;
  }
  const bool first = !have_baseline_;
  // A counter that went down is a new cgroup at the same path: a new baseline.
  const bool grew_kill = !first && oom_kill > oom_kill_;
  const bool grew_oom = !first && oom > oom_;
  const bool grew_max = !first && max > max_;
  have_baseline_ = true;
  oom_kill_ = oom_kill;
  oom_ = oom;
  max_ = max;
  if (under_oom) return std::string("under_oom");
  if (grew_kill) return std::string("oom_kill");
  if (grew_oom) return std::string("oom");
  if (grew_max) return std::string("max");
  return std::nullopt;
}

}  // namespace vmreclaim::daemon
