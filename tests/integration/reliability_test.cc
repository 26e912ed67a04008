// Faults on loopback with the real programs: the broker killed (SIGKILL) in
// the middle of a fan-out and restarted on the same port, a fifth of the units
// offline while directives are published, a terminal killed between storing a
// directive and acknowledging it, send and receive queues too small for a
// burst, and a broker that stops answering (SIGSTOP) while a publisher waits
// or for long enough that the terminals give their connections up.
//
// Each test ends with a reconciliation of three sources that do not share
// code paths: the registry file (which units each directive addresses,
// counted here), the terminals' inboxes (what arrived) and the broker's audit
// (which acknowledgements are durable). A (unit, directive) pair is lost when
// the unit's inbox lacks the directive or the audit lacks its ack; an inbox
// entry is duplicated when it is held twice or was never addressed to the
// unit, and a directive stored by the broker beyond those published counts
// too. The result is printed as one line:
//   RECONCILIATION test=<name> units=<u> directives=<d> faults=<what> lost=<n> duplicated=<n>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "flatcast/registry.h"
#include "process.h"
#include "temp_dir.h"

namespace flatcast {
namespace {

using namespace testing;  // flatcast::testing: programs, processes, temp dirs
using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kRegistry = SourcePath("configs/registry/guizhou-52.tsv");
const std::string kEveryTier = "city,district,street,community";

const Registry& GuizhouRegistry() {
  static const Registry registry = Registry::Load(kRegistry).value();
  return registry;
}

// A directive as its publisher's receipt described it, and what it addressed.
struct Published {
  std::string id;
  uint64_t seq = 0;
  bool duplicate = false;
  std::string scope;
  std::string tiers;  // comma-separated tier names
};

// The units a directive to `scope` for `tiers` addresses, counted from the
// registry file rather than asked of the broker.
std::set<std::string> AddressedUnits(const std::string& scope, const std::string& tiers) {
  std::set<Tier> wanted;
  std::stringstream names(tiers);
  for (std::string name; std::getline(names, name, ',');) wanted.insert(*TierFromName(name));
  std::set<std::string> units;
  for (const Unit& unit : GuizhouRegistry().units()) {
    if (wanted.count(unit.tier) && Registry::IsWithin(unit.code, scope)) units.insert(unit.code);
  }
  return units;
}

// Inbox contents by unit: "<id>.v<version>" entries.
using Inboxes = std::map<std::string, std::vector<std::string>>;

// Reads the file flatcast-swarm --inboxes writes.
Inboxes ReadSwarmInboxes(const fs::path& path) {
  Inboxes inboxes;
  std::stringstream lines(testing::ReadFile(path));
  for (std::string line; std::getline(lines, line);) {
    size_t tab = line.find('\t');
    if (tab == std::string::npos) continue;
    std::vector<std::string>& held = inboxes[line.substr(0, tab)];
    std::stringstream entries(line.substr(tab + 1));
    for (std::string entry; std::getline(entries, entry, ',');) {
      if (!entry.empty()) held.push_back(entry);
    }
  }
  return inboxes;
}

// The directives in a daemon's inbox directory, named as in ReadSwarmInboxes.
std::vector<std::string> DaemonInbox(const fs::path& state_dir) {
  std::vector<std::string> held;
  if (!fs::exists(state_dir / "inbox")) return held;
  for (const auto& entry : fs::directory_iterator(state_dir / "inbox")) {
    if (entry.path().extension() == ".json") held.push_back(entry.path().stem().string());
  }
  return held;
}

// The last complete JSON object line of a program's output.
nlohmann::json LastJsonLine(const std::string& out) {
  std::stringstream lines(out);
  nlohmann::json last;
  for (std::string line; std::getline(lines, line);) {
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    if (!parsed.is_discarded() && parsed.is_object()) last = parsed;
  }
  return last;
}

// True when the swarm's latest progress line says every unit is welcomed.
bool AllWelcomed(const Process& swarm) {
  nlohmann::json line = LastJsonLine(swarm.Stdout());
  return line.contains("welcomed") && line["units"].get<int>() > 0 &&
         line["welcomed"] == line["units"];
}

// Sum of the numbers the broker logged as dropped because a terminal's send
// queue was full, in live fan-out and in redelivery rounds.
uint64_t BrokerDrops(const std::string& log) {
  static const std::regex kDropped(R"((\d+) dropped \(queue full\)|(\d+) queues full)");
  uint64_t drops = 0;
  for (std::sregex_iterator it(log.begin(), log.end(), kDropped), end; it != end; ++it) {
    drops += std::stoull((*it)[1].matched ? (*it)[1].str() : (*it)[2].str());
  }
  return drops;
}

class Reliability : public ::testing::Test {
 protected:
  // Starts the broker with short heartbeat and redelivery timers. The first
  // start creates the store and lets the kernel pick a port; every later one
  // opens the same store on the same endpoint, as an operator restarting it
  // would. `extra` flags are kept for the restarts.
  void StartBroker(const std::vector<std::string>& extra = {}) {
    if (brokers_.empty()) broker_flags_ = extra;
    std::vector<std::string> args{Program("flatcast-broker"), "--data-dir", dir_ / "data"};
    args.insert(args.end(), {"--registry", kRegistry, "--endpoint-file", dir_ / "endpoint"});
    args.insert(args.end(), {"--heartbeat-interval", "500ms", "--redelivery-initial", "500ms",
                             "--redelivery-max", "2s"});
    if (endpoint_.empty()) {
      args.insert(args.end(), {"--init", "--endpoint", "tcp://127.0.0.1:*"});
    } else {
      args.insert(args.end(), {"--endpoint", endpoint_});
    }
    args.insert(args.end(), broker_flags_.begin(), broker_flags_.end());
    // A restart can find the port still held for a moment by the connection
    // attempts of terminals that lost the old broker; it is tried again.
    for (int attempt = 1;; ++attempt) {
      fs::remove(dir_ / "endpoint");
      brokers_.push_back(std::make_unique<Process>(
          args, dir_.path() / ("broker-" + std::to_string(brokers_.size() + 1))));
      testing::WaitFor([&] { return fs::exists(dir_ / "endpoint") || !broker().running(); }, 30s);
      if (fs::exists(dir_ / "endpoint")) break;
      ASSERT_LT(attempt, 10) << "the broker does not start: " << broker().Stderr();
      broker().Stop(1s);
      std::this_thread::sleep_for(300ms);
    }
    std::string endpoint = testing::ReadFile(dir_ / "endpoint");
    endpoint.erase(endpoint.find_last_not_of("\n") + 1);
    if (!endpoint_.empty()) {
      ASSERT_EQ(endpoint, endpoint_);
    }
    endpoint_ = endpoint;
  }

