#include "control/authorise.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace vmreclaim::control {
namespace {

// Not yet in every libc's headers (Linux 6.5 and 6.11).
#ifndef SO_PEERPIDFD
constexpr int SO_PEERPIDFD = 77;
#endif
constexpr unsigned long kPidfdGetUserNamespace = _IO(0xFF, 9);

// The overflow uid: what a uid that our user namespace cannot map reads as.
uid_t read_overflow_uid() noexcept {
  uid_t uid = 65534;
  if (std::FILE* f = std::fopen("/proc/sys/kernel/overflowuid", "re")) {
    char line[32] = {};
    if (std::fgets(line, sizeof line, f) != nullptr) {
      char* end = nullptr;
      errno = 0;
      unsigned long v = std::strtoul(line, &end, 10);
      if (errno == 0 && end != line && (*end == '\n' || *end == '\0') && v <= 0xffffffffUL) {
        uid = static_cast<uid_t>(v);
      }
    }
    std::fclose(f);
  }
  return uid;
}

int pidfd_of(int conn, pid_t pid) noexcept {
  int pidfd = -1;
  socklen_t len = sizeof pidfd;
  if (::getsockopt(conn, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && len == sizeof pidfd && pidfd >= 0) {
    return pidfd;
  }
  // Before Linux 6.5: the pid may have been reused since the peer
  // connected; the caller checks the pidfd is still alive afterwards, which
  // narrows that to a peer that exited between connect() and this call.
  if (pid <= 0) return -1;
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

bool same_file(const struct stat& st, dev_t dev, ino_t ino) noexcept { return st.st_dev == dev && st.st_ino == ino; }

}  // namespace

Result<Authoriser> Authoriser::create() {
  Authoriser a;
  struct stat st {};
  if (::stat("/proc/self/ns/user", &st) != 0) return std::error_code(errno, std::system_category());
  a.userns_dev_ = st.st_dev;
  a.userns_ino_ = st.st_ino;
  a.overflow_uid_ = read_overflow_uid();
  size_t got = 0;
  while (got < a.secret_.size()) {
    ssize_t n = ::getrandom(a.secret_.data() + got, a.secret_.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::error_code(n < 0 ? errno : EIO, std::system_category());
    got += static_cast<size_t>(n);
  }
  return a;
}

bool Authoriser::same_user(int conn, uid_t* peer_uid) const noexcept {
  ucred cred{};
  socklen_t len = sizeof cred;
  *peer_uid = overflow_uid_;
  if (::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) return false;
  *peer_uid = cred.uid;
  // An unmapped uid reads as the overflow uid whoever it belongs to: never a match.
  if (cred.uid == overflow_uid_ || cred.uid != ::geteuid()) return false;

  // The same uid number in another user namespace is not the same user:
  // compare the peer's namespace with ours, through a pidfd of the peer.
  const int pidfd = pidfd_of(conn, cred.pid);
  if (pidfd < 0) return false;
  bool same = false;
  struct stat st {};
  const int nsfd = ::ioctl(pidfd, kPidfdGetUserNamespace, 0);
  if (nsfd >= 0) {
    same = ::fstat(nsfd, &st) == 0 && same_file(st, userns_dev_, userns_ino_);
    ::close(nsfd);
  } else if (cred.pid > 0) {
    // Before Linux 6.11: through /proc, then make sure the pid still names
    // the process the pidfd refers to (it has not exited).
    const std::string path = "/proc/" + std::to_string(cred.pid) + "/ns/user";
    same = ::stat(path.c_str(), &st) == 0 && same_file(st, userns_dev_, userns_ino_) &&
           ::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0;
  }
  ::close(pidfd);
  return same;
}

bool Authoriser::proves_ptrace_access(int fd) const noexcept {
  // Our own /proc/<pid>/mem and nothing else: the same procfs inode as the
  // one /proc/self/mem names now. (Reading another process's memory could
  // block on a mapping its owner controls; this is checked first.)
  struct stat got {
  }, mine{};
  struct statfs fs {};
  if (::fstat(fd, &got) != 0 || !S_ISREG(got.st_mode)) return false;
  if (::fstatfs(fd, &fs) != 0 || fs.f_type != PROC_SUPER_MAGIC) return false;
  if (::stat("/proc/self/mem", &mine) != 0 || !same_file(got, mine.st_dev, mine.st_ino)) return false;
  // The descriptor reads our current memory: not one opened before an
  // exec() of this pid replaced it, or for an earlier process of this pid.
  std::array<unsigned char, sizeof secret_> read{};
  const auto at = static_cast<off_t>(reinterpret_cast<uintptr_t>(secret_.data()));
  ssize_t n;
  do {
    n = ::pread(fd, read.data(), read.size(), at);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(read.size()) && std::memcmp(read.data(), secret_.data(), read.size()) == 0;
}

namespace {

// Field `key` of /proc/PID/status ("Uid:", "CapEff:"): the text after it, or "".
std::string status_field(pid_t pid, const char* key) noexcept {
  const std::string path = "/proc/" + std::to_string(pid) + "/status";
  std::string value;
  if (std::FILE* f = std::fopen(path.c_str(), "re")) {
    char line[512];
    const size_t klen = std::strlen(key);
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::strncmp(line, key, klen) == 0) {
        value = line + klen;
        break;
      }
    }
    std::fclose(f);
  }
  return value;
}

bool userns_of(pid_t pid, struct stat* st) noexcept {
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/user";
  return ::stat(path.c_str(), st) == 0;
}

}  // namespace

bool peer_could_drain(int conn, pid_t target) noexcept {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (target <= 0 || ::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred ||
      cred.pid <= 0) {
    return false;
  }
  // The peer as a pidfd, so that a pid reused after it exited cannot stand in.
  const int pidfd = pidfd_of(conn, cred.pid);
  if (pidfd < 0) return false;
  struct stat peer_ns {
  }, target_ns{}, init_ns{};
  bool ok = userns_of(cred.pid, &peer_ns) && userns_of(target, &target_ns);
  bool answer = false;
  if (ok) {
    const bool same_ns = same_file(peer_ns, target_ns.st_dev, target_ns.st_ino);
    // Rule 1: the target's effective uid (second field of Uid:) in its namespace.
    unsigned long ruid = 0, euid = 0;
    const std::string uids = status_field(target, "Uid:");
    const bool have_uid = std::sscanf(uids.c_str(), "%lu %lu", &ruid, &euid) == 2;
    if (same_ns && have_uid && euid == cred.uid && cred.uid != read_overflow_uid()) answer = true;
    // Rule 2, approximated: CAP_SYS_PTRACE (bit 19) in the target's user
    // namespace or in the initial one.
    if (!answer) {
      const bool init = userns_of(1, &init_ns) && same_file(peer_ns, init_ns.st_dev, init_ns.st_ino);
      unsigned long long caps = 0;
      const std::string capeff = status_field(cred.pid, "CapEff:");
      if ((same_ns || init) && std::sscanf(capeff.c_str(), "%llx", &caps) == 1 && (caps & (1ull << 19)) != 0) {
        answer = true;
      }
    }
  }
  // Still the process that connected.
  if (::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) != 0) answer = false;
  ::close(pidfd);
  return answer;
}

}  // namespace vmreclaim::control
