// The web inbox's API (web_inbox.h) over a real state directory, the daemon
// faked: the login (a hashed password, a lockout after wrong ones), the
// refusals that keep other sites and other host names out, what the inbox
// tells about a directive, and actions turned into operator requests. The
// browser drives the real thing in tests/browser/web_inbox.test.mjs.
#include "flatcast/subscriber/web_inbox.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "flatcast/subscriber/directory_inbox.h"
#include "samples.h"
#include "temp_dir.h"

namespace flatcast::subscriber {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kUnit[] = "520102016001";
constexpr char kHost[] = "127.0.0.1:7792";
constexpr char kOrigin[] = "http://127.0.0.1:7792";
constexpr char kPassword[] = "correct horse battery";

v1::StoredDirective WithForm(uint64_t seq, const std::string& id) {
  v1::StoredDirective stored = flatcast::testing::SampleStored(seq, id, 1);
  v1::Directive* d = stored.mutable_directive();
  d->set_status(v1::EXERCISE);
  d->clear_actions();
  v1::ActionItem* mine = d->add_actions();
  mine->set_what("清点口罩");
  mine->set_responsible_tier(v1::COMMUNITY);
  v1::ActionItem* street = d->add_actions();
  street->set_what("汇总");
  street->set_responsible_tier(v1::STREET);
  v1::FormField* masks = d->mutable_return_form()->add_fields();
  masks->set_key("masks");
  masks->set_label("口罩库存");
  masks->set_kind(v1::FormField::QUANTITY);
  masks->set_unit("个");
  masks->set_required(true);
  masks->set_max(1000);
  return stored;
}

class WebInboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto inbox = DirectoryInbox::Open(dir_.path().string());
    ASSERT_TRUE(inbox.ok()) << inbox.status().ToString();
    inbox_ = std::move(inbox).value();
    ASSERT_TRUE(inbox_->Put(WithForm(7, "52-HEALTH-20261207-0001")).ok());
    ASSERT_TRUE(inbox_->Put(flatcast::testing::SampleStored(9, "52-HEALTH-20261207-0002", 1)).ok());
    ASSERT_TRUE(inbox_
                    ->AddPendingAck(PendingAck{7, "52-HEALTH-20261207-0001", 1, v1::CONFIRMED,
                                               clock_.Now(), ""})
                    .ok());
    ASSERT_TRUE(SetWebPassword(dir_.path().string(), kPassword).ok());
    WebInboxOptions options;
    options.state_dir = dir_.path().string();
    options.unit = kUnit;
    options.web_root = dir_.path().string();
    web_ = std::make_unique<WebInbox>(options, clock_, [this](const v1::OperatorRequest& r) {
      requests_.push_back(r);
      return daemon_(r);
    });
    web_->set_self_hosts({kHost, "localhost:7792"});
  }

  WebResponse Get(const std::string& target, const std::string& cookie = "") {
    return web_->Answer({"GET", target, kHost, "", cookie, "", ""});
  }
  WebResponse Post(const std::string& target, const std::string& body,
                   const std::string& cookie = "", const std::string& origin = kOrigin,
                   const std::string& type = "application/json") {
    return web_->Answer({"POST", target, kHost, origin, cookie, type, body});
  }
  // Logs in; the Cookie header for the session.
  std::string LogIn() {
    WebResponse r = Post("/api/login", json{{"password", kPassword}}.dump());
    EXPECT_EQ(r.status, 200u) << r.body;
    for (const auto& [name, value] : r.headers) {
      if (name == "Set-Cookie") return value.substr(0, value.find(';'));
    }
    ADD_FAILURE() << "no Set-Cookie";
    return "";
  }
  static json Body(const WebResponse& r) { return json::parse(r.body, nullptr, false); }

  flatcast::testing::TempDir dir_;
  FakeClock clock_{flatcast::testing::SampleTime()};
  std::unique_ptr<DirectoryInbox> inbox_;
  std::unique_ptr<WebInbox> web_;
  std::vector<v1::OperatorRequest> requests_;
  std::function<Result<v1::OperatorReply>(const v1::OperatorRequest&)> daemon_ =
      [](const v1::OperatorRequest& r) -> Result<v1::OperatorReply> {
    v1::OperatorReply reply;
    reply.set_directive_id(r.directive_id());
    reply.set_connected(true);
    reply.set_message("recorded");
    return reply;
  };
};

