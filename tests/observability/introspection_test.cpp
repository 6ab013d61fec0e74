// Darwin's copy-and-query scenario on Linux: a ring with 25 random regions
// is inherited by a forked child, and the parent finds the child's ring,
// copies it and reads back every region. Plus the ringless, missing and
// exited processes.
#include <gtest/gtest.h>
#include <mach/vm_reclaim_private.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vmreclaim/ring.hpp>

#include <cerrno>
#include <random>
#include <vector>

#include "control/client.h"

namespace vmreclaim::test {
namespace {

// A child that sleeps until killed; reaped on destruction.
class SleepingChild {
 public:
  SleepingChild() {
    pid_ = ::fork();
    if (pid_ == 0) {
      for (;;) ::pause();
    }
  }
  ~SleepingChild() { reap(); }
  void reap() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

TEST(Introspection, CopyAndQueryAnotherProcesssRing) {
  constexpr int kRegions = 25;
  constexpr size_t kSlot = 64 * 1024;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  auto ring = vmreclaim::Ring::allocate(kRegions, 4 * kRegions);
  ASSERT_TRUE(ring) << ring.error().message();
  char* arena =
      static_cast<char*>(::mmap(nullptr, kRegions * kSlot, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(arena, MAP_FAILED);

  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::vector<mach_vm_reclaim_region_s> entered;
  for (int i = 0; i < kRegions; i++) {
    // Random page-aligned region inside its own slot: random address, size and action.
    size_t pages = 1 + rng() % (kSlot / page / 2);
    size_t offset = (rng() % (kSlot / page - pages + 1)) * page;
    auto action = rng() % 2 ? vmreclaim::Action::free : vmreclaim::Action::deallocate;
    char* addr = arena + i * kSlot + offset;
    auto e = ring->try_enter(addr, pages * page, action);
    ASSERT_TRUE(e && e->entered());
    mach_vm_reclaim_region_s r{};
    r.vmrr_addr = reinterpret_cast<uint64_t>(addr);
    r.vmrr_size = pages * page;
    r.vmrr_behavior = static_cast<mach_vm_reclaim_action_t>(action);
    entered.push_back(r);
  }

  SleepingChild child;
  ASSERT_GT(child.pid(), 0);

  mach_vm_reclaim_count_t n_rings = 0;
  ASSERT_EQ(mach_vm_reclaim_get_rings_for_task(child.pid(), nullptr, &n_rings), VM_RECLAIM_SUCCESS);
  ASSERT_EQ(n_rings, 1u);
  mach_vm_reclaim_ring_ref_s ref{};
  ASSERT_EQ(mach_vm_reclaim_get_rings_for_task(child.pid(), &ref, &n_rings), VM_RECLAIM_SUCCESS);
  ASSERT_EQ(n_rings, 1u);
  EXPECT_EQ(ref.addr, reinterpret_cast<uint64_t>(ring->native_handle())) << "fork keeps the address";
  EXPECT_GE(ref.size, sizeof(mach_vm_reclaim_ring_s) + 4 * kRegions * sizeof(mach_vm_reclaim_entry_s));

  // The parent drains its own ring: the child's copy is its own and keeps
  // every entry.
  ASSERT_TRUE(ring->drain());

  mach_vm_reclaim_ring_copy_t copy = nullptr;
  ASSERT_EQ(mach_vm_reclaim_ring_copy(child.pid(), &ref, &copy), VM_RECLAIM_SUCCESS);
  ASSERT_NE(copy, nullptr);
  child.reap();  // the copy is a snapshot: it outlives the process

  mach_vm_reclaim_count_t count = 0;
  ASSERT_EQ(mach_vm_reclaim_copied_ring_query(&copy, nullptr, &count), VM_RECLAIM_SUCCESS);
  ASSERT_EQ(count, static_cast<mach_vm_reclaim_count_t>(kRegions));
  std::vector<mach_vm_reclaim_region_s> regions(kRegions);
  ASSERT_EQ(mach_vm_reclaim_copied_ring_query(&copy, regions.data(), &count), VM_RECLAIM_SUCCESS);
  ASSERT_EQ(count, static_cast<mach_vm_reclaim_count_t>(kRegions));
  for (int i = 0; i < kRegions; i++) {
    EXPECT_EQ(regions[i].vmrr_addr, entered[i].vmrr_addr) << i;
    EXPECT_EQ(regions[i].vmrr_size, entered[i].vmrr_size) << i;
    EXPECT_EQ(regions[i].vmrr_behavior, entered[i].vmrr_behavior) << i;
  }

  // A short buffer gets the short count, and the oldest regions.
  std::vector<mach_vm_reclaim_region_s> few(kRegions / 2 + 1);
  count = kRegions / 2;
  ASSERT_EQ(mach_vm_reclaim_copied_ring_query(&copy, few.data(), &count), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(count, static_cast<mach_vm_reclaim_count_t>(kRegions / 2));
  EXPECT_EQ(few[0].vmrr_addr, entered[0].vmrr_addr);
  EXPECT_EQ(few[kRegions / 2 - 1].vmrr_size, entered[kRegions / 2 - 1].vmrr_size);
  EXPECT_EQ(few[kRegions / 2].vmrr_addr, 0u) << "nothing written past the count";

  ASSERT_EQ(mach_vm_reclaim_copied_ring_free(&copy), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(copy, nullptr);
  ring->reset();
  ::munmap(arena, kRegions * kSlot);
}

TEST(Introspection, AForkedChildAnswersOnItsOwnEndpoint) {
  auto ring = vmreclaim::Ring::allocate(16, 16);
  ASSERT_TRUE(ring) << ring.error().message();
  // The engine thread serves the endpoint (it opens it with the ring).
  auto own = vmreclaim::control::Client::connect(::getpid());
  for (int i = 0; i < 200 && !own; i++) {
    ::usleep(10000);
    own = vmreclaim::control::Client::connect(::getpid());
  }
  ASSERT_TRUE(own) << "the library serves this process's endpoint: " << own.error().message();
  SleepingChild child;
  ASSERT_GT(child.pid(), 0);
  // The child's engine thread opens its own endpoint; give it a moment to.
  auto client = vmreclaim::control::Client::connect(child.pid());
  for (int i = 0; i < 200 && !client; i++) {
    ::usleep(10000);
    client = vmreclaim::control::Client::connect(child.pid());
  }
  ASSERT_TRUE(client) << client.error().message();
  auto stats = client->stats();
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->pid, child.pid());
  EXPECT_EQ(stats->ring_address, reinterpret_cast<uint64_t>(ring->native_handle()));
  auto parent = own->stats();
  ASSERT_TRUE(parent);
  EXPECT_EQ(parent->pid, ::getpid()) << "the parent still answers for itself";
  child.reap();
  ring->reset();
}

TEST(Introspection, ARinglessProcessHasNoRings) {
  ASSERT_EQ(vmreclaim_ring_current(), nullptr);
  SleepingChild child;
  ASSERT_GT(child.pid(), 0);
  mach_vm_reclaim_count_t n = 7;
  ASSERT_EQ(mach_vm_reclaim_get_rings_for_task(child.pid(), nullptr, &n), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(n, 0u);
  mach_vm_reclaim_ring_ref_s refs[2]{};
  n = 2;
  ASSERT_EQ(mach_vm_reclaim_get_rings_for_task(child.pid(), refs, &n), VM_RECLAIM_SUCCESS);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(refs[0].addr, 0u);
}

TEST(Introspection, AMissingProcessIsAnInvalidArgument) {
  pid_t gone = ::fork();
  ASSERT_GE(gone, 0);
  if (gone == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(gone, nullptr, 0), gone);
  for (pid_t pid : {gone, pid_t{0}, pid_t{-1}}) {
    mach_vm_reclaim_count_t n = 0;
    errno = 0;
    EXPECT_EQ(mach_vm_reclaim_get_rings_for_task(pid, nullptr, &n), VM_RECLAIM_INVALID_ARGUMENT) << pid;
    EXPECT_EQ(errno, ESRCH) << pid;
    mach_vm_reclaim_ring_ref_s ref{0x10000, 4096};
    mach_vm_reclaim_ring_copy_t copy = nullptr;
    errno = 0;
    EXPECT_EQ(mach_vm_reclaim_ring_copy(pid, &ref, &copy), VM_RECLAIM_INVALID_ARGUMENT) << pid;
    EXPECT_EQ(errno, ESRCH) << pid;
    EXPECT_EQ(copy, nullptr);
  }
}

}  // namespace
}  // namespace vmreclaim::test
