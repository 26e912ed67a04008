// The public side with the real programs (docs/PUBLIC.md): a broker with
// CURVE and a release key, two flatcast-public servers with keys of the
// public role, the publisher CLI and a swarm of terminals. Both servers
// serve the same signed bytes; flatcast-keys verify-public and openssl
// check them; an event stream gets each release and, reconnecting with
// Last-Event-ID, what it missed; a public key can ask the broker nothing;
// and a public server flooded to its descriptor limit changes nothing for
// the internal channel or the other server.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "broker_process.h"
#include "http_client.h"
#include "public_process.h"
#include "temp_dir.h"

namespace flatcast {
namespace {

using namespace testing;  // flatcast::testing: programs, processes, temp dirs
using namespace std::chrono_literals;

constexpr char kDistrict[] = "520102";  // 南明区: the swarm's region

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// A TCP connection to 127.0.0.1:port, or -1.
int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int PortOf(const std::string& url) { return std::stoi(url.substr(url.rfind(':') + 1)); }

// A Server-Sent Events reader on a raw socket.
class EventReader {
 public:
  EventReader(const std::string& url, const std::string& target,
              const std::string& last_event_id = "") {
    fd_ = Connect(PortOf(url));
    timeval tv{0, 100 * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: feed\r\nAccept: text/event-stream\r\n";
    if (!last_event_id.empty()) req += "Last-Event-ID: " + last_event_id + "\r\n";
    req += "\r\n";
    (void)::send(fd_, req.data(), req.size(), MSG_NOSIGNAL);
  }
  ~EventReader() {
    if (fd_ >= 0) ::close(fd_);
  }
  // Reads until `text` has been received (true) or `timeout` passes.
  bool WaitFor(const std::string& text, std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (got_.find(text) == std::string::npos) {
      if (std::chrono::steady_clock::now() > until) return false;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) got_.append(buf, static_cast<size_t>(n));
      if (n == 0) return false;
    }
    return true;
  }
  const std::string& got() const { return got_; }

 private:
  int fd_ = -1;
  std::string got_;
};

class PublicServers : public ::testing::Test {
 protected:
  void SetUp() override {
    Keys({"generate", "--kind", "curve", "--out", dir_ / "broker"});
    Keys({"generate", "--kind", "signing", "--out", dir_ / "release"});
    Keys({"register", "--registry", KeysPath(), "--name", "broker-52", "--role", "broker",
          "--subject", "broker-52", "--curve-pub", dir_ / "broker.pub", "--signing-pub",
          dir_ / "release.pub"});
    Keys({"generate", "--kind", "curve", "--out", dir_ / "publisher-curve"});
    Keys({"generate", "--kind", "signing", "--out", dir_ / "publisher-sign"});
    Keys({"register", "--registry", KeysPath(), "--name", "guizhou-health", "--role", "publisher",
          "--subject", "guizhou-health", "--curve-pub", dir_ / "publisher-curve.pub",
          "--signing-pub", dir_ / "publisher-sign.pub"});
    for (const char* who : {"public-a", "public-b"}) {
      Keys({"generate", "--kind", "curve", "--out", dir_ / who});
      Keys({"register", "--registry", KeysPath(), "--name", who, "--role", "public", "--subject",
            who, "--curve-pub", dir_ / (std::string(who) + ".pub")});
    }
    Keys({"seed", "--out", dir_ / "seed"});
    Keys({"register-units", "--registry", KeysPath(), "--seed", dir_ / "seed", "--units",
          GuizhouRegistry(), "--region", kDistrict});
    broker_ = std::make_unique<BrokerProcess>(
        dir_.path(), std::vector<std::string>{
                         "--publishers", SourcePath("configs/publishers.toml"), "--keys",
                         KeysPath(), "--curve-key", dir_ / "broker.key", "--public-signing-key",
                         dir_ / "release.key", "--public-lead-time", "2s",
                         "--heartbeat-interval", "1s"});
    ASSERT_TRUE(broker_->ok()) << broker_->Stderr();
  }

  std::unique_ptr<PublicProcess> StartPublic(const std::string& who,
                                             std::vector<std::string> more = {}) {
    std::vector<std::string> flags{"--curve-key", dir_ / (who + ".key"), "--broker-key",
                                   dir_ / "broker.pub", "--name", who};
    flags.insert(flags.end(), more.begin(), more.end());
    auto p = std::make_unique<PublicProcess>(dir_.path(), std::vector<std::string>{broker_->endpoint()},
                                             flags, who);
    EXPECT_TRUE(p->ok()) << p->Stderr();
    return p;
  }

