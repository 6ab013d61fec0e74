// A process for the daemon tests: allocates a ring (printing "ring" at
// once), fills --ring-mib of memory in --chunk-kib chunks with a pattern and
// enters every chunk into the ring (VM_RECLAIM_FREE), keeps --live-mib of
// live memory, prints "ready", then answers commands on stdin:
//   fork   forks; the child prints "child <pid>" and goes on answering
//          commands from the same stdin (the parent stops reading)
//   check  takes every entry back and checks that what was not reclaimed
//          kept its contents and that the live memory is intact:
//          "check live_ok=1 intact=N reclaimed=N corrupt=N"
// and ends when stdin closes. The library's engine thread registers with the
// daemon named by VMRECLAIM_DAEMON_SOCKET and serves the control endpoint.
#include <mach/vm_reclaim.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vmreclaim/vmreclaim.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

namespace {

unsigned char pattern(uint64_t chunk, uint64_t offset) {
  return static_cast<unsigned char>((chunk * 131 + offset / 4096) ^ 0x5a);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"daemon test target"};
  uint64_t ring_mib = 16, live_mib = 4, chunk_kib = 1024;
  app.add_option("--ring-mib", ring_mib);
  app.add_option("--live-mib", live_mib);
  app.add_option("--chunk-kib", chunk_kib)->check(CLI::Range(4u, 65536u));
  CLI11_PARSE(app, argc, argv);

  const uint64_t chunk = chunk_kib * 1024, chunks = ring_mib * 1024 / chunk_kib;
  mach_vm_reclaim_ring_t ring = nullptr;
  const auto cap = static_cast<mach_vm_reclaim_count_t>(chunks + 16);
  if (mach_vm_reclaim_ring_allocate(&ring, cap, cap) != VM_RECLAIM_SUCCESS) {
    std::fprintf(stderr, "daemon_target: cannot allocate a ring\n");
    return 1;
  }
  std::printf("ring\n");
  std::fflush(stdout);

  auto* live = static_cast<unsigned char*>(
      ::mmap(nullptr, live_mib << 20 | 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  auto* arena = static_cast<unsigned char*>(
      ::mmap(nullptr, chunks * chunk | 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (live == MAP_FAILED || arena == MAP_FAILED) {
    std::perror("daemon_target: mmap");
    return 1;
  }
  std::memset(live, 0xc3, live_mib << 20);
  std::vector<mach_vm_reclaim_id_t> ids(chunks, VM_RECLAIM_ID_NULL);
  for (uint64_t i = 0; i < chunks; i++) {
    unsigned char* p = arena + i * chunk;
    for (uint64_t off = 0; off < chunk; off += 4096) std::memset(p + off, pattern(i, off), 4096);
    bool update = false;
    if (mach_vm_reclaim_try_enter(ring, reinterpret_cast<mach_vm_address_t>(p), chunk, VM_RECLAIM_FREE, &ids[i],
                                  &update) != VM_RECLAIM_SUCCESS ||
        ids[i] == VM_RECLAIM_ID_NULL) {
      std::fprintf(stderr, "daemon_target: cannot enter chunk %llu\n", static_cast<unsigned long long>(i));
      return 1;
    }
    if (update) mach_vm_reclaim_update_kernel_accounting(ring);
  }
  // Tell the engine what the ring holds, as a program does after freeing
  // (try_enter asks for it only now and then): an engine that believes its
  // ring empty does not poll pressure or limits at all.
  mach_vm_reclaim_update_kernel_accounting(ring);
  std::printf("ready\n");
  std::fflush(stdout);

  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "fork") {
      const pid_t child = ::fork();
      if (child < 0) {
        std::perror("daemon_target: fork");
        return 1;
      }
      if (child > 0) {
        // The child reads the commands from now on; we just wait.
        for (;;) ::pause();
      }
      std::printf("child %d\n", static_cast<int>(::getpid()));
      std::fflush(stdout);
      continue;
    }
    if (line == "enter") {
      // One more 64 KiB entry, outside the checked ones; says whether the
      // enter asked for an accounting call (and makes it, as asked).
      void* q = ::mmap(nullptr, 64 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
      bool update = false;
      if (q == MAP_FAILED || (std::memset(q, 0x5a, 64 << 10),
                              mach_vm_reclaim_try_enter(ring, reinterpret_cast<mach_vm_address_t>(q), 64 << 10,
                                                        VM_RECLAIM_FREE, &id, &update)) != VM_RECLAIM_SUCCESS) {
        std::printf("entered failed\n");
      } else {
        if (update) mach_vm_reclaim_update_kernel_accounting(ring);
        std::printf("entered update=%d\n", update ? 1 : 0);
      }
      std::fflush(stdout);
      continue;
    }
    if (line != "check") continue;
    bool live_ok = true;
    for (uint64_t i = 0; i < (live_mib << 20); i++) live_ok = live_ok && live[i] == 0xc3;
    unsigned intact = 0, reclaimed = 0, corrupt = 0;
    for (uint64_t i = 0; i < chunks; i++) {
      if (ids[i] == VM_RECLAIM_ID_NULL) continue;
      unsigned char* p = arena + i * chunk;
      mach_vm_reclaim_state_t state{};
      bool update = false;
      mach_vm_reclaim_error_t err = mach_vm_reclaim_try_cancel(ring, ids[i], reinterpret_cast<mach_vm_address_t>(p),
                                                               chunk, VM_RECLAIM_FREE, &state, &update);
      ids[i] = VM_RECLAIM_ID_NULL;
      if (err != VM_RECLAIM_SUCCESS || state != VM_RECLAIM_UNRECLAIMED) {
        reclaimed++;
        continue;
      }
      bool ok = true;
      for (uint64_t off = 0; off < chunk && ok; off += 4096) {
        for (uint64_t b = 0; b < 4096; b += 512) ok = ok && p[off + b] == pattern(i, off);
      }
      ok ? intact++ : corrupt++;
    }
    std::printf("check live_ok=%d intact=%u reclaimed=%u corrupt=%u\n", live_ok ? 1 : 0, intact, reclaimed, corrupt);
    std::fflush(stdout);
  }
  return 0;
}
