#include "flatcast/wire.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "flatcast/rpc_client.h"

namespace flatcast {
namespace {

using std::chrono::milliseconds;

v1::Envelope HelloEnvelope() {
  v1::Envelope e;
  e.set_protocol_version(wire::kProtocolVersion);
  e.set_correlation_id(42);
  e.mutable_hello()->set_unit_code("520102001001");
  e.mutable_hello()->set_last_seq(7);
  return e;
}

TEST(Wire, EncodedEnvelopeDecodesToTheSame) {
  v1::Envelope sent = HelloEnvelope();
  Result<v1::Envelope> got = wire::Decode(wire::Encode(sent));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->correlation_id(), 42u);
  EXPECT_EQ(got->hello().unit_code(), "520102001001");
  EXPECT_EQ(got->hello().last_seq(), 7u);
}

TEST(Wire, RefusesOversizedBodyNamingBothSizes) {
  std::string bytes = wire::Encode(HelloEnvelope());
  Result<v1::Envelope> got = wire::Decode(bytes, bytes.size() - 1);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Status::Code::kTooLarge);
  EXPECT_NE(got.status().message().find(std::to_string(bytes.size())), std::string::npos);
  EXPECT_NE(got.status().message().find(std::to_string(bytes.size() - 1)), std::string::npos);
  EXPECT_TRUE(wire::Decode(bytes, bytes.size()).ok());
}

TEST(Wire, ChecksSizeBeforeParsing) {
  // Garbage that is also too large is reported as too large.
  Result<v1::Envelope> got = wire::Decode(std::string(100, '\xff'), 10);
  EXPECT_EQ(got.status().code(), Status::Code::kTooLarge);
}

TEST(Wire, RefusesBytesThatAreNotAnEnvelope) {
  Result<v1::Envelope> got = wire::Decode("\xff\xff\xff\xff garbage");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Status::Code::kCorruption);
  EXPECT_NE(got.status().message().find("not a flatcast envelope"), std::string::npos);
}

TEST(Wire, RefusesAnotherProtocolVersionNamingBoth) {
  v1::Envelope e = HelloEnvelope();
  e.set_protocol_version(2);
  Result<v1::Envelope> got = wire::Decode(wire::Encode(e));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(got.status().message().find("protocol version 2"), std::string::npos);
  EXPECT_NE(got.status().message().find("version 1"), std::string::npos);
}

TEST(Wire, RefusesEnvelopeWithoutBody) {
  v1::Envelope e;
  e.set_protocol_version(wire::kProtocolVersion);
  Result<v1::Envelope> got = wire::Decode(wire::Encode(e));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().message(), "envelope has no body (unknown message type?)");
}

TEST(Wire, TreatsAnUnknownBodyTypeAsNoBody) {
  v1::Envelope e;
  e.set_protocol_version(wire::kProtocolVersion);
  // Field 99, length-delimited, empty: a message type from a newer peer.
  std::string bytes = wire::Encode(e) + std::string("\x9a\x06\x00", 3);
  Result<v1::Envelope> got = wire::Decode(bytes);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("unknown message type"), std::string::npos);
}

TEST(Wire, ErrorEnvelopeCarriesCodeMessageAndCorrelation) {
  Result<v1::Envelope> got = wire::Decode(wire::EncodeError(9, v1::NOT_FOUND, "no such directive"));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->correlation_id(), 9u);
  EXPECT_EQ(got->error().code(), v1::NOT_FOUND);
  EXPECT_EQ(got->error().message(), "no such directive");
}

TEST(Wire, ErrorEnvelopeStaysDecodableWithInvalidUtf8InTheMessage) {
  Result<v1::Envelope> got =
      wire::Decode(wire::EncodeError(1, v1::MALFORMED, "bad \xff\xfe bytes, 贵阳 ok"));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->error().message(), "bad ?? bytes, 贵阳 ok");
}

TEST(Wire, BodyNameNamesTheBody) {
  v1::Envelope e;
  EXPECT_EQ(wire::BodyName(e), "none");
  e.mutable_publish();
  EXPECT_EQ(wire::BodyName(e), "publish");
  e.mutable_ack_confirm();
  EXPECT_EQ(wire::BodyName(e), "ack_confirm");
  e.mutable_coverage_reply();
  EXPECT_EQ(wire::BodyName(e), "coverage_reply");
}

