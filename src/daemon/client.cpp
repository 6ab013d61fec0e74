#include "daemon/client.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <vector>

#include "policy/tunables.h"
#include "support/daemon_socket.h"
#include "support/environment.h"

namespace vmreclaim::daemon {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string errno_text(int e) { return std::strerror(e); }

StatusReply failure(std::string message, bool absent = false) {
  StatusReply r;
  r.error = std::move(message);
  r.daemon_absent = absent;
  return r;
}

}  // namespace

const char* socket_env() noexcept { return policy::daemon_socket_tunable().env; }

SocketChoice resolve_socket_path(const std::string& option) {
  SocketChoice c;
  if (!option.empty()) {
    if (support::is_socket_path(option)) {
      c.path = option;
    } else {
      c.bad = true;
      c.error = policy::bad_value_text(
          "--socket", option, "an absolute path of at most " + std::to_string(support::kMaxSocketPath) + " bytes");
    }
    return c;
  }
  // As the engine reads it: nothing from the environment of a privileged
  // process, the tunable's check and words for a bad value.
  const policy::TunableSpec& spec = policy::daemon_socket_tunable();
  const char* text = support::setting_from_env(spec.env);
  policy::Tunables t;
  if (text != nullptr) {
    if (auto bad = policy::set_tunable(spec, text, t)) {
      c.bad = true;
      c.error = std::move(*bad);
      return c;
    }
  }
  const policy::SocketPath& path = t.*spec.path;
  if (path.empty()) {
    c.error = std::string("no daemon to ask (") + spec.env + "=\"" + (text != nullptr ? text : "") + "\")";
  } else {
    c.path = std::string(path.view());
  }
  return c;
}

StatusReply request_status(const std::string& socket_path, std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path) {
    return failure("the daemon's socket path '" + socket_path + "' is empty or longer than " +
                   std::to_string(sizeof addr.sun_path - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());

  Fd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return failure("socket: " + errno_text(errno));
  // The deadline for connect (AF_UNIX takes the send time-out), send and recv.
  const auto ms = std::max<int64_t>(1, timeout.count());
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0 ||
      ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
    return failure("setsockopt: " + errno_text(errno));
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR) {
      return failure("the daemon is not running (nothing listens on " + socket_path + ": " + errno_text(e) + ")", true);
    }
    if (e == EAGAIN || e == EINPROGRESS) {
      return failure("the daemon at " + socket_path + " did not accept the connection within " + std::to_string(ms) +
                     " ms");
    }
    if (e == EPROTOTYPE) return failure(socket_path + " is not the daemon's socket (not SOCK_SEQPACKET)");
    return failure("cannot connect to the daemon at " + socket_path + ": " + errno_text(e));
  }
  static constexpr char kRequest[] = R"({"op":"status"})";
  if (::send(fd.get(), kRequest, sizeof kRequest - 1, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof kRequest - 1)) {
    return failure("cannot send to the daemon at " + socket_path + ": " + errno_text(errno));
  }
  std::vector<char> buf(kMaxMessageBytes + 1);
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ssize_t n;
  do {
    n = ::recvmsg(fd.get(), &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return failure("the daemon at " + socket_path + " did not answer within " + std::to_string(ms) + " ms");
    }
    return failure("cannot read the daemon's answer: " + errno_text(errno));
  }
  if (n == 0) return failure("the daemon at " + socket_path + " closed the connection without answering");
  if ((msg.msg_flags & MSG_TRUNC) != 0 || static_cast<size_t>(n) > kMaxMessageBytes) {
    return failure("the daemon's answer is larger than " + std::to_string(kMaxMessageBytes) + " bytes");
  }
  StatusReply reply;
  try {
    const nlohmann::json j = nlohmann::json::parse(buf.data(), buf.data() + n);
    if (!j.is_object()) return failure("the daemon's answer is malformed: not a JSON object");
    if (auto e = j.find("error"); e != j.end()) {
      return failure("the daemon refused: " + (e->is_string() ? e->get<std::string>() : e->dump()));
    }
    reply.snapshot = j.get<Snapshot>();
  } catch (const std::exception& e) {
    return failure(std::string("the daemon's answer is malformed: ") + e.what());
  }
  return reply;
}

}  // namespace vmreclaim::daemon
