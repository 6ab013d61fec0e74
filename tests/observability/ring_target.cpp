// A process for the observability tests to look at: it (optionally) changes
// user or user namespace, allocates a ring, enters regions of real memory,
// prints "ready <ring-address> <entries>" and runs until its stdin closes.
// It does not serve a control endpoint itself: the library's engine thread
// does, and the tests check that it does (VMRECLAIM_CONTROL=0 turns it off).
#include <fcntl.h>
#include <mach/vm_reclaim.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vmreclaim/vmreclaim.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>

#include "support/child.h"

namespace {

constexpr uint64_t kSlotBytes = 64 * 1024;  // each region lives in its own slot: no overlaps

int fail(const char* what) {
  std::fprintf(stderr, "ring_target: %s: %s\n", what, std::strerror(errno));
  return 1;
}

bool write_file(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

// Enters a new user namespace. `map` ("inside outside count", or empty for
// none, as after `unshare -U`) is written for uids and gids by a helper
// child that stays in the initial namespace (writing a map wider than one's
// own id needs privilege there). Then, with a map, becomes `uid` (and gid
// `uid`) as the new namespace numbers them. Must run while single-threaded.
bool enter_user_namespace(const std::string& map, std::optional<uid_t> uid) {
  int go[2];
  if (::pipe2(go, O_CLOEXEC) != 0) return false;
  const pid_t self = ::getpid();
  const pid_t helper = ::fork();
  if (helper < 0) return false;
  if (helper == 0) {
    ::close(go[1]);
    char c;
    if (::read(go[0], &c, 1) != 1) ::_exit(2);
    if (map.empty()) ::_exit(0);
    const std::string dir = "/proc/" + std::to_string(self) + "/";
    ::_exit(write_file(dir + "uid_map", map) && write_file(dir + "gid_map", map) ? 0 : 3);
  }
  ::close(go[0]);
  const bool entered = ::unshare(CLONE_NEWUSER) == 0;
  const int saved = errno;
  (void)!::write(go[1], "x", 1);
  ::close(go[1]);
  int status = 0;
  if (::waitpid(helper, &status, 0) != helper || !entered || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    errno = entered ? EPERM : saved;
    return false;
  }
  if (uid && (::setresgid(*uid, *uid, *uid) != 0 || ::setresuid(*uid, *uid, *uid) != 0)) return false;
  // A change of credentials makes a process non-dumpable; undo that, so that
  // only ids and namespaces stand between it and others.
  return ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"observability test target"};
  uint32_t regions = 25;
  uint32_t capacity = 251;
  uint64_t seed = 1;
  bool no_ring = false, as_nobody = false;
  std::optional<std::string> userns;
  std::optional<uid_t> ns_uid;
  app.add_option("--regions", regions);
  app.add_option("--capacity", capacity);
  app.add_option("--seed", seed);
  app.add_flag("--no-ring", no_ring);
  app.add_flag("--nobody", as_nobody);
  app.add_option("--userns", userns, "enter a new user namespace with this uid/gid map (\"\": no map)");
  app.add_option("--ns-uid", ns_uid, "then become this uid and gid of the new namespace");
  CLI11_PARSE(app, argc, argv);

  if (userns && !enter_user_namespace(*userns, ns_uid)) return fail("enter a user namespace");

  if (as_nobody) {
    auto [uid, gid] = vmreclaim::test::nobody_ids();
    if (!vmreclaim::test::become_user(uid, gid)) return fail("become nobody");
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

  std::printf("ready 0x%llx %u\n", static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(ring)),
              no_ring ? 0u : regions);
  std::fflush(stdout);

  for (;;) {
    char c;
    ssize_t got = ::read(STDIN_FILENO, &c, 1);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // stdin closed: done
  }
  return 0;
}
