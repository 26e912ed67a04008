// Bad input against the real broker process: raw ZeroMQ peers send malformed,
// oversized, mis-framed, mistyped and out-of-scope messages; each gets a clear
// refusal and the broker keeps serving everyone else.
#include <gtest/gtest.h>

#include <filesystem>

#include "flatcast/attachment.h"
#include "flatcast/signing.h"
#include "flatcast/wire.h"
#include "peer.h"
#include "process.h"
#include "temp_dir.h"

namespace flatcast {
namespace {

using namespace std::chrono_literals;
using testing::Peer;
using namespace testing;  // flatcast::testing: programs, processes, temp dirs

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteFile(dir_.path() / "broker.toml",
                       "data_dir = \"" + (dir_ / "data") + "\"\n" +
                           "registry = \"" + SourcePath("configs/registry/guizhou-52.tsv") + "\"\n" +
                           "publishers = \"" + SourcePath("configs/publishers.toml") + "\"\n" +
                           "endpoint = \"tcp://127.0.0.1:*\"\n" + "endpoint_file = \"" +
                           (dir_ / "endpoint") + "\"\n" + "max_message_bytes = 8192\n");
    broker_ = std::make_unique<Process>(
        std::vector<std::string>{Program("flatcast-broker"), "--init", "--config", dir_ / "broker.toml"},
        dir_.path() / "broker");
    endpoint_ = testing::WaitForEndpointFile(dir_.path() / "endpoint");
    ASSERT_FALSE(endpoint_.empty()) << broker_->Stderr();
  }

  std::unique_ptr<Peer> Connect() { return std::make_unique<Peer>(ctx_, endpoint_); }

  static v1::Envelope Publish(const std::string& publisher, const std::string& issuer,
                              const std::string& department, const std::string& scope) {
    v1::Envelope env;
    auto* req = env.mutable_publish();
    req->set_publisher(publisher);
    auto* d = req->mutable_directive();
    d->set_issuer_unit(issuer);
    d->set_issuer_department(department);
    d->set_title("Close markets");
    d->set_status(v1::ACTUAL);
    auto* a = d->add_actions();
    a->set_what("Post notices");
    a->set_responsible_tier(v1::COMMUNITY);
    d->add_scope(scope);
    d->add_target_tiers(v1::COMMUNITY);
    return env;
  }

  // The broker still answers a well-formed publish.
  void ExpectStillServing() {
    EXPECT_TRUE(broker_->running()) << broker_->Stderr();
    auto receipt = Connect()->Call(Publish("guizhou-health", "52", "HEALTH", "5201"));
    EXPECT_TRUE(receipt.has_receipt()) << receipt.DebugString();
  }

  testing::TempDir dir_;
  zmq::context_t ctx_{1};
  std::unique_ptr<Process> broker_;
  std::string endpoint_;
};

TEST_F(BadInput, MalformedBytesAreRefusedAsMalformed) {
  auto p = Connect();
  const char garbage[] = "\x0a\xff\xff\xff\xff\x0f garbage";
  p->SendRaw(std::string(garbage, sizeof garbage - 1));
  auto reply = p->Receive();
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::MALFORMED);
  EXPECT_NE(reply.error().message().find("not a flatcast envelope"), std::string::npos)
      << reply.error().message();
  ExpectStillServing();
}

TEST_F(BadInput, WrongFrameCountIsRefused) {
  zmq::socket_t raw(ctx_, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(endpoint_);
  raw.send(zmq::str_buffer("one"), zmq::send_flags::sndmore);
  raw.send(zmq::str_buffer("two"));
  zmq::pollitem_t items[] = {{raw.handle(), 0, ZMQ_POLLIN, 0}};
  zmq::poll(items, 1, std::chrono::milliseconds(5000));
  ASSERT_TRUE(items[0].revents & ZMQ_POLLIN);
  zmq::message_t m;
  ASSERT_TRUE(raw.recv(m));
  auto reply = wire::Decode(std::string_view(m.data<char>(), m.size()));
  ASSERT_TRUE(reply.ok());
  ASSERT_TRUE(reply->has_error());
  EXPECT_NE(reply->error().message().find("exactly one body frame, got 2"), std::string::npos)
      << reply->error().message();
  ExpectStillServing();
}

TEST_F(BadInput, OversizedMessageIsRefusedWithTheLimit) {
  auto p = Connect();
  auto env = Publish("guizhou-health", "52", "HEALTH", "5201");
  env.mutable_publish()->mutable_directive()->set_body(std::string(20000, 'x'));
  p->Send(env);
  auto reply = p->Receive();
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::TOO_LARGE);
  EXPECT_NE(reply.error().message().find("8192"), std::string::npos) << reply.error().message();
  ExpectStillServing();
}

