#include "platform/linux/psi.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "platform/linux/fd.h"
#include "platform/linux/proc_file.h"

namespace vmreclaim::platform {
namespace {

// "avg10=1.23" → 1.23; digits and one dot only, 0..100.
std::optional<double> parse_avg(std::string_view tok, std::string_view key) noexcept {
  if (tok.size() <= key.size() + 1 || tok.substr(0, key.size()) != key || tok[key.size()] != '=') return std::nullopt;
  tok.remove_prefix(key.size() + 1);
  double whole = 0, frac = 0, scale = 1;
  bool dot = false, any = false;
  for (char c : tok) {
    if (c == '.' && !dot) {
      dot = true;
      continue;
    }
    if (c < '0' || c > '9') return std::nullopt;
    any = true;
    if (dot) {
      scale /= 10;
      frac += (c - '0') * scale;
    } else {
      whole = whole * 10 + (c - '0');
      if (whole > 100) return std::nullopt;
    }
  }
  if (!any) return std::nullopt;
  double v = whole + frac;
  return v <= 100.0 ? std::optional<double>(v) : std::nullopt;
}

// Parses "some avg10=.. avg60=.. avg300=.. total=..".
bool parse_line(std::string_view line, double& avg10, double& avg60) noexcept {
  size_t sp = line.find(' ');
  if (sp == std::string_view::npos) return false;
  line.remove_prefix(sp + 1);
  bool have10 = false, have60 = false;
  while (!line.empty()) {
    size_t end = line.find(' ');
    std::string_view tok = line.substr(0, end);
    if (auto v = parse_avg(tok, "avg10")) {
      avg10 = *v;
      have10 = true;
    } else if (auto w = parse_avg(tok, "avg60")) {
      avg60 = *w;
      have60 = true;
    }
    if (end == std::string_view::npos) break;
    line.remove_prefix(end + 1);
  }
  return have10 && have60;
}

}  // namespace

std::optional<PsiReading> parse_psi(std::string_view text) noexcept {
  PsiReading r;
  bool some = false, ok = true;
  for_each_line(text, [&](std::string_view line) {
    if (line.substr(0, 5) == "some ") {
      ok = parse_line(line, r.some_avg10, r.some_avg60);
      some = true;
    } else if (line.substr(0, 5) == "full ") {
      ok = parse_line(line, r.full_avg10, r.full_avg60);
    } else {
      ok = line.empty();
    }
    return ok;
  });
  if (!ok || !some) return std::nullopt;
  return r;
}

PsiFile::~PsiFile() { close_trigger(); }

std::optional<PsiReading> PsiFile::read() {
  char buf[512];
  long n = read_small_file(path_.c_str(), buf, sizeof buf);
  if (n < 0) {
    last_error_ = static_cast<int>(-n);
    return std::nullopt;
  }
  auto r = parse_psi(std::string_view(buf, static_cast<size_t>(n)));
  last_error_ = r ? 0 : EINVAL;
  return r;
}

int PsiFile::open_trigger(unsigned stall_us, unsigned window_us) noexcept {
  close_trigger();
  int fd = move_fd_high(::open(path_.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (fd < 0) {
    last_error_ = errno;
    return -1;
  }
  char msg[64];
  int len = std::snprintf(msg, sizeof msg, "some %u %u", stall_us, window_us);
  if (::write(fd, msg, static_cast<size_t>(len) + 1) < 0) {
    last_error_ = errno;  // EINVAL on kernels/VMs that refuse triggers
    ::close(fd);
    return -1;
  }
  trigger_fd_ = fd;
  return fd;
}

void PsiFile::close_trigger() noexcept {
  if (trigger_fd_ >= 0) ::close(trigger_fd_);
  trigger_fd_ = -1;
}

}  // namespace vmreclaim::platform
