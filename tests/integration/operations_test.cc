// Operating the broker with the real programs (docs/OPERATIONS.md): its
// admin listener scraped during a fan-out to a district's terminals (the
// counters moved by exactly what happened, the text is valid for
// Prometheus' own promtool), /readyz turning unready when its disk reaches
// the reserve and ready again, the admin listener apart from the public
// feed, --check-config, and the journald and JSON log formats.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>

#include "broker_process.h"
#include "etcd_process.h"  // FreePort
#include "flatcast/registry.h"
#include "http_client.h"
#include "process.h"
#include "temp_dir.h"

namespace flatcast {
namespace {

using namespace testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr char kDistrict[] = "520102";  // 南明区: 234 streets and communities

// "name{labels}" -> value, from the Prometheus text format.
std::map<std::string, double> ParseMetrics(const std::string& text) {
  std::map<std::string, double> out;
  std::stringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

size_t StreetsAndCommunitiesOf(const std::string& region) {
  const Registry registry = Registry::Load(GuizhouRegistry()).value();
  size_t n = 0;
  for (const Unit& u : registry.units()) {
    n += (u.tier == Tier::kStreet || u.tier == Tier::kCommunity) &&
         Registry::IsWithin(u.code, region);
  }
  return n;
}

class Operations : public ::testing::Test {
 protected:
  // A broker with its admin listener on a free port.
  void StartBroker(std::vector<std::string> more = {}) {
    std::vector<std::string> flags = {"--admin-endpoint", "127.0.0.1:0", "--admin-endpoint-file",
                                      (dir_ / "admin")};
    flags.insert(flags.end(), more.begin(), more.end());
    broker_ = std::make_unique<BrokerProcess>(dir_.path(), flags);
    ASSERT_TRUE(broker_->ok()) << broker_->Stderr();
    admin_ = WaitForEndpointFile(dir_ / "admin");
    ASSERT_FALSE(admin_.empty()) << broker_->Stderr();
  }

  HttpResponse Get(const std::string& url_base, const std::string& path,
                   const std::string& method = "GET") {
    HttpResponse r = HttpRequest(url_base, method, path);
    EXPECT_NE(r.status, 0) << "no answer from " << url_base << path;
    return r;
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::string admin_;
};

TEST_F(Operations, MetricsCountExactlyWhatAFanOutDidAndPromtoolAcceptsThem) {
  StartBroker();
  const size_t units = StreetsAndCommunitiesOf(kDistrict);
  Process swarm({Program("flatcast-swarm"), "--registry", GuizhouRegistry(), "--endpoint",
                 broker_->endpoint(), "--region", kDistrict, "--tiers", "street", "community",
                 "--ack-levels", "confirmed", "--expect", "1", "--timeout-s", "120"},
                dir_.path() / "swarm");
  // Every terminal welcomed before the publish: the fan-out sends each one copy.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto m = ParseMetrics(Get(admin_, "/metrics").body);
        return m["flatcast_terminals_connected{tier=\"street\"}"] +
                   m["flatcast_terminals_connected{tier=\"community\"}"] ==
               static_cast<double>(units);
      },
      60s))
      << Get(admin_, "/metrics").body;
  auto published = RunProgram(
      "flatcast-publisher",
      {"--broker", broker_->endpoint(), "--json", "publish", "--issuer", "52", "--department",
       "HEALTH", "--title", "Metrics", "--body", "x", "--action", "Post notices|community",
       "--scope", kDistrict, "--tiers", "street,community"});
  ASSERT_EQ(published.exit_code, 0) << published.err;
  ASSERT_EQ(swarm.Wait(150s), 0) << swarm.Stdout() << swarm.Stderr();
  // Every confirmed acknowledgement counted (the swarm has them confirmed).
  // Counters move as things happen; gauges once a second.
  std::map<std::string, double> m;
  ASSERT_TRUE(WaitFor(
      [&] {
        m = ParseMetrics(Get(admin_, "/metrics").body);
        return m["flatcast_acknowledgements_total{level=\"confirmed\"}"] ==
                   static_cast<double>(units) &&
               m["flatcast_directive_versions"] == 1;
      },
      30s));
  EXPECT_EQ(m["flatcast_directives_published_total"], 1);
  EXPECT_EQ(m["flatcast_deliveries_total{kind=\"first\"}"], units);
  EXPECT_EQ(m["flatcast_acknowledgements_total{level=\"received\"}"], units);
  EXPECT_EQ(m["flatcast_acknowledgements_total{level=\"ready\"}"], 0);
  EXPECT_EQ(m["flatcast_ack_latency_seconds_count{level=\"received\"}"], units);
  EXPECT_GE(m["flatcast_commit_sync_seconds_count"], 2) << "the directive and the acks";
  EXPECT_EQ(m["flatcast_dropped_sends_total"], 0);
  EXPECT_EQ(m["flatcast_directive_versions"], 1);
  EXPECT_GT(m["flatcast_open_files"], 10) << "RocksDB's and the sockets'";
  EXPECT_GE(m["flatcast_open_files_limit"], m["flatcast_open_files_budget"]);
  EXPECT_EQ(m["flatcast_open_files_budget"], 19572 + 64 + 64) << "open mode: every unit";
  EXPECT_EQ(m["flatcast_ready"], 1);
  // A refused request is counted by its code.
  auto refused = RunProgram("flatcast-publisher",
                            {"--broker", broker_->endpoint(), "publish", "--issuer", "52",
                             "--department", "HEALTH", "--title", "No scope", "--body", "x",
                             "--action", "Post notices|community", "--tiers", "community"});
  EXPECT_NE(refused.exit_code, 0);
  m = ParseMetrics(Get(admin_, "/metrics").body);
  EXPECT_GE(m["flatcast_requests_refused_total{code=\"invalid\"}"], 1) << Get(admin_, "/metrics").body;