TEST_F(BadInput, UnknownMessageTypeAndWrongVersionAreRefused) {
  auto p = Connect();
  v1::Envelope welcome;  // a broker-to-terminal type, not accepted by the broker
  welcome.mutable_welcome()->set_unit_code("52");
  auto reply = p->Call(welcome);
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::UNSUPPORTED);
  EXPECT_NE(reply.error().message().find("welcome"), std::string::npos) << reply.error().message();

  v1::Envelope empty;  // no body at all: what an unknown newer type looks like to this version
  reply = p->Call(empty);
  ASSERT_TRUE(reply.has_error());
  EXPECT_NE(reply.error().message().find("no body"), std::string::npos) << reply.error().message();

  v1::Envelope future = Publish("guizhou-health", "52", "HEALTH", "5201");
  future.set_protocol_version(99);
  p->SendRaw(wire::Encode(future));
  reply = p->Receive();
  ASSERT_TRUE(reply.has_error());
  EXPECT_NE(reply.error().message().find("99"), std::string::npos) << reply.error().message();
  ExpectStillServing();
}

TEST_F(BadInput, CityPublisherCannotPublishOutsideItsCity) {
  auto p = Connect();
  auto outside = p->Call(Publish("guiyang-health", "5201", "CITY_HEALTH", "5202"));
  ASSERT_TRUE(outside.has_error());
  EXPECT_EQ(outside.error().code(), v1::INVALID);
  EXPECT_NE(outside.error().message().find("outside the issuer's jurisdiction"), std::string::npos)
      << outside.error().message();
  auto as_province = p->Call(Publish("guiyang-health", "52", "HEALTH", "5202"));
  ASSERT_TRUE(as_province.has_error());
  EXPECT_EQ(as_province.error().code(), v1::FORBIDDEN);
  auto unknown = p->Call(Publish("nobody", "52", "HEALTH", "5201"));
  ASSERT_TRUE(unknown.has_error());
  EXPECT_EQ(unknown.error().code(), v1::NOT_REGISTERED);
  auto inside = p->Call(Publish("guiyang-health", "5201", "CITY_HEALTH", "520102"));
  EXPECT_TRUE(inside.has_receipt()) << inside.DebugString();
}

TEST_F(BadInput, TerminalCannotAcknowledgeForAnotherUnit) {
  auto pub = Connect();
  // Addressed to the communities of 5202 only.
  auto receipt = pub->Call(Publish("guizhou-health", "52", "HEALTH", "5202"));
  ASSERT_TRUE(receipt.has_receipt());
  auto terminal = Connect();
  v1::Envelope hello;
  hello.mutable_hello()->set_unit_code("520102016001");  // a community of 5201
  ASSERT_TRUE(terminal->Call(hello).has_welcome());
  v1::Envelope ack;
  ack.mutable_ack()->set_seq(receipt.receipt().seq());
  ack.mutable_ack()->set_directive_id(receipt.receipt().id());
  ack.mutable_ack()->set_level(v1::RECEIVED);
  auto reply = terminal->Call(ack);
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::INVALID);
  EXPECT_NE(reply.error().message().find("not addressed to unit 520102016001"), std::string::npos)
      << reply.error().message();
  ExpectStillServing();
}


