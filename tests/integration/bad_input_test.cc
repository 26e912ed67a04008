// Bad input against the real broker process: raw ZeroMQ peers send malformed,
// oversized, mis-framed, mistyped and out-of-scope messages; each gets a clear
// refusal and the broker keeps serving everyone else.
#include <gtest/gtest.h>

#include <filesystem>

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

}  // namespace
}  // namespace flatcast
