// The release hold and the public feed with the real programs: a broker with
// a lead time of a few seconds and a release key, a public server
// (flatcast-public) fed by it, the publisher and audit CLIs, and HTTP GETs
// against the public server, including across a kill -9 of the broker
// during a hold.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "http_client.h"
#include "broker_process.h"
#include "public_process.h"
#include "flatcast/attachment.h"
#include "flatcast/duration.h"
#include "flatcast/signing.h"
#include "temp_dir.h"

namespace flatcast {
namespace {

using namespace std::chrono_literals;
using namespace testing;  // flatcast::testing: programs, processes, temp dirs

class PublicFeedProcesses : public ::testing::Test {
 protected:
  // The broker (again on the same endpoint after the first start) and,
  // the first time, the public server.
  void StartBroker(const std::string& lead) {
    if (!std::filesystem::exists(dir_ / "release.key")) {
      auto keys = testing::Run({Program("flatcast-keys"), "generate", "--kind", "signing", "--out",
                                dir_ / "release"});
      ASSERT_EQ(keys.exit_code, 0) << keys.err;
    }
    std::vector<std::string> flags{"--publishers", SourcePath("configs/publishers.toml"),
                                   "--public-signing-key", dir_ / "release.key",
                                   "--public-lead-time", lead};
    if (!endpoint_.empty()) flags.insert(flags.end(), {"--endpoint", endpoint_});
    broker_ = std::make_unique<testing::BrokerProcess>(dir_.path(), flags,
                                                       "broker-" + std::to_string(++starts_));
    ASSERT_TRUE(broker_->ok()) << broker_->Stderr();
    endpoint_ = broker_->endpoint();
    if (!public_) {
      public_ = std::make_unique<testing::PublicProcess>(dir_.path(),
                                                         std::vector<std::string>{endpoint_});
      ASSERT_TRUE(public_->ok()) << public_->Stderr();
      http_ = public_->url();
    }
  }
  testing::RunResult Publisher(std::vector<std::string> args) {
    args.insert(args.begin(), {Program("flatcast-publisher"), "--broker", endpoint_, "--publisher",
                               "guizhou-health"});
    return testing::Run(args);
  }
  std::string PublishPublic() {
    auto r = Publisher({"--json", "publish", "--issuer", "52", "--department", "HEALTH", "--title",
                        "Masks in public transport", "--body", "Wear masks on buses.",
                        "--action", "Post notices at stops|community", "--scope", "5201",
                        "--tiers", "community", "--public", "--note", "internal: budget code 7"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out)["id"].get<std::string>() : "";
  }
  size_t PublicCount() {
    auto r = testing::HttpGet(http_, "/public/directives");
    return r.status == 200 ? nlohmann::json::parse(r.body)["directives"].size() : 0;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::BrokerProcess> broker_;
  std::unique_ptr<testing::PublicProcess> public_;
  std::string endpoint_, http_;
  int starts_ = 0;
};

TEST_F(PublicFeedProcesses, DirectiveBecomesPublicOnlyAfterTheLeadTime) {
  StartBroker("3s");
  std::string id = PublishPublic();
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(PublicCount(), 0u);
  EXPECT_EQ(testing::HttpGet(http_, "/public/directives/" + id).status, 404);
  ASSERT_TRUE(testing::WaitFor([&] { return PublicCount() == 1; }, 20s));
  auto list = nlohmann::json::parse(testing::HttpGet(http_, "/public/directives").body);
  std::string public_id = list["directives"][0]["id"];
  auto doc = testing::HttpGet(http_, "/public/directives/" + public_id);
  EXPECT_EQ(doc.status, 200);
  EXPECT_EQ(doc.body.find("budget code"), std::string::npos);
  auto atom = testing::HttpGet(http_, "/public/feed.atom");
  EXPECT_NE(atom.body.find(public_id), std::string::npos);
  auto cap = testing::HttpGet(http_, "/public/directives/" + public_id + "/cap.xml");
  EXPECT_NE(cap.body.find("urn:oasis:names:tc:emergency:cap:1.2"), std::string::npos);
}

TEST_F(PublicFeedProcesses, BrokerKilledDuringTheHoldReleasesLateAfterRestart) {
  StartBroker("3s");
  std::string id = PublishPublic();
  ASSERT_FALSE(id.empty());
  broker_->Signal(SIGKILL);
  broker_->Wait(10s);
  std::this_thread::sleep_for(5s);  // the release falls due while the broker is down
  StartBroker("3s");
  // The public server says hello again within a heartbeat interval (5 s).
  ASSERT_TRUE(testing::WaitFor([&] { return PublicCount() == 1; }, 20s));
  auto events = testing::Run({Program("flatcast-audit"), "--broker", endpoint_, "events", id,
                              "--format", "json"});
  ASSERT_EQ(events.exit_code, 0) << events.err;
  auto j = nlohmann::json::parse(events.out)["events"];
  ASSERT_FALSE(j.empty());
  EXPECT_EQ(j.back()["kind"], "RELEASED");
  EXPECT_GE(j.back()["late_by_ms"].get<int64_t>(), 1000) << events.out;
}

TEST_F(PublicFeedProcesses, BrokerKilledDuringTheHoldStillReleasesOnTime) {
  StartBroker("6s");
  std::string id = PublishPublic();
  ASSERT_FALSE(id.empty());
  broker_->Signal(SIGKILL);
  broker_->Wait(10s);
  StartBroker("6s");
  EXPECT_EQ(PublicCount(), 0u);
  ASSERT_TRUE(testing::WaitFor([&] { return PublicCount() == 1; }, 20s));
  auto events = testing::Run({Program("flatcast-audit"), "--broker", endpoint_, "events", id,
                              "--format", "json"});
  auto j = nlohmann::json::parse(events.out)["events"];
  EXPECT_EQ(j.back()["kind"], "RELEASED");
  EXPECT_LT(j.back()["late_by_ms"].get<int64_t>(), 1000) << events.out;
}

TEST_F(PublicFeedProcesses, LifecycleCommandsRefuseBadRequestsClearly) {
  StartBroker("1h");
  std::string id = PublishPublic();
  auto bad_lead = testing::Run({Program("flatcast-broker"), "--data-dir", dir_ / "other",
                                "--init", "--public-lead-time", "12", "--registry",
                                SourcePath("configs/registry/guizhou-52.tsv")});
  EXPECT_EQ(bad_lead.exit_code, 1);
  EXPECT_NE(bad_lead.err.find("unit"), std::string::npos) << bad_lead.err;
  auto early = Publisher({"publish", "--issuer", "52", "--department", "HEALTH", "--title", "x",
                          "--action", "a|community", "--scope", "5201", "--tiers", "community",
                          "--public", "--public-release", "2000-01-01T00:00:00Z"});
  EXPECT_EQ(early.exit_code, 2);
  EXPECT_NE(early.err.find("in the past"), std::string::npos) << early.err;
  auto no_reason = Publisher({"publish", "--issuer", "52", "--department", "HEALTH", "--title",
                              "x", "--action", "a|community", "--scope", "5201", "--tiers",
                              "community", "--public", "--emergency"});
  EXPECT_EQ(no_reason.exit_code, 2);
  EXPECT_NE(no_reason.err.find("reason"), std::string::npos) << no_reason.err;
  auto someone_else = testing::Run({Program("flatcast-publisher"), "--broker", endpoint_,
                                    "--publisher", "guiyang-health", "cancel", id});
  EXPECT_EQ(someone_else.exit_code, 2);
  EXPECT_NE(someone_else.err.find("only its publisher"), std::string::npos) << someone_else.err;
  auto unknown = Publisher({"amend", "52-HEALTH-19990101-0001", "--issuer", "52", "--department",
                            "HEALTH", "--title", "x", "--action", "a|community", "--scope", "52",
                            "--tiers", "community", "--public"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("no directive"), std::string::npos) << unknown.err;
  auto too_far = Publisher({"extend", id, "--until", "2099-01-01T00:00:00Z", "--reason", "wait"});
  EXPECT_EQ(too_far.exit_code, 2);
  EXPECT_NE(too_far.err.find("more than 366d from now"), std::string::npos) << too_far.err;
  const std::string in_ten_days = FormatTime(SystemClock::Instance().Now() + std::chrono::hours(240));
  auto extended = Publisher({"extend", id, "--until", in_ten_days, "--reason", "wait"});
  EXPECT_EQ(extended.exit_code, 0) << extended.err;
  auto events = testing::Run({Program("flatcast-audit"), "--broker", endpoint_, "events", id});
  EXPECT_NE(events.out.find("HOLD_EXTENDED"), std::string::npos) << events.out;
}

// A directive in two languages: a terminal that prefers English shows the
// English text, the public gets both (JSON, a CAP <info> each, the page), and
// a tag that is not BCP 47 is refused by the CLI and, sent in a file past
// it, by the broker.
TEST_F(PublicFeedProcesses, ADirectiveInTwoLanguagesReachesEachReaderInTheirsAndTheBrokerRefusesBadTags) {
  StartBroker("2s");
  const std::string unit = "520102016001";
  const std::filesystem::path state = dir_ / "terminal";
  testing::Process terminal({Program("flatcast-subscriber"), "run", "--unit", unit, "--broker",
                             endpoint_, "--state-dir", state, "--language", "en"},
                            dir_ / "terminal-log");
  auto r = Publisher({"--json", "publish", "--issuer", "52", "--department", "HEALTH", "--title",
                      "公共交通佩戴口罩", "--body", "乘坐公交须佩戴口罩。", "--action",
                      "在车站张贴通知|community", "--language", "zh-CN", "--translation",
                      "en|Masks in public transport|Wear masks on buses.|Post notices at stops",
                      "--scope", "5201", "--tiers", "community", "--public"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string id = nlohmann::json::parse(r.out)["id"];
  const auto text_file = state / "inbox" / (id + ".v1.txt");
  ASSERT_TRUE(testing::WaitFor([&] { return std::filesystem::exists(text_file); }, 30s))
      << terminal.Stderr();
  const std::string text = testing::ReadFile(text_file);
  EXPECT_NE(text.find("Languages:      zh-CN, en (shown: en)"), std::string::npos) << text;
  EXPECT_LT(text.find("Masks in public transport"), text.find("公共交通佩戴口罩")) << text;
  auto shown = testing::Run({Program("flatcast-subscriber"), "show", id, "--state-dir", state,
                             "--language", "zh"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_LT(shown.out.find("公共交通佩戴口罩"), shown.out.find("Masks in public transport")) << shown.out;

  ASSERT_TRUE(testing::WaitFor([&] { return PublicCount() == 1; }, 30s));
  const auto list = nlohmann::json::parse(testing::HttpGet(http_, "/public/directives").body);
  const std::string public_id = list["directives"][0]["id"];
  const auto full = nlohmann::json::parse(testing::HttpGet(http_, "/public/directives/" + public_id).body);
  EXPECT_EQ(full["translations"][0]["language"], "en");
  EXPECT_EQ(full["translations"][0]["body"], "Wear masks on buses.");
  const std::string cap = testing::HttpGet(http_, "/public/directives/" + public_id + "/cap.xml").body;
  EXPECT_NE(cap.find("<language>en</language>"), std::string::npos) << cap;
  EXPECT_NE(cap.find("<language>zh-CN</language>"), std::string::npos) << cap;
  EXPECT_NE(testing::HttpGet(http_, "/public/page").body.find("lang=\"en\""), std::string::npos);

  auto bad = Publisher({"publish", "--issuer", "52", "--department", "HEALTH", "--title", "x",
                        "--action", "a|community", "--scope", "5201", "--tiers", "community",
                        "--translation", "en_GB|x|y"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("language tag \"en_GB\" is not BCP 47"), std::string::npos) << bad.err;
  const std::filesystem::path file = dir_ / "bad-language.json";
  {
    std::ofstream out(file);
    out << R"({"issuer_unit": "52", "issuer_department": "HEALTH", "title": "x",
               "actions": [{"what": "a", "responsible_tier": "COMMUNITY"}], "scope": ["5201"],
               "target_tiers": ["COMMUNITY"], "status": "ACTUAL",
               "translations": [{"language": "zh-CN-CN", "title": "x"}]})";
  }
  auto refused = Publisher({"publish", "-f", file.string()});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("translation 1: language tag \"zh-CN-CN\" is not BCP 47"), std::string::npos)
      << refused.err;
  auto twice = Publisher({"publish", "--issuer", "52", "--department", "HEALTH", "--title", "x",
                          "--action", "a|community", "--scope", "5201", "--tiers", "community",
                          "--translation", "zh-cn|x|y"});
  EXPECT_EQ(twice.exit_code, 2);
  EXPECT_NE(twice.err.find("is there already"), std::string::npos) << twice.err;
  EXPECT_EQ(PublicCount(), 1u) << "the broker serves on";
}

// A 5 MB document attached with the publisher CLI: stored at the broker in
// chunks before the directive, named in its signed content and its public
// CAP alert, fetched by a terminal daemon (checked against its SHA-256) and
// shown where it is kept; a file that is not a PDF, PNG or JPEG is refused
// before anything is sent.
TEST_F(PublicFeedProcesses, APublisherAttachesAFiveMegabyteDocumentTheTerminalFetchesItAndThePublicSeesIt) {
  StartBroker("2s");
  const std::filesystem::path pdf = dir_ / "通知.pdf";
  std::string content = "%PDF-1.7\n";
  content.resize(5'000'000, 'x');
  for (size_t i = 9; i < content.size(); i += 4093) content[i] = static_cast<char>('a' + i % 26);
  {
    std::ofstream out(pdf, std::ios::binary);
    out << content;
  }
  const std::filesystem::path state = dir_ / "terminal";
  testing::Process terminal({Program("flatcast-subscriber"), "run", "--unit", "520102016001", "--broker",
                             endpoint_, "--state-dir", state},
                            dir_ / "terminal-log");
  auto r = Publisher({"--json", "publish", "--issuer", "52", "--department", "HEALTH", "--title",
                      "关于口罩的通知", "--action", "张贴|community", "--scope", "5201", "--tiers",
                      "community", "--public", "--attach", pdf.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string id = nlohmann::json::parse(r.out)["id"];
  auto shown = Publisher({"show", id});
  EXPECT_NE(shown.out.find("Attachment:     通知.pdf (application/pdf, 5000000 bytes, SHA-256 "),
            std::string::npos) << shown.out;
  // The terminal fetches the document after the directive and keeps it
  // under its SHA-256 once the whole matches.
  const std::string hex = ToHex(DescribeAttachment("通知.pdf", content)->sha256());
  const std::filesystem::path kept = state / "attachments" / hex;
  ASSERT_TRUE(testing::WaitFor([&] { return std::filesystem::exists(kept); }, 60s)) << terminal.Stderr();
  EXPECT_TRUE(testing::ReadFile(kept) == content);
  EXPECT_NE(terminal.Stderr().find("attached document \"通知.pdf\" fetched and checked"), std::string::npos);
  auto on_terminal = testing::Run({Program("flatcast-subscriber"), "show", id, "--state-dir", state});
  EXPECT_NE(on_terminal.out.find("Document 通知.pdf: " + kept.string()), std::string::npos) << on_terminal.out;
  ASSERT_TRUE(testing::WaitFor([&] { return PublicCount() == 1; }, 30s));
  const auto list = nlohmann::json::parse(testing::HttpGet(http_, "/public/directives").body);
  const std::string public_id = list["directives"][0]["id"];
  const std::string cap = testing::HttpGet(http_, "/public/directives/" + public_id + "/cap.xml").body;
  EXPECT_NE(cap.find("<size>5000000</size>"), std::string::npos) << cap;
  // The public server fetches it too and serves it where CAP's <uri> says.
  EXPECT_NE(cap.find("<uri>/public/attachments/" + hex + "</uri>"), std::string::npos) << cap;
  testing::HttpResponse served;
  ASSERT_TRUE(testing::WaitFor([&] {
    served = testing::HttpGet(http_, "/public/attachments/" + hex);
    return served.status == 200;
  }, 60s)) << served.status << " " << served.body.substr(0, 200) << public_->Stderr();
  EXPECT_TRUE(served.body == content);
  EXPECT_EQ(served.headers["content-type"], "application/pdf");
  EXPECT_EQ(testing::HttpGet(http_, "/public/attachments/" + hex, {{"If-None-Match", "\"" + hex + "\""}}).status,
            304);
  EXPECT_EQ(testing::HttpGet(http_, "/public/attachments/" + std::string(64, '0')).status, 404);
  const std::string page = testing::HttpGet(http_, "/public/page?region=520102016001").body;
  EXPECT_NE(page.find("<a href=\"/public/attachments/" + hex + "\">通知.pdf</a> (4883 KB"), std::string::npos) << page;
  EXPECT_EQ(testing::HttpGet(http_, "/public/attachments/..%2f..%2fetc%2fpasswd").status, 400);

  const std::filesystem::path exe = dir_ / "setup.exe";
  {
    std::ofstream out(exe, std::ios::binary);
    out << "MZ\x90\x00 not a document";
  }
  auto refused = Publisher({"publish", "--issuer", "52", "--department", "HEALTH", "--title", "x",
                            "--action", "a|community", "--scope", "5201", "--tiers", "community",
                            "--attach", exe.string()});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("is not a PDF, PNG or JPEG file"), std::string::npos) << refused.err;
}

}  // namespace
}  // namespace flatcast
