// The exit summary: with VMRECLAIM_MALLOC_REPORT=/path set, each process
// using the layer appends one line of key=value pairs to that file when it
// exits normally (`vmreclaim run` reads it). Written with one write(2) so
// lines from several processes never interleave.
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>
#include <vmreclaim/vmreclaim.h>

#include <cstdio>
#include <cstring>

#include "api.h"
#include "backend.h"
#include "layer.h"

namespace vmreclaim::alloc {
namespace {

// A kB value from /proc/self/status ("RssAnon:    1234 kB"), in bytes.
unsigned long long status_bytes(const char* status, const char* key) noexcept {
  const char* at = std::strstr(status, key);
  if (at == nullptr) return 0;
  at += std::strlen(key);
  while (*at == ' ' || *at == '\t' || *at == ':') at++;
  unsigned long long kb = 0;
  while (*at >= '0' && *at <= '9') kb = kb * 10 + static_cast<unsigned>(*at++ - '0');
  return kb * 1024;
}

// Which build of the layer this is (alloc/CMakeLists.txt): the file name of
// the library holding this code; "unknown" where the loader cannot say.
const char* layer_file() noexcept {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<const void*>(&status_bytes), &info) == 0 || info.dli_fname == nullptr) return "unknown";
  const char* slash = std::strrchr(info.dli_fname, '/');
  return slash != nullptr ? slash + 1 : info.dli_fname;
}

class LineWriter {
 public:
  void add(const char* key, unsigned long long v) noexcept {
    if (len_ >= sizeof buf_) return;
    int n = std::snprintf(buf_ + len_, sizeof buf_ - len_, "%s%s=%llu", len_ == 0 ? "" : " ", key, v);
    if (n > 0) len_ += static_cast<size_t>(n);
  }
  void add_text(const char* key, const char* v) noexcept {
    if (len_ >= sizeof buf_) return;
    int n = std::snprintf(buf_ + len_, sizeof buf_ - len_, "%s%s=%s", len_ == 0 ? "" : " ", key, v);
    if (n > 0) len_ += static_cast<size_t>(n);
  }
  bool finish(int fd) noexcept {
    if (len_ >= sizeof buf_ - 1) len_ = sizeof buf_ - 2;
    buf_[len_++] = '\n';
    return ::write(fd, buf_, len_) == static_cast<ssize_t>(len_);
  }

 private:
  char buf_[2048];
  size_t len_ = 0;
};

void write_report() noexcept {
  Layer* l = layer_if_built();
  const Settings& s = settings();
  if (s.report_path == nullptr || s.report_path[0] == '\0') return;

  char status[4096] = {};
  int sfd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (sfd >= 0) {
    ssize_t n = ::read(sfd, status, sizeof status - 1);
    status[n > 0 ? n : 0] = '\0';
    ::close(sfd);
  }

  LineWriter w;
  w.add("pid", static_cast<unsigned long long>(::getpid()));
  w.add("threshold", s.threshold);
  w.add_text("backend", backend_name(backend_in_use()).name);
  w.add_text("layer", layer_file());
  w.add("huge_pages", s.huge_pages ? 1 : 0);
  HeapSnapshot h{};
  if (l != nullptr) h = l->heap.snapshot();
  w.add("large_allocs", h.heap.allocs);
  w.add("reused_intact", h.cache.hits_intact);
  w.add("reused_zeroed", h.cache.hits_zeroed);
  w.add("reused_split", h.cache.split_hits);
  w.add("fresh_maps", h.heap.fresh_maps);
  w.add("large_frees", h.heap.frees);
  w.add("direct_unmaps", h.heap.direct_unmaps);
  w.add("evictions", h.cache.evictions);
  w.add("miss_evictions", h.heap.miss_evictions);
  w.add("busy_skips", h.cache.busy_skips);
  w.add("realloc_in_place", h.heap.realloc_in_place);
  w.add("realloc_remapped", h.heap.realloc_remapped);
  w.add("realloc_copied", h.heap.realloc_copied);
  w.add("realloc_absorbed", h.heap.realloc_absorbed);
  w.add("realloc_into_cached", h.heap.realloc_into_cached);
  w.add("realloc_moved", h.heap.realloc_moved);
  w.add("realloc_tails_cached", h.heap.realloc_tails_cached);
  w.add("spare_tails_cached", h.heap.spare_tails_cached);
  w.add("tails_rejoined", h.heap.tails_rejoined);
  w.add("peak_live_bytes", h.heap.peak_live_bytes);
  w.add("large_to_backend", g_large_to_backend.load(std::memory_order_relaxed));
  w.add("slow_frees_to_backend", g_slow_frees_to_backend.load(std::memory_order_relaxed));
  w.add("cached_bytes", h.cached_bytes);
  if (l != nullptr) {
    const OsCounters& os = l->os.counters();
    w.add("layer_mmaps", os.maps.load(std::memory_order_relaxed));
    w.add("layer_munmaps", os.unmaps.load(std::memory_order_relaxed));
    w.add("layer_mremaps", os.remaps.load(std::memory_order_relaxed));
    w.add("layer_mincores", os.mincores.load(std::memory_order_relaxed));
    w.add("layer_range_full", os.range_full.load(std::memory_order_relaxed));
    w.add("layer_hugepage_refusals", os.hugepage_refusals.load(std::memory_order_relaxed));
    const AddressRange* r = l->os.range();
    w.add("layer_range_bytes", r != nullptr ? r->bytes() : 0);
    w.add("layer_range_lost", r != nullptr ? r->lost_bytes() : 0);
    const RingCounters& rc = l->ring.counters();
    w.add("ring_entered_new", rc.entered_new);
    w.add("ring_entered_reused", rc.entered_reused);
    w.add("ring_full", rc.full);
    w.add("ring_resizes", rc.resizes);
    w.add("ring_flushes", rc.flushes);
  }
  vmreclaim_ring_stats st{};
  mach_vm_reclaim_ring_t ring = l != nullptr ? l->ring.ring() : nullptr;
  if (ring != nullptr && vmreclaim_ring_get_stats(ring, &st) == VM_RECLAIM_SUCCESS) {
    static const char* const kCause[VMRECLAIM_CAUSE_COUNT] = {
        "reclaimed_flush", "reclaimed_trim",    "reclaimed_drain",     "reclaimed_resize",
        "reclaimed_limit", "reclaimed_suspend", "reclaimed_background"};
    for (int i = 0; i < VMRECLAIM_CAUSE_COUNT; i++) w.add(kCause[i], st.reclaimed_bytes[i]);
    w.add("ring_capacity", st.capacity);
    w.add("ring_samples", st.samples);
    w.add("engine_syscalls", st.syscalls);
  }
  w.add("rss_anon_exit", status_bytes(status, "\nRssAnon"));
  w.add("vm_hwm", status_bytes(status, "\nVmHWM"));

  int fd = ::open(s.report_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  w.finish(fd);
  ::close(fd);
}

}  // namespace

// A preloaded library is finalised after the program, so the program's own
// destructors have freed what they free.
__attribute__((destructor)) static void report_at_exit() { write_report(); }

}  // namespace vmreclaim::alloc
