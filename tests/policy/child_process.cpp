#include "child_process.h"

#include <chrono>
#include <cstdlib>
#include <fstream>

namespace vmreclaim::test {

namespace {

SpawnOptions spawn_options(const ChildProcess::Options& opts) {
  SpawnOptions o;
  o.argv = opts.args;
  for (const auto& [k, v] : opts.env) o.env.push_back(std::string(k).append("=").append(v));
  o.cgroup_procs = opts.cgroup_procs;
  o.stdin_pipe = true;
  return o;
}

}  // namespace

ChildProcess::ChildProcess(const Options& opts) : child_(Child::spawn(spawn_options(opts))) {}

std::optional<std::string> ChildProcess::read_line(int timeout_ms) {
  if (!child_) return std::nullopt;
  return child_->read_line(std::chrono::milliseconds(timeout_ms));
}

std::optional<int> ChildProcess::wait_stopped_or_exited(int timeout_ms) {
  if (!child_) return std::nullopt;
  return child_->wait(std::chrono::milliseconds(timeout_ms), /*stopped=*/true);
}

std::optional<int> ChildProcess::wait_exit(int timeout_ms) {
  if (!child_) return std::nullopt;
  return child_->wait(std::chrono::milliseconds(timeout_ms));
}

long ChildProcess::rss_anon_kb() const {
  if (pid() <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid()) + "/status");
  std::string line;
  long rss = -1;
  bool alive = false;
  while (std::getline(f, line)) {
    // A child that died but is not reaped yet is a zombie (Z) with no memory
    // and no RssAnon line; one being torn down is X. Either must not pass
    // for a child that gave its memory back.
    if (line.rfind("State:", 0) == 0) {
      const auto at = line.find_first_not_of(" \t", 6);
      alive = at != std::string::npos && line[at] != 'Z' && line[at] != 'X';
    }
    if (line.rfind("RssAnon:", 0) == 0) {
      char* end = nullptr;
      const long v = std::strtol(line.c_str() + 8, &end, 10);
      if (end != line.c_str() + 8 && v >= 0) rss = v;
    }
  }
  return alive ? rss : -1;
}

long ChildProcess::ping(int timeout_ms) {
  if (!write_line("ping")) return -1;
  auto line = read_line(timeout_ms);
  if (!line || line->rfind("pong ", 0) != 0) return -1;
  return std::strtol(line->c_str() + 5, nullptr, 10);
}

}  // namespace vmreclaim::test
