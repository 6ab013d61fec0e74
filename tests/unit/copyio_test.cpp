// Guarded access to memory the program may have unmapped (docs/design.md §7): a
// fault inside copyio() is reported as false, as often as it happens, and
// leaves the thread as it was (no signal left blocked).
#include "platform/linux/copyio.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>

#include <atomic>
#include <thread>

#include "support/memory.h"
#include "support/sanitizers.h"

namespace vmreclaim::test {
namespace {

using vmreclaim::platform::copyio;

class Copyio : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(vmreclaim::platform::copyio_install());
    page_ = ::mmap(nullptr, page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(page_, MAP_FAILED);
    word_ = static_cast<uint64_t*>(page_);
  }
  void TearDown() override { ::munmap(page_, page_size()); }

  bool read_word(uint64_t* out) {
    return copyio([&] { *out = std::atomic_ref<uint64_t>(*word_).load(std::memory_order_acquire); });
  }
  static bool segv_blocked() {
    sigset_t cur;
    pthread_sigmask(SIG_SETMASK, nullptr, &cur);
    return sigismember(&cur, SIGSEGV) == 1;
  }

  void* page_ = nullptr;
  uint64_t* word_ = nullptr;
};

TEST_F(Copyio, ReadsAccessibleMemory) {
  *word_ = 42;
  uint64_t v = 0;
  EXPECT_TRUE(read_word(&v));
  EXPECT_EQ(v, 42u);
  EXPECT_TRUE(copyio([&] { std::atomic_ref<uint64_t>(*word_).store(7); }));
  EXPECT_EQ(*word_, 7u);
}

TEST_F(Copyio, FaultsAreReportedEveryTimeAndLeaveNoSignalBlocked) {
  ASSERT_EQ(::mprotect(page_, page_size(), PROT_NONE), 0);
  for (int i = 0; i < 5; i++) {
    uint64_t v = 0;
    EXPECT_FALSE(read_word(&v)) << i;
    if (!kThreadSanitizer) {
      // Not under TSan: its runtime performs a seq_cst store while holding a
      // lock of its own; a fault there leaves that lock held and the next
      // access to the address deadlocks inside TSan (a sanitizer limit).
      EXPECT_FALSE(copyio([&] { std::atomic_ref<uint64_t>(*word_).store(1); })) << i;
    }
    EXPECT_FALSE(segv_blocked()) << i;
  }
  // And it works again once the memory is back.
  ASSERT_EQ(::mprotect(page_, page_size(), PROT_READ | PROT_WRITE), 0);
  uint64_t v = 1;
  EXPECT_TRUE(read_word(&v));
  EXPECT_EQ(v, 0u);
}

TEST_F(Copyio, EachThreadHasItsOwnGuard) {
  // Inaccessible rather than unmapped: a new thread's stack could land on a
  // freed page.
  ASSERT_EQ(::mprotect(page_, page_size(), PROT_NONE), 0);
  std::atomic<int> faulted{0};
  std::thread t([&] {
    uint64_t v = 0;
    if (!read_word(&v)) faulted++;
  });
  t.join();
  uint64_t v = 0;
  if (!read_word(&v)) faulted++;
  EXPECT_EQ(faulted.load(), 2);
}

}  // namespace
}  // namespace vmreclaim::test
