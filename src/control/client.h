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

#include "vmreclaim/result.hpp"

namespace vmreclaim::control {

enum class client_errc {
  no_endpoint = 1,    // nothing listens at the process's endpoint
  permission_denied,  // the process answers only its own user and root
  no_ring,            // the process has no ring
  timed_out,          // no answer in time (the endpoint is not being served)
  protocol_error,     // the reply could not be understood
  rejected,           // the process refused the request as malformed
  reclaim_failed,     // the engine reported an error
  impostor,           // the endpoint belongs to another process
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

  // Connects to process `pid`'s endpoint and checks that `pid` owns it.
  static Result<Client> connect(pid_t pid, std::chrono::milliseconds timeout = kDefaultTimeout);
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
  // A request of `type` with `body`; the reply's JSON body on success.
  Result<std::string> call(uint16_t type, std::string_view body);

  int fd_ = -1;
  std::string error_message_;
};

}  // namespace vmreclaim::control

template <>
struct std::is_error_code_enum<vmreclaim::control::client_errc> : std::true_type {};
