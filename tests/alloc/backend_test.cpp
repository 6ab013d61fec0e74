// The layer in front of each backend (glibc, mimalloc, jemalloc, tcmalloc):
// backend_probe's scenarios in real processes under LD_PRELOAD with
// VMRECLAIM_MALLOC_BACKEND, the C++ operators routed to the layer, realloc
// across the threshold both ways, frees reaching the right owner, fork, and
// misuse still one line and an abort; then the setting's bad values and
// `vmreclaim run --with`. A backend whose library is not installed is
// skipped with that reason. Sanitiser builds skip everything (their runtimes
// own malloc).
#include <elf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "backend.h"
#include "backend_names.h"
#include "report_dir.h"
#include "support/child.h"

namespace vmreclaim::test {
namespace {

using vmreclaim::alloc::backend_by_name;
using vmreclaim::alloc::BackendName;

// Runs argv[0] (a path) with `env_extra` added to the environment, without
// what this process inherited of LD_PRELOAD and the VMRECLAIM_* settings:
// each test says what it uses.
ChildResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env_extra) {
  std::vector<std::string> env = {"LD_PRELOAD="};
  env.insert(env.end(), env_extra.begin(), env_extra.end());
  return run_child({.argv = argv, .env = env, .drop_vmreclaim_env = true}, std::chrono::seconds(60));
}

// What the tests search: its stderr, then its stdout (the layer's complaints
// come at start-up, the probe's results at its end).
std::string output(const ChildResult& r) { return r.err + r.out; }

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The text after ` key=` up to the next space or newline, or "".
std::string field(const std::string& text, const std::string& key) {
  size_t at = text.find(key + "=");
  if (at == std::string::npos) return "";
  at += key.size() + 1;
  return text.substr(at, text.find_first_of(" \n", at) - at);
}

long long number(const std::string& text, const std::string& key) {
  std::string v = field(text, " " + key);
  return v.empty() ? -1 : std::atoll(v.c_str());
}

int lines(const std::string& text) {
  int n = 0;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) n += !l.empty();
  return n;
}

using WithReport = ReportDir;

// Both builds of the layer (alloc/CMakeLists.txt): the default one, whose
// fast paths go straight into the built-in mimalloc, and the generic one.
// Each takes every backend.
struct Build {
  const char* name;
  const char* library;
};
const Build kBuilds[] = {{"default", VMRECLAIM_MALLOC_LIB}, {"generic", VMRECLAIM_MALLOC_GENERIC_LIB}};
// The build's name in test listings (ctest's names), not its bytes.
[[maybe_unused]] void PrintTo(const Build& b, std::ostream* os) { *os << b.name; }

class Backend : public WithReport, public ::testing::WithParamInterface<std::tuple<Build, std::string>> {
 protected:
  void SetUp() override {
    WithReport::SetUp();
    if (IsSkipped()) return;
    library_ = std::get<0>(GetParam()).library;
    name_ = std::get<1>(GetParam());
    info_ = backend_by_name(name_);
    ASSERT_NE(info_, nullptr);
  }

  // The layer with the backend chosen by the setting; a backend that must be
  // loaded at start-up is listed after the layer, as `vmreclaim run` does.
  std::vector<std::string> env() const {
    std::string preload = std::string("LD_PRELOAD=") + library_;
    if (info_->needs_preload) preload += std::string(" ") + info_->soname;
    return {preload, std::string("VMRECLAIM_MALLOC_BACKEND=") + name_, "VMRECLAIM_MALLOC_REPORT=" + report_};
  }

  // Runs a probe scenario; skips the test if the backend is not installed.
  ChildResult probe(const char* scenario) {
    ChildResult o = run({VMRECLAIM_BACKEND_PROBE, scenario}, env());
    if (output(o).find("cannot use " + name_ + " as the backend") != std::string::npos &&
        (output(o).find("cannot open shared object file") != std::string::npos ||
         output(o).find("cannot be preloaded") != std::string::npos)) {
      skipped_ = true;
    }
    return o;
  }

  void expect_backend_used() {
    std::string r = read_file(report_);
    EXPECT_EQ(lines(r), 1) << r;
    EXPECT_EQ(field(r, " backend"), name_) << r;
    EXPECT_EQ(field(r, " layer"), library_.substr(library_.rfind('/') + 1)) << r;
  }

  std::string library_;
  std::string name_;
  const BackendName* info_ = nullptr;
  bool skipped_ = false;
};

#define SKIP_IF_MISSING(o) \
  if (skipped_) GTEST_SKIP() << name_ << " is not installed: " << output(o)

