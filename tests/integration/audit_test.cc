// The auditors' view with the real programs: operator commands through a
// running terminal daemon (also while the broker is down), deadlines that
// pass and show in the parent unit's terminal, the audit CLI's queries in
// every format, and `verify` finding a store changed behind the broker's back.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "flatcast/broker/store.h"
#include "flatcast/log_chain.h"
#include "flatcast/registry.h"
#include "broker_process.h"
#include "temp_dir.h"

namespace flatcast {
namespace {

using namespace testing;  // flatcast::testing: programs, processes, temp dirs
using namespace std::chrono_literals;

const std::string& kRegistry = testing::GuizhouRegistry();
constexpr char kStreet[] = "520102016";        // 新华路街道, 7 communities
constexpr char kCommunity[] = "520102016001";  // 纪念塔社区
constexpr char kOther[] = "520102016002";      // 新华路社区

class Audit : public ::testing::Test {
 protected:
  void SetUp() override { StartBroker("tcp://127.0.0.1:*"); }

  void StartBroker(const std::string& endpoint) {
    broker_ = std::make_unique<testing::BrokerProcess>(
        dir_.path(), std::vector<std::string>{"--endpoint", endpoint, "--heartbeat-interval", "500ms"},
        "broker-" + std::to_string(++broker_runs_));
    ASSERT_TRUE(broker_->ok()) << broker_->Stderr();
    endpoint_ = broker_->endpoint();
  }

  std::unique_ptr<Process> Daemon(const std::string& unit) {
    return std::make_unique<Process>(
        std::vector<std::string>{Program("flatcast-subscriber"), "run", "--unit", unit, "--broker",
                                 endpoint_, "--state-dir", StateDir(unit)},
        dir_.path() / ("daemon-" + unit));
  }
  std::string StateDir(const std::string& unit) const { return dir_ / ("t-" + unit); }

  testing::RunResult Subscriber(std::vector<std::string> args) {
    args.insert(args.begin(), Program("flatcast-subscriber"));
    return testing::Run(args);
  }
  testing::RunResult AuditCli(std::vector<std::string> args) {
    args.insert(args.begin(), {Program("flatcast-audit"), "--broker", endpoint_});
    return testing::Run(args);
  }

  // Publishes to the street and its communities; the directive id.
  std::string Publish(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{Program("flatcast-publisher"), "--broker", endpoint_, "--json",
                                  "publish", "--issuer", "52", "--department", "HEALTH",
                                  "--title", "Stock masks", "--body", "Count the masks.",
                                  "--action", "Count masks|community", "--action",
                                  "Collect the counts|street", "--scope", kStreet, "--tiers",
                                  "street,community"};
    args.insert(args.end(), extra.begin(), extra.end());
    testing::RunResult r = testing::Run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.exit_code != 0) return "";
    return nlohmann::json::parse(r.out)["id"].get<std::string>();
  }

  bool Stored(const std::string& unit) {
    auto inbox = std::filesystem::path(StateDir(unit)) / "inbox";
    return std::filesystem::exists(inbox) && !std::filesystem::is_empty(inbox);
  }