// A ROUTER on an ephemeral port that answers each request with `answer`.
class FakeBroker {
 public:
  explicit FakeBroker(zmq::context_t& ctx) : socket_(ctx, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::rcvtimeo, 5000);  // a failing client must not hang the test
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
  }
  const std::string& endpoint() const { return endpoint_; }

  // Receives one request and returns its routing id and envelope.
  std::pair<zmq::message_t, v1::Envelope> Receive() {
    std::vector<zmq::message_t> frames;
    EXPECT_TRUE(zmq::recv_multipart(socket_, std::back_inserter(frames)));
    EXPECT_EQ(frames.size(), 2u);
    if (frames.size() != 2) return {zmq::message_t(), v1::Envelope()};
    Result<v1::Envelope> request = wire::Decode(frames[1].to_string_view());
    EXPECT_TRUE(request.ok()) << request.status().ToString();
    return {std::move(frames[0]), request.ok() ? *request : v1::Envelope()};
  }

  void Reply(const zmq::message_t& routing_id, const std::string& bytes) {
    socket_.send(zmq::buffer(routing_id.to_string_view()), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(bytes), zmq::send_flags::none);
  }

 private:
  zmq::socket_t socket_;
  std::string endpoint_;
};

v1::Envelope CoverageQuery() {
  v1::Envelope e;
  e.mutable_coverage_query()->set_directive_id("5201-HEALTH-20261128-0001");
  return e;
}

TEST(RpcClient, ReturnsTheReplyWithTheRequestsCorrelationId) {
  zmq::context_t ctx;
  FakeBroker broker(ctx);
  std::thread server([&] {
    auto [id, request] = broker.Receive();
    EXPECT_EQ(request.protocol_version(), wire::kProtocolVersion);
    EXPECT_EQ(request.coverage_query().directive_id(), "5201-HEALTH-20261128-0001");
    // A stale answer first, then the real one.
    v1::Envelope stale;
    stale.set_protocol_version(wire::kProtocolVersion);
    stale.set_correlation_id(request.correlation_id() + 1000);
    stale.mutable_coverage_reply()->set_region("stale");
    broker.Reply(id, wire::Encode(stale));
    v1::Envelope reply = stale;
    reply.set_correlation_id(request.correlation_id());
    reply.mutable_coverage_reply()->set_region("52");
    broker.Reply(id, wire::Encode(reply));
  });
  RpcClient client(ctx, broker.endpoint());
  Result<v1::Envelope> reply = client.Call(CoverageQuery(), milliseconds(5000));
  server.join();
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->coverage_reply().region(), "52");
}

TEST(RpcClient, TurnsAnErrorReplyIntoAStatusWithTheBrokersMessage) {
  zmq::context_t ctx;
  FakeBroker broker(ctx);
  std::thread server([&] {
    auto [id, request] = broker.Receive();
    broker.Reply(id, wire::EncodeError(request.correlation_id(), v1::NOT_FOUND,
                                       "no directive 5201-HEALTH-20261128-0001"));
  });
  RpcClient client(ctx, broker.endpoint());
  Result<v1::Envelope> reply = client.Call(CoverageQuery(), milliseconds(5000));
  server.join();
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(reply.status().message(), "no directive 5201-HEALTH-20261128-0001");
}

TEST(RpcClient, ReportsUnavailableWhenNobodyAnswers) {
  zmq::context_t ctx;
  // Bound but silent: the connection comes up, the answer never does.
  FakeBroker broker(ctx);
  RpcClient client(ctx, broker.endpoint());
  auto start = std::chrono::steady_clock::now();
  Result<v1::Envelope> reply = client.Call(CoverageQuery(), milliseconds(200));
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(reply.status().message().find("no answer from " + broker.endpoint() + " within 200 ms"),
            std::string::npos)
      << reply.status().message();
  EXPECT_GE(elapsed, milliseconds(200));  // it waited out its deadline
}

TEST(RpcClient, ReportsUnavailableWhenNoBrokerListens) {
  zmq::context_t ctx;
  RpcClient client(ctx, "tcp://127.0.0.1:1");
  Result<v1::Envelope> reply = client.Call(CoverageQuery(), milliseconds(100));
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(reply.status().message().find("is the broker running?"), std::string::npos);
}

TEST(RpcClient, ReportsAMalformedEndpointOnCall) {
  zmq::context_t ctx;
  RpcClient client(ctx, "not an endpoint");
  Result<v1::Envelope> reply = client.Call(CoverageQuery(), milliseconds(100));
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(reply.status().message().find("not an endpoint"), std::string::npos);
}

}  // namespace
}  // namespace flatcast
