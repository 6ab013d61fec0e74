// The built shared library carries a USDT probe (an ELF stapsdt note) for
// each of Darwin's dtrace probe names, under the provider "vmreclaim".
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#include "support/probes.h"

namespace vmreclaim::test {
namespace {

TEST(Probes, SharedLibraryCarriesEveryProbe) {
  if (!VMR_HAVE_PROBES) GTEST_SKIP() << "built without <sys/sdt.h> (install systemtap-sdt-dev)";
  const std::string cmd = std::string("readelf -n '") + VMRECLAIM_SHARED_LIBRARY + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::set<std::string> names, providers;
  char line[512];
  bool saw_note = false;
  while (std::fgets(line, sizeof line, p) != nullptr) {
    std::string s(line);
    if (s.find("NT_STAPSDT") != std::string::npos) saw_note = true;
    auto field = [&](const char* key) -> std::string {
      auto at = s.find(key);
      if (at == std::string::npos) return "";
      std::string v = s.substr(at + std::strlen(key));
      while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
      return v;
    };
    if (auto v = field("Provider: "); !v.empty()) providers.insert(v);
    if (auto v = field("Name: "); !v.empty()) names.insert(v);
  }
  int status = ::pclose(p);
  if (status != 0 && !saw_note) GTEST_SKIP() << "readelf is not available";
  EXPECT_TRUE(saw_note);
  EXPECT_EQ(providers, std::set<std::string>{"vmreclaim"});
  for (const char* probe : {"reclaim_ring_allocate", "reclaim_ring_resize", "reclaim_flush", "reclaim_sample",
                            "reclaim_trim", "reclaim_drain", "vm_reclaim_entry"}) {
    EXPECT_EQ(names.count(probe), 1u) << probe;
  }
}

}  // namespace
}  // namespace vmreclaim::test
