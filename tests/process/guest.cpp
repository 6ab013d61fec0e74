// A program that hosts the library and checks that it behaves as it would
// without it (issue 14: the library is a good guest). Built twice:
//   vmreclaim_guest_direct  linked with the library; "setup" allocates the
//                           process's ring and enters 1 MiB of touched memory
//   vmreclaim_guest_plain   linked with nothing of ours; "setup" mallocs and
//                           frees 1 MiB, which under LD_PRELOAD of
//                           libvmreclaim-malloc.so lands in the layer's ring
// Modes (argv[1]); each prints "ready" once set up where the test must act:
//   pthread-exit     setup, then main ends with pthread_exit(); an atexit
//                    handler prints "atexit" (glibc runs exit(0) when the last
//                    thread ends that way)
//   fork-thread      setup, then a second thread forks; the child's only
//                    thread sets up again and returns from its start routine;
//                    prints "child=exited 0" or "child=hung" (not gone in 10 s)
//   fds              setup, then prints "new=<fds that appeared>" and spawns
//                    itself as `fds-exec FD...` (the descriptors it had
//                    before setup) to list what a new image inherits:
//                    "inherited=<fds the child has beyond those>"
//   stop-closed FILE setup, close every descriptor from 3 up, open FILE and
//                    put it at every number the library had; "ready"; on
//                    each "check" line on stdin: "file_bytes=<FILE's size>
//                    cpu_ms=<CPU used by the process during 500 ms of sleep>"
//   sleep            setup, "ready", nanosleep 3 s; "sleep=<rc> errno=<e>"
//   tstp-handler     install a SIGTSTP handler first, setup, "ready"; on
//                    each "check" line: "handler_calls=<n>"
//   tstp-ignored     SIGTSTP ignored first, setup, "ready"; on "check" likewise
// Every mode that reports ends the report line with
// " suspend_bytes=<bytes the suspend drain reclaimed>" (-1: no ring found).
// Exit status 0 unless the mode could not run.
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include <mach/vm_reclaim.h>
#include <vmreclaim/vmreclaim.h>

#if defined(__SANITIZE_THREAD__)
// stop-closed closes the library's descriptors while its thread may use
// them: by ThreadSanitizer's descriptor model a race, and made on purpose
// (it is what the test is about; the library must cope).
extern "C" __attribute__((visibility("default"))) const char* __tsan_default_suppressions() {
  return "race:stop_closed_mode\n";
}
#endif

namespace {

constexpr size_t kBytes = 1u << 20;

#ifdef VMRECLAIM_GUEST_DIRECT
void setup() {
  mach_vm_reclaim_ring_t ring = vmreclaim_ring_current();
  if (ring == nullptr && mach_vm_reclaim_ring_allocate(&ring, 16, 64) != VM_RECLAIM_SUCCESS) {
    std::fprintf(stderr, "cannot allocate a ring\n");
    std::exit(3);
  }
  void* p = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) std::exit(3);
  std::memset(p, 0x5a, kBytes);
  mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
  bool update = false;
  if (mach_vm_reclaim_try_enter(ring, reinterpret_cast<mach_vm_address_t>(p), kBytes, VM_RECLAIM_FREE, &id, &update) !=
          VM_RECLAIM_SUCCESS ||
      id == VM_RECLAIM_ID_NULL) {
    std::fprintf(stderr, "cannot enter\n");
    std::exit(3);
  }
}

long long suspend_bytes() {
  vmreclaim_ring_stats s{};
  mach_vm_reclaim_ring_t ring = vmreclaim_ring_current();
  if (ring == nullptr || vmreclaim_ring_get_stats(ring, &s) != VM_RECLAIM_SUCCESS) return -1;
  return static_cast<long long>(s.reclaimed_bytes[VMRECLAIM_CAUSE_SUSPEND]);
}
#else
void setup() {
  // Built with -fno-builtin: the pair is not folded away.
  void* p = std::malloc(kBytes);
  if (p == nullptr) std::exit(3);
  std::memset(p, 0x5a, kBytes);
  std::free(p);
}

// The layer links the shared library: its C API is found at run time.
long long suspend_bytes() {
  using CurrentFn = mach_vm_reclaim_ring_t (*)();
  using StatsFn = mach_vm_reclaim_error_t (*)(mach_vm_reclaim_ring_t, vmreclaim_ring_stats*);
  auto current = reinterpret_cast<CurrentFn>(::dlsym(RTLD_DEFAULT, "vmreclaim_ring_current"));
  auto stats = reinterpret_cast<StatsFn>(::dlsym(RTLD_DEFAULT, "vmreclaim_ring_get_stats"));
  if (current == nullptr || stats == nullptr) return -1;
  vmreclaim_ring_stats s{};
  mach_vm_reclaim_ring_t ring = current();
  if (ring == nullptr || stats(ring, &s) != VM_RECLAIM_SUCCESS) return -1;
  return static_cast<long long>(s.reclaimed_bytes[VMRECLAIM_CAUSE_SUSPEND]);
}
#endif

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::set<int> open_fds() {
  std::set<int> fds;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) std::exit(3);
  const int own = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::atoi(e->d_name);
    if (fd != own) fds.insert(fd);
  }
  ::closedir(d);
  return fds;
}

std::string join(const std::set<int>& fds) {
  std::string s;
  for (int fd : fds) s += (s.empty() ? "" : ",") + std::to_string(fd);
  return s.empty() ? "none" : s;
}

