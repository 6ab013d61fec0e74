// The layer in front of each backend (glibc, mimalloc, jemalloc, tcmalloc):
// backend_probe's scenarios in real processes under LD_PRELOAD with
// VMRECLAIM_MALLOC_BACKEND, the C++ operators routed to the layer, realloc
// across the threshold both ways, frees reaching the right owner, fork, and
// misuse still one line and an abort; then the setting's bad values and
// `vmreclaim run --with`. A backend whose library is not installed is
// skipped with that reason. Sanitiser builds skip everything (their runtimes
// own malloc).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "backend_names.h"
#include "report_dir.h"

namespace {

using vmreclaim::alloc::backend_by_name;
using vmreclaim::alloc::BackendName;

struct Outcome {
  int exit_code = -1;  // -1 if killed by a signal
  int signal = 0;
  std::string output;  // stdout and stderr
};

Outcome run(const std::vector<std::string>& argv, const std::vector<std::string>& env_extra) {
  char out_path[] = "/tmp/vmreclaim-backend-XXXXXX";
  int out = mkstemp(out_path);
  if (out < 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    int in = open("/dev/null", O_RDONLY);
    if (in >= 0) dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    unsetenv("LD_PRELOAD");
    unsetenv("VMRECLAIM_MALLOC_BACKEND");
    for (const std::string& kv : env_extra) putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  Outcome o;
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
  std::ifstream f(out_path);
  std::stringstream ss;
  ss << f.rdbuf();
  o.output = ss.str();
  close(out);
  unlink(out_path);
  return o;
}

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

using WithReport = vmreclaim::test::ReportDir;

class Backend : public WithReport, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    WithReport::SetUp();
    if (IsSkipped()) return;
    name_ = GetParam();
    info_ = backend_by_name(name_);
    ASSERT_NE(info_, nullptr);
  }

  // The layer with the backend chosen by the setting; a backend that must be
  // loaded at start-up is listed after the layer, as `vmreclaim run` does.
  std::vector<std::string> env() const {
    std::string preload = std::string("LD_PRELOAD=") + VMRECLAIM_MALLOC_LIB;
    if (info_->needs_preload) preload += std::string(" ") + info_->soname;
    return {preload, std::string("VMRECLAIM_MALLOC_BACKEND=") + name_, "VMRECLAIM_MALLOC_REPORT=" + report_};
  }

  // Runs a probe scenario; skips the test if the backend is not installed.
  Outcome probe(const char* scenario) {
    Outcome o = run({VMRECLAIM_BACKEND_PROBE, scenario}, env());
    if (o.output.find("cannot use " + name_ + " as the backend") != std::string::npos &&
        (o.output.find("cannot open shared object file") != std::string::npos ||
         o.output.find("cannot be preloaded") != std::string::npos)) {
      skipped_ = true;
    }
    return o;
  }

  void expect_backend_used() {
    std::string r = read_file(report_);
    EXPECT_EQ(lines(r), 1) << r;
    EXPECT_EQ(field(r, " backend"), name_) << r;
  }

  std::string name_;
  const BackendName* info_ = nullptr;
  bool skipped_ = false;
};

#define SKIP_IF_MISSING(o) \
  if (skipped_) GTEST_SKIP() << info_->soname << " is not installed: " << (o).output

TEST_P(Backend, CxxOperatorsOfEveryFormGoToTheLayer) {
  Outcome o = probe("cxx");
  SKIP_IF_MISSING(o);
  ASSERT_EQ(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("\nok"), std::string::npos) << o.output;
  expect_backend_used();
  std::string r = read_file(report_);
  // Every large new was the layer's, and the block deleted first came back.
  long long large = std::atoll(field(o.output, "large").c_str());
  EXPECT_GE(large, 20) << o.output;
  EXPECT_GE(number(r, "large_allocs"), large) << r;
  EXPECT_GT(number(r, "reused_intact"), 0) << r;
}

TEST_P(Backend, ReallocAcrossTheThresholdBothWaysKeepsTheData) {
  Outcome o = probe("realloc_cross");
  SKIP_IF_MISSING(o);
  ASSERT_EQ(o.exit_code, 0) << o.output;
  expect_backend_used();
  std::string r = read_file(report_);
  EXPECT_GE(number(r, "large_allocs"), 40) << r;
  EXPECT_GT(number(r, "realloc_remapped") + number(r, "realloc_in_place"), 0) << r;
}

TEST_P(Backend, ThreadsFreeingSmallAndLargeBlocksReachTheirOwner) {
  Outcome o = probe("mixed_threads");
  SKIP_IF_MISSING(o);
  ASSERT_EQ(o.exit_code, 0) << o.output;
  expect_backend_used();
  EXPECT_GT(number(read_file(report_), "large_frees"), 1000);
}

TEST_P(Backend, ForkWhileThreadsAllocate) {
  Outcome o = probe("fork");
  SKIP_IF_MISSING(o);
  EXPECT_EQ(o.exit_code, 0) << o.output;
  expect_backend_used();  // the children leave with _exit: one line, the parent's
}