  std::string KeysPath() const { return dir_ / "keys.toml"; }
  void Keys(std::vector<std::string> args) {
    RunResult r = RunProgram("flatcast-keys", std::move(args));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // A public directive for `scope`, signed, over CURVE; its internal id.
  std::string Publish(const std::string& scope, const std::string& title) {
    RunResult r = RunProgram(
        "flatcast-publisher",
        {"--broker", broker_->endpoint(), "--curve-key", dir_ / "publisher-curve.key",
         "--broker-key", dir_ / "broker.pub", "--publisher", "guizhou-health", "--json",
         "--signing-key", dir_ / "publisher-sign.key", "publish", "--issuer", "52",
         "--department", "HEALTH", "--title", title, "--body", "Wear masks on buses.",
         "--action", "Post notices|community", "--scope", scope, "--tiers",
         "street,community", "--public", "--note", "internal: budget code 7"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out)["id"].get<std::string>() : "";
  }
  static size_t Count(const std::string& url, const std::string& target = "/public/directives") {
    auto r = HttpGet(url, target);
    return r.status == 200 ? nlohmann::json::parse(r.body)["directives"].size() : 0;
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(PublicServers, TwoServersServeTheSameSignedBytesThatAnyoneCanCheck) {
  auto a = StartPublic("public-a");
  auto b = StartPublic("public-b");
  const std::string id = Publish(kDistrict, "Masks in public transport");
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(WaitFor([&] { return Count(a->url()) == 1 && Count(b->url()) == 1; }, 30s))
      << a->Stderr() << b->Stderr();
  auto list = nlohmann::json::parse(HttpGet(a->url(), "/public/directives").body);
  const std::string public_id = list["directives"][0]["id"];
  const std::string path = "/public/directives/" + public_id;
  for (const std::string& p : {path, path + "/cap.xml", path + "/signature",
                               std::string("/.well-known/flatcast/keys.json")}) {
    auto from_a = HttpGet(a->url(), p), from_b = HttpGet(b->url(), p);
    EXPECT_EQ(from_a.status, 200) << p;
    EXPECT_EQ(from_a.body, from_b.body) << p;
    EXPECT_EQ(from_a.headers["etag"], from_b.headers["etag"]) << p;
    EXPECT_EQ(from_a.body.find("budget code"), std::string::npos) << p;
    EXPECT_EQ(from_a.body.find(id), std::string::npos) << p << ": the internal id";
  }
  // flatcast-keys verify-public, from the URL alone.
  for (const std::string& doc : {path, path + "/cap.xml"}) {
    auto verified = RunProgram("flatcast-keys", {"verify-public", a->url() + doc});
    EXPECT_EQ(verified.exit_code, 0) << verified.err;
    EXPECT_NE(verified.out.find("VERIFIED"), std::string::npos) << verified.out;
  }
  // The documented recipe with standard tools: the PEM and openssl.
  const auto keys = nlohmann::json::parse(HttpGet(a->url(), "/.well-known/flatcast/keys.json").body);
  const auto sig = nlohmann::json::parse(HttpGet(a->url(), path + "/signature").body);
  ASSERT_EQ(keys["keys"].size(), 1u);
  EXPECT_EQ(keys["keys"][0]["holder"], "broker-52");
  EXPECT_FALSE(keys["keys"][0]["valid_from"].is_null()) << "its validity from the key registry";
  WriteFile(dir_ / "release.pem", keys["keys"][0]["pem"].get<std::string>());
  WriteFile(dir_ / "doc.json", HttpGet(a->url(), path).body);
  WriteFile(dir_ / "doc.sig.b64", sig["json_signature"].get<std::string>());
  auto decoded = testing::Run({"/bin/sh", "-c",
                               "base64 -d < " + (dir_ / "doc.sig.b64") + " > " + (dir_ / "doc.sig")});
  ASSERT_EQ(decoded.exit_code, 0) << decoded.err;
  auto openssl = testing::Run({"/usr/bin/openssl", "pkeyutl", "-verify", "-pubin", "-inkey", dir_ / "release.pem",
                      "-rawin", "-in", dir_ / "doc.json", "-sigfile", dir_ / "doc.sig"});
  EXPECT_EQ(openssl.exit_code, 0) << openssl.out << openssl.err;
  EXPECT_NE(openssl.out.find("Signature Verified Successfully"), std::string::npos) << openssl.out;
  // A forged copy: one character changed.
  std::string forged = HttpGet(a->url(), path).body;
  forged.replace(forged.find("Wear masks"), 4, "Skip");
  WriteFile(dir_ / "forged.json", forged);
  WriteFile(dir_ / "sig.json", sig.dump());
  auto refused = RunProgram("flatcast-keys", {"verify-public", dir_ / "forged.json", "--signature",
                                              dir_ / "sig.json", "--keys",
                                              a->url() + "/.well-known/flatcast/keys.json"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("NOT VERIFIED"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("does not verify"), std::string::npos) << refused.err;
  // A public server's key may ask the broker nothing.
  auto audit = RunProgram("flatcast-audit",
                          {"--broker", broker_->endpoint(), "--curve-key", dir_ / "public-a.key",
                           "--broker-key", dir_ / "broker.pub", "coverage", id});
  EXPECT_NE(audit.exit_code, 0);
  EXPECT_NE(audit.err.find("a public server may only"), std::string::npos) << audit.err;
}

TEST_F(PublicServers, AnEventStreamGetsEachReleaseAndWhatItMissedAfterReconnecting) {
  auto a = StartPublic("public-a");
  EventReader nanming(a->url(), "/public/events?region=520102016001");
  EventReader zunyi(a->url(), "/public/events?region=5203");
  ASSERT_TRUE(nanming.WaitFor("retry: 3000\n\n", 5s)) << nanming.got();
  const std::string id = Publish(kDistrict, "Masks on buses");
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(nanming.WaitFor("\nevent: alert\ndata: {", 30s)) << nanming.got() << a->Stderr();
  EXPECT_NE(nanming.got().find("id: 1\n"), std::string::npos) << nanming.got();
  EXPECT_NE(nanming.got().find("Masks on buses"), std::string::npos);
  EXPECT_FALSE(zunyi.WaitFor("event:", 1s)) << "Zunyi's residents are not told: " << zunyi.got();
  // Cancelled after release: a cancel event. A reader that was away asks
  // for what followed its last event.
  auto cancelled = RunProgram(
      "flatcast-publisher",
      {"--broker", broker_->endpoint(), "--curve-key", dir_ / "publisher-curve.key",
       "--broker-key", dir_ / "broker.pub", "--publisher", "guizhou-health", "cancel", id,
       "--reason", "buses stopped"});
  ASSERT_EQ(cancelled.exit_code, 0) << cancelled.err;
  ASSERT_TRUE(nanming.WaitFor("event: cancel", 30s)) << nanming.got();
  EventReader back(a->url(), "/public/events?region=520102016001", "1");
  ASSERT_TRUE(back.WaitFor("event: cancel", 5s)) << back.got();
  EXPECT_EQ(back.got().find("event: alert"), std::string::npos) << "only what followed event 1";
  EventReader malformed(a->url(), "/public/events", "yesterday");
  ASSERT_TRUE(malformed.WaitFor("\r\n\r\n", 5s));
  EXPECT_EQ(malformed.got().rfind("HTTP/1.1 400", 0), 0u) << malformed.got();
  EXPECT_NE(malformed.got().find("Last-Event-ID"), std::string::npos);
  auto unknown = HttpGet(a->url(), "/public/directives?region=5299");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("unknown region"), std::string::npos);
}

TEST_F(PublicServers, AFloodedPublicServerChangesNothingForTheFanOutOrTheOtherServer) {
  // Public server A at a descriptor limit of 256, flooded with idle
  // connections beyond it; B untouched.
  const std::filesystem::path url_file = dir_ / "public-a.url";
  std::vector<std::string> a_argv{Program("flatcast-public"), "--broker", broker_->endpoint(),
                                  "--data-dir", dir_ / "public-a-data", "--registry",
                                  GuizhouRegistry(), "--listen", "127.0.0.1:0", "--listen-file",
                                  url_file, "--curve-key", dir_ / "public-a.key", "--broker-key",
                                  dir_ / "broker.pub"};
  if (kSanitized) {
    // Its own connection limit instead of the process's descriptors: with
    // descriptors exhausted, UBSan (clang 14) cannot probe memory for its
    // first check of a dynamic type and aborts the process, a false report.
    a_argv.insert(a_argv.end(), {"--max-connections", "200"});
  } else {
    a_argv.insert(a_argv.begin(), {"/usr/bin/prlimit", "--nofile=256:256"});
  }
  Process a_process(a_argv, dir_ / "public-a");
  const std::string a_url = WaitForEndpointFile(url_file);
  ASSERT_FALSE(a_url.empty()) << a_process.Stderr();
  auto b = StartPublic("public-b");
  Process swarm({Program("flatcast-swarm"), "--registry", GuizhouRegistry(), "--endpoint",
                 broker_->endpoint(), "--key-seed", dir_ / "seed", "--broker-key",
                 dir_ / "broker.pub", "--region", kDistrict, "--tiers", "street", "community",
                 "--expect", "1", "--timeout-s", "120"},
                dir_ / "swarm");
  std::vector<int> flood;
  for (int i = 0; i < 400; ++i) {
    int fd = Connect(PortOf(a_url));
    if (fd >= 0) flood.push_back(fd);
  }
  ASSERT_GE(flood.size(), 256u) << "the kernel's backlog takes what the server cannot accept";
  // The internal channel: a public directive to every terminal of the district.
  const std::string id = Publish(kDistrict, "During the flood");
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(swarm.Wait(150s), 0) << swarm.Stdout() << swarm.Stderr();
  // The other public server serves, and gets the release.
  ASSERT_TRUE(WaitFor([&] { return Count(b->url()) == 1; }, 30s)) << b->Stderr();
  EXPECT_TRUE(a_process.running()) << a_process.Stderr();
  if (!kSanitized) {
    EXPECT_NE(a_process.Stderr().find("accept failed: Too many open files"), std::string::npos)
        << "the flood reached A's descriptor limit: " << a_process.Stderr();
  }
  // A drops what never sent a request within its deadline, then serves again.
  for (int fd : flood) ::close(fd);
  ASSERT_TRUE(WaitFor([&] { return Count(a_url) == 1; }, 40s)) << a_process.Stderr();
  EXPECT_EQ(HttpGet(a_url, "/public/directives").body, HttpGet(b->url(), "/public/directives").body);
}

}  // namespace
}  // namespace flatcast
