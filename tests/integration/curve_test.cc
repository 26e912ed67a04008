// CURVE on every connection, with the real programs: flatcast-keys makes the
// broker's, a publisher's, an auditor's and a terminal's keys and registers
// them (the swarm's units from a seed); flatcast-broker runs with --keys and
// --curve-key; every client connects with its own key. Unknown, revoked and
// mismatched keys are refused with a clear message on both sides, the
// identity of every message is its key's holder, and auditors are read-only.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "flatcast/curve.h"
#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "peer.h"
#include "broker_process.h"
#include "temp_dir.h"

namespace flatcast {
namespace {

using namespace testing;  // flatcast::testing: programs, processes, temp dirs
using namespace std::chrono_literals;

const std::string& kRegistry = testing::GuizhouRegistry();
constexpr char kDistrict[] = "520102";         // 南明区, the swarm's region
constexpr char kCommunity[] = "520102016001";  // the daemon's unit
constexpr char kOtherCommunity[] = "520102016002";
constexpr char kPublisher[] = "guizhou-health";

class Curve : public ::testing::Test {
 protected:
  void SetUp() override {
    Keys({"generate", "--kind", "curve", "--out", dir_ / "broker"});
    for (const char* who : {"publisher", "auditor", "terminal", "stranger"}) {
      Keys({"generate", "--kind", "curve", "--out", dir_ / (std::string(who) + "-curve")});
    }
    Keys({"generate", "--kind", "signing", "--out", dir_ / "publisher-sign"});
    Keys({"register", "--registry", KeysPath(), "--name", kPublisher, "--role", "publisher",
          "--subject", kPublisher, "--curve-pub", dir_ / "publisher-curve.pub", "--signing-pub",
          dir_ / "publisher-sign.pub"});
    Keys({"register", "--registry", KeysPath(), "--name", "audit-office", "--role", "auditor",
          "--subject", "audit-office", "--curve-pub", dir_ / "auditor-curve.pub"});
    Keys({"register", "--registry", KeysPath(), "--name", "jinianta", "--role", "unit",
          "--subject", kCommunity, "--curve-pub", dir_ / "terminal-curve.pub"});
    Keys({"seed", "--out", dir_ / "seed"});
    Keys({"register-units", "--registry", KeysPath(), "--seed", dir_ / "seed", "--units", kRegistry,
          "--region", kDistrict, "--exclude", kCommunity});
    broker_ = std::make_unique<testing::BrokerProcess>(
        dir_.path(), std::vector<std::string>{"--publishers", SourcePath("configs/publishers.toml"),
                                              "--keys", KeysPath(), "--curve-key",
                                              dir_ / "broker.key", "--heartbeat-interval", "1s"});
    ASSERT_TRUE(broker_->ok()) << broker_->Stderr();
    endpoint_ = broker_->endpoint();
  }

  std::string KeysPath() const { return dir_ / "keys.toml"; }