TEST_P(Backend, DoubleFreeOfALargeBlockIsOneLineAndAnAbort) {
  for (const char* scenario : {"double_free", "double_delete"}) {
    Outcome o = probe(scenario);
    SKIP_IF_MISSING(o);
    EXPECT_EQ(o.signal, SIGABRT) << scenario << ": " << o.output;
    EXPECT_EQ(lines(o.output), 1) << scenario << ": " << o.output;
    EXPECT_EQ(o.output.rfind("vmreclaim-malloc: double free of large block", 0), 0u) << scenario << ": " << o.output;
  }
}

INSTANTIATE_TEST_SUITE_P(All, Backend, ::testing::Values("glibc", "mimalloc", "jemalloc", "tcmalloc"),
                         [](const auto& p) { return std::string(p.param); });

using BackendSetting = WithReport;

TEST_F(BackendSetting, AnUnknownNameIsReportedInOneLineAndTheDefaultUsed) {
  Outcome o = run({VMRECLAIM_BACKEND_PROBE, "realloc_cross"},
                  {std::string("LD_PRELOAD=") + VMRECLAIM_MALLOC_LIB, "VMRECLAIM_MALLOC_BACKEND=hoard",
                   "VMRECLAIM_MALLOC_REPORT=" + report_});
  ASSERT_EQ(o.exit_code, 0) << o.output;
  EXPECT_EQ(o.output.rfind("vmreclaim-malloc: ignoring VMRECLAIM_MALLOC_BACKEND=hoard (not one of glibc, mimalloc, "
                           "jemalloc, tcmalloc); using the default (",
                           0),
            0u)
      << o.output;
  EXPECT_EQ(lines(o.output), 2) << o.output;  // the complaint and "ok"
}

TEST_F(BackendSetting, WithoutTheSettingTheDefaultServesSmallRequests) {
  Outcome o = run({VMRECLAIM_BACKEND_PROBE, "realloc_cross"},
                  {std::string("LD_PRELOAD=") + VMRECLAIM_MALLOC_LIB, "VMRECLAIM_MALLOC_REPORT=" + report_});
  ASSERT_EQ(o.exit_code, 0) << o.output;
  EXPECT_EQ(lines(o.output), 1) << o.output;  // "ok": nothing said
  const BackendName& d = vmreclaim::alloc::backend_name(vmreclaim::alloc::kDefaultBackend);
  std::string used = field(read_file(report_), " backend");
  if (used == "glibc" && d.soname != nullptr) GTEST_SKIP() << d.soname << " (the default) is not installed";
  EXPECT_EQ(used, d.name);
}

TEST_F(BackendSetting, ABackendThatCannotBeLoadedLateIsReportedAndGlibcUsed) {
  // jemalloc's static TLS cannot be had by dlopen: it must be preloaded.
  Outcome o = run({VMRECLAIM_BACKEND_PROBE, "realloc_cross"},
                  {std::string("LD_PRELOAD=") + VMRECLAIM_MALLOC_LIB, "VMRECLAIM_MALLOC_BACKEND=jemalloc",
                   "VMRECLAIM_MALLOC_REPORT=" + report_});
  ASSERT_EQ(o.exit_code, 0) << o.output;
  EXPECT_EQ(o.output.rfind("vmreclaim-malloc: cannot use jemalloc as the backend (", 0), 0u) << o.output;
  EXPECT_NE(o.output.find("; using glibc\n"), std::string::npos) << o.output;
  EXPECT_EQ(lines(o.output), 2) << o.output;
  EXPECT_EQ(field(read_file(report_), " backend"), "glibc");
}

#ifdef VMRECLAIM_CLI
class RunWith : public WithReport, public ::testing::WithParamInterface<const char*> {};

TEST_P(RunWith, PutsTheLayerInFrontOfTheBackend) {
  const std::string name = GetParam();
  Outcome o = run({VMRECLAIM_CLI, "run", "--with", name, "--", VMRECLAIM_BACKEND_PROBE, "cxx"},
                  {std::string("VMRECLAIM_MALLOC_LIB=") + VMRECLAIM_MALLOC_LIB});
  if (o.output.find("cannot use " + name + " as the backend") != std::string::npos ||
      o.output.find("is not installed") != std::string::npos) {
    GTEST_SKIP() << name << " is not installed: " << o.output;
  }
  ASSERT_EQ(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("backend                 " + name + "\n"), std::string::npos) << o.output;
  long long large = std::atoll(field(o.output, "large").c_str());
  size_t at = o.output.find("large allocations");
  ASSERT_NE(at, std::string::npos) << o.output;
  EXPECT_GE(std::atoll(o.output.c_str() + o.output.find_first_of("0123456789", at)), large) << o.output;
}

INSTANTIATE_TEST_SUITE_P(All, RunWith, ::testing::Values("glibc", "mimalloc", "jemalloc", "tcmalloc"),
                         [](const auto& p) { return std::string(p.param); });

TEST(RunWithBadInput, AnUnknownBackendIsRefusedAndNothingRuns) {
  char marker[] = "/tmp/vmreclaim-runwith-XXXXXX";
  int fd = mkstemp(marker);
  ASSERT_GE(fd, 0);
  close(fd);
  unlink(marker);
  Outcome o = run({VMRECLAIM_CLI, "run", "--with", "hoard", "--", "touch", marker}, {});
  EXPECT_NE(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("hoard"), std::string::npos) << o.output;
  EXPECT_NE(access(marker, F_OK), 0) << "the command ran";
  unlink(marker);
}
#endif

}  // namespace