// A broker that serves a document whose bytes are not the ones the
// directive declares: the terminal daemon stores and acknowledges the
// directive, fetches the document, refuses it with a message naming it and
// keeps nothing of it; a chunk of the wrong size is refused before it is
// kept. The broker here is the test, on a ROUTER socket, so it can lie.
TEST(HostileBroker, ATerminalRefusesADocumentWhoseBytesAreNotTheDeclaredOnesAndKeepsNothing) {
  TempDir dir;
  zmq::context_t ctx(1);
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  const std::string endpoint = router.get(zmq::sockopt::last_endpoint);
  std::string good = "%PDF-1.7\n";
  good.resize(300'000, 'g');
  std::string forged = good;
  forged[123'456] = 'F';
  const v1::Attachment a = *DescribeAttachment("通知.pdf", good);
  const std::filesystem::path state = dir.path() / "terminal";
  Process terminal({Program("flatcast-subscriber"), "run", "--unit", "520102016001", "--broker", endpoint,
                    "--state-dir", state.string()},
                   dir.path() / "terminal");
  auto send = [&](const std::string& routing, const v1::Envelope& env) {
    router.send(zmq::buffer(routing), zmq::send_flags::sndmore);
    router.send(zmq::buffer(wire::Encode(env)));
  };
  int gets = 0;
  bool wrong_size_sent = false;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline &&
         terminal.Stderr().find("refused, nothing of it kept") == std::string::npos) {
    zmq::pollitem_t items[] = {{router.handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 1, std::chrono::milliseconds(100));
    if (!(items[0].revents & ZMQ_POLLIN)) continue;
    zmq::message_t routing, body;
    (void)router.recv(routing);
    (void)router.recv(body);
    Result<v1::Envelope> in = wire::Decode(body.to_string_view());
    ASSERT_TRUE(in.ok());
    v1::Envelope out;
    out.set_protocol_version(wire::kProtocolVersion);
    out.set_correlation_id(in->correlation_id());
    if (in->has_hello()) {
      out.mutable_welcome()->set_unit_code("520102016001");
      send(routing.to_string(), out);
      v1::Envelope deliver;
      deliver.set_protocol_version(wire::kProtocolVersion);
      v1::StoredDirective* stored = deliver.mutable_deliver()->mutable_directive();
      stored->set_seq(1);
      v1::Directive* d = stored->mutable_directive();
      d->set_id("52-HEALTH-20261207-0001");
      d->set_version(1);
      d->set_issuer_unit("52");
      d->set_issuer_department("HEALTH");
      d->set_title("With a document");
      d->add_scope("5201");
      d->add_target_tiers(v1::COMMUNITY);
      d->set_status(v1::ACTUAL);
      *d->add_attachments() = a;
      send(routing.to_string(), deliver);
    } else if (in->has_attachment_get()) {
      ++gets;
      const uint64_t offset = in->attachment_get().offset();
      auto* c = out.mutable_attachment_chunk();
      c->set_sha256(a.sha256());
      c->set_offset(offset);
      c->set_size(a.size());
      c->set_media_type(a.media_type());
      c->set_data(forged.substr(offset, kAttachmentChunkBytes));
      if (!wrong_size_sent) {
        // First a chunk one byte short: refused as not fitting.
        c->mutable_data()->pop_back();
        wrong_size_sent = true;
      }
      send(routing.to_string(), out);
    }
  }
  const std::string log = terminal.Stderr();
  EXPECT_NE(log.find("received 52-HEALTH-20261207-0001 v1"), std::string::npos) << log;
  EXPECT_NE(log.find("holds 262143 bytes, not 262144"), std::string::npos) << log;
  EXPECT_NE(log.find("document \"通知.pdf\""), std::string::npos) << log;
  EXPECT_NE(log.find("refused, nothing of it kept"), std::string::npos) << log;
  EXPECT_GE(gets, 3);  // the short chunk, then both chunks again after the wait
  const std::filesystem::path kept = state / "attachments" / ToHex(a.sha256());
  EXPECT_FALSE(std::filesystem::exists(kept));
  EXPECT_FALSE(std::filesystem::exists(kept.string() + ".part"));
  EXPECT_TRUE(std::filesystem::exists(state / "inbox" / "52-HEALTH-20261207-0001.v1.json"))
      << "the directive itself is stored and acknowledged";
}

}  // namespace
}  // namespace flatcast
