#include "child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

namespace vmreclaim::test {

ChildProcess::ChildProcess(const Options& opts) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return;
  std::vector<char*> argv;
  for (const auto& a : opts.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    if (!opts.cgroup_procs.empty()) {
      int fd = open(opts.cgroup_procs.c_str(), O_WRONLY);
      if (fd < 0 || write(fd, "0", 1) != 1) _exit(120);
      close(fd);
    }
    for (const auto& [k, v] : opts.env) setenv(k.c_str(), v.c_str(), 1);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  in_ = in[1];
  out_ = out[0];
  err_ = err[0];
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    int st;
    waitpid(pid_, &st, 0);
  }
  for (int fd : {in_, out_, err_}) {
    if (fd >= 0) close(fd);
  }
}

std::optional<std::string> ChildProcess::read_line(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    size_t nl = buffered_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{out_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[512];
    ssize_t n = read(out_, buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    buffered_.append(buf, static_cast<size_t>(n));
  }
}

bool ChildProcess::write_line(const std::string& line) {
  std::string s = line + "\n";
  return write(in_, s.data(), s.size()) == static_cast<ssize_t>(s.size());
}

void ChildProcess::close_stdin() {
  if (in_ >= 0) close(in_);
  in_ = -1;
}

std::optional<int> ChildProcess::wait_stopped_or_exited(int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 5) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG | WUNTRACED);
    if (r == pid_) {
      if (WIFEXITED(st) || WIFSIGNALED(st)) reaped_ = true;
      return st;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return std::nullopt;
}

std::optional<int> ChildProcess::wait_exit(int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 5) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return st;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return std::nullopt;
}

std::string ChildProcess::stderr_text() {
  std::string out;
  int flags = fcntl(err_, F_GETFL);
  fcntl(err_, F_SETFL, flags | O_NONBLOCK);
  char buf[1024];
  ssize_t n;
  while ((n = read(err_, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

long ChildProcess::rss_anon_kb() const {
  std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("RssAnon:", 0) == 0) return std::atol(line.c_str() + 8);
  }
  return -1;
}

long ChildProcess::ping(int timeout_ms) {
  if (!write_line("ping")) return -1;
  auto line = read_line(timeout_ms);
  if (!line || line->rfind("pong ", 0) != 0) return -1;
  return std::atol(line->c_str() + 5);
}

}  // namespace vmreclaim::test