  void Keys(std::vector<std::string> args) {
    testing::RunResult r = RunProgram("flatcast-keys", std::move(args));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // The publisher CLI over CURVE with `curve_key` (a secret key file).
  testing::RunResult Publisher(const std::string& curve_key, std::vector<std::string> args) {
    std::vector<std::string> argv{Program("flatcast-publisher"), "--broker",    endpoint_,
                                  "--timeout-ms",                "3000",        "--attempts",
                                  "1"};
    if (!curve_key.empty()) {
      argv.insert(argv.end(), {"--curve-key", curve_key, "--broker-key", dir_ / "broker.pub"});
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::Run(argv);
  }

  static std::vector<std::string> Content(const std::string& scope) {
    return {"publish", "--issuer", "52", "--department", "HEALTH", "--title", "Stock masks",
            "--body",  "Count the masks in every community office.", "--action",
            "Count masks|community", "--scope", scope, "--tiers", "district,street,community"};
  }

  // Publishes as the registered publisher, signed; the directive id.
  std::string PublishSigned(const std::string& scope) {
    std::vector<std::string> args{"--json", "--signing-key", dir_ / "publisher-sign.key"};
    auto content = Content(scope);
    args.insert(args.end(), content.begin(), content.end());
    testing::RunResult r = Publisher(dir_ / "publisher-curve.key", args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.exit_code != 0) return "";
    return nlohmann::json::parse(r.out)["id"].get<std::string>();
  }

  CurveClientKeys PeerKeys(const std::string& secret_file) {
    return *LoadCurveClientKeys(secret_file, dir_ / "broker.pub").value();
  }
  CurveClientKeys SwarmUnitKeys(const std::string& unit) {
    KeyPair pair = DeriveUnitCurveKey(ReadSeedFile(dir_ / "seed").value(), unit).value();
    return {pair.public_key, pair.secret_key, ReadPublicKey(dir_ / "broker.pub", KeyKind::kCurve).value()};
  }

  static v1::Envelope HelloFor(const std::string& unit) {
    v1::Envelope env;
    env.mutable_hello()->set_unit_code(unit);
    return env;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::BrokerProcess> broker_;
  std::string endpoint_;
  zmq::context_t ctx_{1};
};

TEST_F(Curve, AuthenticatedTerminalsPublisherAndAuditorWorkEndToEnd) {
  Process daemon({Program("flatcast-subscriber"), "run", "--unit", kCommunity, "--broker",
                  endpoint_, "--state-dir", dir_ / "terminal", "--keys", KeysPath(),
                  "--curve-key", dir_ / "terminal-curve.key", "--broker-key", dir_ / "broker.pub"},
                 dir_.path() / "daemon");
  Process swarm({Program("flatcast-swarm"), "--registry", kRegistry, "--endpoint", endpoint_,
                 "--region", kDistrict, "--exclude", kCommunity, "--key-seed", dir_ / "seed",
                 "--broker-key", dir_ / "broker.pub", "--expect", "1", "--timeout-s", "120",
                 "--report", dir_ / "swarm.json"},
                dir_.path() / "swarm");
  ASSERT_TRUE(testing::WaitFor(
      [&] { return daemon.Stderr().find("welcomed as") != std::string::npos; }, 30s))
      << daemon.Stderr();
  // The swarm's units connect within a second or two; the publish waits for
  // them only so that the fan-out reaches them live.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        std::string out = swarm.Stdout();
        auto last = out.rfind("\"welcomed\":");
        return last != std::string::npos && out.find("\"welcomed\":234", last) == last;
      },
      60s))
      << swarm.Stdout() << swarm.Stderr();

  std::string id = PublishSigned(kDistrict);
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(swarm.Wait(120s), 0) << swarm.Stderr();
  auto report = nlohmann::json::parse(testing::ReadFile(dir_.path() / "swarm.json"));
  EXPECT_EQ(report["units"], 234);
  EXPECT_EQ(report["units_complete"], 234);
  EXPECT_EQ(report["errors"], 0);

  auto audit = [&] {
    return testing::Run({Program("flatcast-audit"), "--broker", endpoint_, "--curve-key",
                         dir_ / "auditor-curve.key", "--broker-key", dir_ / "broker.pub",
                         "coverage", id, "--format", "json"});
  };
  nlohmann::json coverage;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        testing::RunResult r = audit();
        if (r.exit_code != 0) return false;
        coverage = nlohmann::json::parse(r.out);
        return coverage["acknowledged"] == 235;
      },
      30s))
      << coverage.dump() << daemon.Stderr();
  EXPECT_EQ(coverage["addressed"], 235);
  EXPECT_TRUE(broker_->running());
}

TEST_F(Curve, UnknownKeyIsRefusedWithAClearErrorAndTheBrokerServesOthers) {
  auto content = Content(kCommunity);
  testing::RunResult r = Publisher(dir_ / "stranger-curve.key", content);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("refused this client's CURVE key"), std::string::npos) << r.err;
  EXPECT_TRUE(testing::WaitFor(
      [&] { return broker_->Stderr().find("unknown CURVE key") != std::string::npos; }, 10s))
      << broker_->Stderr();
  EXPECT_FALSE(PublishSigned(kCommunity).empty());

  // A terminal daemon with an unknown key says so in its log, rather than
  // waiting in silence.
  Process daemon({Program("flatcast-subscriber"), "run", "--unit", kCommunity, "--broker",
                  endpoint_, "--state-dir", dir_ / "terminal", "--curve-key",
                  dir_ / "stranger-curve.key", "--broker-key", dir_ / "broker.pub"},
                 dir_.path() / "daemon");
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        return daemon.Stderr().find("refused this client's CURVE key") != std::string::npos;
      },
      15s))
      << daemon.Stderr();
  EXPECT_TRUE(broker_->running());
}

