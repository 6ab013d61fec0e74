// Tunables from the environment (docs/design.md §9): good values are taken, bad
// ones produce one message naming the variable and the default is kept.
// The lookup is injected, so no process environment is touched here.
#include "policy/tunables.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace vmreclaim::test {
namespace {

using ::testing::HasSubstr;
using vmreclaim::policy::GuardMode;
using vmreclaim::policy::PressureLevel;
using vmreclaim::policy::Tunables;

struct Parsed {
  Tunables t;
  std::vector<std::string> complaints;
};

Parsed parse(const std::map<std::string, std::string>& env) {
  Parsed p;
  p.t = vmreclaim::policy::tunables_from_env(
      [&](const char* name) -> const char* {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
      },
      [&](const char* msg) { p.complaints.emplace_back(msg); });
  return p;
}

void expect_defaults(const Tunables& t) {
  const Tunables d;
  EXPECT_TRUE(t.enabled);
  EXPECT_EQ(t.period_normal_ns, 10'000'000'000u);
  EXPECT_EQ(t.period_pressure_ns, 1'000'000'000u);
  EXPECT_EQ(t.period_critical_ns, 0u);
  EXPECT_EQ(t.autotrim_pct_normal, 10u);
  EXPECT_EQ(t.autotrim_pct_pressure, 5u);
  EXPECT_EQ(t.autotrim_pct_critical, 1u);
  EXPECT_EQ(t.wma_weight_base, 3u);
  EXPECT_EQ(t.wma_weight_cur, 1u);
  EXPECT_EQ(t.wma_denom, 4u);
  EXPECT_EQ(t.abandonment_periods, 512u);
  EXPECT_EQ(t.chunk_size, 16u);
  EXPECT_EQ(t.idle_trim_ns, 0u);  // off: Darwin's sampling alone, unless the program or the layer asks
  EXPECT_FALSE(t.forced_pressure.has_value());
  EXPECT_FALSE(t.footprint_limit.has_value());
  EXPECT_EQ(t.guard, GuardMode::fatal);
  EXPECT_EQ(t.log_level, d.log_level);
  EXPECT_EQ(t.free_advice, d.free_advice);
  EXPECT_EQ(t.daemon_socket.view(), "/run/vmreclaim/daemon.sock");
}

TEST(Tunables, EmptyEnvironmentGivesTheDefaults) {
  Parsed p = parse({});
  expect_defaults(p.t);
  EXPECT_TRUE(p.complaints.empty());
}

TEST(Tunables, GoodValuesAreTaken) {
  Parsed p = parse({
      {"VMRECLAIM_ENABLED", "0"},
      {"VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS", "2000000000"},
      {"VMRECLAIM_SAMPLING_PERIOD_PRESSURE_NS", "500"},
      {"VMRECLAIM_SAMPLING_PERIOD_CRITICAL_NS", "7"},
      {"VMRECLAIM_AUTOTRIM_PCT_NORMAL", "20"},
      {"VMRECLAIM_AUTOTRIM_PCT_PRESSURE", "0"},
      {"VMRECLAIM_AUTOTRIM_PCT_CRITICAL", "100"},
      {"VMRECLAIM_WMA_WEIGHT_BASE", "7"},
      {"VMRECLAIM_WMA_WEIGHT_CUR", "1"},
      {"VMRECLAIM_WMA_DENOM", "8"},
      {"VMRECLAIM_ABANDONMENT_THRESHOLD", "64"},
      {"VMRECLAIM_CHUNK_SIZE", "256"},
      {"VMRECLAIM_PRESSURE", "urgent"},
      {"VMRECLAIM_FOOTPRINT_LIMIT", "512M"},
      {"VMRECLAIM_GUARD", "log"},
      {"VMRECLAIM_LOG", "debug"},
  });
  EXPECT_TRUE(p.complaints.empty()) << (p.complaints.empty() ? "" : p.complaints.front());
  EXPECT_FALSE(p.t.enabled);
  EXPECT_EQ(p.t.period_normal_ns, 2'000'000'000u);
  EXPECT_EQ(p.t.period_pressure_ns, 500u);
  EXPECT_EQ(p.t.period_critical_ns, 7u);
  EXPECT_EQ(p.t.autotrim_pct_normal, 20u);
  EXPECT_EQ(p.t.autotrim_pct_pressure, 0u);
  EXPECT_EQ(p.t.autotrim_pct_critical, 100u);
  EXPECT_EQ(p.t.wma_weight_base, 7u);
  EXPECT_EQ(p.t.wma_weight_cur, 1u);
  EXPECT_EQ(p.t.wma_denom, 8u);
  EXPECT_EQ(p.t.abandonment_periods, 64u);
  EXPECT_EQ(p.t.chunk_size, 256u);
  EXPECT_EQ(p.t.forced_pressure, PressureLevel::urgent);
  EXPECT_EQ(p.t.footprint_limit, uint64_t{512} << 20);
  EXPECT_EQ(p.t.guard, GuardMode::log);
  EXPECT_EQ(p.t.log_level, vmreclaim::support::LogLevel::debug);
  EXPECT_EQ(p.t.period_ns(PressureLevel::warning), 500u);
  EXPECT_EQ(p.t.autotrim_pct(PressureLevel::critical), 100u);
}

TEST(Tunables, EachBadValueIsNamedAndTheDefaultKept) {
  struct Case {
    const char* name;
    const char* value;
  };
  const Case cases[] = {
      {"VMRECLAIM_ENABLED", "yes"},
      {"VMRECLAIM_ENABLED", ""},
      {"VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS", "ten"},
      {"VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS", "-1"},
      {"VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS", "99999999999999999999999"},
      {"VMRECLAIM_SAMPLING_PERIOD_NORMAL_NS", "36000000000000"},  // 10 h: out of range
      {"VMRECLAIM_SAMPLING_PERIOD_PRESSURE_NS", "1e9"},
      {"VMRECLAIM_SAMPLING_PERIOD_CRITICAL_NS", " 5"},
      {"VMRECLAIM_AUTOTRIM_PCT_NORMAL", "101"},
      {"VMRECLAIM_AUTOTRIM_PCT_PRESSURE", "5%"},
      {"VMRECLAIM_AUTOTRIM_PCT_CRITICAL", "0x10"},
      {"VMRECLAIM_ABANDONMENT_THRESHOLD", "0"},
      {"VMRECLAIM_CHUNK_SIZE", "0"},
      {"VMRECLAIM_CHUNK_SIZE", "257"},
      {"VMRECLAIM_PRESSURE", "high"},
      {"VMRECLAIM_PRESSURE", "NORMAL"},
      {"VMRECLAIM_FOOTPRINT_LIMIT", "0"},
      {"VMRECLAIM_FOOTPRINT_LIMIT", "12T"},
      {"VMRECLAIM_FOOTPRINT_LIMIT", "M"},
      {"VMRECLAIM_GUARD", "loud"},
      {"VMRECLAIM_LOG", "verbose"},
      {"VMRECLAIM_DAEMON_SOCKET", "run/vmreclaim/daemon.sock"},  // relative
      {"VMRECLAIM_DAEMON_SOCKET", "./daemon.sock"},
      {"VMRECLAIM_DAEMON_SOCKET", "no"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.name) + "=\"" + c.value + "\"");
    Parsed p = parse({{c.name, c.value}});
    ASSERT_EQ(p.complaints.size(), 1u);
    EXPECT_THAT(p.complaints[0], HasSubstr(c.name));
    EXPECT_THAT(p.complaints[0], HasSubstr("using"));
    expect_defaults(p.t);
  }
}

TEST(Tunables, MessageNamesTheDefault) {
  Parsed p = parse({{"VMRECLAIM_AUTOTRIM_PCT_NORMAL", "200"}, {"VMRECLAIM_GUARD", "maybe"}});
  ASSERT_EQ(p.complaints.size(), 2u);
  EXPECT_THAT(p.complaints[0], HasSubstr("VMRECLAIM_AUTOTRIM_PCT_NORMAL"));
  EXPECT_THAT(p.complaints[0], HasSubstr("200"));
  EXPECT_THAT(p.complaints[0], HasSubstr("using 10"));
  EXPECT_THAT(p.complaints[1], HasSubstr("VMRECLAIM_GUARD"));
  EXPECT_THAT(p.complaints[1], HasSubstr("using fatal"));
}

TEST(Tunables, BadValuesDoNotSpoilGoodOnes) {
  Parsed p = parse({{"VMRECLAIM_CHUNK_SIZE", "abc"}, {"VMRECLAIM_AUTOTRIM_PCT_NORMAL", "3"}});
  EXPECT_EQ(p.complaints.size(), 1u);
  EXPECT_EQ(p.t.chunk_size, 16u);
  EXPECT_EQ(p.t.autotrim_pct_normal, 3u);
}

TEST(Tunables, WmaWeightsMustSumToTheDenominator) {
  Parsed p = parse({{"VMRECLAIM_WMA_WEIGHT_BASE", "5"}});  // 5 + 1 != 4
  ASSERT_EQ(p.complaints.size(), 1u);
  EXPECT_THAT(p.complaints[0], HasSubstr("VMRECLAIM_WMA"));
  EXPECT_EQ(p.t.wma_weight_base, 3u);
  EXPECT_EQ(p.t.wma_weight_cur, 1u);
  EXPECT_EQ(p.t.wma_denom, 4u);
  EXPECT_TRUE(parse({{"VMRECLAIM_WMA_WEIGHT_BASE", "5"}, {"VMRECLAIM_WMA_DENOM", "6"}}).complaints.empty());
}

TEST(Tunables, FootprintLimitTakesByteSuffixes) {
  Parsed p = parse({{"VMRECLAIM_FOOTPRINT_LIMIT", "64k"}});
  EXPECT_EQ(p.t.footprint_limit, 65536u);
  p = parse({{"VMRECLAIM_FOOTPRINT_LIMIT", "1G"}});
  EXPECT_EQ(p.t.footprint_limit, 1ull << 30);
}

TEST(Tunables, DaemonSocketIsAnAbsolutePathThatFitsOrNone) {
  Parsed p = parse({{"VMRECLAIM_DAEMON_SOCKET", "/tmp/x/vmreclaimd.sock"}});
  EXPECT_TRUE(p.complaints.empty());
  EXPECT_EQ(p.t.daemon_socket.view(), "/tmp/x/vmreclaimd.sock");
  for (const char* none : {"0", ""}) {
    p = parse({{"VMRECLAIM_DAEMON_SOCKET", none}});
    EXPECT_TRUE(p.complaints.empty()) << '"' << none << '"';
    EXPECT_TRUE(p.t.daemon_socket.empty()) << '"' << none << '"';
  }
  // sun_path holds 108 bytes with the NUL: 107 fit, 108 do not.
  const std::string fits = "/" + std::string(106, 'a');
  p = parse({{"VMRECLAIM_DAEMON_SOCKET", fits}});
  EXPECT_TRUE(p.complaints.empty());
  EXPECT_EQ(p.t.daemon_socket.view(), fits);
  p = parse({{"VMRECLAIM_DAEMON_SOCKET", fits + "b"}});
  ASSERT_EQ(p.complaints.size(), 1u);
  EXPECT_THAT(p.complaints[0], HasSubstr("VMRECLAIM_DAEMON_SOCKET"));
  EXPECT_THAT(p.complaints[0], HasSubstr("an absolute path of at most 107 bytes"));
  EXPECT_THAT(p.complaints[0], HasSubstr("using /run/vmreclaim/daemon.sock"));
  expect_defaults(p.t);
}

// The table (tunables.def) drives the parser: every line of it is read
// from its variable, over its whole range, and refuses what it must.
using vmreclaim::policy::tunable_specs;
using vmreclaim::policy::TunableSpec;

TEST(TunablesTable, NamesAreUniqueAndTheLibrarys) {
  std::set<std::string> seen;
  for (const TunableSpec& spec : tunable_specs()) {
    EXPECT_THAT(spec.env, ::testing::StartsWith("VMRECLAIM_"));
    EXPECT_TRUE(seen.insert(spec.env).second) << spec.env << " twice";
    EXPECT_FALSE(spec.help.empty()) << spec.env;
    EXPECT_EQ(spec.optional, !spec.unset.empty()) << spec.env << ": an optional says what unset means";
  }
  EXPECT_EQ(seen.size(), 23u);
}

TEST(TunablesTable, EachDefaultReadsBackAsTheDefault) {
  const Tunables d;
  for (const TunableSpec& spec : tunable_specs()) {
    if (spec.kind == TunableSpec::Kind::path) continue;  // DaemonSocketIsAnAbsolutePathThatFitsOrNone
    if (!spec.get(d)) continue;                          // unset by default: nothing to write
    SCOPED_TRACE(spec.env);
    Parsed p = parse({{spec.env, value_text(spec, d)}});
    EXPECT_TRUE(p.complaints.empty()) << p.complaints.front();
    EXPECT_EQ(spec.get(p.t), spec.get(d));
    expect_defaults(p.t);
  }
}

TEST(TunablesTable, EachTakesItsWholeRangeAndNothingElse) {
  const Tunables d;
  for (const TunableSpec& spec : tunable_specs()) {
    if (spec.kind == TunableSpec::Kind::path) continue;  // DaemonSocketIsAnAbsolutePathThatFitsOrNone
    SCOPED_TRACE(spec.env);
    std::vector<std::pair<std::string, uint64_t>> good;  // text, value
    std::vector<std::string> bad = {"", "garbage", "-1", " 1"};
    if (spec.kind == TunableSpec::Kind::choice) {
      for (size_t i = 0; i < spec.choices; i++) good.emplace_back(std::string(spec.choice_text(i)), i);
      bad.push_back(std::string(spec.choice_text(0)) + "x");
    } else {
      good.emplace_back(std::to_string(spec.lo), spec.lo);
      good.emplace_back(std::to_string(spec.hi), spec.hi);
      if (spec.lo > 0) bad.push_back(std::to_string(spec.lo - 1));
      bad.push_back(spec.hi < UINT64_MAX ? std::to_string(spec.hi + 1) : "18446744073709551616");
    }
    for (const auto& [text, value] : good) {
      if (spec.env == std::string("VMRECLAIM_WMA_DENOM") || spec.env == std::string("VMRECLAIM_WMA_WEIGHT_BASE") ||
          spec.env == std::string("VMRECLAIM_WMA_WEIGHT_CUR")) {
        continue;  // checked together (WmaWeightsMustSumToTheDenominator)
      }
      Parsed p = parse({{spec.env, text}});
      EXPECT_TRUE(p.complaints.empty()) << text << ": " << (p.complaints.empty() ? "" : p.complaints.front());
      EXPECT_EQ(spec.get(p.t), value) << text;
    }
    for (const std::string& text : bad) {
      Parsed p = parse({{spec.env, text}});
      ASSERT_EQ(p.complaints.size(), 1u) << '"' << text << '"';
      EXPECT_THAT(p.complaints[0], HasSubstr(spec.env));
      EXPECT_THAT(p.complaints[0], HasSubstr("expected " + expected_text(spec, false)));
      EXPECT_THAT(p.complaints[0], HasSubstr("using " + value_text(spec, d)));
      expect_defaults(p.t);
    }
  }
}

TEST(TunablesTable, PressureLevelsAreNamedAsTheyAreRead) {
  // One list of level names (pressure.h) for the logs and VMRECLAIM_PRESSURE.
  for (PressureLevel l :
       {PressureLevel::normal, PressureLevel::warning, PressureLevel::urgent, PressureLevel::critical}) {
    Parsed p = parse({{"VMRECLAIM_PRESSURE", std::string(vmreclaim::policy::to_string(l))}});
    EXPECT_TRUE(p.complaints.empty());
    EXPECT_EQ(p.t.forced_pressure, l);
  }
  EXPECT_EQ(vmreclaim::policy::to_string(PressureLevel::urgent), "urgent");
}

}  // namespace
}  // namespace vmreclaim::test