  nlohmann::json Json(const testing::RunResult& r) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::BrokerProcess> broker_;
  std::string endpoint_;
  int broker_runs_ = 0;
};

TEST_F(Audit, OperatorCommandsWorkWhileTheBrokerIsDownAndArriveWhenItIsBack) {
  auto daemon = Daemon(kCommunity);
  std::string id = Publish();
  ASSERT_TRUE(testing::WaitFor([&] { return Stored(kCommunity); }, 30s)) << daemon->Stderr();

  ASSERT_EQ(broker_->Stop(), 0);
  testing::RunResult confirm = Subscriber({"confirm", id, "--state-dir", StateDir(kCommunity)});
  EXPECT_EQ(confirm.exit_code, 0) << confirm.err;
  EXPECT_NE(confirm.out.find("CONFIRMED recorded"), std::string::npos) << confirm.out;
  testing::RunResult ready = Subscriber(
      {"ready", id, "--state-dir", StateDir(kCommunity), "--note", "200 masks, two staff"});
  EXPECT_EQ(ready.exit_code, 0) << ready.err;
  testing::RunResult rate =
      Subscriber({"rate", id, "--state-dir", StateDir(kCommunity), "--clarity", "4",
                  "--feasibility", "2", "--comment", "not enough masks in stock"});
  EXPECT_EQ(rate.exit_code, 0) << rate.err;
  // Without a welcome the daemon keeps them: the broker is gone, or the
  // daemon has not noticed yet and they wait in the socket's queue.
  testing::RunResult listed = Subscriber({"list", "--state-dir", StateDir(kCommunity)});
  EXPECT_NE(listed.out.find("ready (pending)"), std::string::npos) << listed.out;

  StartBroker(endpoint_);
  nlohmann::json history;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        testing::RunResult r = AuditCli({"unit", kCommunity, "--format", "json"});
        if (r.exit_code != 0) return false;
        history = nlohmann::json::parse(r.out);
        return !history["rows"].empty() && history["rows"][0]["ready"] != "" &&
               history["rows"][0]["rating"] != "";
      },
      30s))
      << history.dump(2) << daemon->Stderr();
  EXPECT_EQ(history["rows"][0]["rating"], "4/2");
  EXPECT_NE(history["rows"][0]["confirmed"], "");
  testing::RunResult again = Subscriber({"list", "--state-dir", StateDir(kCommunity)});
  EXPECT_NE(again.out.find("ready "), std::string::npos) << again.out;
  EXPECT_EQ(again.out.find("(pending)"), std::string::npos) << again.out;

  // Without a daemon the command says what to check.
  daemon->Stop();
  testing::RunResult none = Subscriber({"confirm", id, "--state-dir", StateDir(kCommunity)});
  EXPECT_EQ(none.exit_code, 3) << none.out;
  EXPECT_NE(none.err.find("no terminal daemon answers"), std::string::npos) << none.err;
  testing::RunResult unknown = Subscriber({"confirm", "52-X-1", "--state-dir", StateDir(kCommunity)});
  EXPECT_NE(unknown.exit_code, 0);
}

TEST_F(Audit, OverdueCommunitiesShowInTheirStreetsTerminalUntilTheyConfirm) {
  auto street = Daemon(kStreet);
  auto community = Daemon(kCommunity);
  auto other = Daemon(kOther);
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return other->Stderr().find("welcomed") != std::string::npos &&
               street->Stderr().find("welcomed") != std::string::npos;
      },
      30s));
  std::string id = Publish({"--deadline", "confirmed=3s"});
  ASSERT_TRUE(testing::WaitFor([&] { return Stored(kCommunity); }, 30s));
  ASSERT_EQ(Subscriber({"confirm", id, "--state-dir", StateDir(kCommunity)}).exit_code, 0);
  ASSERT_EQ(Subscriber({"confirm", id, "--state-dir", StateDir(kStreet)}).exit_code, 0);

  // The deadline passes: the street sees its six other communities overdue,
  // the community that did not confirm sees itself.
  testing::RunResult overdue;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        overdue = Subscriber({"overdue", "--state-dir", StateDir(kStreet)});
        return overdue.out.find(kOther) != std::string::npos;
      },
      30s))
      << overdue.out << street->Stderr();
  EXPECT_NE(overdue.out.find("Overdue units below this unit"), std::string::npos) << overdue.out;
  EXPECT_NE(overdue.out.find("6 units"), std::string::npos) << overdue.out;
  EXPECT_EQ(overdue.out.find(std::string(kCommunity) + " "), std::string::npos) << overdue.out;
  testing::RunResult own = Subscriber({"overdue", "--state-dir", StateDir(kOther), "--json"});
  nlohmann::json report = nlohmann::json::parse(own.out);
  ASSERT_EQ(report["own"].size(), 1u) << own.out;
  EXPECT_EQ(report["own"][0]["level"], "CONFIRMED");
  EXPECT_NE(other->Stderr().find("overdue:"), std::string::npos);

  // Late, but confirmed: the street's list shrinks by one.
  ASSERT_EQ(Subscriber({"confirm", id, "--state-dir", StateDir(kOther)}).exit_code, 0);
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        overdue = Subscriber({"overdue", "--state-dir", StateDir(kStreet)});
        return overdue.out.find("5 units") != std::string::npos;
      },
      30s))
      << overdue.out;
  EXPECT_EQ(overdue.out.find(kOther), std::string::npos) << overdue.out;

  testing::RunResult missing = AuditCli({"missing", id, "--level", "confirmed", "--format", "json"});
  nlohmann::json m = Json(missing);
  EXPECT_EQ(m["total"], 5);
  EXPECT_EQ(m["overdue"], true);
  testing::RunResult events = AuditCli({"events", id});
  EXPECT_NE(events.out.find("DEADLINE_PASSED"), std::string::npos) << events.out;
}

