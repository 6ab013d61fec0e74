#include "observe.h"

#include <cerrno>
#include <cstring>
#include <memory>

#include <vmreclaim/vmreclaim.h>

#include "introspect/process_info.h"
#include "introspect/ring_copy.h"

namespace vmreclaim::tools {
namespace {

const char* error_name(mach_vm_reclaim_error_t err) {
  if (err == KERN_PROTECTION_FAILURE) return "KERN_PROTECTION_FAILURE";
  return vmreclaim_strerror(err);
}

Problem make_problem(int exit_code, const char* code, std::string message) {
  Problem p;
  p.exit_code = exit_code;
  p.code = code;
  p.message = std::move(message);
  return p;
}

Problem permission_problem(pid_t pid) {
  return make_problem(
      kExitPermissionDenied, "permission_denied",
      "permission denied reading process " + std::to_string(pid) + " (needs the same user, or CAP_SYS_PTRACE over it)");
}

// The result of the introspection calls, as a problem.
Problem introspection_problem(pid_t pid, mach_vm_reclaim_error_t err, int saved_errno) {
  if (err == KERN_PROTECTION_FAILURE) return permission_problem(pid);
  if (err == VM_RECLAIM_INVALID_ARGUMENT && saved_errno == ESRCH) {
    return make_problem(kExitNoProcess, "no_process", "no process with pid " + std::to_string(pid));
  }
  return make_problem(kExitFailed, "failed",
                      "cannot read the ring of process " + std::to_string(pid) + ": " + error_name(err) +
                          (saved_errno != 0 ? std::string(" (") + std::strerror(saved_errno) + ")" : ""));
}

struct CopyDeleter {
  void operator()(mach_vm_reclaim_ring_copy_s* c) const noexcept {
    mach_vm_reclaim_ring_copy_t h = c;
    mach_vm_reclaim_copied_ring_free(&h);
  }
};
using CopyPtr = std::unique_ptr<mach_vm_reclaim_ring_copy_s, CopyDeleter>;

}  // namespace

std::optional<RingView> read_ring(pid_t pid, Problem* problem) {
  mach_vm_reclaim_ring_ref_s ref{};
  mach_vm_reclaim_count_t n = 1;
  errno = 0;
  mach_vm_reclaim_error_t err = mach_vm_reclaim_get_rings_for_task(pid, &ref, &n);
  if (err != VM_RECLAIM_SUCCESS) {
    *problem = introspection_problem(pid, err, errno);
    return std::nullopt;
  }
  RingView v;
  v.pid = pid;
  v.command = introspect::process_command(pid).value_or("?");
  if (n == 0) {
    *problem = make_problem(kExitNoRing, "no_ring",
                            "process " + std::to_string(pid) + " (" + v.command + ") has no reclaim ring");
    return std::nullopt;
  }
  mach_vm_reclaim_ring_copy_s* raw = nullptr;
  errno = 0;
  err = introspect::copy_ring(pid, ref, &raw, /*max_slots=*/0);
  if (err != VM_RECLAIM_SUCCESS) {
    *problem = introspection_problem(pid, err, errno);
    return std::nullopt;
  }
  CopyPtr copy(raw);
  const mach_vm_reclaim_ring_s* h = copy->ring();
  v.footprint = introspect::process_footprint(pid);
  v.ref = ref;
  v.capacity = h->len;
  v.max_capacity = h->max_len;
  v.head = h->head;
  v.busy = h->busy;
  v.tail = h->tail;
  v.reclaimable_bytes = h->reclaimable_bytes;
  v.reclaimable_bytes_min = h->reclaimable_bytes_min;
  v.last_sample_abs = h->last_sample_abs;
  v.next_sample_deadline_abs = h->next_sample_deadline_abs;
  return v;
}

bool read_regions(const RingView& ring, Regions* out, Problem* problem) {
  mach_vm_reclaim_ring_ref_s ref = ring.ref;
  mach_vm_reclaim_ring_copy_t raw = nullptr;
  errno = 0;
  mach_vm_reclaim_error_t err = mach_vm_reclaim_ring_copy(ring.pid, &ref, &raw);
  if (err != VM_RECLAIM_SUCCESS) {
    *problem = introspection_problem(ring.pid, err, errno);
    return false;
  }
  CopyPtr copy(raw);
  mach_vm_reclaim_count_t n = 0;
  mach_vm_reclaim_error_t count_err = mach_vm_reclaim_copied_ring_query(&raw, nullptr, &n);
  out->list.assign(n, mach_vm_reclaim_region_s{});
  err = mach_vm_reclaim_copied_ring_query(&raw, out->list.data(), &n);
  out->list.resize(n);
  out->malformed = count_err != VM_RECLAIM_SUCCESS || err != VM_RECLAIM_SUCCESS;
  return true;
}

int report(const Problem& p, pid_t pid, bool json) {
  std::fprintf(stderr, "vmreclaim: %s\n", p.message.c_str());
  if (json) print_json({{"pid", pid}, {"error", p.code}, {"message", p.message}, {"exit_code", p.exit_code}});
  return p.exit_code;
}

void print_json(const nlohmann::json& j, bool pretty) {
  // Our strings come from /proc (command names may hold any bytes): replace
  // invalid UTF-8 rather than throw halfway.
  std::string text = j.dump(pretty ? 2 : -1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

nlohmann::json ring_json(const RingView& r) {
  nlohmann::json j = {{"pid", r.pid},
                      {"command", r.command},
                      {"ring_address", r.ref.addr},
                      {"ring_size", r.ref.size},
                      {"capacity", r.capacity},
                      {"max_capacity", r.max_capacity},
                      {"head", r.head},
                      {"busy", r.busy},
                      {"tail", r.tail},
                      {"entries", r.entries()},
                      {"reclaimable_bytes", r.reclaimable_bytes},
                      {"reclaimable_bytes_min", r.reclaimable_bytes_min},
                      {"last_sample_abs", r.last_sample_abs},
                      {"next_sample_deadline_abs", r.next_sample_deadline_abs}};
  j["footprint_bytes"] = r.footprint ? nlohmann::json(*r.footprint) : nlohmann::json(nullptr);
  return j;
}

const char* action_name(mach_vm_reclaim_action_t behavior, uint64_t addr, uint64_t size) {
  if (behavior == VM_RECLAIM_FREE) return "free";
  if (behavior == VM_RECLAIM_DEALLOCATE) return "deallocate";
  if (behavior == 0 && addr == 0 && size == 0) return "cancelled";
  return "invalid";
}

std::string human_bytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "K", "M", "G", "T", "P", "E"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    u++;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%lluB", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f%s", v, kUnits[u]);
  }
  return buf;
}

void print_ring_table(std::FILE* out, const std::vector<RingView>& rings) {
  std::fprintf(out, "%8s  %-16s %9s %9s %12s %10s\n", "PID", "COMMAND", "CAPACITY", "ENTRIES", "RECLAIMABLE",
               "FOOTPRINT");
  for (const RingView& r : rings) {
    std::fprintf(out, "%8d  %-16.16s %9u %9llu %12s %10s\n", r.pid, r.command.c_str(), r.capacity,
                 static_cast<unsigned long long>(r.entries()), human_bytes(r.reclaimable_bytes).c_str(),
                 r.footprint ? human_bytes(*r.footprint).c_str() : "?");
  }
}

std::vector<RingView> all_rings(size_t* unreadable) {
  std::vector<RingView> rings;
  *unreadable = 0;
  for (pid_t pid : introspect::list_pids()) {
    Problem p;
    if (auto r = read_ring(pid, &p)) {
      rings.push_back(std::move(*r));
    } else if (p.exit_code == kExitPermissionDenied) {
      ++*unreadable;
    }
  }
  return rings;
}

}  // namespace vmreclaim::tools
