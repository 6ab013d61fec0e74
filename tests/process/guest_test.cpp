// The library is a good guest (issue 14): a process that hosts it — linked
// directly, or through the large-allocation layer preloaded into a program
// that knows nothing of it — exits, keeps its descriptors and sleeps as it
// would without it. Real processes and real signals; every wait is bounded
// so a hang fails the test instead of the run.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "control/client.h"
#include "platform/linux/thread.h"
#include "support/child.h"
#include "support/sanitizers.h"

namespace vmreclaim::test {
namespace {

using namespace std::chrono_literals;

enum class Host { direct, preload };

std::string host_name(const ::testing::TestParamInfo<Host>& p) {
  return p.param == Host::direct ? "Linked" : "Preloaded";
}

// The value of `key=` in `line`, or nullopt.
std::optional<std::string> field(const std::string& line, const std::string& key) {
  size_t at = line.find(key + "=");
  if (at == std::string::npos || (at > 0 && line[at - 1] != ' ')) return std::nullopt;
  at += key.size() + 1;
  return line.substr(at, line.find(' ', at) - at);
}

long long number(const std::string& line, const std::string& key) {
  auto v = field(line, key);
  return v ? std::atoll(v->c_str()) : -2;
}

// ThreadSanitizer's own background thread is one glibc counts: under TSan a
// program whose last thread ends by pthread_exit hangs without the library too.
#define SKIP_IF_TSAN_THREAD_COUNTS()                                                                   \
  if (kThreadSanitizer)                                                                                \
  GTEST_SKIP() << "ThreadSanitizer's own background thread is one glibc counts: under TSan a program " \
                  "whose last thread ends by pthread_exit hangs without the library too"

class Guest : public ::testing::TestWithParam<Host> {
 protected:
  void SetUp() override {
#ifdef VMRECLAIM_ALLOC_SANITIZED
    if (GetParam() == Host::preload) GTEST_SKIP() << "an LD_PRELOAD malloc cannot share a process with ASan/TSan";
#endif
  }

  // The guest program in `mode`, with `env` ("NAME=value") on top of ours
  // minus every VMRECLAIM_* setting. The pressure level is pinned: these
  // tests are about the host, not about the machine's memory.
  std::optional<Child> start(std::vector<std::string> args, std::vector<std::string> env = {}) {
    return Child::spawn(options(args, env));
  }
  // The same, run to its end (killed after 20 s): its wait status (-1 if it
  // did not start or did not end), its stdout then its stderr in `output`.
  int run(const std::vector<std::string>& args, const std::vector<std::string>& env, std::string* output) {
    const ChildResult r = run_child(options(args, env), 20s);
    *output = r.out + r.err;
    return r.status;
  }

  SpawnOptions options(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    SpawnOptions o;
    o.argv = {GetParam() == Host::direct ? VMRECLAIM_GUEST_DIRECT : VMRECLAIM_GUEST_PLAIN};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.drop_vmreclaim_env = true;
    o.env = {"VMRECLAIM_PRESSURE=normal"};
    if (GetParam() == Host::preload) o.env.push_back(std::string("LD_PRELOAD=") + VMRECLAIM_MALLOC_LIB);
    o.env.insert(o.env.end(), env.begin(), env.end());
    o.stdin_pipe = true;
    o.own_process_group = true;  // SIGTSTP's default action must be able to stop it
    return o;
  }

  // Reads lines until one starts with `prefix`; "" on EOF or timeout.
  static std::string line_starting(Child& c, const std::string& prefix, std::chrono::milliseconds timeout = 10s) {
    return c.read_line_starting(prefix, timeout).value_or("");
  }

  // The guest run to its end exits 0 and its output holds `text`.
  void expect_clean_exit_saying(const std::vector<std::string>& args, const std::string& text) {
    std::string out;
    EXPECT_EQ(describe_status(run(args, {}, &out)), "exited 0") << out;
    EXPECT_NE(out.find(text), std::string::npos) << out;
  }

  // The guest's "sleep" mode with `env`: ready, left alone for `settle`,
  // stopped by SIGTSTP (which must stop it) and continued; its report line
  // ("sleep=... suspend_bytes=...") in `report`.
  void sleep_through_stop(const std::vector<std::string>& env, std::chrono::milliseconds settle, std::string* report) {
    auto c = start({"sleep"}, env);
    ASSERT_TRUE(c);
    ASSERT_EQ(line_starting(*c, "ready"), "ready") << c->stderr_so_far();
    std::this_thread::sleep_for(settle);
    ASSERT_EQ(::kill(c->pid(), SIGTSTP), 0);
    auto st = c->wait(10s, true);
    ASSERT_TRUE(st && WIFSTOPPED(*st)) << "SIGTSTP must stop the process";
    ASSERT_EQ(::kill(c->pid(), SIGCONT), 0);
    *report = line_starting(*c, "sleep=");
  }