  Process& broker() { return *brokers_.back(); }

  void KillBroker() {
    broker().Signal(SIGKILL);
    ASSERT_TRUE(broker().Wait(10s).has_value());
  }

  // Everything every broker process of this test logged.
  std::string BrokerLogs() {
    std::string logs;
    for (const auto& b : brokers_) logs += b->Stderr();
    return logs;
  }

  // `global` flags (--timeout-ms, --attempts, --idempotency-key) go before
  // the subcommand.
  std::vector<std::string> PublishArgs(const std::string& scope, const std::string& tiers,
                                       const std::vector<std::string>& global) {
    static int n = 0;
    std::vector<std::string> args{Program("flatcast-publisher"), "--broker", endpoint_, "--json"};
    args.insert(args.end(), global.begin(), global.end());
    args.insert(
        args.end(),
        {"publish", "--issuer", "52", "--department", "HEALTH", "--title",
         "Directive " + std::to_string(++n), "--body", "All wet markets close at noon.", "--action",
         "Post notices at every market|community", "--scope", scope, "--tiers", tiers});
    return args;
  }

  static Published ParseReceipt(const std::string& out, const std::string& scope,
                                const std::string& tiers) {
    auto receipt = nlohmann::json::parse(out, nullptr, false);
    if (receipt.is_discarded() || !receipt.contains("id")) return {};
    return Published{receipt["id"].get<std::string>(), receipt["seq"].get<uint64_t>(),
                     receipt["duplicate"].get<bool>(), scope, tiers};
  }

  // Publishes from flags; an empty id when the publisher failed.
  Published Publish(const std::string& scope, const std::string& tiers,
                    const std::vector<std::string>& global = {}) {
    auto r = testing::Run(PublishArgs(scope, tiers, global));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? ParseReceipt(r.out, scope, tiers) : Published{};
  }

