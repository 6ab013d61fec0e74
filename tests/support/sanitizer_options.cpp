// Sanitizer defaults for the process tests, compiled in only under that
// sanitizer.
// ThreadSanitizer refuses to start threads in the child of a multi-threaded
// fork(). The library restarts its engine thread in a forked child (SYSTEM.md
// §8) and the fork tests exercise exactly that, so allow it here; the child
// only runs the library and gtest assertions before _exit().
#if defined(__SANITIZE_THREAD__)
extern "C" __attribute__((visibility("default"))) const char* __tsan_default_options() { return "die_after_fork=0"; }
#endif
