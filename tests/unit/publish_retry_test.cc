// The publisher's retry rule: UNAVAILABLE ("not now") is asked again with
// pauses within attempts x timeout; a refusal is not asked again. A fake
// broker (a ROUTER over inproc, on its own thread) answers as told.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <zmq.hpp>

#include "flatcast/publisher/publisher.h"
#include "flatcast/rpc_client.h"
#include "flatcast/wire.h"

namespace flatcast::publisher {
namespace {

using namespace std::chrono_literals;

// Answers the first `unavailable` requests with UNAVAILABLE, then every
// other with a receipt, or with the error `then` when one is given.
class FakeBroker {
 public:
  FakeBroker(zmq::context_t& ctx, int unavailable, v1::ErrorCode then = v1::ERROR_CODE_UNSPECIFIED)
      : socket_(ctx, zmq::socket_type::router), unavailable_(unavailable), then_(then) {
    socket_.bind("inproc://fake-broker");
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeBroker() {
    stop_ = true;
    thread_.join();
  }
  int requests() const { return requests_.load(); }

 private:
  void Serve() {
    while (!stop_) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, 20ms);
      if (!(item.revents & ZMQ_POLLIN)) continue;
      zmq::message_t routing, body;
      (void)socket_.recv(routing);
      (void)socket_.recv(body);
      auto request = wire::Decode(body.to_string_view());
      if (!request.ok()) continue;
      int n = ++requests_;
      std::string reply;
      if (n <= unavailable_) {
        reply = wire::EncodeError(request->correlation_id(), v1::UNAVAILABLE,
                                  "no standby in sync");
      } else if (then_ != v1::ERROR_CODE_UNSPECIFIED) {
        reply = wire::EncodeError(request->correlation_id(), then_, "refused");
      } else {
        v1::Envelope env;
        env.set_correlation_id(request->correlation_id());
        env.set_protocol_version(request->protocol_version());
        env.mutable_receipt()->set_id("52-HEALTH-20261203-0001");
        reply = wire::Encode(env);
      }
      socket_.send(routing, zmq::send_flags::sndmore);
      socket_.send(zmq::buffer(reply));
    }
  }

  zmq::socket_t socket_;
  const int unavailable_;
  const v1::ErrorCode then_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

v1::PublishRequest Request() {
  v1::PublishRequest request;
  request.set_publisher("guizhou-health");
  request.set_idempotency_key("0123456789abcdef0123456789abcdef");
  return request;
}

TEST(PublishRetry, UnavailableIsAskedAgainUntilTheBrokerConfirms) {
  zmq::context_t ctx;
  FakeBroker broker(ctx, /*unavailable=*/3);
  RpcClient client(ctx, "inproc://fake-broker");
  // One try's worth of silence (2 s) covers the pauses of 250, 500 and 1000 ms.
  auto receipt = Publish(client, Request(), /*attempts=*/1, 2000ms);
  ASSERT_TRUE(receipt.ok()) << receipt.status().message();
  EXPECT_EQ(receipt->id(), "52-HEALTH-20261203-0001");
  EXPECT_EQ(broker.requests(), 4);
}

TEST(PublishRetry, UnavailableStopsWhenTheTriesTimeIsUsedUp) {
  zmq::context_t ctx;
  FakeBroker broker(ctx, /*unavailable=*/1000);
  RpcClient client(ctx, "inproc://fake-broker");
  // 600 ms in all: the first pause (250 ms) fits, the second (500 ms) does not.
  auto receipt = Publish(client, Request(), /*attempts=*/1, 600ms);
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(receipt.status().message().find("no standby in sync"), std::string::npos)
      << receipt.status().message();
  EXPECT_EQ(broker.requests(), 2);
}

TEST(PublishRetry, ARefusalIsNotAskedAgain) {
  zmq::context_t ctx;
  FakeBroker broker(ctx, /*unavailable=*/1, v1::FORBIDDEN);
  RpcClient client(ctx, "inproc://fake-broker");
  auto receipt = Publish(client, Request(), /*attempts=*/5, 2000ms);
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(broker.requests(), 2);  // the UNAVAILABLE, then the refusal
}

TEST(PublishRetry, AStoreRefusalAfterAnUnknownOutcomeStaysNotKnown) {
  zmq::context_t ctx;
  // The first try's write failed without telling whether it was stored; the
  // retry finds the store refusing writes: that says nothing about the first.
  FakeBroker broker(ctx, /*unavailable=*/1, v1::INTERNAL);
  RpcClient client(ctx, "inproc://fake-broker");
  auto receipt = Publish(client, Request(), /*attempts=*/1, 2000ms);
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), Status::Code::kUnavailable) << receipt.status().message();
  EXPECT_NE(receipt.status().message().find("no standby in sync"), std::string::npos)
      << receipt.status().message();
  EXPECT_NE(receipt.status().message().find("refused"), std::string::npos)
      << receipt.status().message();
  EXPECT_EQ(broker.requests(), 2);
}

TEST(PublishRetry, AStoreRefusalAtTheFirstTryIsNotStored) {
  zmq::context_t ctx;
  FakeBroker broker(ctx, /*unavailable=*/0, v1::NO_SPACE);
  RpcClient client(ctx, "inproc://fake-broker");
  auto receipt = Publish(client, Request(), /*attempts=*/3, 2000ms);
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), Status::Code::kNoSpace);
  EXPECT_EQ(broker.requests(), 1);
}

}  // namespace
}  // namespace flatcast::publisher
