// libvmreclaim-malloc.so in real processes: the probe program's scenarios,
// and programs that are not ours (sort, python3, xz) run with LD_PRELOAD.
// An LD_PRELOAD malloc cannot share a process with ASan or TSan (their
// runtimes must own malloc), so sanitiser builds skip these.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "report_dir.h"
#include "support/child.h"

namespace vmreclaim::test {
namespace {

// Generous: the slowest scenario (xz, python) takes a few seconds on a busy
// machine; a deadlock (e.g. in the fork handlers) must fail the test, not
// hang the suite.
constexpr std::chrono::seconds kChildTimeout{60};

// Runs argv[0] (a path) with `env_extra` added to the environment; the
// inherited VMRECLAIM_* settings are left out so each test says what it uses.
ChildResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env_extra) {
  return run_child({.argv = argv, .env = env_extra, .drop_vmreclaim_env = true}, kChildTimeout);
}

// Its stdout, then its stderr, then how it ended: what the tests search and
// show.
std::string output(const ChildResult& r) {
  const std::string end = r.timed_out ? "timed out after " + std::to_string(kChildTimeout.count()) + " s and was killed"
                                      : describe_status(r.status);
  return r.out + r.err + "\n[" + end + "]";
}

const std::string kPreload = std::string("LD_PRELOAD=") + VMRECLAIM_MALLOC_LIB;

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The value of `key=` in a report line, or -1.
long long report_value(const std::string& line, const std::string& key) {
  size_t at = line.find(" " + key + "=");
  if (at == std::string::npos) return -1;
  return std::atoll(line.c_str() + at + key.size() + 2);
}

class Preload : public ReportDir {
 protected:
  std::vector<std::string> env() const { return {kPreload, "VMRECLAIM_MALLOC_REPORT=" + report_}; }
  ChildResult probe(const char* scenario, std::vector<std::string> extra = {}, const char* arg = nullptr) {
    std::vector<std::string> e = env();
    e.insert(e.end(), extra.begin(), extra.end());
    std::vector<std::string> argv{VMRECLAIM_PRELOAD_PROBE, scenario};
    if (arg != nullptr) argv.emplace_back(arg);
    return run(argv, e);
  }
};

TEST_F(Preload, EveryEntryPointWorksAndBlocksAreReused) {
  ChildResult o = probe("entry_points");
  EXPECT_EQ(o.exit_code, 0) << output(o);
  EXPECT_NE(output(o).find("ok"), std::string::npos) << output(o);
  std::string line = read_file(report_);
  EXPECT_GT(report_value(line, "large_allocs"), 20) << line;
  EXPECT_GT(report_value(line, "reused_intact"), 0) << line;
  EXPECT_GT(report_value(line, "realloc_remapped"), 0) << line;
}

TEST_F(Preload, ThreadsChurningKeepTheirContents) {
  ChildResult o = probe("mt_churn");
  EXPECT_EQ(o.exit_code, 0) << output(o);
  std::string line = read_file(report_);
  EXPECT_GT(report_value(line, "reused_intact") + report_value(line, "reused_zeroed"), 100) << line;
}

TEST_F(Preload, ForkWhileOtherThreadsAllocate) {
  ChildResult o = probe("fork");
  EXPECT_EQ(o.exit_code, 0) << output(o);
  // The children leave with _exit (no exit report); the parent's shows the
  // heap kept working across twenty forks.
  std::string line = read_file(report_);
  EXPECT_GT(report_value(line, "large_allocs"), 20) << line;
}

TEST_F(Preload, DoubleFreeOfALargeBlockIsReportedAndAborts) {
  ChildResult o = probe("double_free");
  EXPECT_TRUE(o.killed_by(SIGABRT)) << output(o);
  EXPECT_NE(output(o).find("vmreclaim-malloc: double free of large block"), std::string::npos) << output(o);
  EXPECT_EQ(output(o).find("survived"), std::string::npos);
}

// calloc on a block the real engine released: zero whatever advice released
// it. MADV_FREE leaves the old contents in place until memory pressure.
TEST_F(Preload, CallocAfterTheEngineReleasedTheBlockReadsAsZero) {
  for (const char* advice : {"free", "dontneed"}) {
    SCOPED_TRACE(advice);
    ChildResult o = probe("calloc_after_drain", {std::string("VMRECLAIM_FREE_ADVICE=") + advice});
    EXPECT_EQ(o.exit_code, 0) << output(o);
    EXPECT_NE(output(o).find("ok"), std::string::npos) << output(o);
    // The case that matters did happen: MADV_FREE left the bytes in place
    // (no memory pressure in between).
    if (advice[0] == 'f') {
      EXPECT_NE(output(o).find("stale_pages_before_calloc=1"), std::string::npos) << output(o);
    }
    std::string line = read_file(report_);
    EXPECT_EQ(report_value(line, "reused_zeroed"), 1) << line;
    unlink(report_.c_str());
  }
}

// Misuse of a large block the layer can see: one line naming it, and
// SIGABRT (glibc alone says "invalid pointer"/"invalid old size" and aborts;
// a SIGSEGV inside glibc says nothing).
struct Misuse {
  const char* scenario;
  const char* line;
  bool evicting;  // with a 1 MiB cache, so that the freed block is unmapped
};

void PrintTo(const Misuse& m, std::ostream* os) { *os << m.scenario; }

class PreloadMisuse : public Preload, public ::testing::WithParamInterface<Misuse> {};

// Over glibc: its rule that the page before a block is mapped (its header)
// is what makes free_unmapped misuse; the other backends below.
TEST_P(PreloadMisuse, OneLineAndAbort) {
  const Misuse& m = GetParam();
  std::vector<std::string> extra{"VMRECLAIM_MALLOC_BACKEND=glibc"};
  if (m.evicting) extra.emplace_back("VMRECLAIM_MALLOC_CACHE_MAX=1M");
  ChildResult o = probe("misuse", extra, m.scenario);
  EXPECT_TRUE(o.killed_by(SIGABRT)) << output(o);
  EXPECT_NE(output(o).find(m.line), std::string::npos) << output(o);
  EXPECT_EQ(output(o).find("survived"), std::string::npos) << output(o);
}

const Misuse kMisuses[] = {
    {"realloc_interior", "vmreclaim-malloc: realloc of interior pointer", false},
    {"free_interior", "vmreclaim-malloc: free of interior pointer", false},
    {"usable_size_interior", "vmreclaim-malloc: malloc_usable_size of interior pointer", false},
    {"realloc_after_free", "vmreclaim-malloc: realloc after free of large block", false},
    {"free_after_eviction", "vmreclaim-malloc: double free of large block", true},
    {"realloc_after_eviction", "vmreclaim-malloc: realloc after free of large block", true},
    {"small_realloc_after_eviction", "vmreclaim-malloc: realloc after free of large block", true},
    {"free_after_realloc", "vmreclaim-malloc: double free of large block", false},
    {"free_unmapped", "vmreclaim-malloc: free of unmapped memory", false},
    {"free_interior_unaligned", "vmreclaim-malloc: free of interior pointer", false},
};

INSTANTIATE_TEST_SUITE_P(Layer, PreloadMisuse, ::testing::ValuesIn(kMisuses),
                         [](const auto& p) { return std::string(p.param.scenario); });

// The same misuse with each private backend underneath: the layer's own
// blocks (live, cached, unmapped since, and their interiors at any offset)
// and the parts of its range no block holds are told from the backend's
// pointers by the range alone.
class PreloadMisuseOverBackend : public Preload,
                                 public ::testing::WithParamInterface<std::tuple<Misuse, const char*>> {};

TEST_P(PreloadMisuseOverBackend, OneLineAndAbort) {
  const auto& [m, backend] = GetParam();
  // jemalloc cannot be loaded late (static TLS): preloaded after the layer.
  std::string preload = kPreload;
  if (std::string(backend) == "jemalloc") preload += " libjemalloc.so.2";
  std::vector<std::string> e{preload, "VMRECLAIM_MALLOC_REPORT=" + report_,
                             std::string("VMRECLAIM_MALLOC_BACKEND=") + backend};
  if (m.evicting) e.emplace_back("VMRECLAIM_MALLOC_CACHE_MAX=1M");
  ChildResult o = run({VMRECLAIM_PRELOAD_PROBE, "misuse", m.scenario}, e);
  if (output(o).find("vmreclaim-malloc: cannot use") != std::string::npos) {
    GTEST_SKIP() << backend << " is not installed: " << output(o);
  }
  EXPECT_TRUE(o.killed_by(SIGABRT)) << output(o);
  EXPECT_EQ(output(o).rfind(m.line, 0), 0u) << "the layer's line first: " << output(o);
  EXPECT_EQ(output(o).find("survived"), std::string::npos) << output(o);
}

INSTANTIATE_TEST_SUITE_P(Layer, PreloadMisuseOverBackend,
                         ::testing::Combine(::testing::ValuesIn(kMisuses),
                                            ::testing::Values("mimalloc", "jemalloc", "tcmalloc")),
                         [](const auto& p) {
                           return std::string(std::get<0>(p.param).scenario) + "_" + std::get<1>(p.param);
                         });

// Under an address-space limit the layer's range is a quarter of it; the
// blocks it has no room for are the backend's, and where no range can be
// reserved at all (a limit below 1 GiB: a quarter is below 256 MiB) every block is: the program runs
// the same either way, with every call reaching each block's owner.
TEST_F(Preload, BlocksTheRangeCannotHoldGoToTheBackend) {
  struct Case {
    const char* limit_kib;
    long long range_bytes;
    bool some_in_window;
  };
  for (const Case& c : {Case{"2097152", 512ll << 20, true}, Case{"1024000", 0, false}}) {
    unlink(report_.c_str());
    std::vector<std::string> e = env();
    ChildResult o = run({"/bin/sh", "-c", std::string("ulimit -v ") + c.limit_kib + " && exec \"$0\" range_fallback",
                         VMRECLAIM_PRELOAD_PROBE},
                        e);
    ASSERT_EQ(o.exit_code, 0) << c.limit_kib << ": " << output(o);
    std::string line = read_file(report_);
    // The shell runs under the layer too: the probe's line is the last.
    line = line.substr(line.rfind("pid=", line.size() - 2));
    EXPECT_EQ(report_value(line, "layer_range_bytes"), c.range_bytes) << line;
    const size_t at = output(o).find("in_window=");
    ASSERT_NE(at, std::string::npos) << output(o);
    const int in_window = std::atoi(output(o).c_str() + at + 10);
    if (c.some_in_window) {
      EXPECT_GT(in_window, 0) << output(o);
      EXPECT_LT(in_window, 6) << output(o);
      EXPECT_GT(report_value(line, "layer_range_full"), 0) << line;
    } else {
      EXPECT_EQ(in_window, 0) << output(o);
    }
    EXPECT_GE(report_value(line, "large_to_backend"), 6 - in_window) << line;
  }
}

// VMRECLAIM_MALLOC_THRESHOLD decides which requests the layer serves; a bad
// value is named on stderr and the default kept.
TEST_F(Preload, ThresholdSettingDecidesWhatTheLayerServes) {
  ChildResult dflt = probe("settings");
  EXPECT_EQ(dflt.exit_code, 0) << output(dflt);
  EXPECT_NE(output(dflt).find("layer_served_64k=0"), std::string::npos) << output(dflt);
  EXPECT_EQ(report_value(read_file(report_), "threshold"), 128 * 1024);
  unlink(report_.c_str());

  ChildResult low = probe("settings", {"VMRECLAIM_MALLOC_THRESHOLD=16K"});
  EXPECT_EQ(low.exit_code, 0) << output(low);
  EXPECT_NE(output(low).find("layer_served_64k=1"), std::string::npos) << output(low);
  EXPECT_EQ(report_value(read_file(report_), "threshold"), 16 * 1024);
  unlink(report_.c_str());

  ChildResult bad = probe("settings", {"VMRECLAIM_MALLOC_THRESHOLD=12Q"});
  EXPECT_EQ(bad.exit_code, 0) << output(bad);
  EXPECT_NE(
      output(bad).find("vmreclaim-malloc: ignoring VMRECLAIM_MALLOC_THRESHOLD=12Q (not a size: an unknown suffix"),
      std::string::npos)
      << output(bad);
  EXPECT_NE(output(bad).find("layer_served_64k=0"), std::string::npos) << output(bad);
}

// VMRECLAIM_MALLOC_HUGEPAGES: blocks of 2 MiB and more are advised for huge
// pages unless it is 0; a value other than 0 or 1 is reported and ignored.
TEST_F(Preload, HugePagesSettingDecidesTheAdvice) {
  ChildResult dflt = probe("huge_pages");
  ASSERT_EQ(dflt.exit_code, 0) << output(dflt);
  std::string line = read_file(report_);
  EXPECT_EQ(report_value(line, "huge_pages"), 1) << line;
  if (report_value(line, "layer_hugepage_refusals") != 0) GTEST_SKIP() << "this kernel refuses MADV_HUGEPAGE (no THP)";
  EXPECT_NE(output(dflt).find("huge_advised=1"), std::string::npos) << output(dflt);
  unlink(report_.c_str());

  ChildResult off = probe("huge_pages", {"VMRECLAIM_MALLOC_HUGEPAGES=0"});
  ASSERT_EQ(off.exit_code, 0) << output(off);
  EXPECT_NE(output(off).find("huge_advised=0"), std::string::npos) << output(off);
  EXPECT_EQ(report_value(read_file(report_), "huge_pages"), 0);
  unlink(report_.c_str());

  ChildResult bad = probe("huge_pages", {"VMRECLAIM_MALLOC_HUGEPAGES=yes"});
  ASSERT_EQ(bad.exit_code, 0) << output(bad);
  EXPECT_NE(
      output(bad).find("vmreclaim-malloc: ignoring VMRECLAIM_MALLOC_HUGEPAGES=yes (not 0 or 1); using the default"),
      std::string::npos)
      << output(bad);
  EXPECT_NE(output(bad).find("huge_advised=1"), std::string::npos) << output(bad);
}

// VMRECLAIM_MALLOC_CACHE_MAX bounds the cache: past it the oldest blocks are
// unmapped.
TEST_F(Preload, CacheMaxSettingBoundsTheCache) {
  ChildResult dflt = probe("cache_cap");
  ASSERT_EQ(dflt.exit_code, 0) << output(dflt);
  std::string line = read_file(report_);
  EXPECT_EQ(report_value(line, "cached_bytes"), 4 << 20) << line;
  EXPECT_EQ(report_value(line, "evictions"), 0) << line;
  unlink(report_.c_str());

  ChildResult capped = probe("cache_cap", {"VMRECLAIM_MALLOC_CACHE_MAX=2M"});
  ASSERT_EQ(capped.exit_code, 0) << output(capped);
  line = read_file(report_);
  EXPECT_EQ(report_value(line, "cached_bytes"), 2 << 20) << line;
  EXPECT_EQ(report_value(line, "evictions"), 2) << line;
  EXPECT_EQ(report_value(line, "layer_munmaps"), 2) << line;
}

// realloc goes around the cache: growth lands in a cached block (its pages
// resident: writing them faults nothing), a shrunk block's tail is cached
// and taken back when it grows again, a block the engine released takes
// the old pages by mremap; contents kept throughout.
TEST_F(Preload, ReallocGrowsThroughTheCacheWithoutFaulting) {
  ChildResult o = probe("realloc_paths");
  ASSERT_EQ(o.exit_code, 0) << output(o);
  // 5 MiB of new pages each: 1280 faults if they were fresh.
  const long kFresh = 5 * 256;
  for (const char* key : {"grow_into_cached_faults=", "grow_into_tail_faults="}) {
    size_t at = output(o).find(key);
    ASSERT_NE(at, std::string::npos) << output(o);
    EXPECT_LT(std::atol(output(o).c_str() + at + std::strlen(key)), kFresh / 20) << key << "\n" << output(o);
  }
  std::string line = read_file(report_);
  EXPECT_EQ(report_value(line, "realloc_into_cached"), 1) << line;
  EXPECT_EQ(report_value(line, "realloc_tails_cached"), 1) << line;
  EXPECT_EQ(report_value(line, "realloc_absorbed"), 1) << line;
  EXPECT_EQ(report_value(line, "realloc_moved"), 1) << line;
  EXPECT_EQ(report_value(line, "realloc_remapped"), 0) << line;
}

// mremap cannot move a block whose mapping was split: realloc copies.
TEST_F(Preload, ReallocOfABlockOverTwoMappingsKeepsTheData) {
  ChildResult o = probe("realloc_copy_fallback");
  EXPECT_EQ(o.exit_code, 0) << output(o);
  std::string line = read_file(report_);
  // Kernels before 6.17 refuse to move a range over two mappings (the layer
  // copies); later ones move both (the block moves keeping its size).
  EXPECT_EQ(report_value(line, "realloc_copied") + report_value(line, "realloc_remapped"), 1) << line;
}

// One ring per process, whoever allocates it first.
TEST_F(Preload, AProgramsOwnRingBesideTheLayer) {
  ChildResult first = probe("own_ring_first");
  EXPECT_EQ(first.exit_code, 0) << output(first);
  std::string line = read_file(report_);
  EXPECT_EQ(report_value(line, "direct_unmaps"), 3) << line;  // no ring for the layer
  EXPECT_EQ(report_value(line, "reused_intact"), 0) << line;
  unlink(report_.c_str());

  ChildResult after = probe("own_ring_after");
  EXPECT_EQ(after.exit_code, 0) << output(after);
  line = read_file(report_);
  EXPECT_EQ(report_value(line, "reused_intact"), 1) << line;
}

// `vmreclaim run` finds the layer, preloads it and summarises what it did.
TEST_F(Preload, VmreclaimRunRunsTheProgramUnderTheLayer) {
#ifndef VMRECLAIM_CLI
  GTEST_SKIP() << "built without the vmreclaim command (VMRECLAIM_BUILD_TOOLS=OFF)";
#else
  ChildResult o = run({VMRECLAIM_CLI, "run", "--", VMRECLAIM_PRELOAD_PROBE, "entry_points"}, {});
  EXPECT_EQ(o.exit_code, 0) << output(o);
  EXPECT_NE(output(o).find("ok"), std::string::npos) << output(o);
  EXPECT_NE(output(o).find("exited with status 0"), std::string::npos) << output(o);
  EXPECT_NE(output(o).find("processes reporting     1"), std::string::npos) << output(o);
  size_t at = output(o).find("large allocations       ");
  ASSERT_NE(at, std::string::npos) << output(o);
  EXPECT_GT(std::atoll(output(o).c_str() + at + 24), 20) << output(o);

  // --threshold reaches the layer.
  ChildResult low = run({VMRECLAIM_CLI, "run", "--threshold", "16K", "--", VMRECLAIM_PRELOAD_PROBE, "settings"}, {});
  EXPECT_EQ(low.exit_code, 0) << output(low);
  EXPECT_NE(output(low).find("layer_served_64k=1"), std::string::npos) << output(low);
  EXPECT_NE(output(low).find("(threshold 16384 bytes)"), std::string::npos) << output(low);

  // The program's exit status is the command's.
  ChildResult failing = run({VMRECLAIM_CLI, "run", "--", VMRECLAIM_PRELOAD_PROBE, "no-such-scenario"}, {});
  EXPECT_EQ(failing.exit_code, 2) << output(failing);
#endif
}

// The layer opens no control endpoint unless asked (a program that knows
// nothing of the library gains no descriptor); `vmreclaim run` asks, so the
// operator who started a program under it can drain and trim it. The same
// program with the layer preloaded by hand cannot be reached.
TEST_F(Preload, VmreclaimRunAsksForTheControlEndpoint) {
#ifndef VMRECLAIM_CLI
  GTEST_SKIP() << "built without the vmreclaim command (VMRECLAIM_BUILD_TOOLS=OFF)";
#else
  const char* script =
      "import os, sys\n"
      "b = bytearray(8 << 20)\n"
      "del b\n"
      "print(os.getpid(), flush=True)\n"
      "sys.stdin.readline()\n";
  // Starts the program, then runs `vmreclaim ARGS... PID` on it; the outputs.
  auto operate = [](std::vector<std::string> argv, std::vector<std::string> env,
                    std::vector<std::vector<std::string>> commands) {
    std::vector<ChildResult> outcomes;
    SpawnOptions o;
    o.argv = std::move(argv);
    o.env = std::move(env);
    o.drop_vmreclaim_env = true;
    o.stdin_pipe = true;
    std::optional<Child> c = Child::spawn(o);
    if (!c) return outcomes;
    std::optional<std::string> pid = c->read_line(kChildTimeout);
    if (!pid || pid->empty()) return outcomes;
    for (std::vector<std::string> cmd : commands) {
      cmd.insert(cmd.begin(), VMRECLAIM_CLI);
      cmd.insert(cmd.begin() + 2, *pid);
      outcomes.push_back(run(cmd, {}));
    }
    c->close_stdin();
    std::string out, err;
    c->communicate(&out, &err, kChildTimeout);
    return outcomes;
  };
  const std::vector<std::vector<std::string>> commands = {{"trim", "4K"}, {"drain", "--timeout", "2"}};
  std::vector<ChildResult> served =
      operate({VMRECLAIM_CLI, "run", "--", "/usr/bin/python3", "-c", script}, {}, commands);
  ASSERT_EQ(served.size(), 2u);
  EXPECT_EQ(served[0].exit_code, 0) << output(served[0]);
  EXPECT_EQ(served[1].exit_code, 0) << output(served[1]);
  EXPECT_NE(output(served[1]).find("drained"), std::string::npos) << output(served[1]);

  std::vector<ChildResult> plain =
      operate({"/usr/bin/python3", "-c", script}, {kPreload}, {{"drain", "--timeout", "0.2"}});
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_EQ(plain[0].exit_code, 6) << "the layer opened a control endpoint unasked: " << output(plain[0]);
#endif
}

TEST_F(Preload, SortOfALargeFileMatchesTheUnpreloadedResult) {
  const std::string input = dir_ + "/input", plain = dir_ + "/plain", layered = dir_ + "/layered";
  {
    std::ofstream f(input);
    unsigned r = 1;
    for (int i = 0; i < 200000; i++) {
      r = r * 1103515245u + 12345u;
      f << r % 1000003 << " line " << i << '\n';
    }
  }
  ChildResult a = run({"/usr/bin/sort", "-S", "64M", "-o", plain, input}, {});
  ChildResult b = run({"/usr/bin/sort", "-S", "64M", "-o", layered, input}, env());
  ASSERT_EQ(a.exit_code, 0) << output(a);
  ASSERT_EQ(b.exit_code, 0) << output(b);
  EXPECT_EQ(read_file(plain), read_file(layered));
  EXPECT_GT(report_value(read_file(report_), "large_allocs"), 0);
  unlink(input.c_str());
  unlink(plain.c_str());
  unlink(layered.c_str());
}

TEST_F(Preload, PythonBuildingLargeObjectsComputesTheSame) {
  const char* script =
      "import hashlib\n"
      "h = hashlib.sha256()\n"
      "for r in range(30):\n"
      "    xs = [bytes([i % 251]) * (150000 + 40000 * i) for i in range(12)]\n"
      "    big = list(range(100000 + r * 5000))\n"
      "    for x in xs: h.update(x)\n"
      "    h.update(str(sum(big)).encode())\n"
      "print(h.hexdigest())\n";
  ChildResult a = run({"/usr/bin/python3", "-c", script}, {});
  ChildResult b = run({"/usr/bin/python3", "-c", script}, env());
  ASSERT_EQ(a.exit_code, 0) << output(a);
  EXPECT_EQ(b.exit_code, 0) << output(b);
  EXPECT_EQ(output(a), output(b));
  EXPECT_GT(report_value(read_file(report_), "reused_intact"), 0) << read_file(report_);
}

TEST_F(Preload, XzRoundTripUnderTheLayer) {
  if (access("/usr/bin/xz", X_OK) != 0) GTEST_SKIP() << "xz is not installed";
  const std::string input = dir_ + "/data", packed = dir_ + "/data.xz", unpacked = dir_ + "/data.out";
  {
    std::ofstream f(input, std::ios::binary);
    unsigned r = 7;
    for (int i = 0; i < 1 << 20; i++) {
      r = r * 1103515245u + 12345u;
      f.put(static_cast<char>("abcdefgh"[(r >> 16) % 8]));
    }
  }
  ChildResult c = run({"/bin/sh", "-c", "xz -6 -T2 -c " + input + " > " + packed}, env());
  ASSERT_EQ(c.exit_code, 0) << output(c);
  ChildResult d = run({"/bin/sh", "-c", "xz -d -c " + packed + " > " + unpacked}, env());
  ASSERT_EQ(d.exit_code, 0) << output(d);
  EXPECT_EQ(read_file(input), read_file(unpacked));
  EXPECT_GT(report_value(read_file(report_), "large_allocs"), 0);
  unlink(input.c_str());
  unlink(packed.c_str());
  unlink(unpacked.c_str());
}

// The value of `key=` in the probe's output, or -1.
long long printed(const ChildResult& r, const std::string& key) {
  size_t at = r.out.find(key + "=");
  if (at == std::string::npos) return -1;
  return std::atoll(r.out.c_str() + at + key.size() + 1);
}

// The idle trim (docs/allocator.md, "After the program stops"): a program
// that churned 128 MiB through the cache and went idle gets it back before
// the engine's first working-set sample (a minute here: without the idle
// trim nothing would go for two of them), not after some seconds.
const std::vector<std::string> kSlowSampling{"VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS=60000000000",
                                             "VMRECLAIM_PRESSURE=normal"};

TEST_F(Preload, AnIdleProgramGetsItsCacheBackBeforeTheFirstSample) {
  ChildResult o = probe("idle_give_back", kSlowSampling, "20");
  ASSERT_EQ(o.exit_code, 0) << output(o);
  EXPECT_EQ(printed(o, "given_back"), 1) << output(o);
  EXPECT_EQ(printed(o, "samples"), 0) << output(o);                  // not the sampler's doing
  EXPECT_GE(printed(o, "trimmed_bytes"), 128ll << 20) << output(o);  // the whole cache, in one trim
}

// The engine's tunable decides: 0 turns the idle trim off under the layer
// too, and the cache stays until the sampler's trims (here: a minute away).
TEST_F(Preload, TheIdleTrimIsOffWithItsTunableAtZero) {
  std::vector<std::string> e = kSlowSampling;
  e.push_back("VMRECLAIM_IDLE_TRIM_NS=0");
  ChildResult o = probe("idle_give_back", e, "3");
  ASSERT_EQ(o.exit_code, 0) << output(o);
  EXPECT_EQ(printed(o, "given_back"), 0) << output(o);
  EXPECT_EQ(printed(o, "trimmed_bytes"), 0) << output(o);
}

// A program that keeps freeing and taking back its block (every 100 ms, the
// default quiet time is 500 ms) keeps it: nothing is reclaimed, and writing
// the block faults nothing (a cache given back would fault 4096 pages each
// time).
TEST_F(Preload, ABusyProgramKeepsItsCache) {
  ChildResult o = probe("busy_keeps_cache", kSlowSampling, "3");
  ASSERT_EQ(o.exit_code, 0) << output(o);
  EXPECT_EQ(printed(o, "reclaimed_while_busy"), 0) << output(o);
  const long long faults = printed(o, "loop_faults");
  EXPECT_GE(faults, 0) << output(o);
  EXPECT_LT(faults, 1000) << output(o);
  std::string line = read_file(report_);
  EXPECT_EQ(report_value(line, "reused_zeroed"), 0) << line;
  EXPECT_GE(report_value(line, "reused_intact"), 20) << line;
}

// Nor is a program idle that computes without allocating for longer than
// the quiet time (here 2 s of one CPU, four quiet times): the ring's count
// stands still, but the process is busy, and the block it takes back after
// the computation is still there (no faults).
TEST_F(Preload, AComputingProgramKeepsItsCache) {
  ChildResult o = probe("compute_keeps_cache", kSlowSampling, "2");
  ASSERT_EQ(o.exit_code, 0) << output(o);
  EXPECT_EQ(printed(o, "reclaimed_while_computing"), 0) << output(o);
  const long long faults = printed(o, "refill_faults");
  EXPECT_GE(faults, 0) << output(o);
  EXPECT_LT(faults, 100) << output(o);
}

}  // namespace
}  // namespace vmreclaim::test