TEST_F(Curve, RevokedKeyIsRefusedWithoutRestartingTheBroker) {
  ASSERT_FALSE(PublishSigned(kCommunity).empty());
  testing::Peer terminal(ctx_, endpoint_, SwarmUnitKeys(kOtherCommunity));
  ASSERT_TRUE(terminal.Call(HelloFor(kOtherCommunity)).has_welcome());

  Keys({"revoke", "--registry", KeysPath(), "--name", kPublisher, "--kind", "curve"});
  Keys({"revoke", "--registry", KeysPath(), "--name", std::string("unit-") + kOtherCommunity});
  testing::RunResult r;
  // The broker looks at the registry file once a second.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        std::vector<std::string> args{"--signing-key", dir_ / "publisher-sign.key"};
        auto content = Content(kCommunity);
        args.insert(args.end(), content.begin(), content.end());
        r = Publisher(dir_ / "publisher-curve.key", args);
        return r.exit_code != 0;
      },
      15s))
      << "a publish with the revoked key was still accepted";
  // Refused in the handshake, or, if the connection was admitted just before
  // the reload, at its first message.
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("revoked"), std::string::npos) << r.err;
  EXPECT_NE(broker_->Stderr().find("was revoked"), std::string::npos) << broker_->Stderr();

  // The terminal admitted before the revocation is served no more.
  v1::Envelope reply = terminal.Call(HelloFor(kOtherCommunity));
  ASSERT_TRUE(reply.has_error()) << reply.DebugString();
  EXPECT_EQ(reply.error().code(), v1::FORBIDDEN);
  EXPECT_NE(reply.error().message().find("revoked"), std::string::npos) << reply.error().message();
  EXPECT_TRUE(broker_->running());
}

TEST_F(Curve, ClientWithoutCurveOrWithAnotherBrokerKeyIsToldWhy) {
  testing::RunResult plain = Publisher("", Content(kCommunity));
  EXPECT_EQ(plain.exit_code, 2) << plain.err;
  // Either the mismatch of mechanisms is reported or, when the broker closes
  // the connection first, the closed handshakes are; both say what to give.
  EXPECT_NE(plain.err.find("--curve-key and --broker-key"), std::string::npos) << plain.err;

  testing::RunResult wrong = testing::Run(
      {Program("flatcast-publisher"), "--broker", endpoint_, "--timeout-ms", "3000", "--attempts",
       "1", "--curve-key", dir_ / "publisher-curve.key", "--broker-key", dir_ / "stranger-curve.pub",
       "status", "52-HEALTH-20261201-0001"});
  EXPECT_EQ(wrong.exit_code, 2) << wrong.err;
  EXPECT_NE(wrong.err.find("is --broker-key the broker's public key"), std::string::npos)
      << wrong.err;

  std::string log = broker_->Stderr();
  // Whichever side notices the mismatch of mechanisms first.
  EXPECT_TRUE(log.find("the client does not use CURVE") != std::string::npos ||
              log.find("one without CURVE closes it so") != std::string::npos)
      << log;
  EXPECT_NE(log.find("uses another broker key"), std::string::npos) << log;
  EXPECT_TRUE(broker_->running());
}