  std::unique_ptr<Process> Swarm(const std::string& name, const std::string& region,
                                 std::vector<std::string> extra) {
    std::vector<std::string> args{Program("flatcast-swarm"),
                                  "--registry",
                                  kRegistry,
                                  "--endpoint",
                                  endpoint_,
                                  "--region",
                                  region,
                                  "--report",
                                  dir_ / (name + ".json"),
                                  "--inboxes",
                                  dir_ / (name + ".inbox")};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(args, dir_.path() / name);
  }
  nlohmann::json SwarmReport(const std::string& name) {
    return nlohmann::json::parse(testing::ReadFile(dir_ / (name + ".json")), nullptr, false);
  }
  Inboxes SwarmInboxes(const std::vector<std::string>& names) {
    Inboxes all;
    for (const auto& name : names) all.merge(ReadSwarmInboxes(dir_ / (name + ".inbox")));
    return all;
  }

  fs::path DaemonDir(const std::string& unit) { return dir_.path() / ("sub-" + unit); }
  std::unique_ptr<Process> Daemon(const std::string& unit,
                                  const std::vector<std::string>& env = {}) {
    static int n = 0;
    return std::make_unique<Process>(
        std::vector<std::string>{Program("flatcast-subscriber"), "run", "--unit", unit, "--broker",
                                 endpoint_, "--state-dir", DaemonDir(unit).string()},
        dir_.path() / ("sub-" + unit + "-" + std::to_string(++n)), env);
  }

  nlohmann::json Coverage(const std::string& id, const std::string& region = "") {
    std::vector<std::string> args{Program("flatcast-audit"), "--broker", endpoint_, "coverage", id};
    args.insert(args.end(), {"--format", "json", "--missing-limit", "1000000"});
    if (!region.empty()) args.insert(args.end(), {"--region", region});
    auto r = testing::Run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
  }

  // Compares what the registry addresses to the played units with their
  // inboxes and with the audit, prints the RECONCILIATION line and expects
  // nothing lost or duplicated. `extra_directives`: directives the broker
  // stored beyond `published` (each counts as duplicated).
  void Reconcile(const std::vector<Published>& published, const Inboxes& inboxes,
                 const std::string& faults, uint64_t extra_directives = 0) {
    uint64_t lost = 0, duplicated = extra_directives, pairs = 0;
    std::map<std::string, std::set<std::string>> unacknowledged;  // by directive id
    for (const Published& p : published) {
      nlohmann::json cov = Coverage(p.id);
      ASSERT_FALSE(cov.is_null());
      // The broker addresses what the registry file says, no more, no less.
      EXPECT_EQ(cov["addressed"].get<size_t>(), AddressedUnits(p.scope, p.tiers).size()) << p.id;
      for (const auto& m : cov["missing"]) {
        unacknowledged[p.id].insert(m["code"].get<std::string>());
      }
      EXPECT_EQ(cov["missing"].size(), cov["missing_total"].get<size_t>());
    }
    std::vector<std::set<std::string>> addressed;
    for (const Published& p : published) addressed.push_back(AddressedUnits(p.scope, p.tiers));
    for (const auto& [unit, held] : inboxes) {
      std::set<std::string> distinct(held.begin(), held.end());
      duplicated += held.size() - distinct.size();
      std::set<std::string> expected;
      for (size_t i = 0; i < published.size(); ++i) {
        if (!addressed[i].count(unit)) continue;
        std::string entry = published[i].id + ".v1";
        expected.insert(entry);
        ++pairs;
        if (!distinct.count(entry) || unacknowledged[published[i].id].count(unit)) ++lost;
      }
      for (const std::string& entry : distinct) {
        if (!expected.count(entry)) ++duplicated;
      }
    }
    std::cout << "RECONCILIATION test="
              << ::testing::UnitTest::GetInstance()->current_test_info()->name()
              << " units=" << inboxes.size() << " directives=" << published.size()
              << " faults=" << faults << " lost=" << lost << " duplicated=" << duplicated
              << std::endl;
    EXPECT_GT(pairs, 0u);
    EXPECT_EQ(lost, 0u);
    EXPECT_EQ(duplicated, 0u);
  }

