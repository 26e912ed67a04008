// The real programs on loopback: flatcast-broker with the committed Guizhou
// registry, flatcast-subscriber daemons, flatcast-swarm terminal swarms, and
// the publisher and audit CLIs. Each test has its own temp dir and a broker
// on a port the kernel picks.
#include <gtest/gtest.h>

#include <signal.h>

#include <filesystem>
#include <optional>
#include <thread>
#include <nlohmann/json.hpp>

#include "flatcast/registry.h"
#include "broker_process.h"
#include "temp_dir.h"

namespace flatcast {
namespace {

using namespace testing;  // flatcast::testing: programs, processes, temp dirs

using namespace std::chrono_literals;

const std::string& kRegistry = testing::GuizhouRegistry();

class EndToEnd : public ::testing::Test {
 protected:
  void SetUp() override { StartBroker(); }

  void StartBroker() {
    broker_ = std::make_unique<testing::BrokerProcess>(dir_.path());
    ASSERT_TRUE(broker_->ok()) << broker_->Stderr();
    endpoint_ = broker_->endpoint();
  }

  testing::RunResult Publisher(std::vector<std::string> args) {
    args.insert(args.begin(), {Program("flatcast-publisher"), "--broker", endpoint_});
    return testing::Run(args);
  }
  testing::RunResult Audit(std::vector<std::string> args) {
    args.insert(args.begin(), {Program("flatcast-audit"), "--broker", endpoint_});
    return testing::Run(args);
  }
  // Publishes and returns the directive id.
  std::string Publish(const std::string& scope, const std::string& tiers) {
    auto r = Publisher({"--json", "publish", "--issuer", "52", "--department", "HEALTH", "--title",
                        "Close wet markets", "--body", "All wet markets close at noon.",
                        "--action", "Post notices at every market|community", "--scope", scope,
                        "--tiers", tiers});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.exit_code != 0) return "";
    return nlohmann::json::parse(r.out)["id"].get<std::string>();
  }
  std::unique_ptr<Process> Swarm(const std::string& region, const std::string& name,
                                 std::vector<std::string> extra = {}) {
    std::vector<std::string> args{Program("flatcast-swarm"), "--registry", kRegistry,
                                  "--endpoint", endpoint_, "--region", region,
                                  "--report", dir_ / (name + ".json")};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(args, dir_.path() / name);
  }
  std::unique_ptr<Process> Daemon(const std::string& unit) {
    return std::make_unique<Process>(
        std::vector<std::string>{Program("flatcast-subscriber"), "run", "--unit", unit, "--broker",
                                 endpoint_, "--state-dir", dir_ / ("sub-" + unit)},
        dir_.path() / ("sub-" + unit));
  }
  size_t InboxCount(const std::string& unit) {
    auto inbox = dir_.path() / ("sub-" + unit) / "inbox";
    if (!std::filesystem::exists(inbox)) return 0;
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(inbox)) {
      if (e.path().extension() == ".json") ++n;
    }
    return n;
  }
  nlohmann::json Coverage(const std::string& id, const std::string& region = "") {
    std::vector<std::string> args{"coverage", id, "--format", "json", "--missing-limit", "100000"};
    if (!region.empty()) args.insert(args.end(), {"--region", region});
    auto r = Audit(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::BrokerProcess> broker_;
  std::string endpoint_;
};

// Units a directive to `region` for district, street and community reaches,
// counted from the registry file independently of the broker's addressing.
// True when the swarm's last progress line says every unit got its welcome.
bool AllWelcomed(const Process& swarm) {
  std::string out = swarm.Stdout();
  size_t end = out.rfind('}');
  if (end == std::string::npos) return false;
  size_t start = out.rfind('\n', end);
  auto line = nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1,
                                               end + 1 - (start == std::string::npos ? 0 : start + 1)),
                                    nullptr, false);
  return !line.is_discarded() && line.contains("welcomed") && line["units"].get<int>() > 0 &&
         line["welcomed"] == line["units"];
}

// With `only`, units of that tier alone.
size_t UnitsBelow(const std::string& region, std::optional<Tier> only = std::nullopt) {
  static const Registry reg = Registry::Load(kRegistry).value();
  size_t n = 0;
  for (const auto& u : reg.units()) {
    if (only && u.tier != *only) continue;
    if (u.tier >= Tier::kDistrict && Registry::IsWithin(u.code, region)) ++n;
  }
  return n;
}

