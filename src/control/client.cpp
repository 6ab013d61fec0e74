#include "control/client.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <utility>

#include "control/protocol.h"
#include "control/socket_address.h"
#include "control/stats_json.h"
#include "platform/linux/socket.h"

namespace vmreclaim::control {
namespace {

using nlohmann::json;

class ClientCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "vmreclaim.control"; }
  std::string message(int e) const override {
    switch (static_cast<client_errc>(e)) {
      case client_errc::no_endpoint: return "the process has no control endpoint";
      case client_errc::permission_denied: return "permission denied";
      case client_errc::no_ring: return "the process has no reclaim ring";
      case client_errc::timed_out: return "the process did not answer in time";
      case client_errc::protocol_error: return "the reply could not be understood";
      case client_errc::rejected: return "the process rejected the request";
      case client_errc::reclaim_failed: return "the process could not reclaim";
      case client_errc::impostor: return "the endpoint is not owned by that process";
      case client_errc::other_network_namespace:
        return "the process is in another network namespace; its control endpoint can be reached only from there";
    }
    return "unknown control error";
  }
};

std::error_code sys_error(int e) noexcept {
  if (e == EAGAIN || e == EWOULDBLOCK) return make_error_code(client_errc::timed_out);
  return {e, std::system_category()};
}

// The pid of the reply body, which must be a non-negative integer.
bool read_pid(const json& body, pid_t* pid) {
  auto it = body.find("pid");
  if (it == body.end() || !it->is_number_unsigned() || it->get<uint64_t>() > INT32_MAX) return false;
  *pid = static_cast<pid_t>(it->get<uint64_t>());
  return true;
}

bool read_u64(const json& body, const char* key, uint64_t* out) {
  auto it = body.find(key);
  if (it == body.end() || !it->is_number_unsigned()) return false;
  *out = it->get<uint64_t>();
  return true;
}

// What a failed look into /proc/PID means.
std::error_code proc_error(int e) noexcept {
  if (e == ENOENT || e == ESRCH) return {ESRCH, std::system_category()};
  if (e == EACCES || e == EPERM) return make_error_code(client_errc::permission_denied);
  return {e, std::system_category()};
}

// The inode numbers of the sockets among process `pid`'s descriptors.
Result<std::vector<uint64_t>> socket_inodes(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return proc_error(errno);
  std::vector<uint64_t> inodes;
  const int dfd = ::dirfd(d);
  int saved = 0;
  for (;;) {
    errno = 0;  // readdir() leaves it alone at the end, and readlinkat() below may set it
    dirent* e = ::readdir(d);
    if (e == nullptr) {
      saved = errno;
      break;
    }
    char target[64];
    ssize_t n = ::readlinkat(dfd, e->d_name, target, sizeof target - 1);
    if (n <= 0) continue;  // ".", "..", or closed meanwhile
    target[n] = '\0';
    unsigned long long ino = 0;
    char close = 0;
    if (std::sscanf(target, "socket:[%llu%c", &ino, &close) == 2 && close == ']') inodes.push_back(ino);
  }
  ::closedir(d);
  if (saved != 0) return proc_error(saved);
  std::sort(inodes.begin(), inodes.end());
  return inodes;
}

// One line of /proc/net/unix: "Num RefCount Protocol Flags Type St Inode Path".
// True for a listening SOCK_SEQPACKET socket with an endpoint's name.
bool parse_unix_line(const char* line, uint64_t* inode, std::string* name) {
  unsigned long flags = 0, type = 0, state = 0;
  unsigned long long ino = 0;
  int path_at = -1;
  if (std::sscanf(line, "%*s %*s %*s %lx %lx %lx %llu %n", &flags, &type, &state, &ino, &path_at) != 4 || path_at < 0) {
    return false;
  }
  constexpr unsigned long kAcceptCon = 0x10000;  // __SO_ACCEPTCON: listening
  if ((flags & kAcceptCon) == 0 || type != SOCK_SEQPACKET) return false;
  std::string path(line + path_at);
  while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
  // "@" stands for the abstract name's leading NUL.
  if (path.size() < 1 + kEndpointPrefix.size() || path[0] != '@' ||
      path.compare(1, kEndpointPrefix.size(), kEndpointPrefix) != 0) {
    return false;
  }
  *inode = ino;
  *name = std::string(1, '\0') + path.substr(1);
  return true;
}

