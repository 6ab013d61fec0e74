#include "introspect/ring_copy.h"

#include <algorithm>
#include <cerrno>
#include <new>

#include "introspect/remote_memory.h"

namespace vmreclaim::introspect {
namespace {

constexpr uint64_t kHeaderBytes = sizeof(mach_vm_reclaim_ring_s);
constexpr uint64_t kEntryBytes = sizeof(mach_vm_reclaim_entry_s);
static_assert(kHeaderBytes % sizeof(uint64_t) == 0 && kEntryBytes % sizeof(uint64_t) == 0);

// Maps a failed read of the target to the API's errors, keeping errno.
mach_vm_reclaim_error_t read_error(int err) noexcept {
  errno = err;
  switch (err) {
    case EPERM:
    case EACCES: return KERN_PROTECTION_FAILURE;
    case ENOMEM: return VM_RECLAIM_RESOURCE_SHORTAGE;
    default: return VM_RECLAIM_INVALID_ARGUMENT;  // ESRCH, EFAULT: no such task or address
  }
}

}  // namespace

mach_vm_reclaim_error_t copy_ring(pid_t pid, const mach_vm_reclaim_ring_ref_s& ref, mach_vm_reclaim_ring_copy_s** out,
                                  uint64_t max_slots) noexcept {
  if (ref.size < kHeaderBytes || ref.addr == 0) return VM_RECLAIM_INVALID_RING;
  auto* copy = new (std::nothrow) mach_vm_reclaim_ring_copy_s;
  if (copy == nullptr) return VM_RECLAIM_RESOURCE_SHORTAGE;
  copy->ring_addr = ref.addr;
  copy->ring_size = ref.size;
  try {
    copy->image.resize(kHeaderBytes / sizeof(uint64_t));
  } catch (const std::bad_alloc&) {
    delete copy;
    return VM_RECLAIM_RESOURCE_SHORTAGE;
  }
  RemoteRead hdr = read_remote(pid, ref.addr, copy->image.data(), kHeaderBytes);
  if (hdr.bytes < kHeaderBytes) {
    delete copy;
    return read_error(hdr.error != 0 ? hdr.error : EFAULT);
  }
  // Only `len` slots are in use; never read past the reservation or the
  // largest ring there can be, whatever the header claims.
  uint64_t want = copy->ring()->len;
  want = std::min<uint64_t>(want, (ref.size - kHeaderBytes) / kEntryBytes);
  want = std::min<uint64_t>(want, VM_RECLAIM_MAX_CAPACITY);
  want = std::min(want, max_slots);
  try {
    copy->image.resize((kHeaderBytes + want * kEntryBytes) / sizeof(uint64_t));
  } catch (const std::bad_alloc&) {
    delete copy;
    return VM_RECLAIM_RESOURCE_SHORTAGE;
  }
  RemoteRead body = read_remote(pid, ref.addr + kHeaderBytes, copy->image.data() + kHeaderBytes / sizeof(uint64_t),
                                want * kEntryBytes);
  if (want > 0 && (body.error == ESRCH || body.error == EPERM)) {
    delete copy;
    return read_error(body.error);
  }
  // A short read (the ring shrank, or a lying header) keeps what was read;
  // the query reports the rest as malformed.
  copy->slots = body.bytes / kEntryBytes;
  copy->image.resize((kHeaderBytes + copy->slots * kEntryBytes) / sizeof(uint64_t));
  *out = copy;
  return VM_RECLAIM_SUCCESS;
}

mach_vm_reclaim_error_t query_copy(const mach_vm_reclaim_ring_copy_s& copy, mach_vm_reclaim_region_t regions_out,
                                   mach_vm_reclaim_count_t* count_inout) noexcept {
  if (copy.image.size() * sizeof(uint64_t) < kHeaderBytes) return VM_RECLAIM_INVALID_RING;
  const mach_vm_reclaim_ring_s* r = copy.ring();
  const uint64_t head = r->head, tail = r->tail, len = r->len;
  // tail below head: a cancel was in flight when the copy was taken.
  if (tail < head) {
    *count_inout = 0;
    return VM_RECLAIM_SUCCESS;
  }
  // A sane ring has 0 < len <= max_len, every slot readable, and at most
  // len IDs in flight. Anything else is malformed: hand out what can be read
  // (each slot at most once) and say so.
  const bool len_ok = len > 0 && len <= r->max_len && len <= copy.slots;
  uint64_t count = tail - head;
  bool malformed = !len_ok || count > len;
  if (count > len) count = len;
  if (regions_out != nullptr) count = std::min<uint64_t>(count, *count_inout);

  mach_vm_reclaim_count_t done = 0;
  for (; done < count; done++) {
    if (len == 0) break;
    uint64_t slot = (head + done) % len;
    if (slot >= copy.slots) break;  // not in the image: never read past it
    if (regions_out != nullptr) {
      const mach_vm_reclaim_entry_s& e = r->entries[slot];
      regions_out[done] = {};
      regions_out[done].vmrr_addr = e.address;
      regions_out[done].vmrr_size = e.size;
      regions_out[done].vmrr_behavior = e.behavior;
    }
  }
  *count_inout = done;
  return malformed || done < count ? VM_RECLAIM_INVALID_CAPACITY : VM_RECLAIM_SUCCESS;
}

}  // namespace vmreclaim::introspect
