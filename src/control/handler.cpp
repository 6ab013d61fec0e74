#include "control/handler.h"

#include <unistd.h>
#include <vmreclaim/vmreclaim.h>

#include <nlohmann/json.hpp>

#include "control/stats_json.h"

namespace vmreclaim::control {
namespace {

using nlohmann::json;

std::string reply(MessageType request, const json& body) { return encode(reply_type(request), body.dump()); }

std::string reclaim_failed(const char* what, mach_vm_reclaim_error_t err) {
  return error_reply(error_code::reclaim_failed, std::string(what) + " failed: " + vmreclaim_strerror(err));
}

// An empty body or an object: the requests without arguments accept both.
bool empty_or_object(std::string_view body, json* out) {
  if (body.empty()) {
    *out = json::object();
    return true;
  }
  *out = json::parse(body, nullptr, /*allow_exceptions=*/false);
  return out->is_object();
}

}  // namespace

std::string error_reply(const char* code, const std::string& message) {
  return encode(static_cast<uint16_t>(MessageType::error), json{{"error", code}, {"message", message}}.dump());
}

std::string handle_request(const Message& request) {
  const auto type = static_cast<MessageType>(request.header.type);
  if (type != MessageType::stats && type != MessageType::drain && type != MessageType::trim) {
    return error_reply(error_code::unknown_type, "unknown request type " + std::to_string(request.header.type));
  }
  json args;
  if (!empty_or_object(request.body, &args)) return error_reply(error_code::bad_request, "body is not a JSON object");
  uint64_t trim_bytes = 0;
  if (type == MessageType::trim) {
    auto it = args.find("bytes");
    if (it == args.end() || !it->is_number_unsigned() || it->get<uint64_t>() == 0) {
      return error_reply(error_code::bad_request, "trim needs \"bytes\": a positive integer");
    }
    trim_bytes = it->get<uint64_t>();
  }

  mach_vm_reclaim_ring_t ring = vmreclaim_ring_current();
  if (ring == nullptr) return error_reply(error_code::no_ring, "this process has no reclaim ring");
  const auto pid = static_cast<int64_t>(::getpid());
  const auto ring_address = reinterpret_cast<uint64_t>(ring);

  switch (type) {
    case MessageType::stats: {
      vmreclaim_ring_stats stats{};
      mach_vm_reclaim_error_t err = vmreclaim_ring_get_stats(ring, &stats);
      if (err != VM_RECLAIM_SUCCESS) return reclaim_failed("stats", err);
      return reply(type, json{{"pid", pid}, {"ring_address", ring_address}, {"stats", stats_to_json(stats)}});
    }
    case MessageType::drain: {
      uint64_t reclaimed = 0;
      mach_vm_reclaim_error_t err = vmreclaim_ring_drain(ring, &reclaimed);
      if (err != VM_RECLAIM_SUCCESS) return reclaim_failed("drain", err);
      return reply(type, json{{"pid", pid}, {"ring_address", ring_address}, {"bytes_reclaimed", reclaimed}});
    }
    default: {
      uint64_t reclaimed = 0;
      mach_vm_reclaim_error_t err = vmreclaim_ring_trim(ring, trim_bytes, &reclaimed);
      if (err != VM_RECLAIM_SUCCESS) return reclaim_failed("trim", err);
      return reply(type, json{{"pid", pid},
                              {"ring_address", ring_address},
                              {"bytes_requested", trim_bytes},
                              {"bytes_reclaimed", reclaimed}});
    }
  }
}

}  // namespace vmreclaim::control
