// The client side of the control protocol: what the vmreclaim command (and
// later a system-wide coordinator) uses to ask a process for statistics, a
// drain or a trim. Blocking, with a timeout on every exchange.
#pragma once

#include <sys/types.h>
#include <vmreclaim/vmreclaim.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "vmreclaim/result.hpp"

namespace vmreclaim::control {

enum class client_errc {
  no_endpoint = 1,          // nothing listens at the process's endpoint
  permission_denied,        // we may not read its descriptors, or it refused us (authorise.h)
  no_ring,                  // the process has no ring
  timed_out,                // no answer in time (the endpoint is not being served)
  protocol_error,           // the reply could not be understood
  rejected,                 // the process refused the request as malformed
  reclaim_failed,           // the engine reported an error
  impostor,                 // the endpoint belongs to another process
  other_network_namespace,  // the process is in another network namespace: its endpoint is not reachable from here
};
const std::error_category& client_category() noexcept;
inline std::error_code make_error_code(client_errc e) noexcept { return {static_cast<int>(e), client_category()}; }

struct StatsReply {
  pid_t pid = 0;
  uint64_t ring_address = 0;
  vmreclaim_ring_stats stats{};
};

struct ReclaimReply {
  pid_t pid = 0;
  uint64_t bytes_reclaimed = 0;
};

class Client {
 public:
  static constexpr std::chrono::milliseconds kDefaultTimeout{2000};

  // Finds process `pid`'s endpoint among its own descriptors (its listening
  // sockets in /proc/PID/fd, named in /proc/PID/net/unix), connects, checks
  // that `pid` is the one listening, and, when this process may open
  // /proc/PID/mem, sends that descriptor with the first request to show it
  // (docs/control-protocol.md, "Who is answered"). Errors: ESRCH (no such
  // process), permission_denied (its descriptors cannot be read),
  // no_endpoint, other_network_namespace, impostor, ...
  static Result<Client> connect(pid_t pid, std::chrono::milliseconds timeout = kDefaultTimeout);
  // The names of the control endpoints process `pid` listens on (normally
  // one), found as connect() finds them.
  static Result<std::vector<std::string>> endpoint_names(pid_t pid);
  // Connects to an abstract socket by name (tests); no owner check.
  static Result<Client> connect_name(const std::string& abstract_name,
                                     std::chrono::milliseconds timeout = kDefaultTimeout);

  Client() noexcept = default;
  Client(Client&& o) noexcept;
  Client& operator=(Client&& o) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  Result<StatsReply> stats();
  Result<ReclaimReply> drain();
  Result<ReclaimReply> trim(uint64_t bytes);

  // Sends `packet` as it is and returns the reply packet as received:
  // for tests that speak the protocol badly on purpose.
  Result<std::string> exchange(std::string_view packet);

  // The message of the last error reply (empty if none).
  const std::string& error_message() const noexcept { return error_message_; }

 private:
  explicit Client(int fd) noexcept : fd_(fd) {}
  // Sends one packet, with the proof descriptor if one is still held.
  ssize_t send_packet(std::string_view packet) noexcept;
  // A request of `type` with `body`; the reply's JSON body on success.
  Result<std::string> call(uint16_t type, std::string_view body);
  // A drain or trim request: the reply's pid and bytes reclaimed.
  Result<ReclaimReply> reclaim(uint16_t type, std::string_view body);

  int fd_ = -1;
  int proof_fd_ = -1;  // /proc/PID/mem, sent with the first request, then closed
  std::string error_message_;
};

}  // namespace vmreclaim::control

template <>
struct std::is_error_code_enum<vmreclaim::control::client_errc> : std::true_type {};