// Blocks until a line arrives on stdin (false on EOF). Wakes every 50 ms:
// ThreadSanitizer runs a signal handler only when the thread next passes
// through its runtime.
bool wait_line() {
  for (;;) {
    pollfd p{0, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char c;
    ssize_t n = ::read(0, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    if (c == '\n') return true;
  }
}

long cpu_ms() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

int pthread_exit_mode() {
  setup();
  std::atexit([] { say("atexit"); });
  say("ready");
  ::pthread_exit(nullptr);
}

void* fork_from_thread(void*) {
  const pid_t pid = ::fork();
  if (pid < 0) return reinterpret_cast<void*>(1);
  if (pid == 0) {
    setup();         // the child's ring works; its engine thread runs
    return nullptr;  // the child's only program thread ends here
  }
  int status = 0;
  pid_t got = 0;
  for (int ms = 0; ms < 10000 && got == 0; ms += 10) {
    got = ::waitpid(pid, &status, WNOHANG);
    if (got == 0) ::usleep(10000);
  }
  if (got != pid) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    say("child=hung");
  } else if (WIFEXITED(status)) {
    say("child=exited " + std::to_string(WEXITSTATUS(status)));
  } else {
    say("child=status " + std::to_string(status));
  }
  return nullptr;
}

int fork_thread_mode() {
  setup();
  pthread_t t;
  if (::pthread_create(&t, nullptr, fork_from_thread, nullptr) != 0) return 3;
  void* r = nullptr;
  ::pthread_join(t, &r);
  return r == nullptr ? 0 : 3;
}

int fds_mode(const char* self) {
  std::set<int> initial = open_fds();
  setup();
  std::set<int> now = open_fds(), added;
  for (int fd : now) {
    if (initial.count(fd) == 0) added.insert(fd);
  }
  std::string report = "new=" + join(added);
  for (int fd : added) {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0 || (flags & FD_CLOEXEC) == 0) report += " inheritable=" + std::to_string(fd);
  }
  say(report);
  // What a new image gets: argv lists what this one had before the library.
  std::vector<std::string> args = {self, "fds-exec"};
  for (int fd : initial) args.push_back(std::to_string(fd));
  std::vector<char*> cargs;
  for (std::string& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execv(self, cargs.data());
    ::_exit(127);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 3;
  return 0;
}

int fds_exec_mode(int argc, char** argv) {
  std::set<int> allowed;
  for (int i = 2; i < argc; i++) allowed.insert(std::atoi(argv[i]));
  std::set<int> extra;
  for (int fd : open_fds()) {
    if (allowed.count(fd) == 0) extra.insert(fd);
  }
  say("inherited=" + join(extra));
  return 0;
}

int stop_closed_mode(const char* path) {
  std::set<int> before = open_fds();
  setup();
  std::set<int> library;
  for (int fd : open_fds()) {
    if (before.count(fd) == 0) library.insert(fd);
  }
  // As daemons and spawn helpers do: close everything but stdio...
  for (int fd = 3; fd < 65536; fd++) ::close(fd);
  // ...then open a file, which gets the numbers the library had.
  int f = ::open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (f < 0) return 3;
  for (int fd : library) {
    if (fd != f && ::dup3(f, fd, O_CLOEXEC) != fd) return 3;
  }
  say("ready library_fds=" + join(library));
  while (wait_line()) {
    const long cpu0 = cpu_ms();
    ::usleep(500'000);
    const long cpu = cpu_ms() - cpu0;
    struct stat st {};
    if (::fstat(f, &st) != 0) return 3;
    say("file_bytes=" + std::to_string(st.st_size) + " cpu_ms=" + std::to_string(cpu) +
        " suspend_bytes=" + std::to_string(suspend_bytes()));
  }
  return 0;
}

int sleep_mode() {
  setup();
  say("ready");
  timespec ts{3, 0};
  errno = 0;
  int rc = ::nanosleep(&ts, nullptr);
  int e = errno;
  say("sleep=" + std::to_string(rc) + " errno=" + std::string(rc == 0 ? "0" : ::strerrordesc_np(e)) +
      " suspend_bytes=" + std::to_string(suspend_bytes()));
  return 0;
}

volatile sig_atomic_t g_handler_calls = 0;

int tstp_mode(bool ignore) {
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (ignore) {
    sa.sa_handler = SIG_IGN;
  } else {
    sa.sa_handler = [](int) { g_handler_calls = g_handler_calls + 1; };
  }
  if (::sigaction(SIGTSTP, &sa, nullptr) != 0) return 3;
  setup();
  say("ready");
  while (wait_line()) {
    say("handler_calls=" + std::to_string(g_handler_calls) + " suspend_bytes=" + std::to_string(suspend_bytes()));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc >= 2 ? argv[1] : "";
  if (mode == "pthread-exit") return pthread_exit_mode();
  if (mode == "fork-thread") return fork_thread_mode();
  if (mode == "fds") return fds_mode(argv[0]);
  if (mode == "fds-exec") return fds_exec_mode(argc, argv);
  if (mode == "stop-closed" && argc >= 3) return stop_closed_mode(argv[2]);
  if (mode == "sleep") return sleep_mode();
  if (mode == "tstp-handler") return tstp_mode(false);
  if (mode == "tstp-ignored") return tstp_mode(true);
  std::fprintf(stderr, "usage: %s MODE (see the source)\n", argv[0]);
  return 2;
}