  static std::string finish(Child& c, int* status) {
    std::string out, err;
    *status = c.communicate(&out, &err, 20s).value_or(-1);
    return out + err;
  }
};

// Item 1: `pthread_exit` from main. glibc exits the process with 0 when the
// last thread ends so; the engine thread must not count as one.
TEST_P(Guest, LastThreadEndingWithPthreadExitEndsTheProcess) {
  SKIP_IF_TSAN_THREAD_COUNTS();
  auto c = start({"pthread-exit"});
  ASSERT_TRUE(c);
  ASSERT_EQ(line_starting(*c, "ready"), "ready") << c->stderr_so_far();
  auto st = c->wait(10s);
  if (!st) ::kill(c->pid(), SIGKILL);
  ASSERT_TRUE(st.has_value()) << "the process did not exit within 10 s of its last thread's pthread_exit";
  EXPECT_EQ(describe_status(*st), "exited 0");
}

TEST_P(Guest, AtexitHandlersRunWhenTheLastThreadEnds) {
  SKIP_IF_TSAN_THREAD_COUNTS();
  expect_clean_exit_saying({"pthread-exit"}, "ready\natexit\n");
}

// Item 1, second form: a child forked from a non-main thread has that thread
// only; when it returns from its start routine the child must exit.
TEST_P(Guest, ChildForkedFromAThreadExitsWhenItsOnlyThreadReturns) {
  SKIP_IF_TSAN_THREAD_COUNTS();
  expect_clean_exit_saying({"fork-thread"}, "child=exited 0");
}

// Item 3: the library's descriptors stay out of the low numbers programs
// count on, and none reaches a new image. The control endpoint is asked for
// (VMRECLAIM_CONTROL=1), so both hosts have descriptors to check.
TEST_P(Guest, LibraryDescriptorsAreHighAndCloseOnExec) {
  std::string out;
  const int status = run({"fds"}, {"VMRECLAIM_CONTROL=1"}, &out);
  ASSERT_EQ(describe_status(status), "exited 0") << out;
  auto added = field(out.substr(out.find("new=")), "new");
  ASSERT_TRUE(added) << out;
  ASSERT_NE(*added, "none") << "VMRECLAIM_CONTROL=1 opens the control endpoint: " << out;
  EXPECT_EQ(out.find("inheritable="), std::string::npos) << out;
  EXPECT_NE(out.find("inherited=none"), std::string::npos) << out;
  // Every new descriptor is out of the low numbers: at 256 or above, or, in
  // a process whose soft RLIMIT_NOFILE is lower than 272, in its top 16.
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  const long low_end = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= 272 ? 256 : static_cast<long>(rl.rlim_cur) - 16;
  if (*added != "none") {
    size_t pos = 0;
    while (pos < added->size()) {
      size_t comma = added->find(',', pos);
      int fd = std::atoi(added->substr(pos, comma - pos).c_str());
      EXPECT_GE(fd, low_end) << "the library took descriptor " << fd << ": " << out;
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
  }
}

// Item 3 with the default settings: a program that knows nothing of the
// library (the layer preloaded into it) gets no control endpoint unless it is
// asked for (VMRECLAIM_CONTROL=1, which `vmreclaim run` sets), so it gains no
// descriptor, and a child it spawns counting what it passes on (CPython's
// test_pass_fds_redirected) finds none of ours. A program linked with the
// library chose it and serves the endpoint by default.
TEST_P(Guest, ByDefaultOnlyAProgramLinkedWithTheLibraryServesTheEndpoint) {
  auto c = start({"fds"});
  ASSERT_TRUE(c);
  int status = -1;
  std::string out = finish(*c, &status);
  ASSERT_EQ(describe_status(status), "exited 0") << out;
  EXPECT_NE(out.find("inherited=none"), std::string::npos) << out;
  if (GetParam() == Host::preload) {
    EXPECT_NE(out.find("new=none"), std::string::npos) << "the preloaded layer opened descriptors unasked: " << out;
  } else {
    EXPECT_EQ(out.find("new=none"), std::string::npos) << "a linked program serves its endpoint by default: " << out;
  }
}

// As few as possible: without the control endpoint (and outside a limited
// memory cgroup v1, where the kernel refuses PSI triggers and knows
// PIDFD_SELF) the engine thread polls no descriptor and needs none to be
// woken, so the process gains none at all.
TEST_P(Guest, WithoutTheControlEndpointTheProcessGainsNoDescriptor) {
  std::string out;
  const int status = run({"fds"}, {"VMRECLAIM_CONTROL=0"}, &out);
  ASSERT_EQ(describe_status(status), "exited 0") << out;
  EXPECT_NE(out.find("new=none"), std::string::npos) << out;
  EXPECT_NE(out.find("inherited=none"), std::string::npos) << out;
}

// Item 2: the program closes every descriptor and puts its own file where
// the library's were; stopping it must neither write into that file nor
// keep it from stopping, and the engine thread must not spin on the lost
// descriptors.
TEST_P(Guest, DescriptorsTheProgramTookBackAreNeverUsed) {
  char dir[] = "/tmp/vmreclaim-guest-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string file = std::string(dir) + "/own-file";
  // No idle trim (the preloaded layer's default): the program waits between
  // the rounds, and the ring must still hold its memory for a suspend drain
  // to have something to reclaim.
  auto c =
      start({"stop-closed", file}, {"VMRECLAIM_SUSPEND_DRAIN=1", "VMRECLAIM_CONTROL=1", "VMRECLAIM_IDLE_TRIM_NS=0"});
  ASSERT_TRUE(c);
  std::string ready = line_starting(*c, "ready");
  ASSERT_FALSE(ready.empty()) << c->stderr_so_far();
  ASSERT_NE(ready, "ready library_fds=none") << "the library opened no descriptor";
  // The engine thread notices the loss at its next wake-up (within the 1 s
  // pressure poll while the ring holds memory) and makes a new waker; a
  // stop before that happens without the drain. Every stop must stop, and
  // within a few rounds one must drain again.
  std::string report;
  for (int round = 0; round < 10; round++) {
    ASSERT_EQ(::kill(c->pid(), SIGTSTP), 0);
    auto st = c->wait(10s, true);
    ASSERT_TRUE(st && WIFSTOPPED(*st)) << "round " << round << ": the process did not stop; " << ready << "\n"
                                       << c->stderr_so_far();
    ASSERT_EQ(::kill(c->pid(), SIGCONT), 0);
    ASSERT_TRUE(c->write_line("check"));
    report = line_starting(*c, "file_bytes=");
    ASSERT_FALSE(report.empty()) << c->stderr_so_far();
    EXPECT_FALSE(c->wait(200ms, true).has_value()) << "round " << round << ": stopped again after SIGCONT";
    ASSERT_EQ(number(report, "file_bytes"), 0) << "the library wrote into the program's file; " << ready;
    EXPECT_LT(number(report, "cpu_ms"), 250) << "the engine thread spins on descriptors it lost";
    if (number(report, "suspend_bytes") > 0) break;
  }
  EXPECT_GT(number(report, "suspend_bytes"), 0) << "the suspend drain must work again: " << report;
  // The control endpoint went with the program's close; a new one answers.
  bool answered = false;
  for (int i = 0; i < 50 && !answered; i++) {
    if (auto cl = vmreclaim::control::Client::connect(c->pid()); cl && cl->stats()) answered = true;
    if (!answered) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(answered) << "no control endpoint answers after the program closed the library's descriptors";
  c->close_stdin();
  int status = -1;
  std::string out = finish(*c, &status);
  EXPECT_EQ(describe_status(status), "exited 0") << out;
  ::unlink(file.c_str());
  ::rmdir(dir);
}

// Item 4: stop and continue under the default settings leave a sleeping
// call alone, as the default SIGTSTP action does.
TEST_P(Guest, SleepAcrossStopAndContinueCompletesByDefault) {
  std::string report;
  ASSERT_NO_FATAL_FAILURE(sleep_through_stop({}, 300ms, &report));
  EXPECT_EQ(field(report, "sleep"), "0") << report;
  EXPECT_EQ(number(report, "suspend_bytes"), 0) << "no drain unless asked for: " << report;
}

// The documented price of VMRECLAIM_SUSPEND_DRAIN=1: the memory is given
// back before the stop, and the call the signal met returns EINTR.
TEST_P(Guest, SuspendDrainOnRequestGivesMemoryBackAndInterruptsTheSleep) {
  std::string report;
  ASSERT_NO_FATAL_FAILURE(sleep_through_stop({"VMRECLAIM_SUSPEND_DRAIN=1"}, 300ms, &report));
  EXPECT_EQ(field(report, "sleep"), "-1") << report;
  EXPECT_GE(number(report, "suspend_bytes"), 1 << 20) << report;
}

// Without the control endpoint the engine thread sleeps on a futex, which
// the SIGTSTP handler wakes as it would the eventfd.
TEST_P(Guest, SuspendDrainWakesAThreadThatHasNoDescriptor) {
  std::string report;
  ASSERT_NO_FATAL_FAILURE(sleep_through_stop({"VMRECLAIM_SUSPEND_DRAIN=1", "VMRECLAIM_CONTROL=0"}, 0ms, &report));
  EXPECT_GE(number(report, "suspend_bytes"), 1 << 20) << report;
}

TEST_P(Guest, SuspendDrainZeroLeavesSigtstpAlone) {
  std::string report;
  ASSERT_NO_FATAL_FAILURE(sleep_through_stop({"VMRECLAIM_SUSPEND_DRAIN=0"}, 300ms, &report));
  EXPECT_EQ(field(report, "sleep"), "0") << report;
  EXPECT_EQ(number(report, "suspend_bytes"), 0) << report;
}

// A SIGTSTP handler the program installed before the library is chained:
// it still runs (and decides not to stop), and the ring is drained.
TEST_P(Guest, ProgramsSigtstpHandlerIsChainedAfterTheDrain) {
  auto c = start({"tstp-handler"}, {"VMRECLAIM_SUSPEND_DRAIN=1"});
  ASSERT_TRUE(c);
  ASSERT_EQ(line_starting(*c, "ready"), "ready") << c->stderr_so_far();
  ASSERT_EQ(::kill(c->pid(), SIGTSTP), 0);
  EXPECT_FALSE(c->wait(1s, true).has_value()) << "the program's handler does not stop it";
  std::string report;
  for (int i = 0; i < 50; i++) {  // the drain runs on the engine thread: up to 5 s
    ASSERT_TRUE(c->write_line("check"));
    report = line_starting(*c, "handler_calls=");
    if (number(report, "suspend_bytes") > 0) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(number(report, "handler_calls"), 1) << report;
  EXPECT_GE(number(report, "suspend_bytes"), 1 << 20) << report;
}

// SIGTSTP ignored by the program stays ignored: no stop, no drain.
TEST_P(Guest, IgnoredSigtstpStaysIgnored) {
  auto c = start({"tstp-ignored"}, {"VMRECLAIM_SUSPEND_DRAIN=1"});
  ASSERT_TRUE(c);
  ASSERT_EQ(line_starting(*c, "ready"), "ready") << c->stderr_so_far();
  ASSERT_EQ(::kill(c->pid(), SIGTSTP), 0);
  EXPECT_FALSE(c->wait(1s, true).has_value()) << "an ignored SIGTSTP stopped the process";
  ASSERT_TRUE(c->write_line("check"));
  std::string report = line_starting(*c, "handler_calls=");
  EXPECT_EQ(number(report, "handler_calls"), 0) << report;
  EXPECT_EQ(number(report, "suspend_bytes"), 0) << report;
}

INSTANTIATE_TEST_SUITE_P(Host, Guest, ::testing::Values(Host::direct, Host::preload), host_name);

}  // namespace

// Where glibc's thread count cannot be used the engine thread looks for
// itself; what it looks at, in a child whose threads end one by one (the
// main thread by pthread_exit: it stays a zombie, which must not count).
TEST(AloneCheck, SeesTheOtherThreadsEndIncludingAZombieLeader) {
  if (kThreadSanitizer) {
    GTEST_SKIP() << "ThreadSanitizer runs a thread of its own in every process, a forked child included";
  }
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(20);                                                               // a hang fails instead of hanging the run
    if (vmreclaim::platform::only_library_thread_left() != true) _exit(10);  // the forking thread alone
    pthread_t t;
    static std::atomic<int> stage{0};
    auto body = [](void*) -> void* {
      // While the main thread lives, we are not alone.
      if (vmreclaim::platform::only_library_thread_left()) _exit(11);
      stage.store(1);
      // Then it ends by pthread_exit and stays a zombie leader.
      for (int i = 0; i < 2000 && !vmreclaim::platform::only_library_thread_left(); i++) ::usleep(1000);
      _exit(vmreclaim::platform::only_library_thread_left() ? 0 : 12);
    };
    if (::pthread_create(&t, nullptr, body, nullptr) != 0) _exit(13);
    while (stage.load() == 0) ::usleep(1000);
    // The thread alone, as pthread_exit() would end it (pthread_exit itself
    // would unwind through the test framework's catch-all handlers).
    ::syscall(SYS_exit, 0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(describe_status(status), "exited 0");
}
}  // namespace vmreclaim::test