TEST_F(EndToEnd, CityScopedDirectiveReachesEveryUnitOfTheCityAndNoneOutside) {
  const std::string city = "5201";   // 贵阳市
  const std::string other = "5202";  // 六盘水市
  auto inside = Swarm(city, "inside", {"--expect", "1", "--timeout-s", "120"});
  auto outside = Swarm(other, "outside");
  // Both swarms must be connected before the publish, so "nothing arrived" means something.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return AllWelcomed(*inside) && AllWelcomed(*outside);
      },
      60s));
  std::string id = Publish(city, "district,street,community");
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(inside->Wait(150s), 0) << inside->Stderr();
  auto report = nlohmann::json::parse(testing::ReadFile(dir_ / "inside.json"));
  EXPECT_EQ(report["units"].get<size_t>(), UnitsBelow(city));

  auto cov = Coverage(id);
  EXPECT_EQ(cov["addressed"].get<size_t>(), UnitsBelow(city));
  EXPECT_EQ(cov["acknowledged"].get<size_t>(), UnitsBelow(city));
  EXPECT_EQ(cov["missing_total"].get<size_t>(), 0u);

  outside->Signal(SIGTERM);
  ASSERT_TRUE(outside->Wait(30s).has_value());
  auto outside_report = nlohmann::json::parse(testing::ReadFile(dir_ / "outside.json"));
  EXPECT_GT(outside_report["units"].get<size_t>(), 0u);
  EXPECT_EQ(outside_report["received"].get<size_t>(), 0u);
}

TEST_F(EndToEnd, DistrictOnlyDirectiveDoesNotReachStreetsOrCommunities) {
  auto district = Daemon("520102");
  auto street = Daemon("520102016");
  auto community = Daemon("520102016001");
  std::string id = Publish("5201", "district");
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(testing::WaitFor([&] { return InboxCount("520102") == 1; }, 30s))
      << district->Stderr();
  // Every district of 5201 that is connected has acknowledged; the street and
  // community daemons had as long and got nothing.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto cov = Coverage(id, "520102");
        return !cov.is_null() && cov["acknowledged"].get<int>() == 1;
      },
      30s));
  EXPECT_EQ(InboxCount("520102016"), 0u);
  EXPECT_EQ(InboxCount("520102016001"), 0u);
  auto cov = Coverage(id);
  EXPECT_EQ(cov["addressed"].get<size_t>(), 10u) << cov.dump();  // districts of 贵阳市
  for (const auto& tier : cov["tiers"]) EXPECT_EQ(tier["tier"], "district");
}

TEST_F(EndToEnd, AuditListsExactlyTheUnitsThatHaveNotAcknowledged) {
  auto community = Daemon("520102016001");
  std::string id = Publish("520102016", "street,community");
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto cov = Coverage(id);
        return !cov.is_null() && cov["acknowledged"].get<int>() == 1;
      },
      30s));
  auto cov = Coverage(id);
  size_t addressed = cov["addressed"].get<size_t>();
  EXPECT_EQ(addressed, UnitsBelow("520102016"));
  EXPECT_EQ(cov["missing_total"].get<size_t>(), addressed - 1);
  for (const auto& m : cov["missing"]) EXPECT_NE(m["code"], "520102016001");
  // CSV and table say the same.
  auto csv = Audit({"coverage", id, "--format", "csv"});
  EXPECT_EQ(csv.exit_code, 0);
  EXPECT_NE(csv.out.find("community,"), std::string::npos) << csv.out;
  // The daemon's inbox has it, and `show` renders it.
  auto show = testing::Run({Program("flatcast-subscriber"), "show", id, "--state-dir",
                   dir_ / "sub-520102016001"});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("Close wet markets"), std::string::npos) << show.out;
}

TEST_F(EndToEnd, MalformedPublishGetsAClearErrorAndTheBrokerKeepsServing) {
  auto no_title = Publisher({"publish", "--issuer", "52", "--department", "HEALTH", "--title", "",
                             "--action", "x|community", "--scope", "5201", "--tiers", "community"});
  EXPECT_EQ(no_title.exit_code, 2);
  EXPECT_NE(no_title.err.find("title"), std::string::npos) << no_title.err;

  auto bad_scope = Publisher({"publish", "--issuer", "52", "--department", "HEALTH", "--title",
                              "t", "--action", "x|community", "--scope", "5299", "--tiers",
                              "community"});
  EXPECT_EQ(bad_scope.exit_code, 2);
  EXPECT_NE(bad_scope.err.find("5299"), std::string::npos) << bad_scope.err;

  auto no_action = Publisher({"publish", "--issuer", "52", "--department", "HEALTH", "--title",
                              "t", "--scope", "5201", "--tiers", "community"});
  EXPECT_EQ(no_action.exit_code, 2);
  EXPECT_NE(no_action.err.find("action"), std::string::npos) << no_action.err;

  auto bad_tier = Publisher({"publish", "--issuer", "52", "--department", "HEALTH", "--title", "t",
                             "--action", "x|community", "--scope", "5201", "--tiers", "province"});
  EXPECT_EQ(bad_tier.exit_code, 2);
  EXPECT_NE(bad_tier.err.find("province"), std::string::npos) << bad_tier.err;

  testing::WriteFile(dir_ / "bad.json", "{\"title\": \"x\", \"no_such_field\": 1}");
  auto bad_file = Publisher({"publish", "--file", dir_ / "bad.json"});
  EXPECT_EQ(bad_file.exit_code, 2);
  EXPECT_NE(bad_file.err.find("no_such_field"), std::string::npos) << bad_file.err;

  EXPECT_TRUE(broker_->running());
  EXPECT_FALSE(Publish("5201", "district").empty());
}