bool same_namespace(const std::string& a, const std::string& b) {
  struct stat sa {
  }, sb{};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

}  // namespace

Result<std::vector<std::string>> Client::endpoint_names(pid_t pid) {
  if (pid <= 0) return std::error_code(ESRCH, std::system_category());
  auto inodes = socket_inodes(pid);
  if (!inodes) return inodes.error();
  // The table of the process's own network namespace, where its name lives.
  const std::string table = "/proc/" + std::to_string(pid) + "/net/unix";
  std::FILE* f = std::fopen(table.c_str(), "re");
  if (f == nullptr) return proc_error(errno);
  std::vector<std::string> names;
  char line[512];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    const bool whole = std::strchr(line, '\n') != nullptr;
    uint64_t ino = 0;
    std::string name;
    if (whole && parse_unix_line(line, &ino, &name) && std::binary_search(inodes->begin(), inodes->end(), ino)) {
      names.push_back(std::move(name));
    }
    // A line longer than the buffer (a long path): skip the rest of it.
    while (!whole && std::fgets(line, sizeof line, f) != nullptr && std::strchr(line, '\n') == nullptr) {
    }
  }
  std::fclose(f);
  return names;
}

const std::error_category& client_category() noexcept {
  static const ClientCategory category;
  return category;
}

Result<Client> Client::connect(pid_t pid, std::chrono::milliseconds timeout) {
  auto names = endpoint_names(pid);
  if (!names) return names.error();
  if (names->empty()) return make_error_code(client_errc::no_endpoint);
  // Abstract names are per network namespace: from another one the same
  // name reaches another socket, or none.
  const std::string proc = "/proc/" + std::to_string(pid);
  if (!same_namespace("/proc/self/ns/net", proc + "/ns/net")) {
    return make_error_code(client_errc::other_network_namespace);
  }
  std::error_code last = make_error_code(client_errc::no_endpoint);
  for (const std::string& name : *names) {
    auto c = connect_name(name, timeout);
    if (!c) {
      last = c.error();
      continue;
    }
    // The name may have changed hands since we read it: make sure the
    // target itself listens (SO_PEERCRED's pid is the listener's, in our
    // pid namespace).
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(c->fd_, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return sys_error(errno);
    if (cred.pid != pid) {
      last = make_error_code(client_errc::impostor);
      continue;
    }
    // Our right to ptrace it, if the kernel grants one; the process needs it
    // only if we are not its user in its user namespace. It only ever goes
    // to the process it names: even if the listener were replaced, the
    // descriptor would show a process its own memory.
    c->proof_fd_ = ::open((proc + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
    return c;
  }
  return last;
}

Result<Client> Client::connect_name(const std::string& abstract_name, std::chrono::milliseconds timeout) {
  const auto addr = socket_address(abstract_name);
  if (!addr) return std::make_error_code(std::errc::invalid_argument);
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error(errno);
  Client c(fd);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000);
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
    return sys_error(errno);
  }
  int rc;
  do {
    rc = ::connect(fd, addr->get(), addr->len);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno == ECONNREFUSED || errno == ENOENT) return make_error_code(client_errc::no_endpoint);
    return sys_error(errno);
  }
  return c;
}

Client::Client(Client&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      proof_fd_(std::exchange(o.proof_fd_, -1)),
      error_message_(std::move(o.error_message_)) {}

Client& Client::operator=(Client&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    if (proof_fd_ >= 0) ::close(proof_fd_);
    fd_ = std::exchange(o.fd_, -1);
    proof_fd_ = std::exchange(o.proof_fd_, -1);
    error_message_ = std::move(o.error_message_);
  }
  return *this;
}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
  if (proof_fd_ >= 0) ::close(proof_fd_);
}