TEST_P(Backend, CxxOperatorsOfEveryFormGoToTheLayer) {
  ChildResult o = probe("cxx");
  SKIP_IF_MISSING(o);
  ASSERT_EQ(o.exit_code, 0) << output(o);
  EXPECT_NE(output(o).find("\nok"), std::string::npos) << output(o);
  expect_backend_used();
  std::string r = read_file(report_);
  // Every large new was the layer's, and the block deleted first came back.
  long long large = std::atoll(field(output(o), "large").c_str());
  EXPECT_GE(large, 20) << output(o);
  EXPECT_GE(number(r, "large_allocs"), large) << r;
  EXPECT_GT(number(r, "reused_intact"), 0) << r;
}

TEST_P(Backend, ReallocAcrossTheThresholdBothWaysKeepsTheData) {
  ChildResult o = probe("realloc_cross");
  SKIP_IF_MISSING(o);
  ASSERT_EQ(o.exit_code, 0) << output(o);
  expect_backend_used();
  std::string r = read_file(report_);
  EXPECT_GE(number(r, "large_allocs"), 40) << r;
  EXPECT_GT(number(r, "realloc_remapped") + number(r, "realloc_in_place"), 0) << r;
}

TEST_P(Backend, ThreadsFreeingSmallAndLargeBlocksReachTheirOwner) {
  ChildResult o = probe("mixed_threads");
  SKIP_IF_MISSING(o);
  ASSERT_EQ(o.exit_code, 0) << output(o);
  expect_backend_used();
  EXPECT_GT(number(read_file(report_), "large_frees"), 1000);
}

TEST_P(Backend, ForkWhileThreadsAllocate) {
  ChildResult o = probe("fork");
  SKIP_IF_MISSING(o);
  EXPECT_EQ(o.exit_code, 0) << output(o);
  expect_backend_used();  // the children leave with _exit: one line, the parent's
}

// The backend's own blocks, wherever they sit in a page, are freed without
// the layer's slow path: free()'s test is true only in the layer's window.
// (The page-offset test it replaces sent every block at page offset 0 or 16
// there: 0.7 % of mimalloc's in glibc-thread's pattern.)
TEST_P(Backend, ItsBlocksAtAnyPageOffsetAreFreedWithoutTheSlowPath) {
  ChildResult o = probe("small_frees");
  SKIP_IF_MISSING(o);
  ASSERT_EQ(o.exit_code, 0) << output(o);
  expect_backend_used();
  EXPECT_GE(std::atoll(field(output(o), "at_page_offset_0_or_16").c_str()), 1000) << output(o);
  EXPECT_EQ(number(read_file(report_), "slow_frees_to_backend"), 0) << read_file(report_);
}

TEST_P(Backend, DoubleFreeOfALargeBlockIsOneLineAndAnAbort) {
  for (const char* scenario : {"double_free", "double_delete"}) {
    ChildResult o = probe(scenario);
    SKIP_IF_MISSING(o);
    EXPECT_TRUE(o.killed_by(SIGABRT)) << scenario << ": " << o.describe();
    EXPECT_EQ(lines(output(o)), 1) << scenario << ": " << output(o);
    EXPECT_EQ(output(o).rfind("vmreclaim-malloc: double free of large block", 0), 0u) << scenario << ": " << output(o);
  }
}

INSTANTIATE_TEST_SUITE_P(All, Backend,
                         ::testing::Combine(::testing::ValuesIn(kBuilds),
                                            ::testing::Values(std::string("glibc"), std::string("mimalloc"),
                                                              std::string("jemalloc"), std::string("tcmalloc"))),
                         [](const auto& p) {
                           return std::string(std::get<0>(p.param).name) + "_" + std::get<1>(p.param);
                         });

using BackendSetting = WithReport;

TEST_F(BackendSetting, AnUnknownNameIsReportedInOneLineAndTheDefaultUsed) {
  ChildResult o = run({VMRECLAIM_BACKEND_PROBE, "realloc_cross"},
                      {std::string("LD_PRELOAD=") + VMRECLAIM_MALLOC_LIB, "VMRECLAIM_MALLOC_BACKEND=hoard",
                       "VMRECLAIM_MALLOC_REPORT=" + report_});
  ASSERT_EQ(o.exit_code, 0) << output(o);
  EXPECT_EQ(output(o).rfind("vmreclaim-malloc: ignoring VMRECLAIM_MALLOC_BACKEND=hoard (not one of glibc, mimalloc, "
                            "jemalloc, tcmalloc); using the default (",
                            0),
            0u)
      << output(o);
  EXPECT_EQ(lines(output(o)), 2) << output(o);  // the complaint and "ok"
}

