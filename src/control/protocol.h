// The control protocol (docs/control-protocol.md): how another process asks
// a process's engine for statistics, a drain or a trim. One message is one
// SOCK_SEQPACKET packet: a 16-byte header, then `length` bytes of JSON.
// Both ends are on the same machine, so integers are in host byte order.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vmreclaim::control {

inline constexpr uint32_t kMagic = 0x43524d56;  // "VMRC" in memory on little-endian
inline constexpr uint16_t kVersion = 1;
inline constexpr size_t kHeaderBytes = 16;
inline constexpr uint32_t kMaxRequestBody = 4096;
inline constexpr uint32_t kMaxReplyBody = 64 * 1024;

enum class MessageType : uint16_t {
  stats = 1,  // body: empty or {}
  drain = 2,  // body: empty or {}
  trim = 3,   // body: {"bytes": N}, N > 0
  // A reply has the request's type with this bit set; or is an error.
  reply_bit = 0x8000,
  error = 0xffff,  // body: {"error": code, "message": text}
};

struct MessageHeader {
  uint32_t magic;
  uint16_t version;
  uint16_t type;
  uint32_t length;    // bytes of body after the header
  uint32_t reserved;  // 0
};
static_assert(sizeof(MessageHeader) == kHeaderBytes);

inline uint16_t reply_type(MessageType request) noexcept {
  return static_cast<uint16_t>(static_cast<uint16_t>(request) | static_cast<uint16_t>(MessageType::reply_bit));
}

// Error codes carried in error replies.
namespace error_code {
inline constexpr const char* malformed = "malformed";  // bad magic, length or truncated header
inline constexpr const char* unsupported_version = "unsupported_version";
inline constexpr const char* oversized = "oversized";  // body longer than kMaxRequestBody
inline constexpr const char* unknown_type = "unknown_type";
inline constexpr const char* bad_request = "bad_request";  // body is not what the type needs
inline constexpr const char* permission_denied = "permission_denied";
inline constexpr const char* no_ring = "no_ring";
inline constexpr const char* reclaim_failed = "reclaim_failed";
inline constexpr const char* internal = "internal";
}  // namespace error_code

// Header + body as one packet.
std::string encode(uint16_t type, std::string_view body);

struct Message {
  MessageHeader header{};
  std::string_view body;  // points into the packet
};

struct DecodeError {
  const char* code;  // one of error_code::*
  const char* message;
};

// Checks a received packet of `packet_bytes` bytes (possibly more than the
// `packet` view holds, when the receiver truncated it) against the framing
// rules; `max_body` is the largest body accepted.
std::optional<Message> decode(std::string_view packet, size_t packet_bytes, uint32_t max_body, DecodeError* error);

// The abstract socket name of an endpoint: "\0vmreclaim/<pid>/<random>"
// (shown as "@vmreclaim/<pid>/<random>"), `pid` as the process sees itself
// and `random` 32 hex digits drawn when the endpoint opens. Nobody can take
// it first; clients do not guess it but find it among the process's
// descriptors (client.h).
inline constexpr std::string_view kEndpointPrefix = "vmreclaim/";
std::string endpoint_name(pid_t pid, std::string_view random);

}  // namespace vmreclaim::control