TEST_F(Audit, QueriesOfADistrictAtEveryLevelInEveryFormat) {
  // 南明区: 235 units. Half the swarm also confirms and is ready at once.
  std::vector<std::unique_ptr<Process>> swarms;
  for (int shard = 0; shard < 2; ++shard) {
    std::vector<std::string> args{Program("flatcast-swarm"), "--registry", kRegistry, "--endpoint",
                                  endpoint_, "--region", "520102", "--shard",
                                  std::to_string(shard), "--shards", "2", "--expect", "1",
                                  "--timeout-s", "120"};
    if (shard == 0) args.insert(args.end(), {"--ack-levels", "confirmed,ready"});
    swarms.push_back(std::make_unique<Process>(args, dir_.path() / ("swarm-" + std::to_string(shard))));
  }
  // Every swarm terminal is welcomed: the last progress line says so.
  auto all_welcomed = [](Process& swarm) {
    std::string out = swarm.Stdout();
    size_t end = out.rfind('\n');
    if (end == std::string::npos) return false;
    size_t begin = out.rfind('\n', end - 1);
    auto line = nlohmann::json::parse(out.substr(begin == std::string::npos ? 0 : begin + 1,
                                                 end - (begin == std::string::npos ? 0 : begin + 1)),
                                      nullptr, false);
    return line.is_object() && line.contains("welcomed") && line["welcomed"] == line["units"];
  };
  ASSERT_TRUE(testing::WaitFor(
      [&] { return all_welcomed(*swarms[0]) && all_welcomed(*swarms[1]); }, 60s));
  std::vector<std::string> args{Program("flatcast-publisher"), "--broker", endpoint_, "--json",
                                "publish", "--issuer", "52", "--department", "HEALTH",
                                "--title", "Stock masks", "--body", "Count the masks.",
                                "--action", "Count masks|community", "--scope", "520102",
                                "--tiers", "district,street,community"};
  testing::RunResult published = testing::Run(args);
  ASSERT_EQ(published.exit_code, 0) << published.err;
  std::string id = nlohmann::json::parse(published.out)["id"];
  for (auto& s : swarms) ASSERT_EQ(s->Wait(120s), 0) << s->Stderr();

  nlohmann::json rollup = Json(AuditCli({"rollup", id, "--region", "520102", "--depth", "street",
                                         "--format", "json"}));
  ASSERT_FALSE(rollup["rows"].empty());
  const auto& district = rollup["rows"][0];
  EXPECT_EQ(district["code"], "520102");
  EXPECT_EQ(district["addressed"], 235);
  EXPECT_EQ(district["received"], 235);
  int confirmed = district["confirmed"];
  EXPECT_GT(confirmed, 100);
  EXPECT_LT(confirmed, 135);
  EXPECT_EQ(district["ready"], confirmed);
  EXPECT_DOUBLE_EQ(district["received_pct"].get<double>(), 100.0);
  // A row for every street of 南明区, as the registry lists them.
  Registry registry = Registry::Load(kRegistry).value();
  auto [first, last] = registry.SubtreeRange("520102");
  int registry_streets = 0;
  for (uint32_t i = first; i < last; ++i) registry_streets += registry.unit(i).tier == Tier::kStreet;
  int streets = 0;
  for (const auto& row : rollup["rows"]) streets += row["tier"] == "street";
  EXPECT_EQ(streets, registry_streets);

  nlohmann::json missing = Json(AuditCli({"missing", id, "--level", "ready", "--format", "json", "--all"}));
  EXPECT_EQ(missing["total"], 235 - confirmed);
  EXPECT_EQ(missing["rows"].size(), static_cast<size_t>(235 - confirmed));

  testing::RunResult csv = AuditCli({"rollup", id, "--region", "520102", "--format", "csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(csv.out.substr(0, csv.out.find('\n')),
            "code,tier,addressed,received,received_pct,confirmed,confirmed_pct,ready,ready_pct,name");
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 2);  // the header and the district

  nlohmann::json latency = Json(AuditCli({"latency", id, "--format", "json"}));
  ASSERT_EQ(latency["rows"].size(), 3u);
  EXPECT_EQ(latency["rows"][0]["units"], 235);
  EXPECT_LE(latency["rows"][0]["p50_ms"].get<int64_t>(), latency["rows"][0]["p99_ms"].get<int64_t>());
  EXPECT_LE(latency["rows"][0]["p99_ms"].get<int64_t>(), latency["rows"][0]["max_ms"].get<int64_t>());

  testing::RunResult table = AuditCli({"rollup", id, "--region", "520102", "--depth", "street"});
  EXPECT_NE(table.out.find("南明区"), std::string::npos) << table.out;
  testing::RunResult readiness = AuditCli({"readiness", id});
  EXPECT_NE(readiness.out.find("not public"), std::string::npos) << readiness.out;
  nlohmann::json burden = Json(AuditCli({"burden", "--region", "520102", "--by", "tier", "--format", "json"}));
  ASSERT_EQ(burden["rows"].size(), 3u);  // district, street, community
  EXPECT_EQ(burden["rows"][2]["tier"], "community");
  EXPECT_EQ(burden["rows"][2]["action_items"], burden["rows"][2]["directives"]);

  // A long export says how far it is.
  testing::RunResult paged = AuditCli({"log", "--all", "--page", "100", "--format", "csv"});
  ASSERT_EQ(paged.exit_code, 0) << paged.err;
  EXPECT_NE(paged.err.find("log: 100 records read"), std::string::npos) << paged.err;
  // The publish, 235 RECEIVED and twice `confirmed` more.
  EXPECT_EQ(std::count(paged.out.begin(), paged.out.end(), '\n'), 1 + 1 + 235 + 2 * confirmed);

  testing::RunResult bad = AuditCli({"rollup", id, "--region", "5299"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("not in the registry"), std::string::npos) << bad.err;
  EXPECT_TRUE(broker_->running());
}

TEST_F(Audit, VerifyFindsTheStoreChangedBehindTheBrokersBack) {
  auto community = Daemon(kCommunity);
  auto other = Daemon(kOther);
  std::string id = Publish();
  ASSERT_TRUE(testing::WaitFor([&] { return Stored(kCommunity) && Stored(kOther); }, 30s));
  ASSERT_EQ(Subscriber({"confirm", id, "--state-dir", StateDir(kCommunity)}).exit_code, 0);
  testing::RunResult ok;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        ok = AuditCli({"verify", "--format", "json"});
        return ok.exit_code == 0 && nlohmann::json::parse(ok.out)["records"] == 4;  // event, 3 acks
      },
      30s))
      << ok.out << ok.err;
  std::string anchor = nlohmann::json::parse(ok.out)["anchor"];

  community->Stop();
  other->Stop();
  ASSERT_EQ(broker_->Stop(), 0);
  // Someone with the files moves a RECEIVED acknowledgement to an earlier time.
  {
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies({}, dir_ / "data", &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open({}, dir_ / "data", cfs, &handles, &db).ok());
    size_t log = std::find(names.begin(), names.end(), "log") - names.begin();
    std::string value;
    ASSERT_TRUE(db->Get({}, handles[log], broker::SeqKey(2), &value).ok());
    v1::LogRecord record;
    ASSERT_TRUE(record.ParseFromString(value));
    ASSERT_TRUE(record.has_ack());
    record.mutable_ack()->mutable_record()->mutable_stored()->set_seconds(1000);
    ASSERT_TRUE(db->Put({}, handles[log], broker::SeqKey(2), record.SerializeAsString()).ok());
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  testing::RunResult offline =
      testing::Run({Program("flatcast-audit"), "verify", "--data-dir", dir_ / "data"});
  EXPECT_EQ(offline.exit_code, 1) << offline.out << offline.err;
  EXPECT_NE(offline.out.find("LOG TAMPERED"), std::string::npos) << offline.out;
  EXPECT_NE(offline.out.find("record 2 was changed"), std::string::npos) << offline.out;

  StartBroker(endpoint_);
  testing::RunResult remote = AuditCli({"verify", "--anchor", anchor});
  EXPECT_EQ(remote.exit_code, 1) << remote.out << remote.err;
  EXPECT_NE(remote.out.find("record 2 was changed"), std::string::npos) << remote.out;
  testing::RunResult bad_anchor = AuditCli({"verify", "--anchor", "4:nothex"});
  EXPECT_EQ(bad_anchor.exit_code, 2);
  EXPECT_NE(bad_anchor.err.find("SEQ:HASH"), std::string::npos);
}

}  // namespace
}  // namespace flatcast
