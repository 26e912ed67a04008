// Directive signatures with the real programs: flatcast-keys makes and
// registers a publisher's signing key, flatcast-broker runs with --keys,
// flatcast-publisher signs with --signing-key, and a terminal daemon with
// --keys stores what verifies. Unsigned, tampered and revoked-key directives
// are refused with a clear error, and a revocation takes effect without
// restarting the broker.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "flatcast/signing.h"
#include "broker_process.h"
#include "temp_dir.h"

namespace flatcast {
namespace {

using namespace testing;  // flatcast::testing: programs, processes, temp dirs
using namespace std::chrono_literals;

const std::string& kRegistry = testing::GuizhouRegistry();
constexpr char kCommunity[] = "520102016001";

class Signatures : public ::testing::Test {
 protected:
  void SetUp() override {
    Keys({"generate", "--kind", "signing", "--out", dir_ / "health-sign"});
    Keys({"generate", "--kind", "curve", "--out", dir_ / "health-curve"});
    Keys({"register", "--registry", KeysPath(), "--name", "guizhou-health", "--role", "publisher",
          "--subject", "guizhou-health", "--curve-pub", dir_ / "health-curve.pub", "--signing-pub",
          dir_ / "health-sign.pub"});
    broker_ = std::make_unique<testing::BrokerProcess>(
        dir_.path(), std::vector<std::string>{"--publishers", SourcePath("configs/publishers.toml"),
                                              "--keys", KeysPath()});
    ASSERT_TRUE(broker_->ok()) << broker_->Stderr();
    endpoint_ = broker_->endpoint();
  }

  std::string KeysPath() const { return dir_ / "keys.toml"; }

  void Keys(std::vector<std::string> args) {
    testing::RunResult r = RunProgram("flatcast-keys", std::move(args));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  testing::RunResult Publisher(std::vector<std::string> args) {
    args.insert(args.begin(), {Program("flatcast-publisher"), "--broker", endpoint_, "--publisher",
                               "guizhou-health"});
    return testing::Run(args);
  }

  static std::vector<std::string> Content(const std::string& title) {
    return {"publish",
            "--issuer",
            "52",
            "--department",
            "HEALTH",
            "--title",
            title,
            "--body",
            "All wet markets close at noon.",
            "--action",
            "Post notices|community",
            "--scope",
            kCommunity,
            "--tiers",
            "community"};
  }

  // Publishes signed with the registered key; the exit status and output.
  testing::RunResult PublishSigned(const std::string& title) {
    std::vector<std::string> args{"--json", "--signing-key", dir_ / "health-sign.key"};
    auto content = Content(title);
    args.insert(args.end(), content.begin(), content.end());
    return Publisher(args);
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::BrokerProcess> broker_;
  std::string endpoint_;
};

TEST_F(Signatures, SignedPublishIsAcceptedAndTheTerminalStoresIt) {
  Process terminal({Program("flatcast-subscriber"), "run", "--unit", kCommunity, "--broker",
                    endpoint_, "--state-dir", dir_ / "terminal", "--keys", KeysPath()},
                   dir_.path() / "terminal");
  testing::RunResult r = PublishSigned("Close wet markets");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = nlohmann::json::parse(r.out)["id"].get<std::string>();
  auto inbox = dir_.path() / "terminal" / "inbox";
  EXPECT_TRUE(testing::WaitFor(
      [&] { return std::filesystem::exists(inbox) && !std::filesystem::is_empty(inbox); }, 30s))
      << terminal.Stderr();
  testing::RunResult shown = testing::Run(
      {Program("flatcast-subscriber"), "show", id, "--state-dir", dir_ / "terminal", "--json"});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("signature"), std::string::npos) << shown.out;
}

TEST_F(Signatures, UnsignedPublishIsRefused) {
  testing::RunResult r = Publisher(Content("Close wet markets"));
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("not signed"), std::string::npos) << r.err;
}

TEST_F(Signatures, TamperedDirectiveIsRefused) {
  v1::Directive d;
  d.set_issuer_unit("52");
  d.set_issuer_department("HEALTH");
  d.set_title("Close wet markets");
  d.set_body("All wet markets close at noon.");
  auto* action = d.add_actions();
  action->set_what("Post notices");
  action->set_responsible_tier(v1::COMMUNITY);
  d.add_scope(kCommunity);
  d.add_target_tiers(v1::COMMUNITY);
  d.set_status(v1::ACTUAL);
  *d.mutable_created() = ToTimestamp(std::chrono::system_clock::now());
  KeyPair key = ReadKeyPair(dir_ / "health-sign.key", KeyKind::kSigning).value();
  DirectiveSignature sig = SignDirective(d, key).value();
  d.mutable_signature()->set_key_id(sig.key_id);
  d.mutable_signature()->set_signature(sig.signature);
  d.set_body("All wet markets stay open.");  // changed after signing
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(d, &json).ok());
  testing::WriteFile(dir_.path() / "tampered.json", json);

  testing::RunResult r = Publisher({"publish", "--file", dir_ / "tampered.json"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("does not verify"), std::string::npos) << r.err;
}

TEST_F(Signatures, KeyNotInTheRegistryIsRefused) {
  Keys({"generate", "--kind", "signing", "--out", dir_ / "stranger"});
  std::vector<std::string> args{"--signing-key", dir_ / "stranger.key"};
  auto content = Content("Close wet markets");
  args.insert(args.end(), content.begin(), content.end());
  testing::RunResult r = Publisher(args);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("unknown signing key"), std::string::npos) << r.err;
}

TEST_F(Signatures, RevokedKeyIsRefusedWithoutRestartingTheBroker) {
  ASSERT_EQ(PublishSigned("Before the revocation").exit_code, 0);
  Keys({"revoke", "--registry", KeysPath(), "--name", "guizhou-health", "--kind", "signing"});
  // The broker looks at the registry file once a second.
  testing::RunResult r;
  bool refused = testing::WaitFor(
      [&] {
        r = PublishSigned("After the revocation");
        if (r.exit_code == 0) return false;
        return true;
      },
      10s);
  ASSERT_TRUE(refused) << "a publish with the revoked key was still accepted";
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("revoked"), std::string::npos) << r.err;
  EXPECT_TRUE(broker_->running());
  EXPECT_NE(broker_->Stderr().find("key registry"), std::string::npos);
}

}  // namespace
}  // namespace flatcast
