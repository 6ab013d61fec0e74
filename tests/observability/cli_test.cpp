// The vmreclaim command's observing subcommands against a live process:
// list, show, trim, drain and watch, their JSON, and their exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "control/client.h"
#include "support/child.h"

#ifdef VMRECLAIM_CLI

namespace vmreclaim::test {
namespace {

using nlohmann::json;

constexpr int kRegions = 25;

struct Region {
  uint64_t addr, size;
  unsigned action;
};

// A ring target and the regions it says it entered.
struct Target {
  std::optional<Child> process;
  std::vector<Region> regions;
  pid_t pid() const { return process->pid(); }
};

Target start_target(std::vector<std::string> extra = {}, std::vector<std::string> env = {}) {
  Target t;
  std::vector<std::string> argv = {VMRECLAIM_RING_TARGET, "--regions", std::to_string(kRegions)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto p = Child::start(argv, env);
  if (!p) return t;
  t.process.emplace(std::move(*p));
  while (auto line = t.process->read_line()) {
    if (line->rfind("ready ", 0) == 0) return t;
    Region r{};
    unsigned long long a = 0, s = 0;
    if (std::sscanf(line->c_str(), "region %llx %llu %u", &a, &s, &r.action) == 3) {
      r.addr = a;
      r.size = s;
      t.regions.push_back(r);
    }
  }
  t.process.reset();
  return t;
}

ChildResult cli(std::vector<std::string> args) {
  args.insert(args.begin(), VMRECLAIM_CLI);
  return run_child({.argv = args});
}

json parse(const ChildResult& r) {
  json j = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.out;
  return j;
}

// The list entry of `pid` in `list --json` output.
std::optional<json> listed(const json& list, pid_t pid) {
  for (const auto& p : list["processes"]) {
    if (p["pid"] == pid) return p;
  }
  return std::nullopt;
}

TEST(Cli, ListShowsTheRing) {
  Target t = start_target();
  ASSERT_TRUE(t.process);
  ASSERT_EQ(t.regions.size(), static_cast<size_t>(kRegions));
  uint64_t total = 0;
  for (const auto& r : t.regions) total += r.size;

  ChildResult table = cli({"list"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  std::istringstream lines(table.out);
  std::string line;
  bool found = false;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    pid_t pid = 0;
    std::string command;
    uint64_t capacity = 0, entries = 0;
    if (f >> pid >> command >> capacity >> entries && pid == t.pid()) {
      found = true;
      EXPECT_EQ(command, "vmreclaim_ring_");  // comm is cut at 15 characters
      EXPECT_EQ(entries, static_cast<uint64_t>(kRegions));
    }
  }
  EXPECT_TRUE(found) << table.out;

  ChildResult r = cli({"list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto entry = listed(parse(r), t.pid());
  ASSERT_TRUE(entry) << r.out;
  EXPECT_EQ((*entry)["entries"], kRegions);
  EXPECT_EQ((*entry)["capacity"], 251);
  EXPECT_EQ((*entry)["reclaimable_bytes"], total);
  EXPECT_GT((*entry)["footprint_bytes"].get<uint64_t>(), total) << "the regions were touched";
}

TEST(Cli, ShowGivesRegionsAndStatistics) {
  Target t = start_target();
  ASSERT_TRUE(t.process);
  ChildResult r = cli({"show", std::to_string(t.pid()), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = parse(r);
  ASSERT_EQ(j["regions"].size(), static_cast<size_t>(kRegions));
  for (int i = 0; i < kRegions; i++) {
    EXPECT_EQ(j["regions"][i]["address"], t.regions[i].addr);
    EXPECT_EQ(j["regions"][i]["size"], t.regions[i].size);
    EXPECT_EQ(j["regions"][i]["action"], t.regions[i].action == 1 ? "free" : "deallocate");
  }
  EXPECT_EQ(j["regions_malformed"], false);
  ASSERT_TRUE(j["stats"].is_object()) << j.dump();
  EXPECT_EQ(j["stats"]["entered_entries"], kRegions);
  EXPECT_EQ(j["stats"]["entries"], kRegions);

  ChildResult table = cli({"show", std::to_string(t.pid()), "--limit", "3"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("25 entries"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("entered      25 entries"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("... 22 more"), std::string::npos) << table.out;

  // --all-stats: every statistic the JSON has (the one list, stats.def), each
  // on its own line with its value.
  ChildResult all = cli({"show", std::to_string(t.pid()), "--all-stats", "--limit", "0"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  for (const auto& [name, value] : j["stats"].items()) {
    if (value.is_object()) {
      for (const auto& [key, v] : value.items()) {
        EXPECT_NE(all.out.find("  " + name + "." + key + " "), std::string::npos) << name << "." << key << all.out;
      }
    } else {
      const std::string line = "  " + name + " ";
      const size_t at = all.out.find(line);
      ASSERT_NE(at, std::string::npos) << name << "\n" << all.out;
      if (name == "entered_entries") {
        EXPECT_EQ(std::stoull(all.out.substr(at + line.size())), static_cast<unsigned long long>(kRegions));
      }
    }
  }
}

TEST(Cli, TrimThenDrain) {
  Target t = start_target();
  ASSERT_TRUE(t.process);
  uint64_t total = 0;
  for (const auto& r : t.regions) total += r.size;
  const std::string pid = std::to_string(t.pid());

  ChildResult trim = cli({"trim", pid, "4K", "--json"});
  ASSERT_EQ(trim.exit_code, 0) << trim.err;
  json tj = parse(trim);
  EXPECT_EQ(tj["bytes_requested"], 4096);
  const uint64_t trimmed = tj["bytes_reclaimed"].get<uint64_t>();
  EXPECT_GE(trimmed, 4096u);
  EXPECT_EQ(trimmed, t.regions[0].size) << "the oldest entry goes first";

  ChildResult drain = cli({"drain", pid});
  ASSERT_EQ(drain.exit_code, 0) << drain.err;
  EXPECT_NE(drain.out.find("drained"), std::string::npos) << drain.out;

  ChildResult show = cli({"show", pid, "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  json sj = parse(show);
  EXPECT_EQ(sj["entries"], 0);
  EXPECT_EQ(sj["reclaimable_bytes"], 0);
  EXPECT_EQ(sj["stats"]["reclaimed_bytes"]["trim"], trimmed);
  EXPECT_EQ(sj["stats"]["reclaimed_bytes"]["drain"], total - trimmed);
}

TEST(Cli, WatchRefreshesCountTimes) {
  Target t = start_target();
  ASSERT_TRUE(t.process);
  ChildResult table = cli({"watch", "--count", "2", "--interval", "0.1"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  size_t headers = 0;
  for (size_t at = table.out.find("COMMAND"); at != std::string::npos; at = table.out.find("COMMAND", at + 1)) {
    headers++;
  }
  EXPECT_EQ(headers, 2u) << table.out;

  ChildResult j = cli({"watch", "--count", "3", "--interval", "0.1", "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  std::istringstream lines(j.out);
  std::string line;
  int docs = 0;
  while (std::getline(lines, line)) {
    json doc = json::parse(line, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << line;
    EXPECT_TRUE(listed(doc, t.pid())) << line;
    docs++;
  }
  EXPECT_EQ(docs, 3);
}

// The error cases: one line on stderr, a distinct exit code, and with
// --json a complete JSON document naming the error.
void expect_error(const std::vector<std::string>& args, int code, const char* error, const char* words) {
  ChildResult r = cli(args);
  EXPECT_EQ(r.exit_code, code) << args[0] << ": " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(words), std::string::npos) << r.err;
  std::vector<std::string> with_json = args;
  with_json.push_back("--json");
  ChildResult rj = cli(with_json);
  EXPECT_EQ(rj.exit_code, code);
  json j = parse(rj);
  EXPECT_EQ(j["error"], error) << rj.out;
}

TEST(Cli, MissingProcess) {
  pid_t gone = ::fork();
  ASSERT_GE(gone, 0);
  if (gone == 0) ::_exit(0);
  ::waitpid(gone, nullptr, 0);
  const std::string pid = std::to_string(gone);
  expect_error({"show", pid}, 3, "no_process", "no process");
  expect_error({"drain", pid}, 3, "no_process", "no process");
  expect_error({"trim", pid, "1M"}, 3, "no_process", "no process");
}

TEST(Cli, ProcessWithoutARing) {
  Target t = start_target({"--no-ring"});
  ASSERT_TRUE(t.process);
  const std::string pid = std::to_string(t.pid());
  expect_error({"show", pid}, 4, "no_ring", "no reclaim ring");
  expect_error({"drain", pid}, 4, "no_ring", "no reclaim ring");
  expect_error({"trim", pid, "64K"}, 4, "no_ring", "no reclaim ring");
}

TEST(Cli, ProcessThatDoesNotServeItsEndpoint) {
  // The engine thread is told not to serve it (VMRECLAIM_CONTROL=0), and the
  // program does not serve one itself.
  Target t = start_target({}, {"VMRECLAIM_CONTROL=0"});
  ASSERT_TRUE(t.process);
  auto names = vmreclaim::control::Client::endpoint_names(t.pid());
  ASSERT_TRUE(names) << names.error().message();
  EXPECT_TRUE(names->empty()) << "VMRECLAIM_CONTROL=0 opens no endpoint";
  const std::string pid = std::to_string(t.pid());
  expect_error({"drain", pid, "--timeout", "0.2"}, 6, "unreachable", "control endpoint");
  // show still shows what introspection can read, and says why stats are missing.
  ChildResult r = cli({"show", pid, "--json", "--timeout", "0.2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = parse(r);
  EXPECT_TRUE(j["stats"].is_null());
  EXPECT_EQ(j["regions"].size(), static_cast<size_t>(kRegions));
  EXPECT_FALSE(j["stats_error"].get<std::string>().empty());
}

TEST(Cli, BadArguments) {
  struct Case {
    std::vector<std::string> args;
    const char* says;  // in the one line on stderr
  };
  for (const Case& c :
       {Case{{"trim", "1", "12Q"}, "unit not recognized"}, Case{{"trim", "1", "0"}, "more than 0"},
        Case{{"show", "-4"}, "out of range"}, Case{{"show", "abc"}, "not a number"},
        Case{{"show", "99999999999999999999999"}, "out of range"}, Case{{"drain"}, "pid is required"},
        Case{{"frob", "1"}, "unknown subcommand 'frob'"}, Case{{"watch", "--interval", "0"}, "out of range"},
        Case{{"watch", "--count", "-1"}, "out of range"}, Case{{"show", "1", "--timeout", "1e9"}, "out of range"}}) {
    const std::string what = c.args[0] + " " + (c.args.size() > 1 ? c.args[1] : "");
    ChildResult r = cli(c.args);
    EXPECT_FALSE(r.timed_out) << what;
    EXPECT_GE(r.exit_code, 100) << what << ": command-line errors use CLI11's codes: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << what << ": one line: " << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << what << ": " << r.err;
    EXPECT_LT(r.err.size(), 200u) << what << ": short: " << r.err;
    // With --json, one JSON document on stdout says the same.
    std::vector<std::string> with_json = c.args;
    with_json.push_back("--json");
    ChildResult rj = cli(with_json);
    EXPECT_EQ(rj.exit_code, r.exit_code) << what;
    json j = parse(rj);
    if (!j.is_object()) continue;  // parse() said why
    EXPECT_EQ(j["error"], "usage") << what << ": " << rj.out;
    EXPECT_EQ(j["exit_code"], r.exit_code) << what;
    EXPECT_NE(j["message"].get<std::string>().find(c.says), std::string::npos) << rj.out;
  }
  ChildResult help = cli({"drain", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("5 permission denied"), std::string::npos) << help.out;
}

}  // namespace
}  // namespace vmreclaim::test

#endif  // VMRECLAIM_CLI
