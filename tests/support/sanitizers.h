// Which sanitizer this test binary was built with: a few tests step around
// what a sanitizer runtime cannot do (each says why where it does).
#pragma once

namespace vmreclaim::test {

#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif

// Sanitizer runtimes keep shadow memory for every page the program touched,
// in RssAnon and charged to its memory cgroup, whatever the engine gives
// back: resident-size assertions, and cgroup limits sized for the program
// alone, mean nothing there.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

}  // namespace vmreclaim::test

#define SKIP_IF_SANITIZED()          \
  if (::vmreclaim::test::kSanitized) \
  GTEST_SKIP() << "sanitizer shadow memory counts in RssAnon and the memory cgroup: sizes mean nothing in this build"
