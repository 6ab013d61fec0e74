// Which sanitizer this test binary was built with, and the known library bugs
// that only show under one (each skip names the bug; remove it with the fix).
#pragma once

namespace vmreclaim::test {

#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif

// ThreadSanitizer runs a SIGSEGV handler with every signal blocked; copyio()
// leaves the handler by siglongjmp with savemask 0 (src/platform/linux/copyio.h),
// so the mask stays full and the thread's next guarded fault kills the process.

}  // namespace vmreclaim::test