  testing::TempDir dir_;
  std::vector<std::unique_ptr<Process>> brokers_;
  std::vector<std::string> broker_flags_;
  std::string endpoint_;
};

TEST_F(Reliability, BrokerKilledMidFanOutLosesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  const std::string region = "5201";  // 贵阳市 and everything below it
  const std::vector<std::string> names{"shard0", "shard1"};
  std::vector<std::unique_ptr<Process>> swarms;
  for (size_t shard = 0; shard < names.size(); ++shard) {
    swarms.push_back(Swarm(names[shard], region,
                           {"--tiers", kEveryTier, "--shard", std::to_string(shard), "--shards",
                            std::to_string(names.size()), "--expect", "1", "--timeout-s", "150"}));
  }
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return std::all_of(swarms.begin(), swarms.end(), [](auto& s) { return AllWelcomed(*s); });
      },
      90s));

  Published p = Publish(region, kEveryTier);
  ASSERT_FALSE(p.id.empty());
  // The receipt means the directive is stored; the fan-out and the acks are
  // under way when the broker dies.
  ASSERT_NO_FATAL_FAILURE(KillBroker());
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  nlohmann::json at_restart = Coverage(p.id);
  ASSERT_FALSE(at_restart.is_null());

  for (size_t i = 0; i < swarms.size(); ++i) {
    ASSERT_EQ(swarms[i]->Wait(180s), 0) << swarms[i]->Stderr();
  }
  size_t units = 0, exact = 0, stored = 0, repeats = 0;
  for (const auto& name : names) {
    nlohmann::json report = SwarmReport(name);
    units += report["units"].get<size_t>();
    exact += report["units_complete"].get<size_t>();
    stored += report["stored"].get<size_t>();
    repeats += report["duplicates"].get<size_t>();
  }
  const size_t addressed = AddressedUnits(region, kEveryTier).size();
  EXPECT_EQ(units, addressed);
  EXPECT_EQ(exact, units);
  EXPECT_EQ(stored, units);
  nlohmann::json cov = Coverage(p.id);
  EXPECT_EQ(cov["acknowledged"].get<size_t>(), addressed);
  EXPECT_EQ(cov["addressed"].get<size_t>(), addressed);

  Reconcile({p}, SwarmInboxes(names),
            "broker-SIGKILL-after-receipt+restart-same-port(acked-at-restart=" +
                std::to_string(at_restart["acknowledged"].get<size_t>()) + "/" +
                std::to_string(addressed) + ",repeat-deliveries=" + std::to_string(repeats) + ")");
}

TEST_F(Reliability, TwentyPercentOfflineCatchUp) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  const std::string region = "5201";
  constexpr int kShards = 5, kDirectives = 10;
  std::vector<std::string> names;
  std::vector<std::unique_ptr<Process>> swarms;
  auto start_shard = [&](int shard) {
    names.push_back("shard" + std::to_string(shard));
    swarms.push_back(Swarm(
        names.back(), region,
        {"--tiers", kEveryTier, "--shard", std::to_string(shard), "--shards",
         std::to_string(kShards), "--expect", std::to_string(kDirectives), "--timeout-s", "150"}));
  };
  for (int shard = 0; shard < kShards - 1; ++shard) start_shard(shard);
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return std::all_of(swarms.begin(), swarms.end(), [](auto& s) { return AllWelcomed(*s); });
      },
      90s));

  std::vector<Published> published;
  for (int i = 0; i < kDirectives; ++i) {
    published.push_back(Publish(region, kEveryTier));
    ASSERT_FALSE(published.back().id.empty());
  }
  // The fifth shard was offline for all ten; it catches up on Hello.
  start_shard(kShards - 1);
  for (size_t i = 0; i < swarms.size(); ++i) {
    ASSERT_EQ(swarms[i]->Wait(180s), 0) << names[i] << ": " << swarms[i]->Stderr();
  }
  const size_t addressed = AddressedUnits(region, kEveryTier).size();
  size_t units = 0, exact = 0;
  for (const auto& name : names) {
    nlohmann::json report = SwarmReport(name);
    units += report["units"].get<size_t>();
    exact += report["units_complete"].get<size_t>();
  }
  EXPECT_EQ(units, addressed);
  EXPECT_EQ(exact, units);
  for (const Published& p : published) {
    nlohmann::json cov = Coverage(p.id);
    EXPECT_EQ(cov["acknowledged"].get<size_t>(), addressed) << p.id;
    EXPECT_EQ(cov["missing_total"].get<size_t>(), 0u) << p.id;
  }
  Reconcile(published, SwarmInboxes(names), "one-of-five-shards-offline-during-10-publishes");
}