TEST_F(Curve, AMessageSpeaksOnlyForTheHolderOfItsKey) {
  // A unit's key cannot say hello as another unit.
  testing::Peer unit(ctx_, endpoint_, SwarmUnitKeys(kOtherCommunity));
  v1::Envelope reply = unit.Call(HelloFor(kCommunity));
  ASSERT_TRUE(reply.has_error()) << reply.DebugString();
  EXPECT_EQ(reply.error().code(), v1::FORBIDDEN);
  EXPECT_NE(reply.error().message().find("authenticated as unit 520102016002"), std::string::npos)
      << reply.error().message();
  // An empty unit code is the key's own unit.
  reply = unit.Call(HelloFor(""));
  ASSERT_TRUE(reply.has_welcome()) << reply.DebugString();
  EXPECT_EQ(reply.welcome().unit_code(), kOtherCommunity);

  // A publisher's key cannot publish under another publisher's name.
  testing::Peer publisher(ctx_, endpoint_, PeerKeys(dir_ / "publisher-curve.key"));
  v1::Envelope publish;
  publish.mutable_publish()->set_publisher("guiyang-health");
  publish.mutable_publish()->mutable_directive()->set_title("Forged");
  reply = publisher.Call(publish);
  ASSERT_TRUE(reply.has_error()) << reply.DebugString();
  EXPECT_EQ(reply.error().code(), v1::FORBIDDEN);
  EXPECT_NE(reply.error().message().find("cannot publish as \"guiyang-health\""),
            std::string::npos)
      << reply.error().message();
  EXPECT_TRUE(broker_->running());
}

TEST_F(Curve, AnAcknowledgementCountsOnlyForTheKeysOwnUnit) {
  // A directive for one community only; another community's terminal
  // acknowledges it.
  std::string id = PublishSigned(kCommunity);
  ASSERT_FALSE(id.empty());
  testing::Peer other(ctx_, endpoint_, SwarmUnitKeys(kOtherCommunity));
  ASSERT_TRUE(other.Call(HelloFor(kOtherCommunity)).has_welcome());
  v1::Envelope ack;
  ack.mutable_ack()->set_seq(1);
  ack.mutable_ack()->set_directive_id(id);
  ack.mutable_ack()->set_version(1);
  ack.mutable_ack()->set_level(v1::RECEIVED);
  v1::Envelope reply = other.Call(ack);
  ASSERT_TRUE(reply.has_error()) << reply.DebugString();
  EXPECT_EQ(reply.error().code(), v1::INVALID);
  EXPECT_NE(reply.error().message().find("not addressed to unit 520102016002"), std::string::npos)
      << reply.error().message();

  testing::RunResult r = testing::Run(
      {Program("flatcast-audit"), "--broker", endpoint_, "--curve-key", dir_ / "auditor-curve.key",
       "--broker-key", dir_ / "broker.pub", "coverage", id, "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["acknowledged"], 0);
}

TEST_F(Curve, AuditorsAreReadOnlyAndUnitsNeitherPublishNorQuery) {
  std::string id = PublishSigned(kCommunity);
  ASSERT_FALSE(id.empty());

  std::vector<std::string> args{"--signing-key", dir_ / "publisher-sign.key"};
  auto content = Content(kCommunity);
  args.insert(args.end(), content.begin(), content.end());
  testing::RunResult r = Publisher(dir_ / "auditor-curve.key", args);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("auditors are read-only"), std::string::npos) << r.err;
  r = Publisher(dir_ / "auditor-curve.key", {"cancel", id, "--reason", "auditor tries"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("auditors are read-only"), std::string::npos) << r.err;

  testing::Peer unit(ctx_, endpoint_, SwarmUnitKeys(kOtherCommunity));
  v1::Envelope query;
  query.mutable_coverage_query()->set_directive_id(id);
  v1::Envelope reply = unit.Call(query);
  ASSERT_TRUE(reply.has_error()) << reply.DebugString();
  EXPECT_EQ(reply.error().code(), v1::FORBIDDEN);
  EXPECT_NE(reply.error().message().find("only publishers and auditors"), std::string::npos)
      << reply.error().message();
  v1::Envelope publish;
  publish.mutable_publish()->mutable_directive()->set_title("From a terminal");
  reply = unit.Call(publish);
  ASSERT_TRUE(reply.has_error()) << reply.DebugString();
  EXPECT_EQ(reply.error().code(), v1::FORBIDDEN);

  // The auditor still reads.
  r = testing::Run({Program("flatcast-audit"), "--broker", endpoint_, "--curve-key",
                    dir_ / "auditor-curve.key", "--broker-key", dir_ / "broker.pub", "events", id});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("PUBLISHED"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace flatcast
