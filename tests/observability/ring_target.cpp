// A process for the observability tests to look at: it (optionally) changes
// user, allocates a ring, enters regions of real memory, serves its control
// endpoint, prints "ready <ring-address> <entries>" and runs until its stdin
// closes.
#include <mach/vm_reclaim.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vmreclaim/vmreclaim.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>

#include "control/server.h"
#include "subprocess.h"

namespace {

constexpr uint64_t kSlotBytes = 64 * 1024;  // each region lives in its own slot: no overlaps

int fail(const char* what) {
  std::fprintf(stderr, "ring_target: %s: %s\n", what, std::strerror(errno));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"observability test target"};
  uint32_t regions = 25;
  uint32_t capacity = 251;
  uint64_t seed = 1;
  bool no_ring = false, no_serve = false, as_nobody = false;
  app.add_option("--regions", regions);
  app.add_option("--capacity", capacity);
  app.add_option("--seed", seed);
  app.add_flag("--no-ring", no_ring);
  app.add_flag("--no-serve", no_serve);
  app.add_flag("--nobody", as_nobody);
  CLI11_PARSE(app, argc, argv);

  if (as_nobody) {
    auto [uid, gid] = vmreclaim::testing::nobody_ids();
    if (!vmreclaim::testing::become_user(uid, gid)) return fail("become nobody");
  }

  mach_vm_reclaim_ring_t ring = nullptr;
  if (!no_ring) {
    mach_vm_reclaim_error_t err = mach_vm_reclaim_ring_allocate(&ring, capacity, capacity * 4);
    if (err != VM_RECLAIM_SUCCESS) {
      std::fprintf(stderr, "ring_target: allocate: %s\n", vmreclaim_strerror(err));
      return 1;
    }
    const uint64_t arena_bytes = kSlotBytes * (regions == 0 ? 1 : regions);
    void* arena = ::mmap(nullptr, arena_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (arena == MAP_FAILED) return fail("mmap");
    std::memset(arena, 0xa5, arena_bytes);  // resident, so a drain shows in the footprint
    std::mt19937_64 rng(seed);
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    for (uint32_t i = 0; i < regions; i++) {
      uint64_t pages = 1 + rng() % (kSlotBytes / page);
      uint64_t addr = reinterpret_cast<uint64_t>(arena) + i * kSlotBytes;
      mach_vm_reclaim_action_t action = rng() % 2 == 0 ? VM_RECLAIM_FREE : VM_RECLAIM_DEALLOCATE;
      mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
      bool update = false;
      err = mach_vm_reclaim_try_enter(ring, addr, pages * page, action, &id, &update);
      if (err != VM_RECLAIM_SUCCESS || id == VM_RECLAIM_ID_NULL) {
        std::fprintf(stderr, "ring_target: enter %u: %s\n", i, vmreclaim_strerror(err));
        return 1;
      }
      // Print what went in, so tests can compare it with what they read.
      std::printf("region 0x%llx %llu %u\n", static_cast<unsigned long long>(addr),
                  static_cast<unsigned long long>(pages * page), static_cast<unsigned>(action));
    }
  }

  // The engine thread may already serve this process's endpoint; then the
  // name is taken and this program has nothing to serve.
  std::unique_ptr<vmreclaim::control::Server> server;
  if (!no_serve) {
    auto s = vmreclaim::control::Server::open();
    if (s) {
      server = std::move(*s);
    } else if (s.error() != std::errc::address_in_use) {
      std::fprintf(stderr, "ring_target: control endpoint: %s\n", s.error().message().c_str());
      return 1;
    }
  }
  std::printf("ready 0x%llx %u\n", static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(ring)),
              no_ring ? 0u : regions);
  std::fflush(stdout);

  pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {server ? server->fd() : -1, POLLIN, 0}};
  for (;;) {
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("poll");
    if (fds[0].revents != 0) {
      char c;
      ssize_t got = ::read(STDIN_FILENO, &c, 1);
      if (got <= 0 && !(got < 0 && errno == EINTR)) break;  // stdin closed: done
    }
    if (fds[1].revents != 0) server->on_readable();
  }
  return 0;
}
