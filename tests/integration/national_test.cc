// The national tier with the real programs (docs/RELAY.md, "The national
// tier"): a national broker whose registry holds three real provinces
// (Guizhou 52, Ningxia 64, Hainan 46; configs/registry/), a province relay
// below it for each, every connection CURVE with keys made by flatcast-keys
// (the key registries in their binary form: the national broker's without
// unit keys, each relay given its region's cut of the whole), each relay
// loading its region's cut of the registry. A
// national publisher (unit 00) addresses the whole country once; each relay
// stores it and fans it out to its terminals; their acknowledgements reach
// the national broker, whose audit sees every province, while a province
// whose terminals are offline shows its relay holding the directive.
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

const std::vector<std::string> kProvinces = {"52", "64", "46"};
const char kAllTiers[] = "city,district,street,community";

class NationalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The three provinces' registries as one national file.
    std::string text;
    for (const char* file : {"guizhou-52.tsv", "ningxia-64.tsv", "hainan-46.tsv"}) {
      text += ReadFile(SourcePath(std::string("configs/registry/") + file));
    }
    WriteFile(Path("national.tsv"), text);
    registry_ = Registry::Load(Path("national.tsv")).value();
    WriteFile(Path("publishers-00.toml"), R"(
[[publisher]]
name = "nhc"
unit = "00"
department = "NHC"
)");
    // Ningxia's own publisher, at its relay.
    WriteFile(Path("publishers-64.toml"), R"(
[[publisher]]
name = "ningxia-health"
unit = "64"
department = "HEALTH"
)");
    MakeKeys();
    StartNational();
  }

  std::string Path(const std::string& name) const { return (dir_.path() / name).string(); }

  void Keys(std::vector<std::string> args) {
    auto r = RunProgram("flatcast-keys", std::move(args), 120s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // The national broker's key, a national publisher (CURVE and signing), a
  // province publisher for Ningxia, an auditor, a relay key per province,
  // and every unit's key from a seed; then the registry in its binary form
  // and each region's cut of it.
  void MakeKeys() {
    fs::create_directories(Path("keys"));
    auto k = [&](const std::string& name) { return Path("keys/" + name); };
    Keys({"generate", "--kind", "curve", "--out", k("national")});
    Keys({"generate", "--kind", "curve", "--out", k("nhc-curve")});
    Keys({"generate", "--kind", "signing", "--out", k("nhc-sign")});
    Keys({"register", "--registry", k("keys.toml"), "--name", "nhc", "--role", "publisher",
          "--subject", "nhc", "--curve-pub", k("nhc-curve.pub"), "--signing-pub",
          k("nhc-sign.pub")});
    Keys({"generate", "--kind", "curve", "--out", k("nx-curve")});
    Keys({"generate", "--kind", "signing", "--out", k("nx-sign")});
    Keys({"register", "--registry", k("keys.toml"), "--name", "ningxia-health", "--role",
          "publisher", "--subject", "ningxia-health", "--curve-pub", k("nx-curve.pub"),
          "--signing-pub", k("nx-sign.pub")});
    for (const std::string& p : kProvinces) {
      Keys({"generate", "--kind", "curve", "--out", k("relay-" + p)});
      Keys({"register", "--registry", k("keys.toml"), "--name", "relay-" + p, "--role", "relay",
            "--subject", p, "--curve-pub", k("relay-" + p + ".pub")});
    }
    // The national broker admits relays, publishers and auditors: no unit
    // connects to it, so its registry holds no unit key.
    Keys({"convert", "--registry", k("keys.toml"), "--out", k("national.keys"), "--to", "binary"});
    Keys({"seed", "--out", k("units.seed")});
    Keys({"register-units", "--registry", k("keys.toml"), "--seed", k("units.seed"), "--units",
          Path("national.tsv"), "--tiers", kAllTiers});
    Keys({"convert", "--registry", k("keys.toml"), "--out", k("all.keys"), "--to", "binary"});
    for (const std::string& p : kProvinces) {
      Keys({"cut", "--registry", k("all.keys"), "--region", p, "--out",
            k("relay-" + p + ".keys")});
      auto cut = RunProgram("flatcast-registry",
                            {"cut", Path("national.tsv"), p, "--out", Path("relay-" + p + ".tsv")});
      ASSERT_EQ(cut.exit_code, 0) << cut.err;
    }
  }

  void StartNational() {
    fs::create_directories(Path("national"));
    std::vector<std::string> flags = {"--registry", Path("national.tsv"),
                                      "--publishers", Path("publishers-00.toml"),
                                      "--keys", Path("keys/national.keys"),
                                      "--curve-key", Path("keys/national.key"),
                                      "--heartbeat-interval", "500ms"};
    if (national_) flags.insert(flags.end(), {"--endpoint", national_->endpoint()});
    national_.reset();
    national_ = std::make_unique<BrokerProcess>(dir_.path() / "national", flags, "national");
    ASSERT_TRUE(national_->ok()) << national_->Stderr();
  }

  // The province relay for `p` with its cuts of the registry and the keys;
  // its CURVE key is both its server key and its key toward the national
  // broker.
  std::unique_ptr<BrokerProcess> StartRelay(const std::string& p) {
    fs::create_directories(Path("relay-" + p));
    std::vector<std::string> flags = {
        "--registry", Path("relay-" + p + ".tsv"), "--relay-region", p, "--upstream",
        national_->endpoint(), "--keys", Path("keys/relay-" + p + ".keys"), "--curve-key",
        Path("keys/relay-" + p + ".key"), "--relay-key", Path("keys/relay-" + p + ".key"),
        "--upstream-key", Path("keys/national.pub"), "--heartbeat-interval", "500ms"};
    if (fs::exists(Path("publishers-" + p + ".toml"))) {
      flags.insert(flags.end(), {"--publishers", Path("publishers-" + p + ".toml")});
    }
    return std::make_unique<BrokerProcess>(dir_.path() / ("relay-" + p), flags, "relay-" + p);
  }

  // Terminals for every unit of `region` below its province, connected to
  // the relay of its province; each expects `expect` directives.
  std::unique_ptr<Process> Swarm(const std::string& endpoint, const std::string& region,
                                 int expect) {
    const std::string province = region.substr(0, 2);
    return std::make_unique<Process>(
        std::vector<std::string>{
            Program("flatcast-swarm"), "--registry", Path("national.tsv"), "--endpoint", endpoint,
            "--region", region, "--tiers", kAllTiers, "--expect", std::to_string(expect),
            "--timeout-s", "150", "--inboxes", Path("inboxes-" + region), "--key-seed",
            Path("keys/units.seed"), "--broker-key", Path("keys/relay-" + province + ".pub"),
            "--progress-interval-ms", "500"},
        dir_.path() / ("swarm-" + region));
  }

  // Security flags of a CLI acting as publisher `who` toward `broker_pub`.
  std::vector<std::string> As(const std::string& who, const std::string& broker_pub) {
    return {"--curve-key", Path("keys/" + who + "-curve.key"), "--broker-key",
            Path("keys/" + broker_pub + ".pub")};
  }

  nlohmann::json PublishNational(const std::string& title) {
    std::vector<std::string> args = As("nhc", "national");
    args.insert(args.begin(), {"--broker", national_->endpoint(), "--json", "--publisher", "nhc",
                               "--signing-key", Path("keys/nhc-sign.key")});
    args.insert(args.end(), {"publish", "--issuer", "00", "--department", "NHC", "--title", title,
                             "--body", "全国统一部署", "--action", "Post notices|community",
                             "--scope", "00", "--tiers", "city", "district", "street",
                             "community"});
    auto r = RunProgram("flatcast-publisher", args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  // flatcast-audit's JSON answer; a discarded value when it fails, which
  // fails the test unless `may_fail` (a poll).
  nlohmann::json Audit(const std::string& endpoint, const std::string& broker_pub,
                       std::vector<std::string> query, bool may_fail = false) {
    std::vector<std::string> args = As("nhc", broker_pub);
    args.insert(args.begin(), {"--broker", endpoint, "--format", "json"});
    args.insert(args.end(), query.begin(), query.end());
    auto r = RunProgram("flatcast-audit", args);
    if (!may_fail) EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  size_t Acknowledged(const std::string& endpoint, const std::string& broker_pub,
                      const std::string& id, const std::string& region) {
    nlohmann::json c = Audit(endpoint, broker_pub, {"coverage", id, "--region", region});
    return c.is_object() ? c.value("acknowledged", size_t{0}) : 0;
  }

  // The units of `region` below its province (what the swarms play).
  std::set<std::string> UnitsOf(const std::string& region) const {
    std::set<std::string> units;
    for (const Unit& u : registry_.units()) {
      if (u.tier != Tier::kProvince && Registry::IsWithin(u.code, region)) units.insert(u.code);
    }
    return units;
  }

  // Every unit of `region` holds each of `ids` once and nothing else.
  void Reconcile(const std::string& test, const std::string& region,
                 const std::vector<std::string>& ids) {
    std::map<std::string, std::vector<std::string>> inboxes;
    std::stringstream lines(ReadFile(Path("inboxes-" + region)));
    for (std::string line; std::getline(lines, line);) {
      size_t tab = line.find('\t');
      if (tab == std::string::npos) continue;
      std::stringstream entries(line.substr(tab + 1));
      for (std::string e; std::getline(entries, e, ',');) {
        if (!e.empty()) inboxes[line.substr(0, tab)].push_back(e);
      }
    }
    const std::set<std::string> units = UnitsOf(region);
    size_t lost = 0, duplicated = 0;
    for (const std::string& unit : units) {
      for (const std::string& id : ids) {
        size_t n = std::count(inboxes[unit].begin(), inboxes[unit].end(), id + ".v1");
        lost += n == 0;
        duplicated += n > 1 ? n - 1 : 0;
      }
    }
    for (const auto& [unit, held] : inboxes) {
      if (!units.contains(unit)) duplicated += held.size();
    }
    std::cout << "RECONCILIATION test=" << test << " region=" << region
              << " units=" << units.size() << " directives=" << ids.size() << " lost=" << lost
              << " duplicated=" << duplicated << "\n";
    EXPECT_EQ(lost, 0u);
    EXPECT_EQ(duplicated, 0u);
  }

  TempDir dir_;
  Registry registry_;
  std::unique_ptr<BrokerProcess> national_;
};

TEST_F(NationalTest, ANationalDirectiveReachesEveryProvinceThroughItsRelayAndTheNationSeesIt) {
  std::map<std::string, std::unique_ptr<BrokerProcess>> relays;
  for (const std::string& p : kProvinces) {
    relays[p] = StartRelay(p);
    ASSERT_TRUE(relays[p]->ok()) << relays[p]->Stderr();
  }
  // Ningxia's terminals all connected, Guizhou's for one city, Hainan's
  // offline: its relay stores the directive and waits.
  auto ningxia = Swarm(relays["64"]->endpoint(), "64", 1);
  auto guiyang = Swarm(relays["52"]->endpoint(), "5201", 1);
  nlohmann::json published = PublishNational("全国社区防控物资盘点");
  ASSERT_TRUE(published.is_object());
  const std::string id = published["id"];
  EXPECT_EQ(id.substr(0, 7), "00-NHC-") << id;
  ASSERT_EQ(ningxia->Wait(180s), 0) << ningxia->Stdout() << ningxia->Stderr();
  ASSERT_EQ(guiyang->Wait(180s), 0) << guiyang->Stdout() << guiyang->Stderr();
  Reconcile("national-fan-out", "64", {id});
  Reconcile("national-fan-out", "5201", {id});

  // The national broker sees each province's acknowledgements once the
  // relays' batches are stored there; Hainan's relay holds the directive.
  const size_t ningxia_units = UnitsOf("64").size(), guiyang_units = UnitsOf("5201").size();
  EXPECT_TRUE(WaitFor(
      [&] {
        return Acknowledged(national_->endpoint(), "national", id, "64") == ningxia_units &&
               Acknowledged(national_->endpoint(), "national", id, "5201") == guiyang_units;
      },
      60s))
      << Audit(national_->endpoint(), "national", {"coverage", id}).dump();
  nlohmann::json rollup = Audit(national_->endpoint(), "national",
                                {"rollup", id, "--depth", "province"});
  std::cout << rollup.dump() << "\n";
  std::map<std::string, std::pair<size_t, size_t>> by_province;  // addressed, received
  for (const nlohmann::json& row : rollup["rows"]) {
    by_province[row["code"].get<std::string>()] = {row["addressed"].get<size_t>(),
                                                   row["received"].get<size_t>()};
  }
  EXPECT_EQ(by_province["64"], std::make_pair(ningxia_units, ningxia_units));
  EXPECT_EQ(by_province["52"].first, UnitsOf("52").size());
  EXPECT_EQ(by_province["52"].second, guiyang_units);
  EXPECT_EQ(by_province["46"], std::make_pair(UnitsOf("46").size(), size_t{0}));
  nlohmann::json cluster = Audit(national_->endpoint(), "national", {"cluster"});
  std::map<std::string, nlohmann::json> relay_views;
  for (const nlohmann::json& r : cluster[0]["relays"]) relay_views[r["region"]] = r;
  ASSERT_EQ(relay_views.size(), 3u) << cluster.dump();
  EXPECT_EQ(relay_views["46"]["connected"], true);
  EXPECT_EQ(relay_views["46"]["cursor"], published["seq"]) << "Hainan's relay holds it";

  // A province's auditor asks its relay, not the nation.
  EXPECT_EQ(Acknowledged(relays["64"]->endpoint(), "relay-64", id, "64"), ningxia_units);
}

TEST_F(NationalTest, AProvinceKeepsWorkingWhileTheNationalLinkIsDownAndReportsWhenItIsBack) {
  auto relay = StartRelay("64");
  ASSERT_TRUE(relay->ok()) << relay->Stderr();
  const std::string district = "640104";  // 兴庆区
  auto swarm = Swarm(relay->endpoint(), district, 2);
  nlohmann::json national = PublishNational("Before the link goes down");
  ASSERT_TRUE(national.is_object());
  ASSERT_TRUE(WaitFor(
      [&] {
        nlohmann::json c =
            Audit(relay->endpoint(), "relay-64", {"coverage", national["id"]}, true);
        return c.is_object() && c.value("addressed", 0) > 0;
      },
      30s))
      << "the relay never stored the national directive: " << relay->Stderr();
  // The national broker stops answering: the relay's publishers publish,
  // its terminals receive and acknowledge, its auditors see it.
  national_->Signal(SIGSTOP);
  std::vector<std::string> args = As("nx", "relay-64");
  args.insert(args.begin(), {"--broker", relay->endpoint(), "--json", "--publisher",
                             "ningxia-health", "--signing-key", Path("keys/nx-sign.key")});
  args.insert(args.end(), {"publish", "--issuer", "64", "--department", "HEALTH", "--title",
                           "While the national link is down", "--body", "x", "--action",
                           "Post notices|community", "--scope", district, "--tiers", "street",
                           "community", "district"});
  auto local = RunProgram("flatcast-publisher", args);
  ASSERT_EQ(local.exit_code, 0) << local.err;
  const std::string local_id = nlohmann::json::parse(local.out)["id"];
  ASSERT_EQ(swarm->Wait(180s), 0) << swarm->Stdout() << swarm->Stderr();
  Reconcile("national-link-down", district, {national["id"], local_id});
  const size_t units = UnitsOf(district).size();
  EXPECT_EQ(Acknowledged(relay->endpoint(), "relay-64", local_id, district), units);
  // Back: what waited at the relay reaches the national broker.
  national_->Signal(SIGCONT);
  EXPECT_TRUE(WaitFor(
      [&] {
        return Acknowledged(national_->endpoint(), "national", national["id"], district) ==
               units;
      },
      60s))
      << relay->Stderr();
}

}  // namespace
}  // namespace flatcast