TEST_F(BackendSetting, WithoutTheSettingTheDefaultServesSmallRequests) {
  ChildResult o = run({VMRECLAIM_BACKEND_PROBE, "realloc_cross"},
                      {std::string("LD_PRELOAD=") + VMRECLAIM_MALLOC_LIB, "VMRECLAIM_MALLOC_REPORT=" + report_});
  ASSERT_EQ(o.exit_code, 0) << output(o);
  EXPECT_EQ(lines(output(o)), 1) << output(o);  // "ok": nothing said
  const BackendName& d = vmreclaim::alloc::backend_name(vmreclaim::alloc::kDefaultBackend);
  std::string used = field(read_file(report_), " backend");
  if (used == "glibc" && d.soname != nullptr) GTEST_SKIP() << d.soname << " (the default) is not installed";
  EXPECT_EQ(used, d.name);
}

TEST_F(BackendSetting, ABackendThatCannotBeLoadedLateIsReportedAndGlibcUsed) {
  // jemalloc's static TLS cannot be had by dlopen: it must be preloaded.
  ChildResult o = run({VMRECLAIM_BACKEND_PROBE, "realloc_cross"},
                      {std::string("LD_PRELOAD=") + VMRECLAIM_MALLOC_LIB, "VMRECLAIM_MALLOC_BACKEND=jemalloc",
                       "VMRECLAIM_MALLOC_REPORT=" + report_});
  ASSERT_EQ(o.exit_code, 0) << output(o);
  EXPECT_EQ(output(o).rfind("vmreclaim-malloc: cannot use jemalloc as the backend (", 0), 0u) << output(o);
  EXPECT_NE(output(o).find("; using glibc\n"), std::string::npos) << output(o);
  EXPECT_EQ(lines(output(o)), 2) << output(o);
  EXPECT_EQ(field(read_file(report_), " backend"), "glibc");
}

#ifdef VMRECLAIM_CLI
class RunWith : public WithReport, public ::testing::WithParamInterface<const char*> {};

// With no VMRECLAIM_MALLOC_LIB, the command finds the build of the layer the
// backend asks for (backend_names.h) in this build tree.
TEST_P(RunWith, PutsTheLayerInFrontOfTheBackend) {
  const std::string name = GetParam();
  ChildResult o = run({VMRECLAIM_CLI, "run", "--with", name, "--", VMRECLAIM_BACKEND_PROBE, "cxx"}, {});
  if (output(o).find("cannot use " + name + " as the backend") != std::string::npos ||
      output(o).find("is not installed") != std::string::npos) {
    GTEST_SKIP() << name << " is not installed: " << output(o);
  }
  ASSERT_EQ(o.exit_code, 0) << output(o);
  EXPECT_NE(output(o).find("backend                 " + name + "\n"), std::string::npos) << output(o);
  const std::string layer = name == "mimalloc" ? "libvmreclaim-malloc.so" : "libvmreclaim-malloc-generic.so";
  EXPECT_NE(output(o).find("layer                   " + layer + "\n"), std::string::npos) << output(o);
  const std::string text = output(o);
  long long large = std::atoll(field(text, "large").c_str());
  size_t at = text.find("large allocations");
  ASSERT_NE(at, std::string::npos) << text;
  EXPECT_GE(std::atoll(text.c_str() + text.find_first_of("0123456789", at)), large) << text;
}

INSTANTIATE_TEST_SUITE_P(All, RunWith, ::testing::Values("glibc", "mimalloc", "jemalloc", "tcmalloc"),
                         [](const auto& p) { return std::string(p.param); });

TEST(RunWithBadInput, AnUnknownBackendIsRefusedAndNothingRuns) {
  char marker[] = "/tmp/vmreclaim-runwith-XXXXXX";
  int fd = mkstemp(marker);
  ASSERT_GE(fd, 0);
  close(fd);
  unlink(marker);
  ChildResult o = run({VMRECLAIM_CLI, "run", "--with", "hoard", "--", "touch", marker}, {});
  EXPECT_NE(o.exit_code, 0) << output(o);
  EXPECT_NE(output(o).find("hoard"), std::string::npos) << output(o);
  EXPECT_NE(access(marker, F_OK), 0) << "the command ran";
  unlink(marker);
}
#endif

