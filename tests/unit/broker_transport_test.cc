// The broker as the program runs it (broker.h): the core on its ROUTER
// transport over loopback TCP, the query worker on its thread. The core's
// behaviour is tested without sockets (broker_test.cc); this checks the wiring.
#include <gtest/gtest.h>

#include "flatcast/broker/broker.h"
#include "peer.h"
#include "samples.h"
#include "temp_dir.h"

namespace flatcast::broker {
namespace {

using namespace std::chrono_literals;
using testing::Peer;

class BrokerOverTcp : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = Store::Open({dir_ / "data", true, 64});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    BrokerConfig config;
    config.endpoint = "tcp://127.0.0.1:*";
    config.data_dir = dir_ / "data";
    config.endpoint_file = dir_ / "endpoint";
    broker_ = std::make_unique<Broker>(config, registry_, *store_, clock_, ctx_);
    ASSERT_TRUE(broker_->Start().ok());
    thread_ = std::thread([this] { (void)broker_->Run(stop_); });
  }
  void TearDown() override {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  testing::TempDir dir_;
  Registry registry_ = testing::TestRegistry();
  FakeClock clock_{testing::SampleTime()};
  zmq::context_t ctx_{1};
  std::unique_ptr<Store> store_;
  std::unique_ptr<Broker> broker_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(BrokerOverTcp, PublishReachesAConnectedTerminalAndCoverageIsAnsweredByTheWorker) {
  EXPECT_EQ(testing::ReadFile(dir_ / "endpoint"), broker_->endpoint() + "\n");
  Peer terminal(ctx_, broker_->endpoint());
  ASSERT_TRUE(terminal.Call(testing::HelloFrom("520102")).has_welcome());
  Peer publisher(ctx_, broker_->endpoint());
  auto receipt = publisher.Call(testing::SamplePublish({"5201"}, {v1::DISTRICT}));
  ASSERT_TRUE(receipt.has_receipt()) << receipt.DebugString();
  auto delivered = terminal.Receive();
  ASSERT_TRUE(delivered.has_deliver()) << delivered.DebugString();
  auto confirm = terminal.Call(testing::AckOf(receipt.receipt(), v1::RECEIVED));
  ASSERT_TRUE(confirm.has_ack_confirm()) << confirm.DebugString();
  auto coverage = publisher.Call(testing::CoverageOf(receipt.receipt().id()));
  ASSERT_TRUE(coverage.has_coverage_reply()) << coverage.DebugString();
  EXPECT_EQ(coverage.coverage_reply().acknowledged(), 1u);
  EXPECT_EQ(coverage.coverage_reply().connected_now(), 1u);
}

TEST_F(BrokerOverTcp, AMessageOfTwoFramesIsRefused) {
  zmq::socket_t dealer(ctx_, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(broker_->endpoint());
  dealer.send(zmq::str_buffer("one"), zmq::send_flags::sndmore);
  dealer.send(zmq::str_buffer("two"));
  zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, 5s);
  zmq::message_t reply;
  ASSERT_TRUE(dealer.recv(reply, zmq::recv_flags::dontwait));
  auto env = wire::Decode(reply.to_string_view());
  ASSERT_TRUE(env.ok());
  ASSERT_TRUE(env->has_error());
  EXPECT_EQ(env->error().code(), v1::MALFORMED);
}

}  // namespace
}  // namespace flatcast::broker
