#include "control/client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <utility>

#include "control/protocol.h"
#include "control/stats_json.h"

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

}  // namespace

const std::error_category& client_category() noexcept {
  static const ClientCategory category;
  return category;
}

Result<Client> Client::connect(pid_t pid, std::chrono::milliseconds timeout) {
  if (pid <= 0) return std::error_code(ESRCH, std::system_category());
  auto c = connect_name(endpoint_name(pid), timeout);
  if (!c) return c;
  // Anyone can bind an abstract name: make sure the target itself listens.
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(c->fd_, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return sys_error(errno);
  if (cred.pid != pid) return make_error_code(client_errc::impostor);
  return c;
}

Result<Client> Client::connect_name(const std::string& abstract_name, std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (abstract_name.empty() || abstract_name.size() > sizeof addr.sun_path) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  std::memcpy(addr.sun_path, abstract_name.data(), abstract_name.size());
  const auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + abstract_name.size());
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
    rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), addr_len);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno == ECONNREFUSED || errno == ENOENT) return make_error_code(client_errc::no_endpoint);
    return sys_error(errno);
  }
  return c;
}

Client::Client(Client&& o) noexcept : fd_(std::exchange(o.fd_, -1)), error_message_(std::move(o.error_message_)) {}

Client& Client::operator=(Client&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    error_message_ = std::move(o.error_message_);
  }
  return *this;
}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::string> Client::exchange(std::string_view packet) {
  if (fd_ < 0) return std::make_error_code(std::errc::bad_file_descriptor);
  ssize_t n;
  do {
    n = ::send(fd_, packet.data(), packet.size(), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
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

Result<ReclaimReply> Client::drain() {
  auto body = call(static_cast<uint16_t>(MessageType::drain), "");
  if (!body) return body.error();
  json j = json::parse(*body, nullptr, false);
  ReclaimReply r;
  if (!j.is_object() || !read_pid(j, &r.pid) || !read_u64(j, "bytes_reclaimed", &r.bytes_reclaimed)) {
    return make_error_code(client_errc::protocol_error);
  }
  return r;
}

Result<ReclaimReply> Client::trim(uint64_t bytes) {
  auto body = call(static_cast<uint16_t>(MessageType::trim), json{{"bytes", bytes}}.dump());
  if (!body) return body.error();
  json j = json::parse(*body, nullptr, false);
  ReclaimReply r;
  if (!j.is_object() || !read_pid(j, &r.pid) || !read_u64(j, "bytes_reclaimed", &r.bytes_reclaimed)) {
    return make_error_code(client_errc::protocol_error);
  }
  return r;
}

}  // namespace vmreclaim::control
