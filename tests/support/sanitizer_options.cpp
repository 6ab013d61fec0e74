// ThreadSanitizer defaults for the test programs, compiled in only under it.
//   die_after_fork=0  TSan refuses to start threads in the child of a
//                     multi-threaded fork(). The library restarts its engine
//                     thread in a forked child (docs/design.md §8) and the fork
//                     tests exercise exactly that.
//   atexit_sleep_ms=0 TSan sleeps a second at exit by default; the helper
//                     program is run dozens of times.
#if defined(__SANITIZE_THREAD__)
extern "C" __attribute__((visibility("default"))) const char* __tsan_default_options() {
  return "die_after_fork=0:atexit_sleep_ms=0";
}
#endif
