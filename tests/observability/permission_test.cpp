// Another user's process can be neither read nor drained. The target runs
// as nobody; the intruder is a child of this test that becomes a third,
// unprivileged user. Needs root to change users.
#include <gtest/gtest.h>
#include <mach/vm_reclaim_private.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "control/client.h"
#include "control/server.h"
#include "support/child.h"

namespace vmreclaim::test {
namespace {

using vmreclaim::control::Client;
using vmreclaim::control::client_errc;

constexpr uid_t kIntruderUid = 4242;  // no passwd entry needed
constexpr int kRegions = 25;

struct IntruderFindings {
  mach_vm_reclaim_error_t get_rings = 0;
  int get_rings_errno = 0;
  mach_vm_reclaim_error_t copy = 0;
  int copy_errno = 0;
  int stats_error = 0;  // client_errc, or -1 if stats were returned
  int drain_error = 0;  // same for drain
};

// Runs in a forked child as kIntruderUid: try everything, report back.
IntruderFindings intrude(pid_t target, mach_vm_reclaim_ring_ref_s ref) {
  IntruderFindings f;
  mach_vm_reclaim_count_t n = 0;
  errno = 0;
  f.get_rings = mach_vm_reclaim_get_rings_for_task(target, nullptr, &n);
  f.get_rings_errno = errno;
  mach_vm_reclaim_ring_copy_t copy = nullptr;
  errno = 0;
  f.copy = mach_vm_reclaim_ring_copy(target, &ref, &copy);
  f.copy_errno = errno;
  auto client = Client::connect(target);
  if (!client) {
    f.stats_error = f.drain_error = client.error().value();
    return f;
  }
  auto stats = client->stats();
  f.stats_error = stats ? -1 : stats.error().value();
  auto again = Client::connect(target);  // a refused peer is hung up on
  if (!again) {
    f.drain_error = again.error().value();
    return f;
  }
  auto drained = again->drain();
  f.drain_error = drained ? -1 : drained.error().value();
  return f;
}

class OtherUser : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the target as nobody and the reader as another user";
    auto p = Child::start({VMRECLAIM_RING_TARGET, "--nobody", "--regions", std::to_string(kRegions)});
    ASSERT_TRUE(p);
    target_.emplace(std::move(*p));
    for (;;) {
      auto line = target_->read_line();
      ASSERT_TRUE(line) << "the target did not start";
      if (line->rfind("ready ", 0) == 0) break;
    }
    mach_vm_reclaim_count_t n = 1;
    ASSERT_EQ(mach_vm_reclaim_get_rings_for_task(pid(), &ref_, &n), VM_RECLAIM_SUCCESS);
    ASSERT_EQ(n, 1u);
  }
  void TearDown() override {
    if (target_) {
      EXPECT_EQ(target_->stop(), 0);
    }
  }
  pid_t pid() const { return target_->pid(); }

  // The count of the target's ring, read as root.
  mach_vm_reclaim_count_t entries_now() {
    mach_vm_reclaim_ring_copy_t copy = nullptr;
    EXPECT_EQ(mach_vm_reclaim_ring_copy(pid(), &ref_, &copy), VM_RECLAIM_SUCCESS);
    mach_vm_reclaim_count_t n = 0;
    EXPECT_EQ(mach_vm_reclaim_copied_ring_query(&copy, nullptr, &n), VM_RECLAIM_SUCCESS);
    mach_vm_reclaim_copied_ring_free(&copy);
    return n;
  }

  std::optional<Child> target_;
  mach_vm_reclaim_ring_ref_s ref_{};
};