TEST_F(Reliability, TerminalKilledBetweenStoreAndAckRecovers) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  const std::string unit = "520102016001";
  Published p = Publish("520102016", "street,community");
  ASSERT_FALSE(p.id.empty());

  // The daemon catches up on Hello, stores the directive and its pending ack,
  // and dies before the ack leaves.
  auto crashing = Daemon(unit, {"FLATCAST_TEST_CRASH_AFTER_STORE=1"});
  ASSERT_EQ(crashing->Wait(30s), 137) << crashing->Stderr();
  EXPECT_EQ(DaemonInbox(DaemonDir(unit)).size(), 1u);
  auto state = nlohmann::json::parse(testing::ReadFile(DaemonDir(unit) / "state.json"));
  ASSERT_EQ(state["pending_acks"].size(), 1u) << state.dump();
  EXPECT_EQ(state["pending_acks"][0]["directive_id"], p.id);
  EXPECT_EQ(Coverage(p.id, unit)["acknowledged"].get<int>(), 0);

  auto daemon = Daemon(unit);
  ASSERT_TRUE(testing::WaitFor([&] { return Coverage(p.id, unit)["acknowledged"] == 1; }, 30s))
      << daemon->Stderr();
  // The confirmation clears the pending ack on disk.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto s = nlohmann::json::parse(testing::ReadFile(DaemonDir(unit) / "state.json"), nullptr,
                                       false);
        return !s.is_discarded() && s["pending_acks"].empty();
      },
      10s))
      << daemon->Stderr();
  EXPECT_EQ(daemon->Stop(), 0);
  EXPECT_EQ(DaemonInbox(DaemonDir(unit)).size(), 1u);
  auto list = testing::Run(
      {Program("flatcast-subscriber"), "list", "--state-dir", DaemonDir(unit).string(), "--json"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find(p.id), std::string::npos) << list.out;

  Reconcile({p}, {{unit, DaemonInbox(DaemonDir(unit))}},
            "terminal-exit-137-after-store-before-ack+restart");
}

TEST_F(Reliability, TinyReceiveHighWaterMarkStillConverges) {
  ASSERT_NO_FATAL_FAILURE(StartBroker({"--send-hwm", "2"}));
  const std::string region = "520113";  // 白云区: 108 units
  constexpr int kDirectives = 20, kPublishers = 4;
  auto swarm_args = [&](int shard) {
    return std::vector<std::string>{"--rcvhwm",    "1",  "--shard",  std::to_string(shard),
                                    "--shards",    "2",  "--expect", std::to_string(kDirectives),
                                    "--timeout-s", "150"};
  };
  auto online = Swarm("online", region, swarm_args(0));
  ASSERT_TRUE(testing::WaitFor([&] { return AllWelcomed(*online); }, 60s)) << online->Stderr();

  // Four publishers at once, five directives each, so that several
  // deliveries queue for each online terminal at the same moment.
  std::vector<Published> published;
  std::mutex mu;
  std::vector<std::thread> publishers;
  for (int t = 0; t < kPublishers; ++t) {
    publishers.emplace_back([&] {
      for (int i = 0; i < kDirectives / kPublishers; ++i) {
        Published p = Publish(region, "district,street,community");
        std::lock_guard lock(mu);
        published.push_back(p);
      }
    });
  }
  for (auto& t : publishers) t.join();
  for (const Published& p : published) ASSERT_FALSE(p.id.empty());
  // The other half joins late: its catch-up is twenty deliveries at once
  // into a queue of two.
  auto late = Swarm("late", region, swarm_args(1));

  ASSERT_EQ(online->Wait(180s), 0) << online->Stderr();
  ASSERT_EQ(late->Wait(180s), 0) << late->Stderr();
  uint64_t units = 0, resyncs = 0, repeats = 0;
  for (const std::string name : {"online", "late"}) {
    nlohmann::json report = SwarmReport(name);
    EXPECT_EQ(report["units_complete"], report["units"]) << name;
    EXPECT_EQ(report["stored"].get<size_t>(), report["units"].get<size_t>() * kDirectives) << name;
    units += report["units"].get<uint64_t>();
    resyncs += report["resyncs"].get<uint64_t>();
    repeats += report["duplicates"].get<uint64_t>();
  }
  EXPECT_EQ(units, AddressedUnits(region, "district,street,community").size());
  Reconcile(published, SwarmInboxes({"online", "late"}),
            "send-hwm=2+rcvhwm=1+4-parallel-publishers+half-late(broker-logged-drops=" +
                std::to_string(BrokerDrops(BrokerLogs())) + ",resyncs=" + std::to_string(resyncs) +
                ",repeat-deliveries=" + std::to_string(repeats) + ")");
}