// The first bytes of the function `name` exported by the ELF file at `path`
// (empty if it cannot be found), and its address in *addr. Unused where the
// tests below are compiled out (sanitizer and Debug builds).
[[maybe_unused]] std::string function_bytes(const std::string& path, const char* name, size_t n, uint64_t* addr) {
  std::string f = read_file(path);
  if (f.size() < sizeof(Elf64_Ehdr)) return "";
  Elf64_Ehdr eh;
  std::memcpy(&eh, f.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64) return "";
  if (eh.e_shoff == 0 || eh.e_shoff + size_t{eh.e_shnum} * sizeof(Elf64_Shdr) > f.size()) return "";
  std::vector<Elf64_Shdr> sh(eh.e_shnum);
  std::memcpy(sh.data(), f.data() + eh.e_shoff, sh.size() * sizeof(Elf64_Shdr));
  auto in_file = [&](const Elf64_Shdr& s) { return s.sh_offset <= f.size() && s.sh_size <= f.size() - s.sh_offset; };
  for (const Elf64_Shdr& sym : sh) {
    if (sym.sh_type != SHT_DYNSYM || sym.sh_link >= sh.size() || !in_file(sym) || !in_file(sh[sym.sh_link])) continue;
    const Elf64_Shdr& str = sh[sym.sh_link];
    for (size_t i = 0; i + 1 <= sym.sh_size / sizeof(Elf64_Sym); ++i) {
      Elf64_Sym s;
      std::memcpy(&s, f.data() + sym.sh_offset + i * sizeof s, sizeof s);
      if (s.st_shndx == SHN_UNDEF || s.st_shndx >= sh.size() || s.st_name >= str.sh_size) continue;
      if (std::strncmp(f.data() + str.sh_offset + s.st_name, name, str.sh_size - s.st_name) != 0) continue;
      const Elf64_Shdr& text = sh[s.st_shndx];
      if (!in_file(text) || s.st_value < text.sh_addr || s.st_value - text.sh_addr + n > text.sh_size) return "";
      *addr = s.st_value;
      return f.substr(text.sh_offset + (s.st_value - text.sh_addr), n);
    }
  }
  return "";
}

// The instructions of the function `symbol` in `lib` (any of its symbols,
// hidden ones too) that run when none of its branches is taken, up to and
// including its first `ret`, as objdump prints them ("mov    %rdi,%rax").
// A fast path is laid out this way (the shims' tests are [[likely]], and
// mimalloc's are mi_likely). Empty if objdump cannot show the symbol.
[[maybe_unused]] std::vector<std::string> straight_path(const std::string& lib, const std::string& symbol) {
  std::vector<std::string> path;
  const std::string cmd = "objdump -d --no-show-raw-insn --disassemble=" + symbol + " '" + lib + "' 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return path;
  char line[512];
  bool done = false;
  while (std::fgets(line, sizeof line, p) != nullptr) {
    // "    7e20:\tmov    %rdi,%rax"
    const char* tab = std::strchr(line, '\t');
    if (done || tab == nullptr || std::strchr(line, ':') > tab) continue;
    std::string insn(tab + 1);
    insn.erase(insn.find_last_not_of(" \n") + 1);
    if (insn.empty() || insn.rfind("nop", 0) == 0 || insn.find(" nop") != std::string::npos) continue;
    path.push_back(insn);
    done = insn == "ret";
  }
  ::pclose(p);
  if (!done) path.clear();
  return path;
}