ssize_t Client::send_packet(std::string_view packet) noexcept {
  const ssize_t n = platform::send_with_fd(fd_, packet, proof_fd_, 0);
  if (n >= 0 && proof_fd_ >= 0) {
    ::close(proof_fd_);  // shown once: the connection is now answered or closed
    proof_fd_ = -1;
  }
  return n;
}

Result<std::string> Client::exchange(std::string_view packet) {
  if (fd_ < 0) return std::make_error_code(std::errc::bad_file_descriptor);
  ssize_t n = send_packet(packet);
  // The server may have answered and hung up already (a refused peer): the
  // answer is still waiting to be read, so a failed send is not the end.
  const int send_errno = n < 0 ? errno : 0;
  std::string reply(kHeaderBytes + kMaxReplyBody, '\0');
  do {
    n = ::recv(fd_, reply.data(), reply.size(), MSG_TRUNC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return sys_error(send_errno != 0 && errno != EAGAIN ? send_errno : errno);
  if (n == 0) return send_errno != 0 ? sys_error(send_errno) : std::error_code(client_errc::protocol_error);
  if (static_cast<size_t>(n) > reply.size()) return make_error_code(client_errc::protocol_error);
  reply.resize(static_cast<size_t>(n));
  return reply;
}

Result<std::string> Client::call(uint16_t type, std::string_view body) {
  error_message_.clear();
  auto packet = exchange(encode(type, body));
  if (!packet) return packet.error();
  DecodeError derr{};
  auto msg = decode(*packet, packet->size(), kMaxReplyBody, &derr);
  if (!msg) return make_error_code(client_errc::protocol_error);
  if (msg->header.type == static_cast<uint16_t>(MessageType::error)) {
    json err = json::parse(msg->body, nullptr, false);
    std::string code;
    if (err.is_object() && err.contains("error") && err["error"].is_string()) code = err["error"].get<std::string>();
    if (err.is_object() && err.contains("message") && err["message"].is_string()) {
      error_message_ = err["message"].get<std::string>();
    }
    if (code == error_code::permission_denied) return make_error_code(client_errc::permission_denied);
    if (code == error_code::no_ring) return make_error_code(client_errc::no_ring);
    if (code == error_code::reclaim_failed) return make_error_code(client_errc::reclaim_failed);
    if (code.empty()) return make_error_code(client_errc::protocol_error);
    return make_error_code(client_errc::rejected);
  }
  if (msg->header.type != reply_type(static_cast<MessageType>(type))) {
    return make_error_code(client_errc::protocol_error);
  }
  return std::string(msg->body);
}

Result<StatsReply> Client::stats() {
  auto body = call(static_cast<uint16_t>(MessageType::stats), "");
  if (!body) return body.error();
  json j = json::parse(*body, nullptr, false);
  StatsReply r;
  if (!j.is_object() || !read_pid(j, &r.pid) || !read_u64(j, "ring_address", &r.ring_address) || !j.contains("stats")) {
    return make_error_code(client_errc::protocol_error);
  }
  auto stats = stats_from_json(j["stats"]);
  if (!stats) return make_error_code(client_errc::protocol_error);
  r.stats = *stats;
  return r;
}

Result<ReclaimReply> Client::reclaim(uint16_t type, std::string_view body) {
  auto reply = call(type, body);
  if (!reply) return reply.error();
  json j = json::parse(*reply, nullptr, false);
  ReclaimReply r;
  if (!j.is_object() || !read_pid(j, &r.pid) || !read_u64(j, "bytes_reclaimed", &r.bytes_reclaimed)) {
    return make_error_code(client_errc::protocol_error);
  }
  return r;
}

Result<ReclaimReply> Client::drain() { return reclaim(static_cast<uint16_t>(MessageType::drain), ""); }

Result<ReclaimReply> Client::trim(uint64_t bytes) {
  return reclaim(static_cast<uint16_t>(MessageType::trim), json{{"bytes", bytes}}.dump());
}

}  // namespace vmreclaim::control
