// Return forms with the real programs: a directive with a form published to
// a district's communities, a swarm answering at once and a terminal daemon
// whose operator answers and corrects with `flatcast-subscriber return`
// (a bad answer refused at the terminal); `flatcast-audit returns` sums
// what the log holds, by street, with the shortages listed; `burden`
// counts the form.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "broker_process.h"
#include "flatcast/registry.h"
#include "process.h"
#include "temp_dir.h"

namespace flatcast {
namespace {

using namespace testing;
using namespace std::chrono_literals;

constexpr char kDistrict[] = "520102";        // 南明区
constexpr char kCommunity[] = "520102016001";  // 纪念塔社区, a real daemon
constexpr char kStreet[] = "520102016";

size_t CommunitiesOf(const std::string& region) {
  const Registry registry = Registry::Load(GuizhouRegistry()).value();
  size_t n = 0;
  for (const Unit& u : registry.units()) {
    n += u.tier == Tier::kCommunity && Registry::IsWithin(u.code, region);
  }
  return n;
}

class ReturnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<BrokerProcess>(dir_.path());
    ASSERT_TRUE(broker_->ok()) << broker_->Stderr();
  }
  RunResult Subscriber(std::vector<std::string> args) {
    args.insert(args.end(), {"--state-dir", dir_ / "terminal"});
    return RunProgram("flatcast-subscriber", args);
  }
  nlohmann::json Audit(std::vector<std::string> args) {
    args.insert(args.begin(), {"--broker", broker_->endpoint(), "--format", "json"});
    RunResult r = RunProgram("flatcast-audit", args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(ReturnsTest, UnitsAnswerTheFormAndTheAuditSumsTheLatestAnswersByStreet) {
  const size_t communities = CommunitiesOf(kDistrict);
  Process daemon({Program("flatcast-subscriber"), "run", "--unit", kCommunity, "--broker",
                  broker_->endpoint(), "--state-dir", dir_ / "terminal"},
                 dir_.path() / "daemon");
  Process swarm({Program("flatcast-swarm"), "--registry", GuizhouRegistry(), "--endpoint",
                 broker_->endpoint(), "--region", kDistrict, "--tiers", "community", "--exclude",
                 kCommunity, "--answer-forms", "--expect", "1", "--timeout-s", "120"},
                dir_.path() / "swarm");
  auto published = RunProgram(
      "flatcast-publisher",
      {"--broker", broker_->endpoint(), "--json", "publish", "--issuer", "52", "--department",
       "HEALTH", "--title", "物资储备情况", "--body", "请如实填报。", "--action",
       "填报物资储备|community", "--scope", kDistrict, "--tiers", "community", "--form",
       SourcePath("configs/forms/supplies.toml")});
  ASSERT_EQ(published.exit_code, 0) << published.err;
  const std::string id = nlohmann::json::parse(published.out)["id"].get<std::string>();
  ASSERT_EQ(swarm.Wait(150s), 0) << swarm.Stdout() << swarm.Stderr();

  // The terminal stored it; `show` lists the form.
  RunResult shown;
  ASSERT_TRUE(WaitFor(
      [&] {
        shown = Subscriber({"show", id});
        return shown.exit_code == 0;
      },
      20s))
      << shown.err << daemon.Stderr();
  EXPECT_NE(shown.out.find("masks  口罩库存 (required): a whole number from 0 to 1000000 个"),
            std::string::npos)
      << shown.out;
  EXPECT_NE(shown.out.find("Not answered yet."), std::string::npos);

  // Refused at the terminal, saying what was wrong; nothing recorded.
  RunResult bad = Subscriber({"return", id, "--field", "masks=lots", "--field", "disinfectant=3"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("masks (\"口罩库存\") takes a whole number, not \"lots\""), std::string::npos)
      << bad.err;
  RunResult missing = Subscriber({"return", id, "--field", "masks=10"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("disinfectant (\"消毒液库存\") is required and has no answer"),
            std::string::npos)
      << missing.err;

  // An answer with a shortage, then its correction.
  RunResult answered = Subscriber({"return", id, "--field", "masks=120", "--field",
                                   "disinfectant=40", "--field", "staff_on_duty=2", "--field",
                                   "thermometers_ok=是", "--field", "risk=2"});
  ASSERT_EQ(answered.exit_code, 0) << answered.err;
  EXPECT_NE(answered.out.find("an answer of 5 fields recorded"), std::string::npos) << answered.out;
  ASSERT_TRUE(WaitFor(
      [&] { return Subscriber({"show", id}).out.find("stored by the broker") != std::string::npos; },
      20s))
      << daemon.Stderr();
  RunResult corrected = Subscriber({"return", id, "--field", "masks=900", "--field",
                                    "disinfectant=40", "--field", "staff_on_duty=3", "--field",
                                    "thermometers_ok=yes"});
  ASSERT_EQ(corrected.exit_code, 0) << corrected.err;
  EXPECT_NE(corrected.out.find("a correction"), std::string::npos) << corrected.out;
  ASSERT_TRUE(WaitFor(
      [&] { return Subscriber({"show", id}).out.find("correction 1") != std::string::npos; },
      20s))
      << Subscriber({"show", id}).out << daemon.Stderr();
  EXPECT_NE(Subscriber({"show", id}).out.find("masks = 900 个"), std::string::npos);

  // What the log holds, each unit's latest answer: the sums to expect.
  nlohmann::json log = Audit({"log", "--directive", id, "--all"});
  std::map<std::string, std::pair<int, int64_t>> latest;  // unit -> (revision, masks)
  for (const auto& row : log["rows"]) {
    if (row["kind"] != "return") continue;
    const std::string detail = row["detail"];
    const int revision = std::stoi(detail.substr(detail.find("answer ") + 7));
    const size_t m = detail.find("masks=");
    ASSERT_NE(m, std::string::npos) << detail;
    latest[row["unit"]] = std::max(latest[row["unit"]], {revision, std::stoll(detail.substr(m + 6))});
  }
  ASSERT_EQ(latest.size(), communities) << "every community answered once at least";
  EXPECT_EQ(latest[kCommunity], (std::pair<int, int64_t>{2, 900}));
  int64_t sum = 0, below = 0, street_sum = 0;
  for (const auto& [unit, answer] : latest) {
    sum += answer.second;
    below += answer.second < 500;
    if (Registry::IsWithin(unit, kStreet)) street_sum += answer.second;
  }

  nlohmann::json all = Audit({"returns", id});
  ASSERT_EQ(all["rows"].size(), 1u) << all.dump(2);
  EXPECT_EQ(all["rows"][0]["addressed"], communities);
  EXPECT_EQ(all["rows"][0]["answered"], communities);
  EXPECT_EQ(all["rows"][0]["corrected"], 1);
  EXPECT_EQ(all["rows"][0]["masks_sum"], sum);
  EXPECT_EQ(all["rows"][0]["masks_below"], below);
  EXPECT_GT(below, 0) << "the swarm answers about one in ten below 500";

  nlohmann::json by_street = Audit({"returns", id, "--by", "street", "--list", "3"});
  bool found = false;
  for (const auto& row : by_street["rows"]) {
    if (row["region"] != kStreet) continue;
    found = true;
    EXPECT_EQ(row["masks_sum"], street_sum);
    EXPECT_EQ(row["answered"], row["addressed"]);
    EXPECT_TRUE(row["missing"].empty());
  }
  EXPECT_TRUE(found) << by_street.dump(2);
  EXPECT_EQ(by_street["rows"].back()["region"], "total");
  EXPECT_EQ(by_street["rows"].back()["masks_sum"], sum);

  // The table says the same, with the form's labels.
  RunResult table = RunProgram("flatcast-audit", {"--broker", broker_->endpoint(), "returns", id,
                                                  "--list", "2"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("masks: 口罩库存 (个)"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("masks below 500"), std::string::npos) << table.out;

  // The burden report counts one form per community.
  nlohmann::json burden = Audit({"burden", "--region", kStreet});
  ASSERT_FALSE(burden["rows"].empty());
  for (const auto& row : burden["rows"]) {
    if (row["tier"] == "community") EXPECT_EQ(row["forms"], 1) << row.dump();
  }
  // The log verifies with the answers and the correction in it.
  RunResult verified = RunProgram("flatcast-audit", {"--broker", broker_->endpoint(), "verify"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
}

}  // namespace
}  // namespace flatcast
