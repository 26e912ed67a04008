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
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "flatcast/attachment.h"
#include "flatcast/signing.h"
#include "broker_process.h"
#include "flatcast/registry.h"
#include "flatcast/wire.h"
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

  // Seen from outside: the upstream lists the relay, the relay its link.
  auto cluster = RunProgram("flatcast-audit", {"--broker", upstream_->endpoint(), "--format",
                                               "json", "cluster"});
  ASSERT_EQ(cluster.exit_code, 0) << cluster.err;
  nlohmann::json up = nlohmann::json::parse(cluster.out)[0];
  ASSERT_EQ(up["relays"].size(), 1u) << up.dump();
  EXPECT_EQ(up["relays"][0]["region"], kCity);
  EXPECT_EQ(up["relays"][0]["connected"], true);
  EXPECT_EQ(up["relays"][0]["cursor"], published["seq"]);
  cluster = RunProgram("flatcast-audit",
                       {"--broker", relay->endpoint(), "--format", "json", "cluster"});
  ASSERT_EQ(cluster.exit_code, 0) << cluster.err;
  nlohmann::json down = nlohmann::json::parse(cluster.out)[0];
  EXPECT_EQ(down["upstream"]["welcomed"], true) << down.dump();
  EXPECT_EQ(down["upstream"]["endpoint"], upstream_->endpoint());
  EXPECT_EQ(down["upstream"]["cursor"], published["seq"]);
  auto table = RunProgram("flatcast-audit", {"--broker", upstream_->endpoint(), "cluster"});
  std::cout << table.out;
  EXPECT_NE(table.out.find("relay 5201 relay-5201 connected=true"), std::string::npos) << table.out;
}

TEST_F(RelayTest, ARelayKilledMidFanOutAndRestartedLosesAndDuplicatesNothing) {
  // This relay loads its region's cut of the registry (flatcast-registry cut).
  const std::string cut = (dir_.path() / "relay-5201.tsv").string();
  auto made = RunProgram("flatcast-registry", {"cut", GuizhouRegistry(), kCity, "--out", cut});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto relay = StartRelay(kCity, {"--registry", cut});
  ASSERT_TRUE(relay->ok()) << relay->Stderr();
  const std::string endpoint = relay->endpoint();
  auto swarm = Swarm(endpoint, kCity, 3);
  std::vector<std::string> ids;
  ids.push_back(Publish("52", "First")["id"]);
  ids.push_back(Publish("52", "Second")["id"]);
  relay->Signal(SIGKILL);
  ASSERT_TRUE(relay->Wait(10s).has_value());
  ids.push_back(Publish("52", "Third, while the relay is down")["id"]);
  relay = StartRelay(kCity, {"--endpoint", endpoint, "--registry", cut});
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

// A peer of the test's own making on a DEALER or ROUTER: what a hostile
// relay or upstream would send.
std::optional<v1::Envelope> Receive(zmq::socket_t& socket, std::chrono::milliseconds wait,
                                    std::string* routing = nullptr) {
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, wait);
  if (!(item.revents & ZMQ_POLLIN)) return std::nullopt;
  zmq::message_t m;
  (void)socket.recv(m);
  if (routing != nullptr) {
    *routing = m.to_string();
    (void)socket.recv(m);
  }
  auto decoded = wire::Decode(m.to_string_view());
  if (!decoded.ok()) return std::nullopt;
  return *decoded;
}

