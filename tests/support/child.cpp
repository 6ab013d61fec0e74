#include "support/child.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>
#include <utility>

namespace vmreclaim::test {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

std::string env_name(const std::string& setting) { return setting.substr(0, setting.find('=')); }

// The child's environment: ours, minus what opts replaces or drops.
std::vector<std::string> child_env(const SpawnOptions& opts) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; e++) {
    const std::string s(*e);
    if (opts.drop_vmreclaim_env && s.rfind("VMRECLAIM_", 0) == 0) continue;
    bool replaced = false;
    for (const std::string& o : opts.env) replaced |= env_name(o) == env_name(s);
    if (!replaced) env.push_back(s);
  }
  // Among our own settings the later of two with one name wins.
  for (size_t i = 0; i < opts.env.size(); i++) {
    bool overridden = false;
    for (size_t j = i + 1; j < opts.env.size(); j++) overridden |= env_name(opts.env[j]) == env_name(opts.env[i]);
    if (!overridden) env.push_back(opts.env[i]);
  }
  return env;
}

// Between fork and exec: async-signal-safe calls only.
void write_str(int fd, const char* s) { [[maybe_unused]] ssize_t n = ::write(fd, s, std::strlen(s)); }

[[noreturn]] void child_fail(const char* what, int code) {
  // strerror() may allocate (translations): the number will do.
  char num[16];
  int n = sizeof num;
  num[--n] = '\0';
  unsigned e = static_cast<unsigned>(errno);
  do {
    num[--n] = static_cast<char>('0' + e % 10);
    e /= 10;
  } while (e != 0 && n > 0);
  write_str(STDERR_FILENO, what);
  write_str(STDERR_FILENO, ": errno ");
  write_str(STDERR_FILENO, num + n);
  write_str(STDERR_FILENO, "\n");
  ::_exit(code);
}

void close_fd(int& fd) noexcept {
  if (fd >= 0) ::close(std::exchange(fd, -1));
}

}  // namespace

std::optional<Child> Child::spawn(const SpawnOptions& opts) {
  if (opts.argv.empty()) {
    errno = EINVAL;
    return std::nullopt;
  }
  std::vector<std::string> env_s = child_env(opts);
  std::vector<std::string> argv_s = opts.argv;
  std::vector<char*> argv, envp;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  auto close_all = [&] {
    for (int* p : {in, out, err}) {
      close_fd(p[0]);
      close_fd(p[1]);
    }
  };
  if ((opts.stdin_pipe && ::pipe2(in, O_CLOEXEC) != 0) || ::pipe2(out, O_CLOEXEC) != 0 ||
      (opts.capture_stderr && ::pipe2(err, O_CLOEXEC) != 0)) {
    close_all();
    return std::nullopt;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int stdin_fd = opts.stdin_pipe ? in[0] : ::open("/dev/null", O_RDONLY);
    if (stdin_fd >= 0) ::dup2(stdin_fd, STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    if (opts.capture_stderr) ::dup2(err[1], STDERR_FILENO);
    if (opts.own_process_group && ::setpgid(0, 0) != 0) child_fail("make a process group", 121);
    if (!opts.cgroup_procs.empty()) {
      const int fd = ::open(opts.cgroup_procs.c_str(), O_WRONLY);
      if (fd < 0 || ::write(fd, "0", 1) != 1) child_fail("join the cgroup", 120);
      ::close(fd);
    }
    if (opts.as_uid && !become_user(*opts.as_uid, static_cast<gid_t>(*opts.as_uid))) {
      child_fail("change uid", 126);
    }
    ::execve(argv[0], argv.data(), envp.data());
    child_fail(argv[0], 127);
  }
  const int saved = errno;
  close_fd(in[0]);
  close_fd(out[1]);
  close_fd(err[1]);
  if (pid < 0) {
    close_all();
    errno = saved;
    return std::nullopt;
  }
  return Child(pid, in[1], out[0], err[0]);
}

std::optional<Child> Child::start(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  SpawnOptions o;
  o.argv = argv;
  o.env = env;
  o.stdin_pipe = true;
  o.capture_stderr = false;
  return spawn(o);
}

Child::Child(Child&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      in_(std::exchange(o.in_, -1)),
      out_(std::exchange(o.out_, -1)),
      err_(std::exchange(o.err_, -1)),
      reaped_(std::exchange(o.reaped_, true)),
      buffered_(std::move(o.buffered_)) {}

Child::~Child() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }
  close_fd(in_);
  close_fd(out_);
  close_fd(err_);
}

std::optional<std::string> Child::read_line_starting(const std::string& prefix, std::chrono::milliseconds timeout) {
  while (auto line = read_line(timeout)) {
    if (line->rfind(prefix, 0) == 0) return line;
  }
  return std::nullopt;
}

std::optional<std::string> Child::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const size_t eol = buffered_.find('\n');
    if (eol != std::string::npos) {
      std::string line = buffered_.substr(0, eol);
      buffered_.erase(0, eol + 1);
      return line;
    }
    if (out_ < 0) return std::nullopt;
    pollfd p{out_, POLLIN, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    char buf[1024];
    const ssize_t got = ::read(out_, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return std::nullopt;
    buffered_.append(buf, static_cast<size_t>(got));
  }
}