TEST_F(WebInboxTest, ThePasswordIsStoredHashedAndOwnerOnly) {
  const std::string stored = flatcast::testing::ReadFile(WebPasswordPath(dir_.path().string()));
  EXPECT_EQ(stored.rfind("$argon2id$", 0), 0u) << stored;
  EXPECT_EQ(stored.find(kPassword), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat(WebPasswordPath(dir_.path().string()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_NE(SetWebPassword(dir_.path().string(), "short").message().find("too short"),
            std::string::npos);
  EXPECT_EQ(SetWebPassword((dir_.path() / "missing").string(), kPassword).code(),
            Status::Code::kNotFound);
}

TEST_F(WebInboxTest, NothingButTheSessionAndTheLoginWithoutLoggingIn) {
  EXPECT_EQ(Get("/api/inbox").status, 401u);
  EXPECT_EQ(Get("/api/events").status, 401u);
  EXPECT_EQ(Post("/api/directives/52-HEALTH-20261207-0001/confirm", "{}").status, 401u);
  json session = Body(Get("/api/session"));
  EXPECT_EQ(session["logged_in"], false);
  EXPECT_EQ(session["password_set"], true);
  EXPECT_EQ(Get("/api/inbox", "flatcast_session=" + std::string(64, 'a')).status, 401u)
      << "a made-up token";
  EXPECT_TRUE(requests_.empty());
}

TEST_F(WebInboxTest, AWrongPasswordIsRefusedAndTooManyLockTheLoginForAWhile) {
  for (int i = 0; i < 5; ++i) {
    WebResponse r = Post("/api/login", R"({"password": "guess"})");
    EXPECT_EQ(r.status, 401u);
    EXPECT_EQ(Body(r)["error"], "wrong password");
  }
  WebResponse locked = Post("/api/login", json{{"password", kPassword}}.dump());
  EXPECT_EQ(locked.status, 429u) << "even the right one, while locked";
  EXPECT_NE(Body(locked)["error"].get<std::string>().find("try again in 30 s"), std::string::npos);
  clock_.Advance(31s);
  const std::string cookie = LogIn();
  EXPECT_EQ(Get("/api/inbox", cookie).status, 200u);
  EXPECT_EQ(Post("/api/login", "password=x").status, 400u) << "not JSON";
}

TEST_F(WebInboxTest, ASessionEndsWithItsLifetimeOrALogout) {
  std::string cookie = LogIn();
  EXPECT_TRUE(web_->Authorized(cookie));
  EXPECT_TRUE(web_->Authorized("theme=dark; " + cookie + "; other=1"));
  clock_.Advance(13h);
  EXPECT_EQ(Get("/api/inbox", cookie).status, 401u);
  cookie = LogIn();
  EXPECT_EQ(Post("/api/logout", "{}", cookie).status, 200u);
  EXPECT_EQ(Get("/api/inbox", cookie).status, 401u);
}

TEST_F(WebInboxTest, AnAttachedDocumentIsServedOnlyByItsDigestAndOnlyWhenADirectiveNamesIt) {
  EXPECT_EQ(Get("/api/attachments/" + std::string(64, 'a')).status, 401u) << "not without logging in";
  const std::string cookie = LogIn();
  for (const std::string& bad : std::vector<std::string>{"xyz", std::string(64, 'A'), std::string(65, 'a'), std::string(63, 'a') + "g",
                                std::string("..%2f..%2fstate.json")}) {
    WebResponse r = Get("/api/attachments/" + bad, cookie);
    EXPECT_EQ(r.status, 400u) << bad;
    EXPECT_NE(Body(r)["error"].get<std::string>().find("64 lowercase hex digits"), std::string::npos) << r.body;
  }
  EXPECT_EQ(Get("/api/attachments/../../state.json", cookie).status, 404u);
  WebResponse unknown = Get("/api/attachments/" + std::string(64, '0'), cookie);
  EXPECT_EQ(unknown.status, 404u);
  EXPECT_NE(Body(unknown)["error"].get<std::string>().find("no directive in this inbox"), std::string::npos);
}

TEST_F(WebInboxTest, OtherOriginsOtherBodiesAndOtherHostNamesAreRefused) {
  const std::string cookie = LogIn();
  const std::string confirm = "/api/directives/52-HEALTH-20261207-0001/confirm";
  WebResponse cross = Post(confirm, "{}", cookie, "http://evil.example");
  EXPECT_EQ(cross.status, 403u);
  EXPECT_NE(Body(cross)["error"].get<std::string>().find("another origin (http://evil.example)"),
            std::string::npos);
  EXPECT_EQ(Post(confirm, "{}", cookie, "").status, 403u) << "no Origin";
  EXPECT_EQ(Post(confirm, "{}", cookie, "null").status, 403u);
  WebResponse garbled = Post(confirm, "{}", cookie, "http://\xa4\xa4");
  EXPECT_EQ(garbled.status, 403u);
  EXPECT_TRUE(Body(garbled).is_object()) << "quoted, the bytes replaced: " << garbled.body;
  EXPECT_EQ(Post(confirm, "{}", cookie, kOrigin, "text/plain").status, 415u) << "a simple form post";
  WebResponse rebound = web_->Answer({"GET", "/api/inbox", "attacker.example:7792", "", cookie, "", ""});
  EXPECT_EQ(rebound.status, 421u);
  EXPECT_TRUE(requests_.empty()) << "nothing reached the daemon";
  EXPECT_EQ(web_->Answer({"DELETE", "/api/inbox", kHost, kOrigin, cookie, "", ""}).status, 405u);
  EXPECT_EQ(Get("/../state.json", cookie).status, 404u);
  EXPECT_EQ(Get("/web-password", cookie).status, 404u);
}

TEST_F(WebInboxTest, TheInboxListsTheLatestNewestFirstWithWhatThePageShows) {
  const std::string cookie = LogIn();
  WebResponse r = Get("/api/inbox", cookie);
  ASSERT_EQ(r.status, 200u) << r.body;
  json inbox = Body(r);
  EXPECT_EQ(inbox["unit"], kUnit);
  EXPECT_EQ(inbox["tier"], "community");
  EXPECT_EQ(inbox["daemon"]["running"], true);
  ASSERT_EQ(inbox["directives"].size(), 2u);
  EXPECT_EQ(inbox["directives"][0]["seq"], 9) << "newest first";
  json d = inbox["directives"][1];
  EXPECT_EQ(d["id"], "52-HEALTH-20261207-0001");
  EXPECT_EQ(d["status"], "exercise");
  EXPECT_EQ(d["acks"]["confirmed"], "pending");
  EXPECT_EQ(d["unread"], false) << "confirmed, though the broker has not said so yet";
  EXPECT_EQ(inbox["directives"][0]["unread"], true);
  EXPECT_EQ(d["actions"][0]["mine"], true);
  EXPECT_EQ(d["actions"][1]["mine"], false);
  EXPECT_EQ(d["form"]["fields"][0]["key"], "masks");
  EXPECT_TRUE(d["answer"].is_null());

  daemon_ = [](const v1::OperatorRequest&) -> Result<v1::OperatorReply> {
    return Status::Unavailable("no terminal daemon answers");
  };
  json down = Body(Get("/api/inbox", cookie));
  EXPECT_EQ(down["daemon"]["running"], false) << "the page says so; the inbox is still shown";
  EXPECT_EQ(down["directives"].size(), 2u);
}

TEST_F(WebInboxTest, ActionsBecomeOperatorRequestsAndBadOnesAreRefusedSayingWhy) {
  const std::string cookie = LogIn();
  const std::string base = "/api/directives/52-HEALTH-20261207-0001/";
  EXPECT_EQ(Post(base + "ready", R"({"note": "2 人值班"})", cookie).status, 200u);
  EXPECT_EQ(Post(base + "rate", R"({"clarity": 4, "feasibility": 2, "comment": "缺消毒液"})", cookie).status,
            200u);
  EXPECT_EQ(Post(base + "return", R"({"fields": {"masks": 120, "note": "", "ok": true}})", cookie).status,
            200u);
  ASSERT_EQ(requests_.size(), 3u);
  EXPECT_EQ(requests_[0].action(), v1::OperatorRequest::READY);
  EXPECT_EQ(requests_[0].note(), "2 人值班");
  EXPECT_EQ(requests_[1].action(), v1::OperatorRequest::RATE);
  EXPECT_EQ(requests_[1].clarity(), 4u);
  EXPECT_EQ(requests_[2].action(), v1::OperatorRequest::RETURN);
  EXPECT_EQ(std::vector<std::string>(requests_[2].fields().begin(), requests_[2].fields().end()),
            (std::vector<std::string>{"masks=120", "ok=yes"}))
      << "a blank field is not answered";

  requests_.clear();
  EXPECT_NE(Body(Post(base + "rate", R"({"clarity": 9, "feasibility": 2})", cookie))["error"]
                .get<std::string>()
                .find("clarity must be a whole number from 1 to 5"),
            std::string::npos);
  EXPECT_EQ(Post(base + "return", R"({"fields": [1]})", cookie).status, 400u);
  EXPECT_EQ(Post(base + "return", R"({"fields": {"masks": 1.5}})", cookie).status, 400u);
  EXPECT_EQ(Post(base + "ready", R"({"note": 5})", cookie).status, 400u);
  EXPECT_EQ(Post(base + "ready", "[", cookie).status, 400u);
  EXPECT_EQ(Post(base + "delete", "{}", cookie).status, 404u);
  EXPECT_TRUE(requests_.empty());

  // The daemon's refusal and its absence reach the page as they are.
  daemon_ = [](const v1::OperatorRequest&) -> Result<v1::OperatorReply> {
    return Status::InvalidArgument("masks (\"口罩库存\") takes a whole number, not \"lots\"");
  };
  WebResponse refused = Post(base + "return", R"({"fields": {"masks": "lots"}})", cookie);
  EXPECT_EQ(refused.status, 400u);
  EXPECT_NE(Body(refused)["error"].get<std::string>().find("takes a whole number"), std::string::npos);
  daemon_ = [](const v1::OperatorRequest&) -> Result<v1::OperatorReply> {
    return Status::Unavailable("no terminal daemon answers");
  };
  EXPECT_EQ(Post(base + "confirm", "{}", cookie).status, 503u);
}

TEST_F(WebInboxTest, AStreetSeesItsOverdueCommunitiesAndEachDirectivesSigningKey) {
  v1::StoredDirective signed_one = flatcast::testing::SampleStored(12, "52-HEALTH-20261207-0003", 1);
  signed_one.mutable_directive()->mutable_signature()->set_key_id("0123456789abcdef");
  signed_one.mutable_directive()->mutable_signature()->set_signature(std::string(64, 'x'));
  ASSERT_TRUE(inbox_->Put(signed_one).ok());
  v1::OverdueReport report;
  v1::OverdueItem* item = report.add_children();
  item->set_directive_id("52-HEALTH-20261207-0001");
  item->set_title("清点口罩");
  item->set_level(v1::CONFIRMED);
  item->add_units("520102016002");
  item->add_unit_names("新华路社区");
  ASSERT_TRUE(inbox_->SetOverdue(report).ok());
  const std::string cookie = LogIn();
  json inbox = Body(Get("/api/inbox", cookie));
  EXPECT_EQ(inbox["overdue"]["children"][0]["units"][0], "520102016002");
  EXPECT_EQ(inbox["overdue"]["children"][0]["unit_names"][0], "新华路社区");
  EXPECT_EQ(inbox["directives"][0]["signature_key"], "0123456789abcdef");
  EXPECT_EQ(inbox["signatures_checked"], false) << "no key registry given to this inbox";
}

TEST_F(WebInboxTest, TheEventStreamChangesWhenTheInboxDoes) {
  const std::string cookie = LogIn();
  WebResponse stream = Get("/api/events", cookie);
  EXPECT_TRUE(stream.event_stream);
  const std::string before = web_->Fingerprint();
  ASSERT_TRUE(inbox_->AddPendingAck(PendingAck{9, "52-HEALTH-20261207-0002", 1, v1::READY,
                                               clock_.Now(), ""})
                  .ok());
  EXPECT_NE(web_->Fingerprint(), before);
}

// Reads from a blocking socket until `needle` arrives or 10 s pass.
bool ReadUntil(boost::asio::ip::tcp::socket& socket, std::string& got, const std::string& needle) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (got.find(needle) == std::string::npos && std::chrono::steady_clock::now() < until) {
    char buffer[1024];
    boost::system::error_code ec;
    if (socket.available(ec) == 0) {
      std::this_thread::sleep_for(10ms);
      continue;
    }
    const size_t n = socket.read_some(boost::asio::buffer(buffer), ec);
    if (ec) return false;
    got.append(buffer, n);
  }
  return got.find(needle) != std::string::npos;
}

TEST_F(WebInboxTest, TheListenerStreamsChangesAndFreesAClosedStreamsSlot) {
  const std::string cookie = LogIn();  // before the listener names its own host and port
  auto server = WebInboxServer::Start("127.0.0.1:0", *web_, /*max_connections=*/2);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string url = (*server)->url();
  const std::string port = url.substr(url.rfind(':') + 1);
  boost::asio::io_context io;
  auto stream = [&] {
    auto socket = std::make_unique<boost::asio::ip::tcp::socket>(io);
    socket->connect({boost::asio::ip::make_address("127.0.0.1"),
                     static_cast<unsigned short>(std::stoi(port))});
    const std::string request = "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:" + port +
                                "\r\nCookie: " + cookie + "\r\n\r\n";
    boost::asio::write(*socket, boost::asio::buffer(request));
    return socket;
  };
  for (int round = 0; round < 3; ++round) {
    // Two streams fill the listener; a change reaches both; closed, their
    // slots are free again for the next round.
    auto a = stream();
    auto b = stream();
    std::string got_a, got_b;
    ASSERT_TRUE(ReadUntil(*a, got_a, "retry: 2000")) << got_a;
    ASSERT_TRUE(ReadUntil(*b, got_b, "retry: 2000")) << got_b;
    ASSERT_TRUE(inbox_
                    ->AddPendingAck(PendingAck{9, "52-HEALTH-20261207-0002", 1, v1::READY,
                                               clock_.Now() + std::chrono::seconds(round), ""})
                    .ok());
    EXPECT_TRUE(ReadUntil(*a, got_a, "event: inbox")) << got_a;
    EXPECT_TRUE(ReadUntil(*b, got_b, "event: inbox")) << got_b;
    a->close();
    b->close();
    std::this_thread::sleep_for(300ms);
  }
}

TEST_F(WebInboxTest, TheListenerClosesConnectionsBeyondItsCapAndRefusesAnOversizeBody) {
  auto server = WebInboxServer::Start("127.0.0.1:0", *web_, /*max_connections=*/4);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string url = (*server)->url();
  const unsigned short port = static_cast<unsigned short>(std::stoi(url.substr(url.rfind(':') + 1)));
  const std::string host = "127.0.0.1:" + std::to_string(port);
  boost::asio::io_context io;
  auto connect = [&] {
    auto socket = std::make_unique<boost::asio::ip::tcp::socket>(io);
    socket->connect({boost::asio::ip::make_address("127.0.0.1"), port});
    return socket;
  };
  // A flood of idle connections: those beyond the cap are closed unanswered.
  std::vector<std::unique_ptr<boost::asio::ip::tcp::socket>> idle;
  for (int i = 0; i < 20; ++i) idle.push_back(connect());
  std::this_thread::sleep_for(300ms);
  size_t closed = 0;
  for (auto& s : idle) {
    char c;
    boost::system::error_code ec;
    s->non_blocking(true);
    s->read_some(boost::asio::buffer(&c, 1), ec);
    closed += ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset;
  }
  EXPECT_GE(closed, 16u) << "all but the four the listener carries";
  idle.clear();  // gone: the listener serves again
  std::this_thread::sleep_for(300ms);
  std::string got;
  bool answered = false;
  for (int attempt = 0; attempt < 50 && !answered; ++attempt) {
    auto s = connect();
    const std::string request = "GET /api/session HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
    boost::asio::write(*s, boost::asio::buffer(request));
    got.clear();
    answered = ReadUntil(*s, got, "password_set");
    if (!answered) std::this_thread::sleep_for(200ms);  // the idle ones' slots not yet freed
  }
  EXPECT_TRUE(answered) << got;
  // A body beyond 64 KiB: a 400 saying so, read no further.
  auto big = connect();
  const std::string head = "POST /api/login HTTP/1.1\r\nHost: " + host + "\r\nOrigin: http://" +
                           host + "\r\nContent-Type: application/json\r\nContent-Length: " +
                           std::to_string(1 << 20) + "\r\n\r\n";
  boost::asio::write(*big, boost::asio::buffer(head));
  boost::system::error_code ignored;
  boost::asio::write(*big, boost::asio::buffer(std::string(80 * 1024, 'x')), ignored);
  std::string refused;
  EXPECT_TRUE(ReadUntil(*big, refused, "larger than 64 KiB")) << refused;
  EXPECT_EQ(refused.rfind("HTTP/1.1 400", 0), 0u) << refused;
}

TEST_F(WebInboxTest, RawRequestsTooLargeOrMalformedGetA400) {
  const std::string big = "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1:7792\r\nContent-Length: " +
                          std::to_string(100 * 1024) + "\r\n\r\n" + std::string(100 * 1024, 'x');
  EXPECT_EQ(AnswerWebRequest(big, *web_).rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(AnswerWebRequest("GARBAGE\r\n\r\n", *web_).rfind("HTTP/1.1 400", 0), 0u);
  const std::string ok = AnswerWebRequest(
      "GET /api/session HTTP/1.1\r\nHost: 127.0.0.1:7792\r\n\r\n", *web_);
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
  EXPECT_NE(ok.find("Content-Security-Policy: default-src 'self'"), std::string::npos);
}

}  // namespace
}  // namespace flatcast::subscriber
