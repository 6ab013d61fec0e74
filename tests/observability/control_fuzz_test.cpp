// Random and broken messages at the control endpoint of a process with a
// ring: every one is answered with an error reply or a hang-up, nothing is
// reclaimed, and the endpoint and the ring keep working afterwards.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vmreclaim/ring.hpp>

#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "control/client.h"
#include "control/protocol.h"
#include "served_endpoint.h"

namespace vmreclaim::control {
namespace {

std::string header_bytes(uint32_t magic, uint16_t version, uint16_t type, uint32_t length, uint32_t reserved) {
  MessageHeader h{magic, version, type, length, reserved};
  return std::string(reinterpret_cast<const char*>(&h), sizeof h);
}

// One broken (or harmless) message, chosen by `rng`.
std::string random_message(std::mt19937_64& rng) {
  auto bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  };
  const std::string valid_trim = encode(static_cast<uint16_t>(MessageType::trim), "{\"bytes\":4096}");
  switch (rng() % 10) {
    case 0: return bytes(rng() % 64);                                // noise, often shorter than a header
    case 1: return bytes(kHeaderBytes + rng() % 600);                // noise of plausible size
    case 2: return valid_trim.substr(0, rng() % valid_trim.size());  // truncated request
    case 3:
      return header_bytes(kMagic, kVersion, 3, static_cast<uint32_t>(rng()), 0) + bytes(rng() % 32);  // lying length
    case 4: return header_bytes(kMagic, static_cast<uint16_t>(2 + rng() % 100), 1, 0, 0);             // future version
    case 5: return header_bytes(kMagic, kVersion, static_cast<uint16_t>(4 + rng() % 60000), 0, 0);    // unknown type
    case 6: {                                                                                         // oversized body
      std::string body = bytes(kMaxRequestBody + 1 + rng() % 8192);
      return header_bytes(kMagic, kVersion, 2, static_cast<uint32_t>(body.size()), 0) + body;
    }
    case 7: {  // a drain or trim whose body is not JSON, or not an object
      std::string body = rng() % 2 ? bytes(1 + rng() % 100) : std::string("[\"bytes\", 4096]");
      return encode(static_cast<uint16_t>(2 + rng() % 2), body);
    }
    case 8: {  // trim with a bad byte count
      const char* bodies[] = {"{\"bytes\":0}",    "{\"bytes\":-1}",       "{\"bytes\":1e3}",
                              "{\"bytes\":null}", "{\"bytes\":\"4096\"}", "{\"bytes\":18446744073709551616}",
                              "{\"byte\":4096}"};
      return encode(static_cast<uint16_t>(MessageType::trim), bodies[rng() % std::size(bodies)]);
    }
    default:  // reserved field set
      return header_bytes(kMagic, kVersion, 1, 0, 1 + static_cast<uint32_t>(rng() % 1000));
  }
}

TEST(ControlFuzz, BrokenMessagesAreRejectedAndTheTargetIsUnharmed) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  constexpr int kEntries = 8;
  auto ring = Ring::allocate(64, 64);
  ASSERT_TRUE(ring) << ring.error().message();
  char* mem =
      static_cast<char*>(::mmap(nullptr, kEntries * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(mem, MAP_FAILED);
  std::memset(mem, 7, kEntries * page);
  for (int i = 0; i < kEntries; i++) ASSERT_TRUE(ring->try_enter(mem + i * page, page, Action::free)->entered());

  test::ServedEndpoint endpoint;
  ASSERT_TRUE(endpoint.ok());
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);

  int replies = 0, hangups = 0;
  auto client = Client::connect_name(endpoint.name());
  ASSERT_TRUE(client);
  for (int i = 0; i < 3000; i++) {
    std::string msg = random_message(rng);
    auto reply = client->exchange(msg);
    bool closes = true;
    if (reply) {
      DecodeError e{};
      auto m = decode(*reply, reply->size(), kMaxReplyBody, &e);
      ASSERT_TRUE(m) << "reply is well framed";
      ASSERT_EQ(m->header.type, static_cast<uint16_t>(MessageType::error)) << "message " << i << " was accepted";
      auto body = nlohmann::json::parse(m->body, nullptr, false);
      ASSERT_TRUE(body.is_object() && body["error"].is_string() && body["message"].is_string()) << m->body;
      // Broken framing is answered, then the connection is closed (docs/control-protocol.md).
      const std::string code = body["error"];
      closes =
          code == error_code::malformed || code == error_code::unsupported_version || code == error_code::oversized;
      replies++;
    } else {
      // Only an empty packet (indistinguishable from end-of-file) goes unanswered.
      ASSERT_TRUE(msg.empty()) << "message " << i << " of " << msg.size() << " bytes: " << reply.error().message();
      hangups++;
    }
    if (closes || rng() % 8 == 0) {
      client = Client::connect_name(endpoint.name());
      ASSERT_TRUE(client);
    }
  }
  EXPECT_GT(replies, 2900);
  RecordProperty("replies", replies);
  RecordProperty("hangups", hangups);

  // Still answering, and nothing was reclaimed or changed.
  auto fresh = Client::connect_name(endpoint.name());
  ASSERT_TRUE(fresh);
  auto stats = fresh->stats();
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->stats.entries, static_cast<uint64_t>(kEntries));
  EXPECT_EQ(stats->stats.reclaimable_bytes, kEntries * page);
  for (uint64_t r : stats->stats.reclaimed_entries) EXPECT_EQ(r, 0u);
  for (int i = 0; i < kEntries; i++) EXPECT_EQ(mem[i * page], 7) << "contents intact";
  // And the ring still works from the process's side.
  auto e = ring->try_enter(mem, page, Action::free);
  ASSERT_TRUE(e && e->entered());
  auto c = ring->try_cancel(e->id, mem, page, Action::free);
  ASSERT_TRUE(c && c->state == State::unreclaimed);
  ring->reset();
  ::munmap(mem, kEntries * page);
}

}  // namespace
}  // namespace vmreclaim::control