// The generic build's small path (docs/benchmarks.md, "The small path: a
// compare with a constant, on a line of its own"): malloc's first
// instruction compares the size with a constant, no load from memory comes
// before its branch, and the shims of both builds start on a 32-byte
// boundary, so that their fast paths never straddle a 64-byte line. With the
// threshold loaded first and malloc's `jmp *ptr` across a line, glibc-simple
// over mimalloc took 1.96 s of CPU against 1.26 s for the same instructions
// elsewhere: this checks the machine code, not a time.
TEST(SmallPath, TheGenericBuildComparesWithAConstantBeforeAnyLoad) {
#if defined(VMRECLAIM_ALLOC_SANITIZED) || defined(VMRECLAIM_ALLOC_UNOPTIMISED) || !defined(__x86_64__)
  GTEST_SKIP() << "the shims' machine code is checked in optimised x86-64 builds without sanitizers";
#else
  for (const Build& build : kBuilds) {
    for (const char* shim : {"malloc", "free", "calloc", "realloc", "posix_memalign", "_Znwm", "_ZdlPv", "_ZdlPvm"}) {
      uint64_t at = 0;
      EXPECT_EQ(function_bytes(build.library, shim, 1, &at).size(), 1u) << "no " << shim << " in " << build.library;
      EXPECT_EQ(at % 32, 0u) << shim << " at 0x" << std::hex << at << " in " << build.library
                             << " is not on a 32-byte boundary";
    }
  }
  uint64_t at = 0;
  std::string code = function_bytes(VMRECLAIM_MALLOC_GENERIC_LIB, "malloc", 8, &at);
  ASSERT_EQ(code.size(), 8u) << "no malloc in " << VMRECLAIM_MALLOC_GENERIC_LIB;
  auto byte = [&](size_t i) { return static_cast<unsigned char>(code[i]); };
  // cmp $imm32,%rdi (REX.W 81 /7, ModRM 0xff), then ja.
  ASSERT_TRUE(byte(0) == 0x48 && byte(1) == 0x81 && byte(2) == 0xff)
      << "malloc does not start with cmp $imm32,%rdi: bytes " << std::hex << int{byte(0)} << " " << int{byte(1)} << " "
      << int{byte(2)} << " (0x48 0x8b: a load from memory first)";
  uint32_t imm = 0;
  std::memcpy(&imm, code.data() + 3, sizeof imm);
  EXPECT_EQ(imm, vmreclaim::alloc::kFastPathLimit - 1);
  EXPECT_EQ(byte(7), 0x77) << "the compare is not followed by ja";
  // free tests the window with constants: mov %rdi,%rax; shr $45,%rax, no
  // load from memory before its branch.
  const std::string f = function_bytes(VMRECLAIM_MALLOC_GENERIC_LIB, "free", 7, &at);
  ASSERT_EQ(f.size(), 7u);
  EXPECT_EQ(f, std::string("\x48\x89\xf8\x48\xc1\xe8\x2d", 7))
      << "free does not start with mov %rdi,%rax; shr $45,%rax";
#endif
}

// The default build's fast paths are the built-in mimalloc's own after one
// test (docs/benchmarks.md, "One key, and mimalloc's free inlined"): malloc's
// path that returns without a branch taken is mi_malloc's with at most 3
// instructions more (a key's load, a compare, a branch), operator new's with
// 2 more again (it keeps the size in a saved register, for the new_handler's
// retry the standard asks for when mimalloc returns null), and
// free's and operator delete's is mi_free's with at most 6 more (the window
// index: copy, shift, subtraction; the key's load, a compare, a branch), no
// call or jump on either. Through a flag tested beside the size and the
// window, and a jump to mi_free, glibc-thread ran 3.8 % behind mimalloc
// alone; through the backend's pointer 5-8 %.
TEST(SmallPath, TheDefaultBuildsFastPathsAreMimallocsOwnAfterOneTest) {
#if defined(VMRECLAIM_ALLOC_SANITIZED) || defined(VMRECLAIM_ALLOC_UNOPTIMISED) || !defined(__x86_64__)
  GTEST_SKIP() << "the shims' machine code is checked in optimised x86-64 builds without sanitizers";
#else
  if (::access("/usr/bin/objdump", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/objdump (binutils) to read the code with";
  const struct {
    const char* shim;
    const char* own;
    size_t extra;
  } paths[] = {{"malloc", "mi_malloc", 3}, {"_Znwm", "mi_malloc", 5}, {"free", "mi_free", 6}, {"_ZdlPv", "mi_free", 6}};
  for (const auto& [shim, own, extra] : paths) {
    const std::vector<std::string> mine = straight_path(VMRECLAIM_MALLOC_LIB, shim);
    const std::vector<std::string> theirs = straight_path(VMRECLAIM_MALLOC_LIB, own);
    ASSERT_FALSE(theirs.empty()) << own << " is not in " << VMRECLAIM_MALLOC_LIB << " or has no ret";
    std::string listing;
    for (const std::string& insn : mine) listing += "\n  " + insn;
    ASSERT_FALSE(mine.empty()) << shim << " never returns without a branch taken (it jumps on)";
    EXPECT_LE(mine.size(), theirs.size() + extra)
        << shim << ": " << mine.size() << " instructions to its ret, " << own << " " << theirs.size() << ":" << listing;
    for (const std::string& insn : mine) {
      EXPECT_TRUE(insn.rfind("call", 0) != 0 && insn.rfind("jmp", 0) != 0) << shim << " calls or jumps:" << listing;
    }
  }
#endif
}

}  // namespace
}  // namespace vmreclaim::test