TEST_F(RelayTest, AHostileRelaysAcknowledgementsOutsideItsRegionAreRefusedAndNothingIsStored) {
  nlohmann::json published = Publish("52", "To the province");
  const std::string id = published["id"];
  zmq::context_t ctx;
  zmq::socket_t relay(ctx, zmq::socket_type::dealer);
  relay.set(zmq::sockopt::linger, 0);
  relay.connect(upstream_->endpoint());
  v1::Envelope hello;
  hello.set_protocol_version(1);
  hello.mutable_relay_hello()->set_region(kCity);
  hello.mutable_relay_hello()->set_registry_digest(Guizhou().RegionDigest(kCity));
  relay.send(zmq::buffer(wire::Encode(hello)));
  std::optional<v1::Envelope> welcome = Receive(relay, 5s);
  ASSERT_TRUE(welcome && welcome->has_relay_welcome());
  // A unit past the city's range (the first unit of 5202, by offset).
  auto [first, last] = Guizhou().SubtreeRange(kCity);
  v1::Envelope batch;
  batch.set_protocol_version(1);
  v1::RelayAckBatch* b = batch.mutable_relay_acks();
  b->set_after_log_seq(0);
  b->set_last_log_seq(5);
  v1::RelayAckGroup* g = b->add_groups();
  g->set_seq(published["seq"].get<uint64_t>());
  g->set_version(1);
  g->set_level(v1::RECEIVED);
  g->add_units(3);
  g->add_acked_ms(1795852800000);
  g->add_units(last - first);  // offset 3 + (last - first): outside
  g->add_acked_ms(0);
  relay.send(zmq::buffer(wire::Encode(batch)));
  std::optional<v1::Envelope> answer;
  while ((answer = Receive(relay, 5s)) && !answer->has_error()) {
  }
  ASSERT_TRUE(answer.has_value()) << "no refusal";
  EXPECT_EQ(answer->error().code(), v1::FORBIDDEN);
  EXPECT_NE(answer->error().message().find("outside region 5201"), std::string::npos)
      << answer->error().message();
  EXPECT_EQ(Coverage(upstream_->endpoint(), id, "52")["acknowledged"].get<size_t>(), 0u)
      << "nothing of the batch was stored";
  EXPECT_TRUE(upstream_->running());
}

TEST_F(RelayTest, AVersionFromUpstreamForAnotherRegionIsRefusedByTheRelayAndNothingIsStored) {
  // The test plays the upstream: a ROUTER the relay connects to.
  zmq::context_t ctx;
  zmq::socket_t upstream(ctx, zmq::socket_type::router);
  upstream.set(zmq::sockopt::linger, 0);
  upstream.bind("tcp://127.0.0.1:*");
  const std::string endpoint = upstream.get(zmq::sockopt::last_endpoint);
  fs::create_directories(dir_.path() / "relay-5201");
  BrokerProcess relay(dir_.path() / "relay-5201",
                      {"--relay-region", kCity, "--upstream", endpoint}, "relay-5201");
  ASSERT_TRUE(relay.ok()) << relay.Stderr();
  std::string routing;
  std::optional<v1::Envelope> hello = Receive(upstream, 10s, &routing);
  ASSERT_TRUE(hello && hello->has_relay_hello());
  EXPECT_EQ(hello->relay_hello().region(), kCity);
  EXPECT_EQ(hello->relay_hello().registry_digest(), Guizhou().RegionDigest(kCity));
  auto send = [&](const v1::Envelope& env) {
    upstream.send(zmq::buffer(routing), zmq::send_flags::sndmore);
    upstream.send(zmq::buffer(wire::Encode(env)));
  };
  v1::Envelope welcome;
  welcome.set_protocol_version(1);
  welcome.mutable_relay_welcome()->set_heartbeat_interval_ms(60000);
  send(welcome);
  v1::Envelope deliver;
  deliver.set_protocol_version(1);
  v1::StoredDirective* d = deliver.mutable_relay_deliver()->mutable_directive();
  d->set_seq(7);
  d->set_publisher("guizhou-health");
  v1::Directive* dir = d->mutable_directive();
  dir->set_id("52-HEALTH-20261203-0001");
  dir->set_version(1);
  dir->set_issuer_unit("52");
  dir->set_issuer_department("HEALTH");
  dir->set_title("For 六盘水 only");
  v1::ActionItem* action = dir->add_actions();
  action->set_what("Post notices");
  action->set_responsible_tier(v1::COMMUNITY);
  dir->add_scope("5202");
  dir->add_target_tiers(v1::COMMUNITY);
  dir->set_status(v1::ACTUAL);
  send(deliver);
  EXPECT_TRUE(WaitFor([&] {
    return relay.Stderr().find("reaches no unit of this relay's region") != std::string::npos;
  }, 10s)) << relay.Stderr();
  // Nothing stored: the relay says it holds nothing when it asks again.
  std::optional<v1::Envelope> again;
  bool asked = WaitFor([&] {
    again = Receive(upstream, 500ms, &routing);
    return again && again->has_relay_hello();
  }, 10s);
  ASSERT_TRUE(asked);
  EXPECT_EQ(again->relay_hello().cursor(), 0u);
  auto r = RunProgram("flatcast-audit", {"--broker", relay.endpoint(), "--format", "json",
                                         "coverage", "52-HEALTH-20261203-0001"});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_TRUE(relay.running());
}

