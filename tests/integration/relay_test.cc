// Relays with the real programs (docs/RELAY.md): a province broker for
// Guizhou as the upstream and a city relay for 5201 (贵阳市) below it, each
// with its own store, the relay's terminals a swarm connected to the relay
// only. A directive published at the upstream reaches every addressed unit
// of the city through the relay, stored there synced before it is
// acknowledged upstream, and the units' acknowledgements reach the
// upstream's store, where its audit sees them; faults (the relay killed
// mid fan-out, the upstream killed, the link down while directives and
// acknowledgements accumulate) end with lost 0 and duplicated 0 at the
// units and every acknowledgement upstream.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "broker_process.h"
#include "flatcast/registry.h"
#include "process.h"
#include "temp_dir.h"

namespace flatcast {
namespace {

using namespace testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kCity = "5201";
const std::string kTiers = "street,community";

const Registry& Guizhou() {
  static const Registry registry = Registry::Load(GuizhouRegistry()).value();
  return registry;
}

// The units of `region` a directive to `scope` for streets and communities
// addresses, counted from the registry file.
std::set<std::string> Addressed(const std::string& scope, const std::string& region) {
  std::set<std::string> units;
  for (const Unit& unit : Guizhou().units()) {
    if ((unit.tier == Tier::kStreet || unit.tier == Tier::kCommunity) &&
        Registry::IsWithin(unit.code, scope) && Registry::IsWithin(unit.code, region)) {
      units.insert(unit.code);
    }
  }
  return units;
}

// "<unit>\t<id>.v<version>,..." lines of flatcast-swarm --inboxes.
std::map<std::string, std::vector<std::string>> ReadInboxes(const fs::path& path) {
  std::map<std::string, std::vector<std::string>> inboxes;
  std::stringstream lines(ReadFile(path));
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

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override { StartUpstream(); }

  // The upstream (again on the same port and store once it has run).
  void StartUpstream() {
    fs::create_directories(dir_.path() / "upstream");
    std::vector<std::string> flags = {"--heartbeat-interval", "500ms"};
    if (upstream_) flags.insert(flags.end(), {"--endpoint", upstream_->endpoint()});
    upstream_.reset();
    upstream_ = std::make_unique<BrokerProcess>(dir_.path() / "upstream", flags, "upstream");
    ASSERT_TRUE(upstream_->ok()) << upstream_->Stderr();
  }

  // Each unit of `region` addressed by the directives (all to "52") holds
  // each of `ids` exactly once, and the upstream's audit has every one of
  // their acknowledgements. Prints the RECONCILIATION line.
  void Reconcile(const std::string& test, const std::string& faults,
                 const std::vector<std::string>& ids, const std::string& region) {
    const std::set<std::string> addressed = Addressed("52", region);
    auto inboxes = ReadInboxes(dir_.path() / "inboxes");
    size_t lost = 0, duplicated = 0;
    for (const std::string& unit : addressed) {
      const auto& held = inboxes[unit];
      for (const std::string& id : ids) {
        size_t n = std::count(held.begin(), held.end(), id + ".v1");
        if (n == 0) ++lost;
        if (n > 1) duplicated += n - 1;
      }
    }
    // Anything else held (another directive, a unit not addressed) counts too.
    std::set<std::string> expected;
    for (const std::string& id : ids) expected.insert(id + ".v1");
    for (const auto& [unit, held] : inboxes) {
      for (const std::string& entry : held) {
        if (!addressed.contains(unit) || !expected.contains(entry)) ++duplicated;
      }
    }
    for (const std::string& id : ids) {
      nlohmann::json upstream;
      bool all = WaitFor(
          [&] {
            upstream = Coverage(upstream_->endpoint(), id, region);
            return upstream["acknowledged"].get<size_t>() == addressed.size();
          },
          60s);
      EXPECT_TRUE(all) << id << ": " << upstream.dump();
      if (!all) lost += addressed.size() - upstream["acknowledged"].get<size_t>();
    }
    std::cout << "RECONCILIATION test=" << test << " units=" << addressed.size()
              << " directives=" << ids.size() << " faults=" << faults << " lost=" << lost
              << " duplicated=" << duplicated << "\n";
    EXPECT_EQ(lost, 0u);
    EXPECT_EQ(duplicated, 0u);
  }

  // The relay for `region`, its store in <dir>/relay-<region>.
  std::unique_ptr<BrokerProcess> StartRelay(const std::string& region,
                                            std::vector<std::string> more = {}) {
    std::vector<std::string> flags = {"--relay-region", region, "--upstream",
                                      upstream_->endpoint(), "--heartbeat-interval", "500ms"};
    flags.insert(flags.end(), more.begin(), more.end());
    fs::create_directories(dir_.path() / ("relay-" + region));
    return std::make_unique<BrokerProcess>(dir_.path() / ("relay-" + region), flags,
                                           "relay-" + region);
  }

  nlohmann::json Publish(const std::string& scope, const std::string& title) {
    auto r = RunProgram("flatcast-publisher",
                        {"--broker", upstream_->endpoint(), "--json", "publish", "--issuer", "52",
                         "--department", "HEALTH", "--title", title, "--body", "x", "--action",
                         "Post notices|community", "--scope", scope, "--tiers", kTiers});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  nlohmann::json Coverage(const std::string& broker, const std::string& id,
                          const std::string& region) {
    auto r = RunProgram("flatcast-audit", {"--broker", broker, "--format", "json", "coverage", id,
                                           "--region", region});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  std::unique_ptr<Process> Swarm(const std::string& endpoint, const std::string& region,
                                 int expect) {
    return std::make_unique<Process>(
        std::vector<std::string>{Program("flatcast-swarm"), "--registry", GuizhouRegistry(),
                                 "--endpoint", endpoint, "--region", region, "--tiers", "street",
                                 "community", "--expect", std::to_string(expect), "--timeout-s",
                                 "120", "--inboxes", (dir_.path() / "inboxes").string(),
                                 "--progress-interval-ms", "200"},
        dir_.path() / "swarm");
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> upstream_;
};

TEST_F(RelayTest, ADirectiveFromUpstreamReachesTheRelaysUnitsAndTheirAcksReachTheUpstream) {
  auto relay = StartRelay(kCity);
  ASSERT_TRUE(relay->ok()) << relay->Stderr();
  auto swarm = Swarm(relay->endpoint(), kCity, 1);
  // Published upstream to the whole province: the relay stores it and sends
  // it to its units; the units of other cities are nobody's here.
  nlohmann::json published = Publish("52", "To every street and community");
  const std::string id = published["id"];
  ASSERT_EQ(swarm->Wait(150s), 0) << swarm->Stdout() << swarm->Stderr();

  const std::set<std::string> addressed = Addressed("52", kCity);
  auto inboxes = ReadInboxes(dir_.path() / "inboxes");
  size_t lost = 0, duplicated = 0;
  for (const std::string& unit : addressed) {
    const auto& held = inboxes[unit];
    size_t n = std::count(held.begin(), held.end(), id + ".v1");
    if (n == 0) ++lost;
    if (n > 1) duplicated += n - 1;
  }
  std::cout << "RECONCILIATION test=relay-down-and-up units=" << addressed.size()
            << " directives=1 faults=none lost=" << lost << " duplicated=" << duplicated << "\n";
  EXPECT_EQ(lost, 0u);
  EXPECT_EQ(duplicated, 0u);

  // The relay's own audit sees its city; the upstream's, once the batches
  // are stored there, the same units acknowledged, and nothing elsewhere.
  nlohmann::json at_relay = Coverage(relay->endpoint(), id, kCity);
  EXPECT_EQ(at_relay["addressed"].get<size_t>(), addressed.size()) << at_relay.dump();
  EXPECT_EQ(at_relay["acknowledged"].get<size_t>(), addressed.size()) << at_relay.dump();
  nlohmann::json upstream;
  EXPECT_TRUE(WaitFor(
      [&] {
        upstream = Coverage(upstream_->endpoint(), id, kCity);
        return upstream["acknowledged"].get<size_t>() == addressed.size();
      },
      30s))
      << upstream.dump() << relay->Stderr();
  EXPECT_EQ(Coverage(upstream_->endpoint(), id, "5202")["acknowledged"].get<size_t>(), 0u);
}

TEST_F(RelayTest, ARelayKilledMidFanOutAndRestartedLosesAndDuplicatesNothing) {
  auto relay = StartRelay(kCity);
  ASSERT_TRUE(relay->ok()) << relay->Stderr();
  const std::string endpoint = relay->endpoint();
  auto swarm = Swarm(endpoint, kCity, 3);
  std::vector<std::string> ids;
  ids.push_back(Publish("52", "First")["id"]);
  ids.push_back(Publish("52", "Second")["id"]);
  relay->Signal(SIGKILL);
  ASSERT_TRUE(relay->Wait(10s).has_value());
  ids.push_back(Publish("52", "Third, while the relay is down")["id"]);
  relay = StartRelay(kCity, {"--endpoint", endpoint});
  ASSERT_TRUE(relay->ok()) << relay->Stderr();
  ASSERT_EQ(swarm->Wait(150s), 0) << swarm->Stdout() << swarm->Stderr();
  Reconcile("relay-killed", "relay-sigkill-restart", ids, kCity);
}

TEST_F(RelayTest, AnUpstreamKilledMidFanOutAndRestartedLosesAndDuplicatesNothing) {
  auto relay = StartRelay(kCity);
  ASSERT_TRUE(relay->ok()) << relay->Stderr();
  auto swarm = Swarm(relay->endpoint(), kCity, 2);
  std::vector<std::string> ids;
  ids.push_back(Publish("52", "First")["id"]);
  upstream_->Signal(SIGKILL);
  ASSERT_TRUE(upstream_->Wait(10s).has_value());
  StartUpstream();
  ids.push_back(Publish("52", "Second, after the upstream came back")["id"]);
  ASSERT_EQ(swarm->Wait(150s), 0) << swarm->Stdout() << swarm->Stderr();
  Reconcile("upstream-killed", "upstream-sigkill-restart", ids, kCity);
}

TEST_F(RelayTest, WithTheLinkDownDirectivesAndAcknowledgementsWaitAndThenConverge) {
  auto relay = StartRelay(kCity);
  ASSERT_TRUE(relay->ok()) << relay->Stderr();
  auto swarm = Swarm(relay->endpoint(), kCity, 3);
  std::vector<std::string> ids;
  ids.push_back(Publish("52", "Before")["id"]);
  // The relay stopped: directives wait upstream.
  relay->Signal(SIGSTOP);
  ids.push_back(Publish("52", "While the relay is stopped")["id"]);
  std::this_thread::sleep_for(2s);
  relay->Signal(SIGCONT);
  // The upstream stopped: acknowledgements wait at the relay, stored.
  ASSERT_TRUE(WaitFor([&] { return Coverage(relay->endpoint(), ids[1], kCity)["acknowledged"] ==
                                   Addressed("52", kCity).size(); },
                      60s));
  upstream_->Signal(SIGSTOP);
  std::this_thread::sleep_for(1s);
  upstream_->Signal(SIGCONT);
  ids.push_back(Publish("52", "After")["id"]);
  ASSERT_EQ(swarm->Wait(150s), 0) << swarm->Stdout() << swarm->Stderr();
  Reconcile("link-down", "relay-sigstop,upstream-sigstop", ids, kCity);
}

}  // namespace
}  // namespace flatcast