TEST_F(OtherUser, CannotReadOrDrain) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    if (!become_user(kIntruderUid, kIntruderUid)) ::_exit(2);
    IntruderFindings f = intrude(pid(), ref_);
    ::_exit(::write(fds[1], &f, sizeof f) == sizeof f ? 0 : 3);
  }
  ::close(fds[1]);
  IntruderFindings f{};
  ssize_t got = ::read(fds[0], &f, sizeof f);
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "intruder status " << status;
  ASSERT_EQ(got, static_cast<ssize_t>(sizeof f));

  EXPECT_EQ(f.get_rings, KERN_PROTECTION_FAILURE);
  EXPECT_TRUE(f.get_rings_errno == EACCES || f.get_rings_errno == EPERM) << std::strerror(f.get_rings_errno);
  EXPECT_EQ(f.copy, KERN_PROTECTION_FAILURE);
  EXPECT_EQ(f.copy_errno, EPERM) << std::strerror(f.copy_errno);
  EXPECT_EQ(f.stats_error, static_cast<int>(client_errc::permission_denied));
  EXPECT_EQ(f.drain_error, static_cast<int>(client_errc::permission_denied));

  // Nothing happened to the target.
  EXPECT_EQ(entries_now(), static_cast<mach_vm_reclaim_count_t>(kRegions));
  auto client = Client::connect(pid());
  ASSERT_TRUE(client) << client.error().message();
  auto stats = client->stats();
  ASSERT_TRUE(stats) << "root is answered: " << stats.error().message();
  EXPECT_EQ(stats->stats.entries, static_cast<uint64_t>(kRegions));
  for (uint64_t r : stats->stats.reclaimed_entries) EXPECT_EQ(r, 0u);
}

#ifdef VMRECLAIM_CLI
TEST_F(OtherUser, TheCommandSaysPermissionDenied) {
  const std::string p = std::to_string(pid());
  for (std::vector<std::string> args : {std::vector<std::string>{"show", p}, {"drain", p}, {"trim", p, "1M"}}) {
    args.insert(args.begin(), VMRECLAIM_CLI);
    auto r = run_child({.argv = args, .as_uid = kIntruderUid});
    EXPECT_EQ(r.exit_code, 5) << args[1] << ": " << r.err;
    EXPECT_NE(r.err.find("permission denied"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  }
  EXPECT_EQ(entries_now(), static_cast<mach_vm_reclaim_count_t>(kRegions));
}
#endif

TEST_F(OtherUser, ItsConnectionsCannotPushOutTheOwnersClients) {
  auto mine = Client::connect(pid());
  ASSERT_TRUE(mine) << mine.error().message();
  ASSERT_TRUE(mine->stats()) << "accepted and answered";

  // The intruder fills the endpoint with more connections than it keeps,
  // and waits for the last one to be refused (accepts are in order, so all
  // of them have been seen by then). It cannot find the endpoint through
  // the target's descriptors; it reads the name where anyone can.
  auto names = Client::endpoint_names(pid());
  ASSERT_TRUE(names && names->size() == 1);
  const std::string name = names->front();
  int ready[2], done[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(done), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    ::close(done[1]);
    if (!become_user(kIntruderUid, kIntruderUid)) ::_exit(2);
    std::vector<Client> held;
    for (size_t i = 0; i < 3 * vmreclaim::control::Server::kMaxConnections; i++) {
      auto c = Client::connect_name(name);
      if (!c) ::_exit(3);
      held.push_back(std::move(*c));
    }
    // Refused: told so, or (past the budget of refused peers a second)
    // closed without a word.
    auto last = held.back().stats();
    const std::error_code e = last ? std::error_code() : last.error();
    char ok = e == client_errc::permission_denied || e == client_errc::protocol_error ||
                      e == std::errc::connection_reset || e == std::errc::broken_pipe
                  ? 1
                  : 0;
    if (::write(ready[1], &ok, 1) != 1) ::_exit(4);
    char c;
    (void)!::read(done[0], &c, 1);  // hold the connections until the parent is done
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(done[0]);
  char ok = 0;
  ASSERT_EQ(::read(ready[0], &ok, 1), 1);
  EXPECT_EQ(ok, 1) << "the intruder was refused";
  auto again = mine->stats();
  EXPECT_TRUE(again) << "the owner's connection survived: " << again.error().message();
  // The flood went past the budget of refused peers a second, so the server
  // paused accepting; it resumes, and the owner's new connection is served.
  auto fresh = Client::connect(pid());
  ASSERT_TRUE(fresh) << fresh.error().message();
  auto answered = fresh->stats();
  EXPECT_TRUE(answered) << "a new connection of the owner is served: " << answered.error().message();
  ::close(done[1]);
  ::close(ready[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_F(OtherUser, RootMayDrain) {
  auto client = Client::connect(pid());
  ASSERT_TRUE(client) << client.error().message();
  auto drained = client->drain();
  ASSERT_TRUE(drained) << drained.error().message();
  EXPECT_GT(drained->bytes_reclaimed, 0u);
  EXPECT_EQ(entries_now(), 0u);
}

}  // namespace
}  // namespace vmreclaim::test