TEST_F(RelayTest, ARelayWithAnotherRegistryIsRefusedWithAClearMessageAndGetsNothing) {
  // The city's units with one community renamed: another registry version.
  std::string text = ReadFile(GuizhouRegistry());
  const Unit& community = Guizhou().unit(Guizhou().SubtreeRange(kCity).first + 5);
  size_t at = text.find(community.code + "\t");
  ASSERT_NE(at, std::string::npos);
  size_t end = text.find('\n', at);
  text.replace(at, end - at,
               community.code + "\t" + std::string(TierName(community.tier)) + "\t改名社区");
  const fs::path other = dir_.path() / "other-registry.tsv";
  WriteFile(other, text);
  auto relay = StartRelay(kCity, {"--registry", other.string()});
  ASSERT_TRUE(relay->ok()) << relay->Stderr();
  nlohmann::json published = Publish("52", "Not for a relay with another registry");
  EXPECT_TRUE(WaitFor([&] {
    return relay->Stderr().find("registry mismatch for region 5201") != std::string::npos;
  }, 10s)) << relay->Stderr();
  auto r = RunProgram("flatcast-audit", {"--broker", relay->endpoint(), "--format", "json",
                                         "coverage", published["id"]});
  EXPECT_NE(r.exit_code, 0) << "the relay stored nothing: " << r.out;
  EXPECT_TRUE(relay->running());
  EXPECT_TRUE(upstream_->running());
}


// A document attached at the upstream reaches a terminal under the relay:
// the relay fetches it from its upstream a chunk at a time, stores it
// (checked against its SHA-256) and serves it to its own terminals.
TEST_F(RelayTest, AnAttachedDocumentReachesATerminalUnderTheRelayThroughTheRelaysOwnCopy) {
  auto relay = StartRelay(kCity);
  ASSERT_TRUE(relay->ok()) << relay->Stderr();
  const fs::path state = dir_.path() / "terminal";
  Process terminal({Program("flatcast-subscriber"), "run", "--unit", "520102016001", "--broker",
                    relay->endpoint(), "--state-dir", state.string()},
                   dir_.path() / "terminal-log");
  std::string content = "%PDF-1.7\n";
  content.resize(1'200'000, 'r');
  for (size_t i = 9; i < content.size(); i += 1021) content[i] = static_cast<char>('a' + i % 26);
  const fs::path pdf = dir_.path() / "notice.pdf";
  WriteFile(pdf, content);
  auto r = RunProgram("flatcast-publisher",
                      {"--broker", upstream_->endpoint(), "--json", "publish", "--issuer", "52",
                       "--department", "HEALTH", "--title", "With a document", "--body", "x",
                       "--action", "Post notices|community", "--scope", kCity, "--tiers", kTiers,
                       "--attach", pdf.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string hex = ToHex(DescribeAttachment("notice.pdf", content)->sha256());
  const fs::path kept = state / "attachments" / hex;
  ASSERT_TRUE(WaitFor([&] { return fs::exists(kept); }, 90s))
      << terminal.Stderr() << "\n---- relay\n" << relay->Stderr();
  EXPECT_TRUE(ReadFile(kept) == content);
  EXPECT_NE(relay->Stderr().find("relay: attached document \"notice.pdf\" fetched from the upstream and checked"),
            std::string::npos);
}

}  // namespace
}  // namespace flatcast