bool Child::write_line(const std::string& line) {
  if (in_ < 0) return false;
  const std::string s = line + "\n";
  // A child that died has closed its end: the write fails (EPIPE) and the
  // caller reports it. SIGPIPE is blocked around the write and a pending one
  // taken, so it does not end the test program, and no child inherits an
  // ignored SIGPIPE (SIG_IGN would survive their exec).
  sigset_t pipe_only, old;
  ::sigemptyset(&pipe_only);
  ::sigaddset(&pipe_only, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  const ssize_t n = ::write(in_, s.data(), s.size());
  if (n < 0 && errno == EPIPE) {
    const timespec now{};
    while (::sigtimedwait(&pipe_only, nullptr, &now) < 0 && errno == EINTR) {
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return n == static_cast<ssize_t>(s.size());
}

void Child::close_stdin() noexcept { close_fd(in_); }

std::string Child::stderr_so_far() {
  std::string text;
  if (err_ < 0) return text;
  const int flags = ::fcntl(err_, F_GETFL);
  ::fcntl(err_, F_SETFL, flags | O_NONBLOCK);
  char buf[1024];
  ssize_t n;
  while ((n = ::read(err_, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  ::fcntl(err_, F_SETFL, flags);
  return text;
}

bool Child::wait_stderr(const std::string& text, std::chrono::milliseconds timeout, std::string* log) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    *log += stderr_so_far();
    if (log->find(text) != std::string::npos) return true;
    if (err_ < 0) return false;
    pollfd p{err_, POLLIN, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;         // the time is up, or poll failed
    if ((p.revents & POLLIN) == 0) {  // its end (POLLHUP) with nothing left to read
      *log += stderr_so_far();
      return log->find(text) != std::string::npos;
    }
  }
}

std::optional<int> Child::communicate(std::string* out, std::string* err, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  if (out != nullptr) *out = std::exchange(buffered_, {});
  pollfd fds[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
  std::string* sinks[2] = {out, err};
  bool timed_out = false;
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    const int n = ::poll(fds, 2, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      timed_out = true;
      ::kill(pid_, SIGKILL);
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        if (sinks[i] != nullptr) sinks[i]->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        fds[i].fd = -1;  // closed below
      }
    }
  }
  close_fd(out_);
  close_fd(err_);
  // The pipes are at their end (or the child was killed): it is ending.
  std::optional<int> st = wait(std::chrono::hours(1));
  if (timed_out) return std::nullopt;
  return st;
}

std::optional<int> Child::wait(std::chrono::milliseconds timeout, bool stopped) {
  if (reaped_) return std::nullopt;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int st = 0;
    const pid_t r = ::waitpid(pid_, &st, WNOHANG | (stopped ? WUNTRACED : 0));
    if (r == pid_) {
      if (WIFEXITED(st) || WIFSIGNALED(st)) reaped_ = true;
      return st;
    }
    if (r < 0 && errno != EINTR) return std::nullopt;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int Child::stop(std::chrono::milliseconds grace) {
  close_stdin();
  std::optional<int> st = wait(grace);
  if (!st) {
    ::kill(pid_, SIGKILL);
    wait(std::chrono::hours(1));
    return -1;
  }
  return WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
}

bool ChildResult::exited_with(int code) const { return WIFEXITED(status) && WEXITSTATUS(status) == code; }
bool ChildResult::killed_by(int sig) const { return WIFSIGNALED(status) && WTERMSIG(status) == sig; }
std::string ChildResult::describe() const {
  return (timed_out ? std::string("timed out and killed") : describe_status(status)) + "\n--- stdout ---\n" + out +
         "--- stderr ---\n" + err;
}

ChildResult run_child(const SpawnOptions& opts, std::chrono::milliseconds timeout) {
  ChildResult r;
  std::optional<Child> c = Child::spawn(opts);
  if (!c) return r;
  std::optional<int> st = c->communicate(&r.out, &r.err, timeout);
  r.timed_out = !st.has_value();
  r.status = st.value_or(-1);
  r.exit_code = st && WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
  return r;
}

int wait_child(pid_t pid) {
  if (pid < 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

long rss_anon_kb(pid_t pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
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

bool become_user(uid_t uid, gid_t gid) {
  if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) return false;
  // A change of credentials makes a process non-dumpable, which would deny
  // even its own user; undo that so tests are about uids only.
  return ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == 0;
}

std::pair<uid_t, gid_t> nobody_ids() {
  if (const passwd* pw = ::getpwnam("nobody")) return {pw->pw_uid, pw->pw_gid};
  return {65534, 65534};
}

std::string describe_status(int status) {
  if (status == -1) return "not run";
  if (WIFEXITED(status)) return "exited " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  if (WIFSTOPPED(status)) return "stopped by signal " + std::to_string(WSTOPSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace vmreclaim::test