  // The text is what Prometheus reads: promtool (Debian's prometheus) checks it.
  WriteFile(dir_ / "scrape.txt", Get(admin_, "/metrics").body);
  auto check = flatcast::testing::Run({"/bin/sh", "-c", "promtool check metrics < " + (dir_ / "scrape.txt")});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  std::cout << "a scrape during the test:\n" << ReadFile(dir_ / "scrape.txt");
}

TEST_F(Operations, TheAdminListenerServesOperatorsOnly) {
  StartBroker();
  // The listener answers from before the loop's first report ("starting").
  HttpResponse health;
  ASSERT_TRUE(WaitFor(
      [&] {
        health = Get(admin_, "/healthz");
        return health.status == 200;
      },
      10s))
      << health.body;
  EXPECT_EQ(health.body, "ok\n");
  EXPECT_EQ(Get(admin_, "/readyz").body, "ready\n");
  EXPECT_EQ(Get(admin_, "/metrics", "POST").status, 405);
  EXPECT_EQ(Get(admin_, "/public/directives").status, 404) << "no public content here";
}

TEST_F(Operations, ReadyzTurnsUnreadyAtTheDiskReserveAndReadyWhenSpaceIsBack) {
  const fs::path disk = dir_ / "disk";
  fs::create_directories(disk);
  if (mount("tmpfs", disk.c_str(), "tmpfs", 0, "size=96m") != 0) {
    GTEST_SKIP() << "mounting a tmpfs is not permitted here (" << std::strerror(errno)
                 << "); this test needs one";
  }
  struct Unmount {
    fs::path path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{disk};
  StartBroker({"--data-dir", (disk / "data").string(), "--store-reserve-mb", "32"});
  ASSERT_TRUE(WaitFor([&] { return Get(admin_, "/readyz").status == 200; }, 10s));
  // Fill the disk until less than the reserve is free.
  const fs::path filler = disk / "filler";
  {
    std::ofstream out(filler, std::ios::binary);
    std::string mb(1 << 20, 'x');
    while (fs::space(disk).available > (20u << 20) && out.write(mb.data(), mb.size())) {
    }
  }
  HttpResponse ready;
  ASSERT_TRUE(WaitFor(
      [&] {
        ready = Get(admin_, "/readyz");
        return ready.status == 503;
      },
      10s))
      << ready.body;
  EXPECT_NE(ready.body.find("reserve"), std::string::npos) << ready.body;
  EXPECT_EQ(Get(admin_, "/healthz").status, 200) << "within its reserve the store still takes acks";
  EXPECT_EQ(ParseMetrics(Get(admin_, "/metrics").body)["flatcast_ready"], 0);
  fs::remove(filler);
  EXPECT_TRUE(WaitFor([&] { return Get(admin_, "/readyz").status == 200; }, 10s));
}

TEST_F(Operations, CheckConfigSaysWhatItFoundOrWhichFileIsWrong) {
  WriteFile(dir_ / "publishers.toml",
            "[[publisher]]\nname = \"guizhou-health\"\nunit = \"52\"\ndepartment = \"HEALTH\"\n");
  WriteFile(dir_ / "broker.toml",
            "data_dir = \"" + (dir_ / "data") + "\"\nregistry = \"" + GuizhouRegistry() +
                "\"\npublishers = \"" + (dir_ / "publishers.toml") +
                "\"\nadmin_endpoint = \"127.0.0.1:7790\"\n");
  auto ok = RunProgram("flatcast-broker",
                       {"--config", (dir_ / "broker.toml"), "--check-config", "--init"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("registry " + GuizhouRegistry() + ": 19572 units"), std::string::npos)
      << ok.out;
  EXPECT_NE(ok.out.find("configuration OK"), std::string::npos) << ok.out;
  EXPECT_FALSE(fs::exists(dir_ / "data")) << "a check creates nothing";
  WriteFile(dir_ / "publishers.toml",
            "[[publisher]]\nname = \"x\"\nunit = \"5299\"\ndepartment = \"HEALTH\"\n");
  auto bad = RunProgram("flatcast-broker",
                        {"--config", (dir_ / "broker.toml"), "--check-config", "--init"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("unit 5299 is not in the registry"), std::string::npos) << bad.err;
  auto no_store = RunProgram("flatcast-broker",
                             {"--config", (dir_ / "broker.toml"), "--check-config"});
  EXPECT_EQ(no_store.exit_code, 1);
  EXPECT_NE(no_store.err.find("holds no store"), std::string::npos) << no_store.err;
}

TEST_F(Operations, LogsAreOneEventALineForJournaldOrAsJson) {
  {
    Process broker({Program("flatcast-broker"), "--init", "--data-dir", (dir_ / "j"),
                    "--registry", GuizhouRegistry(), "--endpoint", "tcp://127.0.0.1:*",
                    "--endpoint-file", (dir_ / "j.ep")},
                   dir_.path() / "journal", {"JOURNAL_STREAM=8:1234"});
    ASSERT_FALSE(WaitForEndpointFile(dir_ / "j.ep").empty()) << broker.Stderr();
    EXPECT_EQ(broker.Stop(), 0);
    std::stringstream lines(broker.Stderr());
    size_t n = 0;
    for (std::string line; std::getline(lines, line); ++n) {
      EXPECT_TRUE(std::regex_match(line, std::regex("<[2-7]>[^<].*"))) << line;
    }
    EXPECT_GT(n, 2u);
    EXPECT_NE(broker.Stderr().find("<4>no key registry"), std::string::npos) << "a warning";
  }
  Process broker({Program("flatcast-broker"), "--init", "--data-dir", (dir_ / "js"),
                  "--registry", GuizhouRegistry(), "--endpoint", "tcp://127.0.0.1:*",
                  "--endpoint-file", (dir_ / "js.ep"), "--log-format", "json"},
                 dir_.path() / "json");
  ASSERT_FALSE(WaitForEndpointFile(dir_ / "js.ep").empty()) << broker.Stderr();
  EXPECT_EQ(broker.Stop(), 0);
  std::stringstream lines(broker.Stderr());
  size_t n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    nlohmann::json event = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(event.is_object()) << line;
    EXPECT_TRUE(event.contains("time") && event.contains("level") && event.contains("message"))
        << line;
    EXPECT_EQ(event["program"], "flatcast-broker");
  }
  EXPECT_GT(n, 2u);
}

TEST_F(Operations, ATerminalDaemonSaysWhetherTheBrokerWelcomedItAndCountsWhatItStored) {
  const std::string admin = "127.0.0.1:" + std::to_string(FreePort());
  const std::string broker_endpoint = "tcp://127.0.0.1:" + std::to_string(FreePort());
  Process daemon({Program("flatcast-subscriber"), "run", "--unit", "520102016001", "--broker",
                  broker_endpoint, "--state-dir", dir_ / "terminal", "--admin-endpoint", admin},
                 dir_.path() / "daemon");
  const std::string url = "http://" + admin;
  HttpResponse ready;
  ASSERT_TRUE(WaitFor(
      [&] {
        ready = HttpGet(url, "/readyz");
        return ready.status == 503 && ready.body.find("not welcomed") != std::string::npos;
      },
      10s))
      << ready.status << " " << ready.body << daemon.Stderr();
  EXPECT_EQ(HttpGet(url, "/healthz").status, 200) << "waiting for a broker is healthy";
  StartBroker({"--endpoint", broker_endpoint});
  EXPECT_TRUE(WaitFor([&] { return HttpGet(url, "/readyz").status == 200; }, 20s))
      << daemon.Stderr();
  auto published = RunProgram(
      "flatcast-publisher",
      {"--broker", broker_->endpoint(), "publish", "--issuer", "52", "--department", "HEALTH",
       "--title", "To one community", "--body", "x", "--action", "Post notices|community",
       "--scope", "520102016001", "--tiers", "community"});
  ASSERT_EQ(published.exit_code, 0) << published.err;
  std::map<std::string, double> m;
  EXPECT_TRUE(WaitFor(
      [&] {
        m = ParseMetrics(HttpGet(url, "/metrics").body);
        return m["flatcast_terminal_acknowledgements_confirmed_total"] == 1;
      },
      20s))
      << HttpGet(url, "/metrics").body;
  EXPECT_EQ(m["flatcast_terminal_inbox_directives"], 1);
  EXPECT_EQ(m["flatcast_terminal_deliveries_total"], 1);
  EXPECT_EQ(m["flatcast_terminal_welcomed"], 1);
  EXPECT_GT(m["flatcast_terminal_last_contact_timestamp_seconds"], 1.7e9);
  WriteFile(dir_ / "terminal.txt", HttpGet(url, "/metrics").body);
  auto check = flatcast::testing::Run(
      {"/bin/sh", "-c", "promtool check metrics < " + (dir_ / "terminal.txt")});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST_F(Operations, TheServiceUnitsVerifyAndAreHardened) {
  if (!fs::exists("/usr/bin/systemd-analyze")) {
    GTEST_SKIP() << "systemd-analyze is not installed (Debian's systemd package)";
  }
  // The units name the packaged programs in /usr/bin; verified against the
  // built ones, which systemd-analyze checks exist and are executable.
  const fs::path units = dir_ / "units";
  fs::create_directories(units);
  for (const char* unit :
       {"flatcast-broker.service", "flatcast-subscriber@.service", "flatcast-public.service"}) {
    std::string text = ReadFile(SourcePath(std::string("configs/systemd/") + unit));
    for (const char* program : {"flatcast-broker", "flatcast-subscriber", "flatcast-public"}) {
      const std::string from = std::string("/usr/bin/") + program;
      for (size_t at; (at = text.find(from)) != std::string::npos;) {
        text.replace(at, from.size(), Program(program));
      }
    }
    WriteFile(units / unit, text);
  }
  for (const char* unit : {"flatcast-broker.service", "flatcast-subscriber@520102016001.service",
                           "flatcast-public.service"}) {
    auto verify = flatcast::testing::Run({"/usr/bin/systemd-analyze", "verify", units / unit});
    EXPECT_EQ(verify.exit_code, 0) << verify.err;
    EXPECT_EQ(verify.out + verify.err, "") << "no warning of any kind";
    auto security = flatcast::testing::Run(
        {"/usr/bin/systemd-analyze", "security", "--offline=yes", units / unit});
    std::smatch level;
    const std::string text = security.out + security.err;
    ASSERT_TRUE(std::regex_search(text, level, std::regex("exposure level for [^:]+: ([0-9.]+)")))
        << text;
    EXPECT_LE(std::stod(level[1]), 2.5) << unit << ": " << text.substr(text.size() - 300);
    std::cout << unit << ": exposure level " << level[1] << "\n";
  }
}

}  // namespace
}  // namespace flatcast
