#include "introspect/ring_locator.h"

#include <string_view>

namespace vmreclaim::introspect {
namespace {

enum class Backing { none, anon, memfd };

Backing ring_backing(std::string_view name) {
  using namespace std::string_view_literals;
  if (name == "[anon:vm_reclaim_ring]"sv) return Backing::anon;
  // A memfd's path never loses the " (deleted)": the file was never linked.
  if (name == "/memfd:vm_reclaim_ring (deleted)"sv || name == "/memfd:vm_reclaim_ring"sv) return Backing::memfd;
  return Backing::none;
}

}  // namespace

std::vector<RingLocation> locate_rings(const std::vector<Mapping>& maps) {
  std::vector<RingLocation> rings;
  const Mapping* prev = nullptr;  // last mapping merged into rings.back()
  for (const Mapping& m : maps) {
    Backing b = ring_backing(m.name);
    if (b == Backing::none) {
      prev = nullptr;
      continue;
    }
    // A continuation is adjacent, named the same, and (for a memfd) at the
    // matching file offset; anything else starts a new ring. A memfd ring
    // starts at offset 0, so a stray piece of one (partly unmapped) is not
    // mistaken for a ring's start.
    bool continues = prev != nullptr && prev->end == m.start && prev->name == m.name &&
                     (b == Backing::anon || m.offset == prev->offset + (prev->end - prev->start));
    if (continues) {
      RingLocation& r = rings.back();
      if (r.readable_bytes == r.size && m.readable) r.readable_bytes += m.end - m.start;
      r.size += m.end - m.start;
      prev = &m;
      continue;
    }
    if (b == Backing::memfd && m.offset != 0) {
      prev = nullptr;
      continue;
    }
    rings.push_back(RingLocation{m.start, m.end - m.start, m.readable ? m.end - m.start : 0});
    prev = &m;
  }
  return rings;
}

}  // namespace vmreclaim::introspect
