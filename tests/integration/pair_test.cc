// A broker pair led through a real etcd (docs/HA.md), with the real
// programs: two flatcast-broker processes on loopback, each with its own
// store, a terminal swarm and the publisher and audit CLIs given both
// endpoints. The leader is killed (SIGKILL) after a receipt; the standby
// takes over, the killed broker comes back as the standby and copies what
// it lacks, and every unit ends with every directive once and every
// acknowledgement durable on both stores, whose logs verify with the same
// head. Bad starts are refused with a message: the other broker's data
// directory, a second broker of the same name.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "etcd_process.h"
#include "flatcast.pb.h"
#include "flatcast/curve.h"
#include "http_client.h"
#include "process.h"
#include "temp_dir.h"

namespace flatcast {
namespace {

using namespace testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kRegistry = SourcePath("configs/registry/guizhou-52.tsv");
const std::string kEveryTier = "city,district,street,community";

nlohmann::json LastJsonLine(const std::string& text) {
  size_t end = text.find_last_not_of('\n');
  if (end == std::string::npos) return {};
  size_t start = text.rfind('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  return nlohmann::json::parse(text.substr(start, end - start + 1), nullptr, false);
}

class PairTest : public ::testing::Test {
 protected:
  struct Member {
    std::string endpoint;
    std::string replication;
    fs::path dir;
    std::vector<std::unique_ptr<Process>> runs;
    Process& process() { return *runs.back(); }
  };

  void SetUp() override {
    std::string why;
    etcd_ = EtcdProcess::Start(dir_.path() / "etcd", &why);
    ASSERT_TRUE(etcd_) << why;
    for (const char* name : {"a", "b", "twin"}) {
      Member& m = members_[name];
      m.endpoint = "tcp://127.0.0.1:" + std::to_string(FreePort());
      m.replication = "tcp://127.0.0.1:" + std::to_string(FreePort());
      m.dir = dir_.path() / name;
      fs::create_directories(m.dir);
    }
  }

  // Broker `name`'s flags; `pair_name` (default: `name`) is the name it joins with.
  std::vector<std::string> BrokerArgs(const std::string& name, const std::string& data_dir,
                                      bool init, const std::string& pair_name = "") {
    Member& m = members_[name];
    std::vector<std::string> args{Program("flatcast-broker"),
                                  "--data-dir", data_dir,
                                  "--registry", kRegistry,
                                  "--endpoint", m.endpoint,
                                  "--endpoint-file", (m.dir / "endpoint").string(),
                                  "--etcd", etcd_->endpoint(),
                                  "--pair-group", "52",
                                  "--pair-name", pair_name.empty() ? name : pair_name,
                                  "--replication", replication_,
                                  "--replication-endpoint", m.replication,
                                  "--lease-ttl", "3s",
                                  "--standby-timeout", "2s",
                                  "--heartbeat-interval", "1s",
                                  "--redelivery-initial", "500ms",
                                  "--public-lead-time", public_lead_time_};
    if (init) args.push_back("--init");
    args.insert(args.end(), broker_extra_.begin(), broker_extra_.end());
    return args;
  }

  // Starts broker `name` on its own data directory and waits until it listens.
  void Start(const std::string& name, bool init) {
    Member& m = members_[name];
    fs::remove(m.dir / "endpoint");
    m.runs.push_back(std::make_unique<Process>(
        BrokerArgs(name, (m.dir / "data").string(), init),
        m.dir / ("run-" + std::to_string(m.runs.size() + 1))));
    ASSERT_TRUE(WaitFor([&] { return fs::exists(m.dir / "endpoint") || !m.process().running(); },
                        30s));
    ASSERT_TRUE(m.process().running()) << m.process().Stderr();
  }

  std::string Both() { return members_["a"].endpoint + "," + members_["b"].endpoint; }

  // What broker `name` says of the pair; null when it does not answer.
  nlohmann::json Cluster(const std::string& name) {
    std::vector<std::string> args{"--broker", members_[name].endpoint, "--timeout-ms", "1000"};
    args.insert(args.end(), audit_extra_.begin(), audit_extra_.end());
    args.insert(args.end(), {"cluster", "--format", "json"});
    auto r = RunProgram("flatcast-audit", args, 10s);
    auto rows = nlohmann::json::parse(r.out, nullptr, false);
    if (r.exit_code != 0 || !rows.is_array() || rows.empty()) return nullptr;
    return rows[0];
  }

  // Waits until broker `name` leads with its standby in sync.
  bool WaitLeadingInSync(const std::string& name, std::chrono::seconds timeout = 30s) {
    return WaitFor(
        [&] {
          nlohmann::json c = Cluster(name);
          return !c.is_null() && c["role"] == "leader" && c["in_sync"] == true;
        },
        timeout);
  }

  nlohmann::json Publish(const std::string& brokers, const std::string& scope,
                         const std::string& title) {
    std::vector<std::string> args{"--broker", brokers, "--json", "--timeout-ms", "3000",
                                  "--attempts", "10"};
    args.insert(args.end(), publisher_extra_.begin(), publisher_extra_.end());
    args.insert(args.end(), {"publish", "--issuer", "52", "--department", "HEALTH", "--title", title,
                         "--body", "All wet markets close at noon.", "--action", "Post notices|community", "--scope", scope, "--tiers",
                         kEveryTier});
    auto r = RunProgram("flatcast-publisher", args, 90s);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  nlohmann::json Coverage(const std::string& id) {
    auto r = RunProgram("flatcast-audit", {"--broker", Both(), "coverage", id, "--format", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  // Each unit's inbox (the swarm's --inboxes file) holds each of `ids` exactly
  // once, and nothing else; deliveries themselves may repeat across a
  // failover (at least once). Prints the RECONCILIATION line.
  void Reconcile(const std::vector<std::string>& ids, const nlohmann::json& report,
                 const std::string& faults) {
    std::set<std::string> expected;
    for (const std::string& id : ids) expected.insert(id + ".v1");
    std::stringstream lines(ReadFile(dir_.path() / "swarm.inbox"));
    size_t inboxes = 0, lost = 0, duplicated = 0;
    for (std::string line; std::getline(lines, line);) {
      size_t tab = line.find('\t');
      if (tab == std::string::npos) continue;
      ++inboxes;
      std::multiset<std::string> held;
      std::stringstream entries(line.substr(tab + 1));
      for (std::string entry; std::getline(entries, entry, ',');) {
        if (!entry.empty()) held.insert(entry);
      }
      for (const std::string& e : expected) lost += held.count(e) == 0;
      for (const std::string& e : held) duplicated += !expected.count(e) || held.count(e) > 1;
    }
    std::cout << "RECONCILIATION test="
              << ::testing::UnitTest::GetInstance()->current_test_info()->name()
              << " units=" << inboxes << " directives=" << ids.size() << " faults=" << faults
              << " lost=" << lost << " duplicated=" << duplicated
              << " repeat-deliveries=" << report["duplicates"] << std::endl;
    EXPECT_EQ(inboxes, report["units"].get<size_t>());
    EXPECT_EQ(lost, 0u);
    EXPECT_EQ(duplicated, 0u);
    for (const std::string& id : ids) {
      EXPECT_TRUE(WaitFor([&] { return Coverage(id).value("missing_total", -1) == 0; }, 30s))
          << id << ": " << Coverage(id).dump();
    }
  }

  // a leads, b is its standby in sync.
  void StartPairLedByA() {
  ASSERT_NO_FATAL_FAILURE(Start("a", true));
  ASSERT_TRUE(WaitFor([&] { return Cluster("a").value("role", "") == "leader"; }, 20s));
  ASSERT_NO_FATAL_FAILURE(Start("b", true));
  ASSERT_TRUE(WaitLeadingInSync("a")) << Cluster("a").dump();
  }
  // a is killed; b takes the key, a comes back as b's standby in sync.
  void KillAAndLetItRejoinUnderB() {
  members_["a"].process().Signal(SIGKILL);
  ASSERT_TRUE(members_["a"].process().Wait(10s).has_value());
  ASSERT_TRUE(WaitFor([&] { return Cluster("b").value("role", "") == "leader"; }, 20s));
  ASSERT_NO_FATAL_FAILURE(Start("a", false));
  ASSERT_TRUE(WaitLeadingInSync("b", 60s)) << Cluster("b").dump();
  }

  // A swarm given both endpoints; by default each terminal also keeps a warm
  // connection to the other broker (docs/HA.md).
  std::unique_ptr<Process> Swarm(const std::string& region, int expect, bool warm = true) {
    std::vector<std::string> args{Program("flatcast-swarm"), "--registry", kRegistry, "--endpoint",
                                  Both(), "--region", region, "--tiers", kEveryTier, "--expect",
                                  std::to_string(expect), "--timeout-s", "400", "--report",
                                  (dir_.path() / "swarm.json").string(), "--inboxes",
                                  (dir_.path() / "swarm.inbox").string()};
    if (!warm) args.push_back("--no-warm-standby");
    return std::make_unique<Process>(std::move(args), dir_.path() / "swarm");
  }

  bool AllWarm(Process& swarm) {
    nlohmann::json line = LastJsonLine(swarm.Stdout());
    return line.contains("warm") && line["units"].get<int>() > 0 && line["warm"] == line["units"];
  }

  bool AllWelcomed(Process& swarm) {
    nlohmann::json line = LastJsonLine(swarm.Stdout());
    return line.contains("welcomed") && line["units"].get<int>() > 0 &&
           line["welcomed"] == line["units"];
  }

  // Both stores hold the same history: once their commits agree, both are
  // stopped and their logs verify with the same head.
  void ExpectTheSameHistoryOnBoth() {
    ASSERT_TRUE(WaitFor(
        [&] {
          nlohmann::json a = Cluster("a"), b = Cluster("b");
          return !a.is_null() && !b.is_null() && a["commit_seq"] == b["commit_seq"];
        },
        20s));
    EXPECT_EQ(members_["b"].process().Stop(), 0);
    EXPECT_EQ(members_["a"].process().Stop(), 0);
    nlohmann::json va = VerifyStore("a"), vb = VerifyStore("b");
    EXPECT_EQ(va["ok"], true) << va.dump();
    EXPECT_EQ(vb["ok"], true) << vb.dump();
    EXPECT_EQ(va["anchor"], vb["anchor"]);
    EXPECT_GT(va["records"].get<uint64_t>(), 0u);
  }

  nlohmann::json VerifyStore(const std::string& name) {
    auto r = RunProgram("flatcast-audit", {"verify", "--data-dir",
                                           (members_[name].dir / "data").string(), "--format",
                                           "json"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  TempDir dir_;
  std::unique_ptr<EtcdProcess> etcd_;
  std::map<std::string, Member> members_;
  std::string replication_ = "sync";
  std::string public_lead_time_ = "12h";
  // With CURVE: the flags each program gets besides its own.
  std::vector<std::string> broker_extra_, publisher_extra_, audit_extra_;

  void Keys(std::vector<std::string> args) {
    RunResult r = RunProgram("flatcast-keys", std::move(args));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // The pair shares one CURVE key, registered with the broker role; a
  // signing publisher and an auditor with keys of their own.
  void UseCurve() {
    const fs::path d = dir_.path();
    const std::string keys = (d / "keys.toml").string();
    Keys({"generate", "--kind", "curve", "--out", d / "pair"});
    for (const char* who : {"publisher", "auditor", "stranger", "other-broker"}) {
      Keys({"generate", "--kind", "curve", "--out", d / (std::string(who) + "-curve")});
    }
    Keys({"generate", "--kind", "signing", "--out", d / "publisher-sign"});
    Keys({"register", "--registry", keys, "--name", "pair-52", "--role", "broker", "--subject",
          "52", "--curve-pub", d / "pair.pub"});
    Keys({"register", "--registry", keys, "--name", "guizhou-health", "--role", "publisher",
          "--subject", "guizhou-health", "--curve-pub", d / "publisher-curve.pub", "--signing-pub",
          d / "publisher-sign.pub"});
    Keys({"register", "--registry", keys, "--name", "audit-office", "--role", "auditor",
          "--subject", "audit-office", "--curve-pub", d / "auditor-curve.pub"});
    Keys({"register", "--registry", keys, "--name", "jinianta", "--role", "unit", "--subject",
          "520102016001", "--curve-pub", d / "stranger-curve.pub"});
    Keys({"register", "--registry", keys, "--name", "not-a-broker", "--role", "auditor",
          "--subject", "not-a-broker", "--curve-pub", d / "other-broker-curve.pub"});
    broker_extra_ = {"--keys", keys, "--curve-key", (d / "pair.key").string(), "--publishers",
                     SourcePath("configs/publishers.toml")};
    publisher_extra_ = {"--curve-key", (d / "publisher-curve.key").string(), "--broker-key",
                        (d / "pair.pub").string(), "--signing-key",
                        (d / "publisher-sign.key").string()};
    audit_extra_ = {"--curve-key", (d / "auditor-curve.key").string(), "--broker-key",
                    (d / "pair.pub").string()};
  }
};

TEST_F(PairTest, LeaderKilledAfterAReceiptTheStandbyTakesOverAndNothingIsLost) {
  ASSERT_NO_FATAL_FAILURE(Start("a", true));
  ASSERT_TRUE(WaitFor([&] { return Cluster("a").value("role", "") == "leader"; }, 20s));
  ASSERT_NO_FATAL_FAILURE(Start("b", true));
  ASSERT_TRUE(WaitLeadingInSync("a")) << Cluster("a").dump();

  // A standby refuses clients and names the leader.
  auto refused = RunProgram("flatcast-publisher",
                            {"--broker", members_["b"].endpoint, "--timeout-ms", "1500",
                             "--attempts", "1", "publish", "--issuer", "52", "--department",
                             "HEALTH", "--title", "To the standby", "--body", "x", "--action", "Post notices|community", "--scope",
                             "520102", "--tiers", kEveryTier});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("standby"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find(members_["a"].endpoint), std::string::npos) << refused.err;

  const std::string region = "520102";  // 南明区: its streets and communities
  auto swarm = Swarm(region, 2);
  ASSERT_TRUE(WaitFor([&] { return AllWelcomed(*swarm) && AllWarm(*swarm); }, 60s))
      << swarm->Stdout();

  nlohmann::json first = Publish(Both(), region, "Before the failover");
  ASSERT_TRUE(first.contains("id")) << first.dump();
  // The receipt means both stores hold it; the fan-out is under way.
  members_["a"].process().Signal(SIGKILL);
  ASSERT_TRUE(members_["a"].process().Wait(10s).has_value());

  ASSERT_TRUE(WaitFor([&] { return Cluster("b").value("role", "") == "leader"; }, 20s))
      << members_["b"].process().Stderr();
  // The killed broker comes back as the standby and copies what it lacks.
  ASSERT_NO_FATAL_FAILURE(Start("a", false));
  ASSERT_TRUE(WaitLeadingInSync("b", 60s)) << Cluster("b").dump() << members_["a"].process().Stderr();

  nlohmann::json second = Publish(Both(), region, "After the failover");
  ASSERT_TRUE(second.contains("id")) << second.dump();
  EXPECT_GT(second["seq"].get<uint64_t>(), first["seq"].get<uint64_t>());

  ASSERT_EQ(swarm->Wait(150s), 0) << swarm->Stderr();
  auto report = nlohmann::json::parse(ReadFile(dir_.path() / "swarm.json"));
  EXPECT_EQ(report["units_complete"], report["units"]);
  EXPECT_GT(report["units"].get<int>(), 100);
  // Every terminal moved over its warm connection: no new connection, no
  // new CURVE handshake at the new leader.
  EXPECT_GE(report["switches"].get<int>(), report["units"].get<int>()) << report.dump();
  EXPECT_EQ(report["reconnects"], 0) << report.dump();
  Reconcile({first["id"].get<std::string>(), second["id"].get<std::string>()}, report,
            "leader-sigkill");

  ASSERT_NO_FATAL_FAILURE(ExpectTheSameHistoryOnBoth());
}

TEST_F(PairTest, WithoutWarmConnectionsTerminalsReconnectToTheNewLeaderAndLoseNothing) {
  ASSERT_NO_FATAL_FAILURE(StartPairLedByA());
  const std::string region = "520102";
  auto swarm = Swarm(region, 2, /*warm=*/false);
  ASSERT_TRUE(WaitFor([&] { return AllWelcomed(*swarm); }, 60s)) << swarm->Stdout();
  nlohmann::json first = Publish(Both(), region, "Before the failover");
  ASSERT_TRUE(first.contains("id")) << first.dump();
  ASSERT_NO_FATAL_FAILURE(KillAAndLetItRejoinUnderB());
  nlohmann::json second = Publish(Both(), region, "After the failover");
  ASSERT_TRUE(second.contains("id")) << second.dump();
  ASSERT_EQ(swarm->Wait(150s), 0) << swarm->Stderr();
  auto report = nlohmann::json::parse(ReadFile(dir_.path() / "swarm.json"));
  EXPECT_EQ(report["switches"], 0) << report.dump();
  EXPECT_EQ(report["warm"], 0) << report.dump();
  EXPECT_GT(report["reconnects"].get<int>(), 0) << report.dump();
  Reconcile({first["id"].get<std::string>(), second["id"].get<std::string>()}, report,
            "leader-sigkill-cold");
}

TEST_F(PairTest, ASubscriberDaemonSwitchesToItsWarmConnectionWhenTheLeaderIsKilled) {
  ASSERT_NO_FATAL_FAILURE(StartPairLedByA());
  const std::string unit = "520102016001";  // 纪念塔社区
  Process daemon({Program("flatcast-subscriber"), "run", "--unit", unit, "--broker", Both(),
                  "--state-dir", (dir_.path() / "daemon").string()},
                 dir_.path() / "daemon-run");
  ASSERT_TRUE(WaitFor([&] { return daemon.Stderr().find("welcomed as") != std::string::npos; },
                      30s))
      << daemon.Stderr();
  EXPECT_NE(daemon.Stderr().find("keeping a warm connection to " + members_["b"].endpoint),
            std::string::npos)
      << daemon.Stderr();
  nlohmann::json first = Publish(Both(), unit, "Before the failover");
  ASSERT_TRUE(first.contains("id")) << first.dump();
  ASSERT_NO_FATAL_FAILURE(KillAAndLetItRejoinUnderB());
  nlohmann::json second = Publish(Both(), unit, "After the failover");
  ASSERT_TRUE(second.contains("id")) << second.dump();
  const std::string id = second["id"].get<std::string>();
  ASSERT_TRUE(WaitFor(
      [&] { return daemon.Stderr().find("received " + id) != std::string::npos; }, 60s))
      << daemon.Stderr();
  const std::string log = daemon.Stderr();
  EXPECT_NE(log.find("switching to the warm connection to " + members_["b"].endpoint),
            std::string::npos)
      << log;
  // Both directives are acknowledged durably at the new leader.
  for (const std::string& d : {first["id"].get<std::string>(), id}) {
    EXPECT_TRUE(WaitFor([&] { return Coverage(d).value("missing_total", -1) == 0; }, 30s))
        << d << ": " << Coverage(d).dump();
  }
}

// Publishes with one attempt; the result, whatever it is.
RunResult PublishOnce(const std::string& brokers, const std::string& title) {
  return RunProgram("flatcast-publisher",
                    {"--broker", brokers, "--json", "--timeout-ms", "1500", "--attempts", "1",
                     "publish", "--issuer", "52", "--department", "HEALTH", "--title", title,
                     "--body", "x", "--action", "Post notices|community", "--scope", "520102",
                     "--tiers", kEveryTier},
                    30s);
}

TEST_F(PairTest, ALeaderPausedPastItsLeaseConfirmsNothingAfterTheNewEpochAndRejoinsAsStandby) {
  ASSERT_NO_FATAL_FAILURE(Start("a", true));
  ASSERT_TRUE(WaitFor([&] { return Cluster("a").value("role", "") == "leader"; }, 20s));
  ASSERT_NO_FATAL_FAILURE(Start("b", true));
  ASSERT_TRUE(WaitLeadingInSync("a"));
  const int64_t old_epoch = Cluster("a")["epoch"].get<int64_t>();
  members_["a"].process().Signal(SIGSTOP);
  ASSERT_TRUE(WaitFor([&] { return Cluster("b").value("role", "") == "leader"; }, 20s));
  const int64_t new_epoch = Cluster("b")["epoch"].get<int64_t>();
  EXPECT_GT(new_epoch, old_epoch);
  members_["a"].process().Signal(SIGCONT);
  // At once after it resumes, the old leader confirms nothing.
  RunResult paused = PublishOnce(members_["a"].endpoint, "From the paused leader");
  EXPECT_NE(paused.exit_code, 0) << paused.out;
  // It learns it lost the key and comes back as the standby; the new leader confirms with it.
  ASSERT_TRUE(WaitLeadingInSync("b", 60s)) << Cluster("b").dump();
  EXPECT_EQ(Cluster("a").value("role", ""), "standby");
  EXPECT_NE(members_["a"].process().Stderr().find("no longer leads"), std::string::npos);
  nlohmann::json after = Publish(Both(), "520102", "After the pause");
  ASSERT_TRUE(after.contains("id")) << after.dump();
  // Nothing the paused leader was asked for is stored anywhere: this is the first directive.
  EXPECT_EQ(after["seq"].get<uint64_t>(), 1u);
}

TEST_F(PairTest, WithEtcdStoppedTheLeaderServesUntilItsLeaseWouldEndThenStopsAndResumesAfter) {
  ASSERT_NO_FATAL_FAILURE(Start("a", true));
  ASSERT_TRUE(WaitFor([&] { return Cluster("a").value("role", "") == "leader"; }, 20s));
  ASSERT_NO_FATAL_FAILURE(Start("b", true));
  ASSERT_TRUE(WaitLeadingInSync("a"));
  etcd_->process().Signal(SIGSTOP);
  // Past the lease (3 s) on the leader's side: it stops acting as leader and says why.
  std::this_thread::sleep_for(3500ms);
  RunResult fenced = PublishOnce(Both(), "While etcd is stopped");
  EXPECT_EQ(fenced.exit_code, 3) << fenced.out << fenced.err;
  EXPECT_NE(fenced.err.find("lease"), std::string::npos) << fenced.err;
  etcd_->process().Signal(SIGCONT);
  // etcd answers again: one of the two leads with its standby in sync, and publishing works.
  ASSERT_TRUE(WaitFor(
      [&] {
        nlohmann::json a = Cluster("a"), b = Cluster("b");
        auto ok = [](const nlohmann::json& c) {
          return !c.is_null() && c["role"] == "leader" && c["in_sync"] == true;
        };
        return ok(a) || ok(b);
      },
      60s));
  nlohmann::json after = Publish(Both(), "520102", "After etcd is back");
  ASSERT_TRUE(after.contains("id")) << after.dump();
}

TEST_F(PairTest, TwentyFailoversUnderAFanOutLoseAndDuplicateNothing) {
  constexpr int kRounds = 20;
  ASSERT_NO_FATAL_FAILURE(Start("a", true));
  ASSERT_TRUE(WaitFor([&] { return Cluster("a").value("role", "") == "leader"; }, 20s));
  ASSERT_NO_FATAL_FAILURE(Start("b", true));
  auto swarm = Swarm("520102", kRounds);
  ASSERT_TRUE(WaitFor([&] { return AllWelcomed(*swarm); }, 60s)) << swarm->Stdout();
  std::string leader = "a";
  std::vector<std::string> ids;
  for (int round = 0; round < kRounds; ++round) {
    const std::string other = leader == "a" ? "b" : "a";
    ASSERT_TRUE(WaitLeadingInSync(leader, 60s)) << round << ": " << Cluster(leader).dump();
    nlohmann::json p = Publish(Both(), "520102", "Round " + std::to_string(round));
    ASSERT_TRUE(p.contains("id")) << round << ": " << p.dump();
    ids.push_back(p["id"].get<std::string>());
    // Killed right after the receipt, in the middle of the fan-out.
    members_[leader].process().Signal(SIGKILL);
    ASSERT_TRUE(members_[leader].process().Wait(10s).has_value());
    ASSERT_TRUE(WaitFor([&] { return Cluster(other).value("role", "") == "leader"; }, 30s))
        << round << ": " << members_[other].process().Stderr();
    ASSERT_NO_FATAL_FAILURE(Start(leader, false));
    leader = other;
  }
  ASSERT_EQ(swarm->Wait(300s), 0) << swarm->Stderr();
  auto report = nlohmann::json::parse(ReadFile(dir_.path() / "swarm.json"));
  EXPECT_EQ(report["units_complete"], report["units"]);
  Reconcile(ids, report, std::to_string(kRounds) + "-leader-sigkills");
}

TEST_F(PairTest, APublicHoldAcrossAFailoverIsReleasedOnceOnTimeByTheNewLeader) {
  public_lead_time_ = "8s";
  ASSERT_NO_FATAL_FAILURE(Start("a", true));
  ASSERT_TRUE(WaitFor([&] { return Cluster("a").value("role", "") == "leader"; }, 20s));
  ASSERT_NO_FATAL_FAILURE(Start("b", true));
  ASSERT_TRUE(WaitLeadingInSync("a"));
  auto r = RunProgram("flatcast-publisher",
                      {"--broker", Both(), "--json", "--timeout-ms", "3000", "publish", "--issuer",
                       "52", "--department", "HEALTH", "--title", "Public after the hold", "--body",
                       "Markets close at noon.", "--action", "Post notices|community", "--scope",
                       "520102", "--tiers", kEveryTier, "--public"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string id = nlohmann::json::parse(r.out)["id"].get<std::string>();
  // The hold is held by both stores; the leader dies before its release.
  members_["a"].process().Signal(SIGKILL);
  ASSERT_TRUE(members_["a"].process().Wait(10s).has_value());
  ASSERT_TRUE(WaitFor([&] { return Cluster("b").value("role", "") == "leader"; }, 20s));
  ASSERT_NO_FATAL_FAILURE(Start("a", false));
  ASSERT_TRUE(WaitLeadingInSync("b", 60s));
  nlohmann::json released;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto ev = RunProgram("flatcast-audit", {"--broker", Both(), "events", id, "--format", "json"});
        auto j = nlohmann::json::parse(ev.out, nullptr, false);
        if (ev.exit_code != 0 || j.is_discarded()) return false;
        int count = 0;
        for (const auto& e : j["events"]) {
          if (e["kind"] == "RELEASED") {
            ++count;
            released = e;
          }
        }
        return count >= 1;
      },
      30s));
  // Released once: wait past a few release checks and count again.
  std::this_thread::sleep_for(2s);
  auto ev = RunProgram("flatcast-audit", {"--broker", Both(), "events", id, "--format", "json"});
  const nlohmann::json events = nlohmann::json::parse(ev.out);
  int count = 0;
  for (const auto& e : events["events"]) count += e["kind"] == "RELEASED";
  EXPECT_EQ(count, 1) << ev.out;
  // On time: the new leader was up before the release time, so it released it then.
  EXPECT_LT(released["late_by_ms"].get<int64_t>(), 2000) << released.dump();
}

TEST_F(PairTest, OverCurveThePairReplicatesWithItsBrokerKeyAndRefusesAnyOtherKeyThere) {
  ASSERT_NO_FATAL_FAILURE(UseCurve());
  ASSERT_NO_FATAL_FAILURE(Start("a", true));
  ASSERT_TRUE(WaitFor([&] { return Cluster("a").value("role", "") == "leader"; }, 20s));
  ASSERT_NO_FATAL_FAILURE(Start("b", true));
  ASSERT_TRUE(WaitLeadingInSync("a")) << Cluster("a").dump() << members_["b"].process().Stderr();
  nlohmann::json p = Publish(Both(), "520102", "Signed, over CURVE");
  ASSERT_TRUE(p.contains("id")) << p.dump();

  // A registered key that is not the broker's is refused on the replication endpoint.
  zmq::context_t ctx(1);
  zmq::socket_t intruder(ctx, zmq::socket_type::dealer);
  intruder.set(zmq::sockopt::linger, 0);
  ASSERT_TRUE(ApplyCurveClient(intruder, *LoadCurveClientKeys(dir_ / "stranger-curve.key",
                                                              dir_ / "pair.pub")
                                               .value())
                  .ok());
  intruder.connect(members_["a"].replication);
  v1::ReplicationMessage hello;
  hello.set_protocol_version(1);
  hello.mutable_hello()->set_broker("b");
  hello.mutable_hello()->set_commit_seq(0);
  (void)intruder.send(zmq::buffer(hello.SerializeAsString()), zmq::send_flags::dontwait);
  zmq::pollitem_t item{intruder.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, 1500ms);
  EXPECT_FALSE(item.revents & ZMQ_POLLIN) << "the intruder got an answer";
  EXPECT_TRUE(WaitFor(
      [&] {
        return members_["a"].process().Stderr().find("admits only the broker key") !=
               std::string::npos;
      },
      5s))
      << members_["a"].process().Stderr();
  // The standby is still in sync and the leader still confirms.
  nlohmann::json q = Publish(Both(), "520102", "Still replicated");
  ASSERT_TRUE(q.contains("id")) << q.dump();
  EXPECT_TRUE(WaitLeadingInSync("a", 5s));

  // A broker whose key is not registered with the broker role does not start.
  std::vector<std::string> args =
      BrokerArgs("twin", (members_["twin"].dir / "data").string(), true, "twin");
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--curve-key") args[i + 1] = dir_ / "other-broker-curve.key";
  }
  RunResult refused = testing::Run(args, 30s);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("registered with the broker role"), std::string::npos) << refused.err;
}

TEST_F(PairTest, AnOldLeaderHoldingAnUnconfirmedCommitMovesItsStoreAsideAndCopiesTheNewLeaders) {
  ASSERT_NO_FATAL_FAILURE(Start("a", true));
  ASSERT_TRUE(WaitFor([&] { return Cluster("a").value("role", "") == "leader"; }, 20s));
  ASSERT_NO_FATAL_FAILURE(Start("b", true));
  ASSERT_TRUE(WaitLeadingInSync("a"));
  nlohmann::json confirmed = Publish(Both(), "520102", "Confirmed by both");
  ASSERT_TRUE(confirmed.contains("id")) << confirmed.dump();
  // The standby dies; the leader, not yet aware, writes the next commit
  // locally and waits for the standby in vain: it is never confirmed. Then
  // the leader dies too, and the standby comes back first and leads.
  members_["b"].process().Signal(SIGKILL);
  ASSERT_TRUE(members_["b"].process().Wait(10s).has_value());
  RunResult unconfirmed = PublishOnce(members_["a"].endpoint, "Never confirmed");
  EXPECT_NE(unconfirmed.exit_code, 0) << unconfirmed.out;
  members_["a"].process().Signal(SIGKILL);
  ASSERT_TRUE(members_["a"].process().Wait(10s).has_value());
  ASSERT_NO_FATAL_FAILURE(Start("b", false));
  ASSERT_TRUE(WaitFor([&] { return Cluster("b").value("role", "") == "leader"; }, 20s));
  // The old leader comes back holding a commit the new one lacks: its store
  // is moved aside, kept, and the new leader's is copied into a new one.
  ASSERT_NO_FATAL_FAILURE(Start("a", false));
  ASSERT_TRUE(WaitLeadingInSync("b", 60s)) << Cluster("b").dump() << members_["a"].process().Stderr();
  bool aside = false;
  for (const auto& entry : fs::directory_iterator(members_["a"].dir)) {
    aside |= entry.path().filename().string().rfind("data.diverged-", 0) == 0;
  }
  EXPECT_TRUE(aside) << members_["a"].process().Stderr();
  EXPECT_NE(members_["a"].process().Stderr().find("copying the leader's anew"), std::string::npos);
  nlohmann::json after = Publish(Both(), "520102", "After the copy");
  ASSERT_TRUE(after.contains("id")) << after.dump();
  // The unconfirmed directive is nowhere; the confirmed one and the new one are on both.
  EXPECT_EQ(after["seq"].get<uint64_t>(), confirmed["seq"].get<uint64_t>() + 1);
  ASSERT_NO_FATAL_FAILURE(ExpectTheSameHistoryOnBoth());
}

TEST_F(PairTest, ABrokerStartedOnTheOtherBrokersDataDirectoryIsRefused) {
  ASSERT_NO_FATAL_FAILURE(Start("a", true));
  ASSERT_EQ(members_["a"].process().Stop(), 0);
  RunResult r = testing::Run(BrokerArgs("b", (members_["a"].dir / "data").string(), false), 30s);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("belongs to broker \"a\""), std::string::npos) << r.err;
}

TEST_F(PairTest, ASecondBrokerWithTheSameNameIsRefused) {
  ASSERT_NO_FATAL_FAILURE(Start("a", true));
  ASSERT_TRUE(WaitFor([&] { return Cluster("a").value("role", "") == "leader"; }, 20s));
  RunResult r =
      testing::Run(BrokerArgs("twin", (members_["twin"].dir / "data").string(), true, "a"), 60s);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("already a member"), std::string::npos) << r.err;
  // The first one leads on.
  EXPECT_EQ(Cluster("a").value("role", ""), "leader");
}

TEST_F(PairTest, AllowDegradedConfirmsAloneWhenTheStandbyIsKilledAndSyncRefuses) {
  replication_ = "allow-degraded";
  ASSERT_NO_FATAL_FAILURE(Start("a", true));
  ASSERT_TRUE(WaitFor([&] { return Cluster("a").value("role", "") == "leader"; }, 20s));
  ASSERT_NO_FATAL_FAILURE(Start("b", true));
  ASSERT_TRUE(WaitLeadingInSync("a"));
  members_["b"].process().Signal(SIGKILL);
  ASSERT_TRUE(members_["b"].process().Wait(10s).has_value());
  nlohmann::json alone = Publish(members_["a"].endpoint, "520102", "Confirmed alone");
  ASSERT_TRUE(alone.contains("id")) << alone.dump();
  EXPECT_EQ(Cluster("a")["degraded"], true);
  EXPECT_NE(members_["a"].process().Stderr().find("DEGRADED"), std::string::npos);
  // Back: it copies what it missed and the leader confirms with it again.
  ASSERT_NO_FATAL_FAILURE(Start("b", false));
  ASSERT_TRUE(WaitLeadingInSync("a", 60s)) << Cluster("a").dump();
  ASSERT_TRUE(WaitFor([&] { return Cluster("a")["degraded"] == false; }, 10s));
  // Both changes are in the hash-chained log, with why.
  nlohmann::json events;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = RunProgram("flatcast-audit", {"--broker", Both(), "events", "--format", "json"});
        events = nlohmann::json::parse(r.out, nullptr, false);
        if (r.exit_code != 0 || events.is_discarded()) return false;
        std::vector<std::string> kinds;
        for (const auto& e : events["events"]) {
          if (e["kind"] == "REPLICATION_DEGRADED" || e["kind"] == "REPLICATION_RESYNCED") {
            kinds.push_back(e["kind"].get<std::string>() + ": " + e["reason"].get<std::string>());
          }
        }
        // (It also began alone, before b first connected.) The kill, then the return:
        return kinds.size() >= 2 &&
               kinds[kinds.size() - 2].find("REPLICATION_DEGRADED: no standby in sync") == 0 &&
               kinds.back().find("REPLICATION_RESYNCED: standby b is back in sync") == 0;
      },
      10s))
      << events.dump();
}

TEST_F(PairTest, SyncRefusesToConfirmWithoutAStandbyAndSaysSo) {
  ASSERT_NO_FATAL_FAILURE(Start("a", true));
  ASSERT_TRUE(WaitFor([&] { return Cluster("a").value("role", "") == "leader"; }, 20s));
  auto r = RunProgram("flatcast-publisher",
                      {"--broker", members_["a"].endpoint, "--timeout-ms", "2000", "--attempts",
                       "1", "publish", "--issuer", "52", "--department", "HEALTH", "--title",
                       "No standby", "--body", "x", "--action", "Post notices|community", "--scope", "520102", "--tiers", kEveryTier});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no standby in sync"), std::string::npos) << r.err;
}

TEST_F(PairTest, EachBrokersReadinessAndMetricsSayWhetherItLeadsInSync) {
  auto admin_of = [&](const std::string& name) { return members_[name].dir / "admin"; };
  // Each broker writes its admin listener's address to its own file.
  for (const char* name : {"a", "b"}) {
    broker_extra_ = {"--admin-endpoint", "127.0.0.1:0", "--admin-endpoint-file",
                     admin_of(name).string()};
    ASSERT_NO_FATAL_FAILURE(Start(name, true));
  }
  ASSERT_TRUE(WaitFor([&] { return WaitLeadingInSync("a", 1s) || WaitLeadingInSync("b", 1s); },
                      40s));
  const std::string leader = Cluster("a").value("role", "") == "leader" ? "a" : "b";
  const std::string standby = leader == "a" ? "b" : "a";
  const std::string leader_admin = WaitForEndpointFile(admin_of(leader));
  const std::string standby_admin = WaitForEndpointFile(admin_of(standby));
  HttpResponse ready;
  EXPECT_TRUE(WaitFor(
      [&] {
        ready = HttpGet(leader_admin, "/readyz");
        return ready.status == 200;
      },
      10s))
      << ready.body;
  ready = HttpGet(standby_admin, "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("a standby; the leader is " + leader), std::string::npos) << ready.body;
  EXPECT_EQ(HttpGet(standby_admin, "/healthz").status, 200) << "a standby is healthy";
  const std::string metrics = HttpGet(leader_admin, "/metrics").body;
  EXPECT_NE(metrics.find("flatcast_pair_leader 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("flatcast_pair_standby_in_sync 1"), std::string::npos) << metrics;
  EXPECT_NE(HttpGet(standby_admin, "/metrics").body.find("flatcast_pair_leader 0"),
            std::string::npos);
  // The standby killed: in sync mode the leader is not ready, and says why.
  members_[standby].process().Signal(SIGKILL);
  EXPECT_TRUE(WaitFor(
      [&] {
        ready = HttpGet(leader_admin, "/readyz");
        return ready.status == 503;
      },
      20s))
      << ready.body;
  EXPECT_NE(ready.body.find("no standby in sync"), std::string::npos) << ready.body;
}

}  // namespace
}  // namespace flatcast
