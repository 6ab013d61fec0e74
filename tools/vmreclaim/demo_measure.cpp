#include "demo_measure.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace vmreclaim::tools::demo {
namespace {

// The value of "Name:   1234 kB" in `text`, in bytes.
std::optional<uint64_t> status_field(const char* text, const char* name) noexcept {
  const char* p = std::strstr(text, name);
  if (p == nullptr) return std::nullopt;
  p += std::strlen(name);
  char* end = nullptr;
  errno = 0;
  unsigned long long kib = std::strtoull(p, &end, 10);
  if (end == p || errno != 0) return std::nullopt;
  return static_cast<uint64_t>(kib) * 1024;
}

}  // namespace

std::optional<MemoryStatus> read_memory_status() noexcept {
  // Read with plain syscalls into a stack buffer: this runs in the measured loop.
  char buf[8192];
  int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  size_t len = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf + len, sizeof(buf) - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += static_cast<size_t>(n);
    if (len == sizeof(buf) - 1) break;
  }
  ::close(fd);
  buf[len] = '\0';
  auto anon = status_field(buf, "\nRssAnon:");
  auto file = status_field(buf, "\nRssFile:");
  auto shmem = status_field(buf, "\nRssShmem:");
  auto hwm = status_field(buf, "\nVmHWM:");
  if (!anon || !file || !shmem || !hwm) return std::nullopt;
  return MemoryStatus{*anon, *file, *shmem, *hwm};
}

bool reset_peak_rss() noexcept {
  int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, "5", 1) == 1;
  ::close(fd);
  return ok;
}

uint64_t minor_faults() noexcept {
  rusage ru{};
  if (::getrusage(RUSAGE_SELF, &ru) != 0) return 0;  // cannot fail for RUSAGE_SELF
  return static_cast<uint64_t>(ru.ru_minflt);
}

// ---- RssTracker ----

void RssTracker::start() {
  hwm_valid_ = reset_peak_rss();
  sample();
  baseline_ = peak_ = last_;
  sampling_seconds_ = 0;
}

void RssTracker::sample() {
  const Clock::time_point t0 = Clock::now();
  if (auto st = read_memory_status()) {
    last_ = st->rss_anon;
    peak_ = std::max(peak_, last_);
  }
  last_sample_ = Clock::now();
  sampling_seconds_ += std::chrono::duration<double>(last_sample_ - t0).count();
}

void RssTracker::maybe_sample(Clock::time_point now, bool force) {
  if (force || now - last_sample_ >= kInterval) sample();
}

void RssTracker::finish() {
  sample();
  if (!hwm_valid_) return;
  if (auto st = read_memory_status()) {
    // File and shmem pages hardly change during a run; what the high-water
    // mark holds beyond them was anonymous.
    const uint64_t other = st->rss_file + st->rss_shmem;
    if (st->hwm > other) peak_ = std::max(peak_, st->hwm - other);
  }
}

// ---- ProgressLine ----

ProgressLine::ProgressLine(std::string label)
    : label_(std::move(label)), tty_(::isatty(STDERR_FILENO) == 1), start_(Clock::now()), last_(start_) {}

void ProgressLine::update(Clock::time_point now, uint64_t done, uint64_t total, uint64_t rss_anon) {
  using std::chrono::milliseconds;
  if (now - start_ < std::chrono::seconds(1)) return;
  if (now - last_ < (tty_ ? milliseconds(100) : milliseconds(1000))) return;
  last_ = now;
  shown_ = true;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  std::fprintf(stderr, "%s%-8s %8llu/%llu ops  %5.1f s  RssAnon %s%s", tty_ ? "\r" : "", label_.c_str(),
               static_cast<unsigned long long>(done), static_cast<unsigned long long>(total), elapsed,
               format_bytes(rss_anon).c_str(), tty_ ? "\033[K" : "\n");
  std::fflush(stderr);
}

void ProgressLine::finish() {
  if (shown_ && tty_) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
  }
}

std::string format_bytes(uint64_t bytes) {
  char buf[32];
  if (bytes >= (uint64_t{1} << 30)) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  }
  return buf;
}

}  // namespace vmreclaim::tools::demo
