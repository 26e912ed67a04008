// Amendments with the real programs: flatcast-broker, two flatcast-subscriber
// daemons and the publisher and audit CLIs. A one-flag amendment keeps
// every other field and the status, an exercise stays an exercise at every
// terminal, a status change is explicit and recorded, and a narrower scope
// withdraws the directive from the units it no longer addresses.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "broker_process.h"
#include "temp_dir.h"

namespace flatcast {
namespace {

using namespace testing;  // flatcast::testing: programs, processes, temp dirs
using namespace std::chrono_literals;

constexpr char kFirst[] = "520102016001";   // 纪念塔社区
constexpr char kSecond[] = "520102016002";  // 新华路社区

class AmendProcesses : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<BrokerProcess>(dir_.path());
    ASSERT_TRUE(broker_->ok()) << broker_->Stderr();
    for (const char* unit : {kFirst, kSecond}) {
      daemons_.push_back(std::make_unique<Process>(
          std::vector<std::string>{Program("flatcast-subscriber"), "run", "--unit", unit,
                                   "--broker", broker_->endpoint(), "--state-dir", StateDir(unit)},
          dir_.path() / (std::string("sub-") + unit)));
    }
  }

  std::string StateDir(const std::string& unit) const { return dir_ / ("sub-" + unit); }
  RunResult Publisher(std::vector<std::string> args) {
    args.insert(args.begin(), {Program("flatcast-publisher"), "--broker", broker_->endpoint()});
    return testing::Run(args);
  }
  RunResult Subscriber(const std::string& command, const std::string& unit,
                       std::vector<std::string> args = {}) {
    args.insert(args.begin(), {Program("flatcast-subscriber"), command});
    args.insert(args.end(), {"--state-dir", StateDir(unit)});
    return testing::Run(args);
  }
  size_t InboxCount(const std::string& unit) {
    auto inbox = std::filesystem::path(StateDir(unit)) / "inbox";
    if (!std::filesystem::exists(inbox)) return 0;
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(inbox)) {
      if (e.path().extension() == ".json") ++n;
    }
    return n;
  }
  bool BothHold(size_t versions) {
    return WaitFor([&] { return InboxCount(kFirst) == versions && InboxCount(kSecond) == versions; },
                   30s);
  }
  // Publishes an exercise to the street's communities; its id.
  std::string PublishExercise() {
    auto r = Publisher({"--json", "publish", "--issuer", "52", "--department", "HEALTH", "--title",
                        "Close wet markets", "--body", "All wet markets close at noon.",
                        "--action", "Post notices at every market|community", "--scope",
                        "520102016", "--tiers", "community", "--status", "exercise"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out)["id"].get<std::string>() : "";
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::vector<std::unique_ptr<Process>> daemons_;
};

TEST_F(AmendProcesses, OneFlagAmendmentKeepsEveryOtherFieldAndTheExerciseAtEveryTerminal) {
  std::string id = PublishExercise();
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(BothHold(1));

  auto dry = Publisher({"amend", id, "--title", "Close wet markets by noon", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("title: \"Close wet markets\" -> \"Close wet markets by noon\""),
            std::string::npos) << dry.out;
  auto still_one = Publisher({"show", id});
  EXPECT_NE(still_one.out.find("Versions: 1\n"), std::string::npos) << "a dry run sends nothing\n"
                                                                    << still_one.out;

  auto amended = Publisher({"amend", id, "--title", "Close wet markets by noon", "--reason", "typo"});
  ASSERT_EQ(amended.exit_code, 0) << amended.err;
  EXPECT_NE(amended.out.find("version 2"), std::string::npos) << amended.out;

  auto shown = Publisher({"show", id});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("EXERCISE"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("All wet markets close at noon."), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("Post notices at every market"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("Versions: 1 2"), std::string::npos) << shown.out;
  auto first = Publisher({"show", id, "--version", "1"});
  EXPECT_NE(first.out.find("\nClose wet markets\n"), std::string::npos) << first.out;

  ASSERT_TRUE(BothHold(2));
  for (const char* unit : {kFirst, kSecond}) {
    auto show = Subscriber("show", unit, {id});
    ASSERT_EQ(show.exit_code, 0) << show.err;
    EXPECT_NE(show.out.find("(version 2)"), std::string::npos) << unit << "\n" << show.out;
    EXPECT_NE(show.out.find("EXERCISE"), std::string::npos) << unit << "\n" << show.out;
    EXPECT_EQ(show.out.find("ACTUAL"), std::string::npos) << unit << "\n" << show.out;
    EXPECT_NE(show.out.find("Changed:"), std::string::npos) << unit << "\n" << show.out;
    EXPECT_NE(show.out.find("title: \"Close wet markets\" -> \"Close wet markets by noon\""),
              std::string::npos) << unit << "\n" << show.out;
  }
}

TEST_F(AmendProcesses, StatusChangesOnlyExplicitlyWithConfirmationAndIsRecorded) {
  std::string id = PublishExercise();
  ASSERT_FALSE(id.empty());
  auto unconfirmed = Publisher({"amend", id, "--change-status", "actual", "--reason", "real case"});
  EXPECT_EQ(unconfirmed.exit_code, 2);
  EXPECT_NE(unconfirmed.err.find("--confirm-actual"), std::string::npos) << unconfirmed.err;
  auto nothing = Publisher({"amend", id, "--title", "Close wet markets", "--reason", "again"});
  EXPECT_EQ(nothing.exit_code, 2);
  EXPECT_NE(nothing.err.find("changes nothing"), std::string::npos) << nothing.err;
  auto issuer = Publisher({"amend", id, "--issuer", "5201", "--title", "x", "--reason", "y"});
  EXPECT_EQ(issuer.exit_code, 2);
  EXPECT_NE(issuer.err.find("keeps the issuer"), std::string::npos) << issuer.err;
  auto city = Publisher({"--json", "publish", "--issuer", "5201", "--department", "CITY_HEALTH",
                         "--title", "Test residents", "--action", "Set up points|community",
                         "--scope", "520102016", "--tiers", "community", "--status", "exercise"});
  ASSERT_EQ(city.exit_code, 0) << city.err;
  const std::string city_id = nlohmann::json::parse(city.out)["id"].get<std::string>();
  auto outside = Publisher({"amend", city_id, "--scope", "5202", "--reason", "wider"});
  EXPECT_EQ(outside.exit_code, 2);
  EXPECT_NE(outside.err.find("scope 5202 is outside the issuer's jurisdiction 5201"),
            std::string::npos) << outside.err;
  testing::WriteFile(dir_ / "actual.json", R"({"issuer_unit": "52", "issuer_department": "HEALTH",
    "title": "Close wet markets", "body": "All wet markets close at noon.", "status": "ACTUAL",
    "actions": [{"what": "Post notices at every market", "responsible_tier": "COMMUNITY"}],
    "scope": ["520102016"], "target_tiers": ["COMMUNITY"]})");
  auto by_file = Publisher({"amend", id, "--file", dir_ / "actual.json", "--reason", "whole"});
  EXPECT_EQ(by_file.exit_code, 2);
  EXPECT_NE(by_file.err.find("--change-status"), std::string::npos) << by_file.err;
  EXPECT_NE(Publisher({"show", id}).out.find("Versions: 1\n"), std::string::npos)
      << "nothing refused was stored";

  auto changed = Publisher({"amend", id, "--change-status", "actual", "--confirm-actual",
                            "--reason", "the drill found a real case"});
  ASSERT_EQ(changed.exit_code, 0) << changed.err;
  auto events = testing::Run({Program("flatcast-audit"), "--broker", broker_->endpoint(), "events", id});
  ASSERT_EQ(events.exit_code, 0) << events.err;
  EXPECT_NE(events.out.find("STATUS_CHANGED"), std::string::npos) << events.out;
  EXPECT_NE(events.out.find("EXERCISE -> ACTUAL"), std::string::npos) << events.out;
  EXPECT_NE(events.out.find("the drill found a real case"), std::string::npos) << events.out;
  ASSERT_TRUE(WaitFor([&] { return InboxCount(kFirst) == 3; }, 30s))
      << "two versions of the first directive, one of the city's";
  auto show = Subscriber("show", kFirst, {id});
  EXPECT_NE(show.out.find("status: EXERCISE -> ACTUAL"), std::string::npos) << show.out;
}

TEST_F(AmendProcesses, NarrowerScopeWithdrawsTheDirectiveFromTheUnitLeftOut) {
  std::string id = PublishExercise();
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(BothHold(1));
  auto narrowed = Publisher({"amend", id, "--scope", kFirst, "--reason", "one community only"});
  ASSERT_EQ(narrowed.exit_code, 0) << narrowed.err;
  ASSERT_TRUE(BothHold(2));
  auto list = Subscriber("list", kSecond);
  EXPECT_NE(list.out.find("withdrawn from this unit"), std::string::npos) << list.out;
  auto show = Subscriber("show", kSecond, {id});
  EXPECT_NE(show.out.find("Withdrawn:"), std::string::npos) << show.out;
  auto confirm = Subscriber("confirm", kSecond, {id});
  EXPECT_NE(confirm.exit_code, 0);
  EXPECT_NE(confirm.err.find("withdrawn"), std::string::npos) << confirm.err;
  auto kept = Subscriber("list", kFirst);
  EXPECT_EQ(kept.out.find("withdrawn"), std::string::npos) << kept.out;
  // The audit counts what version 2 addresses; both acknowledged receipt.
  auto coverage = testing::Run({Program("flatcast-audit"), "--broker", broker_->endpoint(), "coverage", id,
                       "--format", "json"});
  ASSERT_EQ(coverage.exit_code, 0) << coverage.err;
  EXPECT_EQ(nlohmann::json::parse(coverage.out)["addressed"].get<int>(), 1);
}

}  // namespace
}  // namespace flatcast
