#include "control/protocol.h"

#include <cstring>

namespace vmreclaim::control {

std::string encode(uint16_t type, std::string_view body) {
  MessageHeader h{kMagic, kVersion, type, static_cast<uint32_t>(body.size()), 0};
  std::string out(kHeaderBytes + body.size(), '\0');
  std::memcpy(out.data(), &h, kHeaderBytes);
  if (!body.empty()) std::memcpy(out.data() + kHeaderBytes, body.data(), body.size());
  return out;
}

std::optional<Message> decode(std::string_view packet, size_t packet_bytes, uint32_t max_body, DecodeError* error) {
  auto fail = [&](const char* code, const char* message) -> std::optional<Message> {
    if (error != nullptr) *error = {code, message};
    return std::nullopt;
  };
  if (packet_bytes < kHeaderBytes || packet.size() < kHeaderBytes) {
    return fail(error_code::malformed, "message shorter than its header");
  }
  Message m;
  std::memcpy(&m.header, packet.data(), kHeaderBytes);
  if (m.header.magic != kMagic) return fail(error_code::malformed, "bad magic");
  if (m.header.version != kVersion) return fail(error_code::unsupported_version, "unsupported protocol version");
  if (m.header.length > max_body || packet_bytes - kHeaderBytes > max_body) {
    return fail(error_code::oversized, "message body too large");
  }
  if (packet_bytes != packet.size() || packet_bytes - kHeaderBytes != m.header.length) {
    return fail(error_code::malformed, "length does not match the message");
  }
  if (m.header.reserved != 0) return fail(error_code::malformed, "reserved header field is not zero");
  m.body = packet.substr(kHeaderBytes);
  return m;
}

std::string endpoint_name(pid_t pid, std::string_view random) {
  return std::string(1, '\0') + std::string(kEndpointPrefix) + std::to_string(pid) + "/" + std::string(random);
}

}  // namespace vmreclaim::control