TEST_F(Reliability, PublisherRetryAfterSilenceDoesNotDuplicate) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  const std::string region = "520102016";  // one street and its communities
  const std::string tiers = "street,community";
  auto swarm = Swarm("swarm", region, {"--tiers", tiers, "--expect", "2", "--timeout-s", "60"});
  ASSERT_TRUE(testing::WaitFor([&] { return AllWelcomed(*swarm); }, 60s)) << swarm->Stderr();

  // The broker stops answering; the publisher's first attempt times out and
  // it tries again with the same idempotency key until the broker resumes.
  const std::string key = "reliability-retry-key";
  broker().Signal(SIGSTOP);
  Process publisher(
      PublishArgs(region, tiers,
                  {"--timeout-ms", "1000", "--attempts", "5", "--idempotency-key", key}),
      dir_.path() / "publisher");
  std::this_thread::sleep_for(1500ms);
  broker().Signal(SIGCONT);
  ASSERT_EQ(publisher.Wait(30s), 0) << publisher.Stderr();
  Published first = ParseReceipt(publisher.Stdout(), region, tiers);
  ASSERT_FALSE(first.id.empty()) << publisher.Stdout();
  EXPECT_EQ(first.seq, 1u);

  // The key again, as a retry whose answer was lost would send it: the first
  // receipt comes back and nothing new is stored.
  Published again = Publish(region, tiers, {"--idempotency-key", key});
  EXPECT_EQ(again.id, first.id);
  EXPECT_EQ(again.seq, 1u);
  EXPECT_TRUE(again.duplicate);
  Published second = Publish(region, tiers);
  ASSERT_FALSE(second.id.empty());
  EXPECT_EQ(second.seq, 2u);

  ASSERT_EQ(swarm->Wait(90s), 0) << swarm->Stderr();
  nlohmann::json report = SwarmReport("swarm");
  EXPECT_EQ(report["units_complete"], report["units"]);
  Reconcile({first, second}, SwarmInboxes({"swarm"}),
            "broker-SIGSTOP-1.5s-during-publish+same-key-republished(swarm-reconnects=" +
                std::to_string(report["reconnects"].get<uint64_t>()) + ")",
            second.seq > 2 ? second.seq - 2 : 0);
}

TEST_F(Reliability, SilentBrokerConnectionsAreReplaced) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  const std::string street = "520102016";
  auto swarm =
      Swarm("swarm", street, {"--tiers", "community", "--expect", "1", "--timeout-s", "60"});
  auto daemon = Daemon(street);
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return AllWelcomed(*swarm) && daemon->Stderr().find("welcomed as") != std::string::npos;
      },
      60s))
      << swarm->Stderr() << daemon->Stderr();

  // Stopped, the broker keeps its TCP connections open but says nothing:
  // after three heartbeat intervals (1.5 s) every terminal gives its
  // connection up and opens a new one, which the broker accepts on resuming.
  broker().Signal(SIGSTOP);
  std::this_thread::sleep_for(2500ms);
  broker().Signal(SIGCONT);
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        nlohmann::json line = LastJsonLine(swarm->Stdout());
        return AllWelcomed(*swarm) && line["reconnects"] >= line["units"];
      },
      30s))
      << swarm->Stdout();
  ASSERT_TRUE(testing::WaitFor(
      [&] { return daemon->Stderr().find("nothing heard from") != std::string::npos; }, 10s))
      << daemon->Stderr();

  Published p = Publish(street, "street,community");
  ASSERT_FALSE(p.id.empty());
  ASSERT_EQ(swarm->Wait(90s), 0) << swarm->Stderr();
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return Coverage(p.id, street)["acknowledged"] ==
               AddressedUnits(street, "street,community").size();
      },
      30s))
      << daemon->Stderr();
  EXPECT_EQ(daemon->Stop(), 0);
  nlohmann::json report = SwarmReport("swarm");
  Inboxes inboxes = SwarmInboxes({"swarm"});
  inboxes[street] = DaemonInbox(DaemonDir(street));
  Reconcile({p}, inboxes,
            "broker-SIGSTOP-2.5s+dead-connections-replaced(swarm-reconnects=" +
                std::to_string(report["reconnects"].get<uint64_t>()) + ",daemon-reconnected)");
}

}  // namespace
}  // namespace flatcast
