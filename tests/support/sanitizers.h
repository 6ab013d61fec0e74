// Which sanitizer this test binary was built with: a few tests step around
// what a sanitizer runtime cannot do (each says why where it does).
#pragma once

namespace vmreclaim::test {

#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif

}  // namespace vmreclaim::test