TEST_F(EndToEnd, DirectiveFromATomlFileIsPublished) {
  testing::WriteFile(dir_ / "d.toml", R"(
issuer_unit = "5201"
issuer_department = "CITY_HEALTH"
title = "Test all residents"
body = "Testing runs 08:00-18:00."
status = "EXERCISE"
scope = ["520102"]
target_tiers = ["COMMUNITY"]
[[actions]]
what = "Set up testing points"
responsible_tier = "COMMUNITY"
due = 2026-12-01T08:00:00Z
)");
  auto r = Publisher({"--json", "publish", "--file", dir_ / "d.toml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto receipt = nlohmann::json::parse(r.out);
  EXPECT_EQ(receipt["addressed_units"].get<size_t>(), UnitsBelow("520102", Tier::kCommunity));
  EXPECT_NE(receipt["id"].get<std::string>().find("5201-CITY_HEALTH-"), std::string::npos);
}

TEST_F(EndToEnd, TimesBeyondTheirLimitsAreRefusedByThePublisherAndByTheBroker) {
  // A file whose deadline is 292 million years after sending: the CLI says which field and
  // what the limit is, and sends nothing.
  testing::WriteFile(dir_ / "late.json", R"({"issuer_unit": "52", "issuer_department": "HEALTH",
      "title": "Close wet markets", "status": "ACTUAL", "scope": ["5201"],
      "target_tiers": ["COMMUNITY"], "actions": [{"what": "Post notices"}],
      "deadlines": [{"level": "CONFIRMED", "within_ms": "9223372036854775000"}]})");
  auto r = Publisher({"publish", "--file", dir_ / "late.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("deadlines[0].within_ms"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("366d"), std::string::npos) << r.err;
  // A public release two years ahead passes the file's checks and is refused by the broker.
  r = Publisher({"publish", "--issuer", "52", "--department", "HEALTH", "--title", "t",
                 "--action", "Post notices|community", "--scope", "5201", "--tiers",
                 "community", "--public", "--public-release", "2029-01-01T00:00:00Z"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("public_release"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("more than 366d from now"), std::string::npos) << r.err;
  EXPECT_TRUE(broker_->running());
  EXPECT_FALSE(Publish("5201", "community").empty());  // and it goes on serving
}

TEST_F(EndToEnd, SubscriberKeepsItsInboxAcrossARestartWithoutDuplicates) {
  std::string id = Publish("520102", "community");
  {
    auto sub = Daemon("520102016001");
    ASSERT_TRUE(testing::WaitFor([&] { return InboxCount("520102016001") == 1; }, 30s));
    ASSERT_TRUE(testing::WaitFor(
        [&] {
          auto cov = Coverage(id, "520102016001");
          return !cov.is_null() && cov["acknowledged"].get<int>() == 1;
        },
        30s));
    EXPECT_EQ(sub->Stop(), 0);
  }
  auto sub = Daemon("520102016001");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(InboxCount("520102016001"), 1u);
  auto list = testing::Run({Program("flatcast-subscriber"), "list", "--state-dir", dir_ / "sub-520102016001",
                   "--json"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find(id), std::string::npos) << list.out;
}

}  // namespace
}  // namespace flatcast

namespace flatcast {
namespace {

TEST(BrokerStartup, RefusesAMissingDataDirectoryUnlessToldToInitialise) {
  testing::TempDir dir;
  auto r = testing::Run({Program("flatcast-broker"), "--data-dir", dir / "nothing-here",
                         "--registry", kRegistry, "--endpoint", "tcp://127.0.0.1:*"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--init"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "nothing-here"));
}

TEST(BrokerStartup, RefusesWhenTheOpenFileLimitCannotCoverEveryTerminal) {
  testing::TempDir dir;
  // 19,572 registered units cannot fit in 1,000 descriptors.
  auto r = testing::Run({"/usr/bin/prlimit", "--nofile=1000:1000", Program("flatcast-broker"),
                         "--init", "--data-dir", dir / "data", "--registry", kRegistry,
                         "--endpoint", "tcp://127.0.0.1:*"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("open-file limit 1000"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("19572 terminal connections"), std::string::npos) << r.err;
}

TEST(BrokerStartup, StopsCleanlyOnSigtermAndReopensItsStore) {
  testing::TempDir dir;
  std::vector<std::string> args{Program("flatcast-broker"), "--init", "--data-dir", dir / "data",
                                "--registry", kRegistry, "--endpoint", "tcp://127.0.0.1:*",
                                "--endpoint-file", dir / "endpoint"};
  {
    Process broker(args, dir.path() / "broker1");
    ASSERT_TRUE(testing::WaitFor([&] { return std::filesystem::exists(dir / "endpoint"); }, 30s));
    EXPECT_EQ(broker.Stop(), 0) << broker.Stderr();
  }
  std::filesystem::remove(dir / "endpoint");
  Process again(args, dir.path() / "broker2");
  ASSERT_TRUE(testing::WaitFor([&] { return std::filesystem::exists(dir / "endpoint"); }, 30s))
      << again.Stderr();
  EXPECT_EQ(again.Stop(), 0);
}

}  // namespace
}  // namespace flatcast
