// What the allocation probes (preload_probe.cpp, backend_probe.cpp) share:
// checks that count a failure and go on, byte patterns, and forking while
// other threads allocate. Header-only: each probe is a program of its own,
// linked with nothing of the tests.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

namespace vmreclaim::test {

// Failed CHECKs so far; the probe exits 1 if there are any.
inline int g_failures = 0;

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ::vmreclaim::test::g_failures++;                                              \
    }                                                                               \
  } while (0)

constexpr size_t kLarge = 1u << 20;  // above the default 128 KiB threshold

inline bool aligned(const void* p, size_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; }

inline bool is_zero(const void* p, size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i++) {
    if (b[i] != 0) return false;
  }
  return true;
}

// Patterns are written and checked at every `stride`-th byte: enough to see a
// block handed to two owners, or contents lost in a move.
inline void fill(void* p, size_t n, unsigned seed, size_t stride = 1) {
  auto* b = static_cast<unsigned char*>(p);
  for (size_t i = 0; i < n; i += stride) b[i] = static_cast<unsigned char>(i * 31 + seed);
}
inline bool has_pattern(const void* p, size_t n, unsigned seed, size_t stride = 1) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i += stride) {
    if (b[i] != static_cast<unsigned char>(i * 31 + seed)) return false;
  }
  return true;
}

// Forks 20 children, one after another, while two threads run
// churn(thread, iteration) in a loop; each child runs child() and must exit
// 0 (child() true) for the CHECKs to pass.
template <class Churn, class ChildBody>
void fork_while_allocating(Churn churn, ChildBody child) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < 2; t++) {
    ts.emplace_back([&stop, &churn, t] {
      for (unsigned i = 0; !stop.load(); i++) churn(t, i);
    });
  }
  for (int k = 0; k < 20; k++) {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(child() ? 0 : 3);
    int status = 0;
    CHECK(pid > 0 && ::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  stop = true;
  for (auto& th : ts) th.join();
}

}  // namespace vmreclaim::test
