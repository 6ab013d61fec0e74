// Turning one well-framed request into its reply, against this process's
// ring through the C API. No I/O here; the server moves the bytes.
#pragma once

#include <string>

#include "control/protocol.h"

namespace vmreclaim::control {

// The reply packet for `request` (an error reply for anything it cannot do).
std::string handle_request(const Message& request);

// An error reply packet: {"error": code, "message": message}.
std::string error_reply(const char* code, const std::string& message);

}  // namespace vmreclaim::control
