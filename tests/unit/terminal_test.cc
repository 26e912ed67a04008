// TerminalSession against a MemoryInbox and a FakeClock: the terminal side of
// the broker protocol, message by message.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "flatcast/attachment.h"
#include "flatcast/clock.h"
#include "flatcast/document_fetch.h"
#include "flatcast/duration.h"
#include "flatcast/key_registry.h"
#include "flatcast/registry.h"
#include "flatcast/signing.h"
#include "flatcast/subscriber/inbox.h"
#include "flatcast/subscriber/swarm.h"
#include "flatcast/subscriber/terminal_daemon.h"
#include "flatcast/subscriber/terminal_session.h"
#include "flatcast/wire.h"
#include "samples.h"
#include "temp_dir.h"

namespace flatcast::subscriber {
namespace {

using namespace std::chrono_literals;

constexpr char kCommunity[] = "520102001001";

TimePoint T0() { return testing::SampleTime(); }

using testing::SampleStored;

std::string Encode(const std::function<void(v1::Envelope&)>& fill) {
  v1::Envelope envelope;
  envelope.set_protocol_version(wire::kProtocolVersion);
  fill(envelope);
  return wire::Encode(envelope);
}

std::string Deliver(const v1::StoredDirective& stored) {
  return Encode([&](v1::Envelope& e) { *e.mutable_deliver()->mutable_directive() = stored; });
}

std::string Welcome(const std::string& unit = kCommunity, uint32_t heartbeat_interval_ms = 0) {
  return Encode([&](v1::Envelope& e) {
    e.mutable_welcome()->set_unit_code(unit);
    e.mutable_welcome()->set_unit_name("test community");
    e.mutable_welcome()->set_head_seq(10);
    e.mutable_welcome()->set_heartbeat_interval_ms(heartbeat_interval_ms);
  });
}

std::string Heartbeat(uint32_t unacknowledged, uint64_t head_seq = 10) {
  return Encode([&](v1::Envelope& e) {
    e.mutable_heartbeat()->set_head_seq(head_seq);
    e.mutable_heartbeat()->set_unacknowledged(unacknowledged);
  });
}

std::string AckConfirm(uint64_t seq, v1::AckLevel level = v1::RECEIVED) {
  return Encode([&](v1::Envelope& e) {
    e.mutable_ack_confirm()->set_seq(seq);
    e.mutable_ack_confirm()->set_level(level);
  });
}

v1::Envelope DecodeOk(const std::string& bytes) {
  auto envelope = wire::Decode(bytes);
  EXPECT_TRUE(envelope.ok()) << envelope.status().ToString();
  return envelope.ok() ? *envelope : v1::Envelope();
}

class TerminalSessionTest : public ::testing::Test {
 protected:
  TerminalSessionTest() : clock_(T0() + 250ms) {}

  FakeClock clock_;
  MemoryInbox inbox_;
  TerminalSession session_{kCommunity, Tier::kCommunity, inbox_, clock_};
  std::vector<std::string> out_;
};

TEST_F(TerminalSessionTest, HelloNamesTheUnitAndTheLastStoredSeq) {
  ASSERT_TRUE(inbox_.Put(SampleStored(7, "52-HEALTH-20261128-0001")).ok());
  v1::Envelope hello = DecodeOk(session_.Hello());
  ASSERT_TRUE(hello.has_hello());
  EXPECT_EQ(hello.protocol_version(), wire::kProtocolVersion);
  EXPECT_EQ(hello.hello().unit_code(), kCommunity);
  EXPECT_EQ(hello.hello().last_seq(), 7u);
}

TEST_F(TerminalSessionTest, WelcomeEndsTheWaitForIt) {
  EXPECT_TRUE(session_.NeedsHelloRetry(clock_.Now()));  // nothing sent yet
  session_.Hello();
  EXPECT_FALSE(session_.welcomed());
  ASSERT_TRUE(session_.OnMessage(Welcome(), out_).ok());
  EXPECT_TRUE(session_.welcomed());
  EXPECT_EQ(session_.unit_name(), "test community");
  EXPECT_EQ(session_.counters().welcomed, 1u);
  clock_.Advance(1h);
  EXPECT_FALSE(session_.NeedsHelloRetry(clock_.Now()));
}

TEST_F(TerminalSessionTest, HelloIsRetriedWithGrowingWaitsUntilWelcomed) {
  session_.Hello();
  clock_.Advance(4999ms);
  EXPECT_FALSE(session_.NeedsHelloRetry(clock_.Now()));
  clock_.Advance(1ms);
  EXPECT_TRUE(session_.NeedsHelloRetry(clock_.Now()));
  session_.Hello();
  clock_.Advance(9s);
  EXPECT_FALSE(session_.NeedsHelloRetry(clock_.Now()));  // the wait doubled to 10 s
  clock_.Advance(1s);
  EXPECT_TRUE(session_.NeedsHelloRetry(clock_.Now()));
  EXPECT_EQ(session_.counters().hellos_sent, 2u);
}

TEST_F(TerminalSessionTest, ReconnectionAsksForAHelloAtOnce) {
  session_.Hello();
  ASSERT_TRUE(session_.OnMessage(Welcome(), out_).ok());
  session_.OnConnected();
  EXPECT_FALSE(session_.welcomed());
  EXPECT_TRUE(session_.NeedsHelloRetry(clock_.Now()));
}

TEST_F(TerminalSessionTest, DeliveryIsStoredThenAcknowledged) {
  auto stored = SampleStored(3, "52-HEALTH-20261128-0001");
  ASSERT_TRUE(session_.OnMessage(Deliver(stored), out_).ok());
  EXPECT_TRUE(inbox_.Contains("52-HEALTH-20261128-0001", 1));
  EXPECT_EQ(inbox_.last_seq(), 3u);
  ASSERT_EQ(out_.size(), 1u);
  v1::Envelope ack = DecodeOk(out_[0]);
  ASSERT_TRUE(ack.has_ack());
  EXPECT_EQ(ack.ack().seq(), 3u);
  EXPECT_EQ(ack.ack().directive_id(), "52-HEALTH-20261128-0001");
  EXPECT_EQ(ack.ack().version(), 1u);
  EXPECT_EQ(ack.ack().level(), v1::RECEIVED);
  EXPECT_EQ(FromTimestamp(ack.ack().acked()), clock_.Now());
  EXPECT_EQ(inbox_.pending_ack_count(), 1u);
  EXPECT_EQ(session_.counters().received, 1u);
  ASSERT_EQ(session_.LatenciesUs().size(), 1u);
  EXPECT_EQ(session_.LatenciesUs()[0], 250000);  // sent at T0, received at T0 + 250 ms
}

TEST_F(TerminalSessionTest, DuplicateDeliveryIsAcknowledgedAgainButNotStoredAgain) {
  auto stored = SampleStored(3, "52-HEALTH-20261128-0001");
  ASSERT_TRUE(session_.OnMessage(Deliver(stored), out_).ok());
  TimePoint first_ack = clock_.Now();
  clock_.Advance(2s);
  ASSERT_TRUE(session_.OnMessage(Deliver(stored), out_).ok());
  EXPECT_EQ(inbox_.put_count(), 1u);
  EXPECT_EQ(session_.counters().received, 1u);
  EXPECT_EQ(session_.counters().duplicates, 1u);
  ASSERT_EQ(out_.size(), 2u);
  v1::Envelope again = DecodeOk(out_[1]);
  ASSERT_TRUE(again.has_ack());
  EXPECT_EQ(again.ack().seq(), 3u);
  EXPECT_EQ(FromTimestamp(again.ack().acked()), first_ack);  // the pending ack, unchanged
  EXPECT_EQ(session_.LatenciesUs().size(), 1u);
}

TEST_F(TerminalSessionTest, DuplicateOfAConfirmedDeliveryIsAcknowledgedAndTrackedAgain) {
  auto stored = SampleStored(3, "52-HEALTH-20261128-0001");
  ASSERT_TRUE(session_.OnMessage(Deliver(stored), out_).ok());
  ASSERT_TRUE(session_.OnMessage(AckConfirm(3), out_).ok());
  ASSERT_EQ(inbox_.pending_ack_count(), 0u);
  ASSERT_TRUE(session_.OnMessage(Deliver(stored), out_).ok());
  EXPECT_EQ(inbox_.put_count(), 1u);
  EXPECT_EQ(inbox_.pending_ack_count(), 1u);
  ASSERT_EQ(out_.size(), 2u);
  EXPECT_TRUE(DecodeOk(out_[1]).has_ack());
}

TEST_F(TerminalSessionTest, DeliveryOutsideTheUnitsScopeIsIgnoredWithoutAck) {
  auto stored = SampleStored(4, "52-HEALTH-20261128-0002", 1, {"5202"});
  Status status = session_.OnMessage(Deliver(stored), out_);
  EXPECT_EQ(status.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(status.message().find("not addressed"), std::string::npos) << status.message();
  EXPECT_TRUE(out_.empty());
  EXPECT_EQ(inbox_.size(), 0u);
  EXPECT_EQ(session_.counters().not_addressed, 1u);
}

TEST_F(TerminalSessionTest, NewerVersionNoLongerAddressedIsKeptAsWithdrawalAndAcknowledged) {
  const std::string id = "52-HEALTH-20261128-0002";
  ASSERT_TRUE(session_.OnMessage(Deliver(SampleStored(4, id, 1, {"5201"})), out_).ok());
  out_.clear();
  auto narrower = SampleStored(5, id, 2, {"5202"});
  narrower.mutable_directive()->add_changes("scope: +5202 -5201");
  ASSERT_TRUE(session_.OnMessage(Deliver(narrower), out_).ok());
  EXPECT_EQ(session_.counters().withdrawn, 1u);
  EXPECT_EQ(session_.counters().not_addressed, 0u);
  ASSERT_EQ(out_.size(), 1u) << "RECEIVED only, whatever the automatic levels";
  v1::Envelope ack = DecodeOk(out_[0]);
  ASSERT_TRUE(ack.has_ack());
  EXPECT_EQ(ack.ack().seq(), 5u);
  EXPECT_EQ(ack.ack().level(), v1::RECEIVED);
  std::optional<InboxEntry> latest = inbox_.Latest(id);
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->version, 2u);
  EXPECT_TRUE(latest->withdrawn);
  out_.clear();
  auto confirmed = session_.Acknowledge(id, v1::CONFIRMED, "", out_);
  ASSERT_FALSE(confirmed.ok());
  EXPECT_NE(confirmed.status().message().find("withdrawn from this unit"), std::string::npos)
      << confirmed.status().message();
  EXPECT_TRUE(out_.empty());
}

TEST_F(TerminalSessionTest, TheTerminalDecidesWhatIsWithdrawnFromItWhateverTheDeliverySays) {
  auto stored = SampleStored(4, "52-HEALTH-20261128-0003", 1, {"5201"});
  stored.set_withdrawn(true);  // addressed to this unit, yet marked withdrawn
  ASSERT_TRUE(session_.OnMessage(Deliver(stored), out_).ok());
  std::optional<InboxEntry> entry = inbox_.Latest("52-HEALTH-20261128-0003");
  ASSERT_TRUE(entry.has_value());
  EXPECT_FALSE(entry->withdrawn);
  EXPECT_EQ(session_.counters().withdrawn, 0u);
}

TEST_F(TerminalSessionTest, DeliveryForAnotherTierIsIgnoredWithoutAck) {
  auto stored = SampleStored(4, "52-HEALTH-20261128-0002", 1, {"5201"}, {v1::DISTRICT});
  EXPECT_FALSE(session_.OnMessage(Deliver(stored), out_).ok());
  EXPECT_TRUE(out_.empty());
  EXPECT_EQ(inbox_.size(), 0u);
}

TEST_F(TerminalSessionTest, OutOfOrderDeliveriesAreAllStored) {
  ASSERT_TRUE(session_.OnMessage(Deliver(SampleStored(9, "a-HEALTH-20261128-0009")), out_).ok());
  ASSERT_TRUE(session_.OnMessage(Deliver(SampleStored(5, "a-HEALTH-20261128-0005")), out_).ok());
  EXPECT_EQ(inbox_.size(), 2u);
  EXPECT_EQ(inbox_.last_seq(), 9u);
  EXPECT_EQ(out_.size(), 2u);
}

TEST_F(TerminalSessionTest, AckConfirmClearsThePendingAck) {
  ASSERT_TRUE(session_.OnMessage(Deliver(SampleStored(3, "52-HEALTH-20261128-0001")), out_).ok());
  ASSERT_EQ(inbox_.pending_ack_count(), 1u);
  out_.clear();
  ASSERT_TRUE(session_.OnMessage(AckConfirm(3), out_).ok());
  EXPECT_EQ(inbox_.pending_ack_count(), 0u);
  EXPECT_EQ(session_.counters().acks_confirmed, 1u);
  EXPECT_TRUE(out_.empty());
  // A repeated confirmation changes nothing.
  ASSERT_TRUE(session_.OnMessage(AckConfirm(3), out_).ok());
  EXPECT_EQ(session_.counters().acks_confirmed, 1u);
}

TEST_F(TerminalSessionTest, PendingAcksAreSentAgainAfterEveryWelcome) {
  ASSERT_TRUE(session_.OnMessage(Deliver(SampleStored(3, "a-HEALTH-20261128-0003")), out_).ok());
  ASSERT_TRUE(session_.OnMessage(Deliver(SampleStored(4, "a-HEALTH-20261128-0004")), out_).ok());
  ASSERT_TRUE(session_.OnMessage(AckConfirm(3), out_).ok());
  out_.clear();
  session_.Hello();
  ASSERT_TRUE(session_.OnMessage(Welcome(), out_).ok());
  ASSERT_EQ(out_.size(), 1u);
  v1::Envelope ack = DecodeOk(out_[0]);
  ASSERT_TRUE(ack.has_ack());
  EXPECT_EQ(ack.ack().seq(), 4u);
  out_.clear();
  session_.OnConnected();
  session_.Hello();
  ASSERT_TRUE(session_.OnMessage(Welcome(), out_).ok());
  EXPECT_EQ(out_.size(), 1u);
}

// ---- heartbeats: repair and dead connections ----

class HeartbeatTest : public TerminalSessionTest {
 protected:
  static constexpr uint32_t kIntervalMs = 500;

  // Hello answered by a Welcome that announces heartbeats every 500 ms.
  void Welcomed() {
    session_.Hello();
    ASSERT_TRUE(session_.OnMessage(Welcome(kCommunity, kIntervalMs), out_).ok());
    out_.clear();
  }
  std::vector<v1::Envelope::BodyCase> Sent() const {
    std::vector<v1::Envelope::BodyCase> bodies;
    for (const auto& bytes : out_) bodies.push_back(DecodeOk(bytes).body_case());
    return bodies;
  }
};

TEST_F(HeartbeatTest, ConnectionLooksDeadAfterThreeSilentHeartbeatIntervals) {
  Welcomed();
  EXPECT_EQ(session_.heartbeat_interval(), 500ms);
  clock_.Advance(1499ms);
  EXPECT_FALSE(session_.ConnectionLooksDead(clock_.Now()));
  clock_.Advance(1ms);
  EXPECT_TRUE(session_.ConnectionLooksDead(clock_.Now()));
}

TEST_F(HeartbeatTest, AnyMessageFromTheBrokerKeepsTheConnectionAlive) {
  Welcomed();
  clock_.Advance(1400ms);
  ASSERT_TRUE(session_.OnMessage(Heartbeat(0), out_).ok());
  clock_.Advance(1400ms);
  EXPECT_FALSE(session_.ConnectionLooksDead(clock_.Now()));
  ASSERT_TRUE(session_.OnMessage(Deliver(SampleStored(3, "52-HEALTH-20261128-0001")), out_).ok());
  clock_.Advance(1400ms);
  EXPECT_FALSE(session_.ConnectionLooksDead(clock_.Now()));
  // Even bytes that do not decode show that the connection carries data.
  EXPECT_FALSE(session_.OnMessage("\xff garbage", out_).ok());
  clock_.Advance(1400ms);
  EXPECT_FALSE(session_.ConnectionLooksDead(clock_.Now()));
  EXPECT_EQ(session_.counters().heartbeats, 1u);
}

TEST_F(HeartbeatTest, WithoutAnnouncedHeartbeatsTheConnectionNeverLooksDead) {
  session_.Hello();
  ASSERT_TRUE(session_.OnMessage(Welcome(), out_).ok());  // heartbeat_interval_ms 0
  clock_.Advance(24h);
  EXPECT_FALSE(session_.ConnectionLooksDead(clock_.Now()));
  EXPECT_EQ(session_.heartbeat_interval(), 0ms);
}

TEST_F(HeartbeatTest, ANewConnectionForgetsTheOldOnesHeartbeats) {
  Welcomed();
  session_.OnDisconnected();
  clock_.Advance(1h);
  EXPECT_FALSE(session_.ConnectionLooksDead(clock_.Now()));
  session_.OnConnected();
  EXPECT_FALSE(session_.ConnectionLooksDead(clock_.Now()));
  EXPECT_TRUE(session_.NeedsHelloRetry(clock_.Now()));
  Welcomed();  // the new connection's Welcome starts the watch again
  clock_.Advance(1500ms);
  EXPECT_TRUE(session_.ConnectionLooksDead(clock_.Now()));
}

TEST_F(HeartbeatTest, NothingUnacknowledgedMeansNothingToSend) {
  Welcomed();
  ASSERT_TRUE(session_.OnMessage(Heartbeat(0), out_).ok());
  EXPECT_TRUE(out_.empty());
  EXPECT_TRUE(session_.welcomed());
  EXPECT_EQ(session_.counters().resyncs, 0u);
}

TEST_F(HeartbeatTest, MissedDeliveryWithNothingInFlightSaysHelloAgainOncePerInterval) {
  ASSERT_TRUE(inbox_.Put(SampleStored(4, "52-HEALTH-20261128-0001")).ok());
  Welcomed();
  ASSERT_TRUE(session_.OnMessage(Heartbeat(2), out_).ok());
  ASSERT_EQ(Sent(), std::vector<v1::Envelope::BodyCase>{v1::Envelope::kHello});
  EXPECT_EQ(DecodeOk(out_[0]).hello().last_seq(), 4u);
  EXPECT_FALSE(session_.welcomed());  // until the broker answers
  EXPECT_EQ(session_.counters().resyncs, 1u);
  out_.clear();

  // The Welcome and the catch-up come; the next heartbeat, in the same
  // interval, still counts what was in flight and changes nothing.
  ASSERT_TRUE(session_.OnMessage(Welcome(kCommunity, kIntervalMs), out_).ok());
  clock_.Advance(100ms);
  ASSERT_TRUE(session_.OnMessage(Heartbeat(2), out_).ok());
  EXPECT_TRUE(out_.empty());
  clock_.Advance(400ms);
  ASSERT_TRUE(session_.OnMessage(Heartbeat(2), out_).ok());
  EXPECT_EQ(Sent(), std::vector<v1::Envelope::BodyCase>{v1::Envelope::kHello});
  EXPECT_EQ(session_.counters().resyncs, 2u);
}

TEST_F(HeartbeatTest, AckInFlightIsWaitedForThenSentAgainInsteadOfAHello) {
  Welcomed();
  ASSERT_TRUE(session_.OnMessage(Deliver(SampleStored(3, "52-HEALTH-20261128-0001")), out_).ok());
  ASSERT_EQ(Sent(), std::vector<v1::Envelope::BodyCase>{v1::Envelope::kAck});
  out_.clear();
  // The ack is on its way: the broker's count includes it.
  clock_.Advance(100ms);
  ASSERT_TRUE(session_.OnMessage(Heartbeat(1), out_).ok());
  EXPECT_TRUE(out_.empty());
  // An interval later it is still unconfirmed: the ack or its confirmation
  // was lost, and the ack goes again.
  clock_.Advance(400ms);
  ASSERT_TRUE(session_.OnMessage(Heartbeat(1), out_).ok());
  ASSERT_EQ(Sent(), std::vector<v1::Envelope::BodyCase>{v1::Envelope::kAck});
  EXPECT_EQ(DecodeOk(out_[0]).ack().seq(), 3u);
  EXPECT_EQ(session_.counters().acks_resent, 1u);
  EXPECT_TRUE(session_.welcomed());
  out_.clear();
  // Confirmed, and the broker still counts one: a delivery was lost.
  ASSERT_TRUE(session_.OnMessage(AckConfirm(3), out_).ok());
  clock_.Advance(500ms);
  ASSERT_TRUE(session_.OnMessage(Heartbeat(1), out_).ok());
  EXPECT_EQ(Sent(), std::vector<v1::Envelope::BodyCase>{v1::Envelope::kHello});
}

TEST_F(HeartbeatTest, LostWelcomeIsAskedForAgainAfterAnInterval) {
  Welcomed();
  ASSERT_TRUE(session_.OnMessage(Heartbeat(1), out_).ok());
  ASSERT_EQ(Sent(), std::vector<v1::Envelope::BodyCase>{v1::Envelope::kHello});
  out_.clear();
  // The broker took the Hello (it sends heartbeats) but its Welcome never came.
  clock_.Advance(200ms);
  ASSERT_TRUE(session_.OnMessage(Heartbeat(1), out_).ok());
  EXPECT_TRUE(out_.empty());
  clock_.Advance(300ms);
  ASSERT_TRUE(session_.OnMessage(Heartbeat(1), out_).ok());
  EXPECT_EQ(Sent(), std::vector<v1::Envelope::BodyCase>{v1::Envelope::kHello});
  EXPECT_EQ(session_.counters().resyncs, 2u);
}

TEST_F(HeartbeatTest, RefusedUnitIgnoresHeartbeats) {
  session_.Hello();
  ASSERT_FALSE(session_.OnMessage(wire::EncodeError(0, v1::NOT_REGISTERED, "unknown"), out_).ok());
  clock_.Advance(1h);
  ASSERT_TRUE(session_.OnMessage(Heartbeat(3), out_).ok());
  EXPECT_TRUE(out_.empty());
}

TEST_F(HeartbeatTest, DeliveriesCountRepeatsButStoreOnce) {
  auto stored = SampleStored(3, "52-HEALTH-20261128-0001");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(session_.OnMessage(Deliver(stored), out_).ok());
  EXPECT_EQ(session_.counters().deliveries, 3u);
  EXPECT_EQ(session_.counters().received, 1u);
  EXPECT_EQ(session_.counters().duplicates, 2u);
  EXPECT_EQ(inbox_.put_count(), 1u);
}

TEST_F(TerminalSessionTest, MalformedBytesAreAnErrorNotACrash) {
  Status status = session_.OnMessage("\xff\xff not protobuf", out_);
  EXPECT_EQ(status.code(), Status::Code::kCorruption);
  EXPECT_FALSE(session_.OnMessage("", out_).ok());  // no body
  std::string old_version = Encode([](v1::Envelope& e) {
    e.set_protocol_version(99);
    e.mutable_welcome()->set_unit_code(kCommunity);
  });
  EXPECT_FALSE(session_.OnMessage(old_version, out_).ok());
  EXPECT_TRUE(out_.empty());
  EXPECT_EQ(session_.counters().bad_messages, 3u);
}

TEST_F(TerminalSessionTest, MessagesATerminalNeverGetsAreRefused) {
  std::string hello = Encode([](v1::Envelope& e) { e.mutable_hello()->set_unit_code("52"); });
  Status status = session_.OnMessage(hello, out_);
  EXPECT_EQ(status.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(status.message().find("hello"), std::string::npos) << status.message();
  std::string empty_deliver = Encode([](v1::Envelope& e) { e.mutable_deliver(); });
  EXPECT_FALSE(session_.OnMessage(empty_deliver, out_).ok());
  EXPECT_FALSE(session_.OnMessage(Welcome("520102001002"), out_).ok());
  EXPECT_FALSE(session_.welcomed());
  EXPECT_TRUE(out_.empty());
}

TEST_F(TerminalSessionTest, NotRegisteredIsAnErrorAndHellosSlowDown) {
  session_.Hello();
  std::string refused = wire::EncodeError(0, v1::NOT_REGISTERED, "unit 520102001001 unknown");
  Status status = session_.OnMessage(refused, out_);
  EXPECT_EQ(status.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(status.message().find("unknown"), std::string::npos);
  EXPECT_TRUE(session_.rejected());
  EXPECT_EQ(session_.counters().errors, 1u);
  clock_.Advance(30s);
  EXPECT_FALSE(session_.NeedsHelloRetry(clock_.Now()));
  session_.OnConnected();  // a reconnection does not speed it up
  EXPECT_FALSE(session_.NeedsHelloRetry(clock_.Now()));
  clock_.Advance(30s);
  EXPECT_TRUE(session_.NeedsHelloRetry(clock_.Now()));
}

class OperatorTest : public TerminalSessionTest {
 protected:
  void SetUp() override {
    session_.Hello();
    ASSERT_TRUE(session_.OnMessage(Welcome(), out_).ok());
    ASSERT_TRUE(session_.OnMessage(Deliver(SampleStored(3, kId)), out_).ok());
    ASSERT_TRUE(session_.OnMessage(AckConfirm(3), out_).ok());
    out_.clear();
  }
  static constexpr char kId[] = "52-HEALTH-20261128-0001";
};

TEST_F(OperatorTest, ReadyAlsoConfirmsAndIsSentWhileWelcomed) {
  auto outcome = session_.Acknowledge(kId, v1::READY, "two staff, 200 masks", out_);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_TRUE(outcome->sent);
  EXPECT_EQ(outcome->what, "CONFIRMED and READY recorded");
  ASSERT_EQ(out_.size(), 2u);
  v1::Envelope confirmed = DecodeOk(out_[0]), ready = DecodeOk(out_[1]);
  EXPECT_EQ(confirmed.ack().level(), v1::CONFIRMED);
  EXPECT_EQ(ready.ack().level(), v1::READY);
  EXPECT_EQ(ready.ack().note(), "two staff, 200 masks");
  EXPECT_EQ(ready.ack().seq(), 3u);
  EXPECT_EQ(inbox_.pending_ack_count(), 2u);

  ASSERT_TRUE(session_.OnMessage(AckConfirm(3, v1::READY), out_).ok());
  EXPECT_TRUE(inbox_.Acknowledged(3, v1::READY).has_value());
  out_.clear();
  auto again = session_.Acknowledge(kId, v1::READY, "", out_);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(out_.empty());
  EXPECT_NE(again->what.find("already READY since"), std::string::npos) << again->what;
}

TEST_F(OperatorTest, WhileTheBrokerIsAwayItIsKeptAndSentAfterTheNextWelcome) {
  session_.OnDisconnected();
  auto outcome = session_.Acknowledge(kId, v1::CONFIRMED, "", out_);
  ASSERT_TRUE(outcome.ok());
  EXPECT_FALSE(outcome->sent);
  EXPECT_TRUE(out_.empty());
  auto rated = session_.Rate(kId, 4, 2, "masks are short", out_);
  ASSERT_TRUE(rated.ok());
  EXPECT_FALSE(rated->sent);
  session_.OnConnected();
  session_.Hello();
  ASSERT_TRUE(session_.OnMessage(Welcome(), out_).ok());
  bool confirm_sent = false, rating_sent = false;
  for (const auto& bytes : out_) {
    v1::Envelope e = DecodeOk(bytes);
    confirm_sent |= e.has_ack() && e.ack().level() == v1::CONFIRMED;
    rating_sent |= e.has_rating() && e.rating().clarity() == 4 && e.rating().comment() == "masks are short";
  }
  EXPECT_TRUE(confirm_sent);
  EXPECT_TRUE(rating_sent);
  ASSERT_EQ(inbox_.PendingRatings().size(), 1u);
  std::string confirm = Encode([&](v1::Envelope& e) {
    e.mutable_rating_confirm()->set_seq(3);
    *e.mutable_rating_confirm()->mutable_rated() = ToTimestamp(inbox_.PendingRatings()[0].rated);
  });
  ASSERT_TRUE(session_.OnMessage(confirm, out_).ok());
  EXPECT_TRUE(inbox_.PendingRatings().empty());
  EXPECT_EQ(session_.counters().ratings_confirmed, 1u);
}

TEST_F(OperatorTest, RefusesUnknownDirectivesAndRatingsOutOfRange) {
  EXPECT_EQ(session_.Acknowledge("52-HEALTH-20261128-0404", v1::CONFIRMED, "", out_).status().code(),
            Status::Code::kNotFound);
  EXPECT_EQ(session_.Acknowledge(kId, v1::RECEIVED, "", out_).status().code(),
            Status::Code::kInvalidArgument);
  auto bad = session_.Rate(kId, 0, 3, "", out_);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("clarity must be from 1 to 5"), std::string::npos);
  EXPECT_FALSE(session_.Rate(kId, 3, 6, "", out_).ok());
  EXPECT_TRUE(out_.empty());
}

TEST_F(OperatorTest, TheLatestVersionIsTheOneAcknowledged) {
  ASSERT_TRUE(session_.OnMessage(Deliver(SampleStored(5, kId, 2)), out_).ok());
  out_.clear();
  auto outcome = session_.Acknowledge(kId, v1::CONFIRMED, "", out_);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->directive.version, 2u);
  EXPECT_EQ(DecodeOk(out_.back()).ack().seq(), 5u);
}

TEST_F(OperatorTest, AnOverdueReportIsKeptUntilTheNextOne) {
  std::string report = Encode([&](v1::Envelope& e) {
    auto* item = e.mutable_overdue_report()->add_children();
    item->set_directive_id(kId);
    item->set_level(v1::CONFIRMED);
    item->add_units("520102001002");
  });
  ASSERT_TRUE(session_.OnMessage(report, out_).ok());
  ASSERT_EQ(inbox_.overdue().children_size(), 1);
  EXPECT_EQ(inbox_.overdue().children(0).units(0), "520102001002");
  ASSERT_TRUE(session_.OnMessage(Encode([](v1::Envelope& e) { e.mutable_overdue_report(); }), out_).ok());
  EXPECT_EQ(inbox_.overdue().children_size(), 0);
  EXPECT_EQ(session_.counters().overdue_reports, 2u);
}

TEST(SwarmOperators, AutoLevelsAcknowledgeEveryLevelOnReceipt) {
  FakeClock clock(T0());
  MemoryInbox inbox;
  SessionOptions options;
  options.auto_levels = {v1::CONFIRMED, v1::READY};
  TerminalSession session(kCommunity, Tier::kCommunity, inbox, clock, nullptr, options);
  std::vector<std::string> out;
  ASSERT_TRUE(session.OnMessage(Deliver(SampleStored(3, "52-HEALTH-20261128-0001")), out).ok());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(DecodeOk(out[2]).ack().level(), v1::READY);
  EXPECT_EQ(inbox.pending_ack_count(), 3u);
}

// An inbox whose Put fails, as a full disk would.
class FailingInbox final : public IndexedInbox {
 public:
  Status Put(const v1::StoredDirective&) override { return Status::IOError("disk full"); }

 protected:
  Status Persist() override { return Status::Ok(); }
};

TEST(TerminalSessionStorage, DeliveryThatCannotBeStoredIsNotAcknowledged) {
  FakeClock clock(T0());
  FailingInbox inbox;
  TerminalSession session(kCommunity, Tier::kCommunity, inbox, clock);
  std::vector<std::string> out;
  Status status = session.OnMessage(Deliver(SampleStored(3, "52-HEALTH-20261128-0001")), out);
  EXPECT_EQ(status.code(), Status::Code::kIOError);
  EXPECT_NE(status.message().find("disk full"), std::string::npos);
  EXPECT_NE(status.message().find("not stored, so not acknowledged"), std::string::npos)
      << status.message();
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(session.counters().store_failures, 1u);
  EXPECT_NE(session.storage_error().find("disk full"), std::string::npos) << session.storage_error();
  EXPECT_EQ(session.storage_error().rfind("since 2026-11-28T09:30:00Z: ", 0), 0u)
      << session.storage_error();
}

TEST(UnitCode, OnlyGbt2260ShapedCodesAreAccepted) {
  EXPECT_EQ(ParseUnitCode("520102001001").value(), Tier::kCommunity);
  EXPECT_EQ(ParseUnitCode("520102").value(), Tier::kDistrict);
  for (const char* bad : {"", "5", "52010", "52010200100a", "5201020010011"}) {
    Status status = ParseUnitCode(bad).status();
    EXPECT_EQ(status.code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_NE(status.message().find("GB/T 2260"), std::string::npos);
  }
}

TEST(TerminalConfigFile, KeysAreReadAndFlagsAreChecked) {
  testing::TempDir dir;
  std::string path = dir / "terminal.toml";
  testing::WriteFile(path,
                     "unit = \"520102001001\"\nbroker = \"tcp://127.0.0.1:7700\"\n"
                     "state_dir = \"/var/lib/flatcast\"\n");
  auto config = LoadTerminalConfig(path);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->unit, "520102001001");
  EXPECT_EQ(config->broker, "tcp://127.0.0.1:7700");
  EXPECT_EQ(config->state_dir, "/var/lib/flatcast");
  EXPECT_TRUE(config->keys.empty());
  EXPECT_TRUE(CheckTerminalConfig(*config).ok());

  config->unit = "52-01";
  EXPECT_EQ(CheckTerminalConfig(*config).code(), Status::Code::kInvalidArgument);
}

TEST(TerminalConfigFile, UnknownKeysAndBadTomlAreRefused) {
  testing::TempDir dir;
  testing::WriteFile(dir / "typo.toml", "unit = \"520102\"\nstate-dir = \"x\"\n");
  Status typo = LoadTerminalConfig(dir / "typo.toml").status();
  EXPECT_NE(typo.message().find("state-dir"), std::string::npos) << typo.message();
  testing::WriteFile(dir / "broken.toml", "unit = \n");
  EXPECT_EQ(LoadTerminalConfig(dir / "broken.toml").status().code(),
            Status::Code::kInvalidArgument);
  testing::WriteFile(dir / "number.toml", "unit = 520102\n");
  EXPECT_FALSE(LoadTerminalConfig(dir / "number.toml").ok());
}

TEST(TerminalConfigFile, LanguagesAreAListOfBcp47TagsCheckedBeforeTheDaemonStarts) {
  testing::TempDir dir;
  const std::string base =
      "unit = \"520102001001\"\nbroker = \"tcp://127.0.0.1:7700\"\nstate_dir = \"/tmp/x\"\n";
  testing::WriteFile(dir / "ok.toml", base + "languages = [\"bo\", \"zh-CN\"]\n");
  auto config = LoadTerminalConfig(dir / "ok.toml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->languages, (std::vector<std::string>{"bo", "zh-CN"}));
  EXPECT_TRUE(CheckTerminalConfig(*config).ok());
  testing::WriteFile(dir / "bad.toml", base + "languages = [\"en_US\"]\n");
  config = LoadTerminalConfig(dir / "bad.toml");
  ASSERT_TRUE(config.ok());
  Status bad = CheckTerminalConfig(*config);
  EXPECT_NE(bad.message().find("language tag \"en_US\" is not BCP 47"), std::string::npos) << bad.message();
  testing::WriteFile(dir / "string.toml", base + "languages = \"en\"\n");
  EXPECT_NE(LoadTerminalConfig(dir / "string.toml").status().message().find("must be a list"), std::string::npos);
  testing::WriteFile(dir / "number.toml", base + "languages = [1]\n");
  EXPECT_FALSE(LoadTerminalConfig(dir / "number.toml").ok());
}

TEST(TerminalConfigFile, HooksAreReadAndCheckedBeforeTheDaemonStarts) {
  testing::TempDir dir;
  const std::string base =
      "unit = \"520102001001\"\nbroker = \"tcp://127.0.0.1:7700\"\nstate_dir = \"/x\"\n";
  testing::WriteFile(dir / "hooks.toml",
                     base +
                         "[[hooks]]\non = \"directive\"\ncommand = [\"/bin/cat\", \"-\"]\n"
                         "timeout_s = 30\n[[hooks]]\non = \"overdue\"\ncommand = [\"/bin/true\"]\n");
  auto config = LoadTerminalConfig(dir / "hooks.toml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_EQ(config->hooks.size(), 2u);
  EXPECT_EQ(config->hooks[0].on, "directive");
  EXPECT_EQ(config->hooks[0].command, (std::vector<std::string>{"/bin/cat", "-"}));
  EXPECT_EQ(config->hooks[0].timeout, std::chrono::seconds(30));
  EXPECT_EQ(config->hooks[1].on, "overdue");
  EXPECT_EQ(config->hooks[1].timeout, std::chrono::seconds(10)) << "the default";
  EXPECT_TRUE(CheckTerminalConfig(*config).ok());

  testing::WriteFile(dir / "shell.toml", base + "[[hooks]]\non = \"directive\"\ncommand = \"cat\"\n");
  Status shell = LoadTerminalConfig(dir / "shell.toml").status();
  EXPECT_NE(shell.message().find("command: a list of strings"), std::string::npos) << shell.message();
  testing::WriteFile(dir / "relative.toml",
                     base + "[[hooks]]\non = \"directive\"\ncommand = [\"espeak\"]\n");
  auto relative = LoadTerminalConfig(dir / "relative.toml");
  ASSERT_TRUE(relative.ok());
  Status checked = CheckTerminalConfig(*relative);
  EXPECT_NE(checked.message().find("must be an absolute path"), std::string::npos)
      << checked.message();
}

Registry TestRegistry() {
  auto registry = Registry::Parse(
      "52\tprovince\t贵州省\n"
      "5201\tcity\t贵阳市\n"
      "520102\tdistrict\t南明区\n"
      "520102001\tstreet\t新华路街道\n"
      "520102001001\tcommunity\t新华路社区\n"
      "520102001002\tcommunity\t富水社区\n"
      "520103\tdistrict\t云岩区\n"
      "5202\tcity\t六盘水市\n"
      "520201\tdistrict\t钟山区\n",
      "test");
  EXPECT_TRUE(registry.ok()) << registry.status().ToString();
  return std::move(registry).value();
}

std::vector<std::string> Codes(const Registry& registry, const std::vector<uint32_t>& units) {
  std::vector<std::string> codes;
  for (uint32_t i : units) codes.push_back(registry.unit(i).code);
  return codes;
}

TEST(SwarmUnits, RegionTiersAndExclusionsSelectUnits) {
  Registry registry = TestRegistry();
  SwarmOptions options;
  options.region = "5201";
  auto units = SelectSwarmUnits(registry, options);
  ASSERT_TRUE(units.ok()) << units.status().ToString();
  EXPECT_EQ(
      Codes(registry, *units),
      (std::vector<std::string>{"520102", "520102001", "520102001001", "520102001002", "520103"}));
  options.tiers = {Tier::kCommunity};
  options.exclude = {"520102001002"};
  EXPECT_EQ(Codes(registry, SelectSwarmUnits(registry, options).value()),
            (std::vector<std::string>{"520102001001"}));
}

TEST(SwarmUnits, ShardsSplitTheUnitsWithoutOverlap) {
  Registry registry = TestRegistry();
  SwarmOptions options;
  options.shards = 3;
  std::vector<std::string> all;
  for (uint32_t shard = 0; shard < 3; ++shard) {
    options.shard = shard;
    auto units = SelectSwarmUnits(registry, options);
    ASSERT_TRUE(units.ok()) << units.status().ToString();
    for (const auto& code : Codes(registry, *units)) all.push_back(code);
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<std::string>{"520102", "520102001", "520102001001", "520102001002",
                                           "520103", "520201"}));
  options.shard = 3;
  EXPECT_FALSE(SelectSwarmUnits(registry, options).ok());
}

TEST(SwarmUnits, UnknownRegionOrEmptySelectionIsRefused) {
  Registry registry = TestRegistry();
  SwarmOptions options;
  options.region = "5299";
  EXPECT_NE(SelectSwarmUnits(registry, options).status().message().find("5299"), std::string::npos);
  options.region = "520201";
  options.tiers = {Tier::kCommunity};
  EXPECT_FALSE(SelectSwarmUnits(registry, options).ok());
}

TEST(SwarmUnits, TooManyUnitsForTheDescriptorLimitAreRefused) {
  Status status = ReserveFileDescriptors(100'000'000);
  EXPECT_EQ(status.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(status.message().find("--shards"), std::string::npos) << status.message();
  EXPECT_TRUE(ReserveFileDescriptors(10).ok());
}

TEST(SwarmReport, PercentilesUseNearestRank) {
  std::vector<int64_t> values;
  for (int64_t v = 100; v >= 1; --v) values.push_back(v);
  EXPECT_EQ(Percentile(values, 0.5), 50);
  EXPECT_EQ(Percentile(values, 0.99), 99);
  EXPECT_EQ(Percentile(values, 1.0), 100);
  std::vector<int64_t> none;
  EXPECT_EQ(Percentile(none, 0.5), 0);
}

TEST(SwarmReport, SummaryCarriesTheReconciliationCounts) {
  SwarmSummary s;
  s.units = 3;
  s.expect = 2;
  s.units_exact = 2;
  s.complete_units = 3;
  s.deliveries = 9;
  s.duplicates = 3;
  s.stored = 6;
  s.received = 6;
  s.confirmed = 6;
  s.reconnects = 1;
  auto j = nlohmann::json::parse(s.ToJson());
  EXPECT_EQ(j["units"], 3);
  EXPECT_EQ(j["units_complete"], 2);  // exactly `expect` distinct directives
  EXPECT_EQ(j["complete_units"], 3);  // at least `expect`, acks confirmed
  EXPECT_EQ(j["deliveries"], 9);
  EXPECT_EQ(j["duplicates"], 3);
  EXPECT_EQ(j["stored"], 6);
  EXPECT_EQ(j["acks_confirmed"], 6);
  EXPECT_EQ(j["confirmed"], 6);
  EXPECT_EQ(j["reconnects"], 1);
  s.expect.reset();
  EXPECT_TRUE(nlohmann::json::parse(s.ToJson())["units_complete"].is_null());
}

// A terminal given a key registry: only directives signed by a publisher's
// registered key, unchanged since, are stored and acknowledged.
class SignedDeliveryTest : public ::testing::Test {
 protected:
  SignedDeliveryTest() : clock_(T0() + 250ms) {
    publisher_key_ = GenerateKeyPair(KeyKind::kSigning).value();
    unit_key_ = GenerateKeyPair(KeyKind::kSigning).value();
    TimePoint added = T0() - 24h;
    EXPECT_TRUE(keys_
                    .Register("province", KeyRole::kPublisher, "province",
                              GenerateKeyPair(KeyKind::kCurve)->public_key,
                              publisher_key_.public_key, added)
                    .ok());
    EXPECT_TRUE(keys_
                    .Register(kCommunity, KeyRole::kUnit, kCommunity,
                              GenerateKeyPair(KeyKind::kCurve)->public_key, unit_key_.public_key,
                              added)
                    .ok());
    SessionOptions options;
    options.keys = &keys_;
    session_ = std::make_unique<TerminalSession>(kCommunity, Tier::kCommunity, inbox_, clock_,
                                                 nullptr, options);
  }

  static v1::StoredDirective Signed(const KeyPair& key, uint64_t seq = 1) {
    v1::StoredDirective stored = SampleStored(seq, "52-HEALTH-20261128-0001");
    v1::Directive* d = stored.mutable_directive();
    *d->mutable_created() = ToTimestamp(T0() - 1min);
    DirectiveSignature sig = SignDirective(*d, key).value();
    d->mutable_signature()->set_key_id(sig.key_id);
    d->mutable_signature()->set_signature(sig.signature);
    return stored;
  }

  FakeClock clock_;
  MemoryInbox inbox_;
  KeyRegistry keys_;
  KeyPair publisher_key_;
  KeyPair unit_key_;
  std::unique_ptr<TerminalSession> session_;
  std::vector<std::string> out_;
};

TEST_F(SignedDeliveryTest, SignedDirectiveIsStoredAndAcknowledged) {
  ASSERT_TRUE(session_->OnMessage(Deliver(Signed(publisher_key_)), out_).ok());
  EXPECT_TRUE(inbox_.Contains("52-HEALTH-20261128-0001", 1));
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_TRUE(DecodeOk(out_[0]).has_ack());
}

TEST_F(SignedDeliveryTest, BrokerAssignedFieldsMayChangeAfterSigning) {
  v1::StoredDirective stored = Signed(publisher_key_);
  stored.mutable_directive()->set_version(2);
  stored.mutable_directive()->set_msg_type(v1::CANCEL);
  stored.mutable_directive()->add_references("52-HEALTH-20261128-0001");
  ASSERT_TRUE(session_->OnMessage(Deliver(stored), out_).ok());
  EXPECT_TRUE(inbox_.Contains("52-HEALTH-20261128-0001", 2));
}

TEST_F(SignedDeliveryTest, TamperedDirectiveIsRefusedNotStoredNotAcknowledged) {
  v1::StoredDirective stored = Signed(publisher_key_);
  stored.mutable_directive()->set_body("All wet markets stay open.");
  Status status = session_->OnMessage(Deliver(stored), out_);
  EXPECT_EQ(status.code(), Status::Code::kPermissionDenied) << status.ToString();
  EXPECT_NE(status.message().find("refused"), std::string::npos) << status.message();
  EXPECT_EQ(inbox_.size(), 0u);
  EXPECT_TRUE(out_.empty());
  EXPECT_EQ(session_->counters().bad_signatures, 1u);
}

TEST_F(SignedDeliveryTest, UnsignedDirectiveIsRefused) {
  EXPECT_FALSE(session_->OnMessage(Deliver(SampleStored(1, "52-HEALTH-20261128-0001")), out_).ok());
  EXPECT_EQ(inbox_.size(), 0u);
  EXPECT_TRUE(out_.empty());
}

TEST_F(SignedDeliveryTest, DirectiveSignedByANonPublisherKeyIsRefused) {
  Status status = session_->OnMessage(Deliver(Signed(unit_key_)), out_);
  EXPECT_EQ(status.code(), Status::Code::kPermissionDenied) << status.ToString();
  EXPECT_NE(status.message().find("not to a publisher"), std::string::npos) << status.message();
  EXPECT_EQ(inbox_.size(), 0u);
  EXPECT_TRUE(out_.empty());
}

TEST_F(SignedDeliveryTest, DirectiveSignedByAnUnknownKeyIsRefused) {
  KeyPair stranger = GenerateKeyPair(KeyKind::kSigning).value();
  EXPECT_FALSE(session_->OnMessage(Deliver(Signed(stranger)), out_).ok());
  EXPECT_EQ(inbox_.size(), 0u);
  EXPECT_TRUE(out_.empty());
}

TEST_F(SignedDeliveryTest, DirectiveSentAfterItsKeyWasRevokedIsRefused) {
  ASSERT_TRUE(keys_.Revoke("province", KeyKind::kSigning, T0() - 1h).ok());
  EXPECT_FALSE(session_->OnMessage(Deliver(Signed(publisher_key_)), out_).ok());
  EXPECT_EQ(inbox_.size(), 0u);
}

TEST_F(SignedDeliveryTest, DirectiveSentBeforeItsKeyWasRevokedStillVerifies) {
  ASSERT_TRUE(keys_.Revoke("province", KeyKind::kSigning, T0() + 1h).ok());
  EXPECT_TRUE(session_->OnMessage(Deliver(Signed(publisher_key_)), out_).ok());
  EXPECT_EQ(inbox_.size(), 1u);
}


// A terminal that keeps documents: a directive's attachments are asked for
// after its acknowledgement, a chunk at a time while welcomed, and a
// document whose bytes are not the signed ones is refused.
TEST(TerminalDocuments, TheAttachedDocumentIsFetchedAfterTheAckAndAForgedOneRefused) {
  FakeClock clock(T0());
  MemoryInbox inbox;
  HashingShelf shelf;
  DocumentFetcher fetcher(clock);
  SessionOptions options;
  options.documents = &fetcher;
  options.shelf = &shelf;
  TerminalSession session(kCommunity, Tier::kCommunity, inbox, clock, nullptr, options);
  std::string good = "%PDF-1.7\n";
  good.resize(kAttachmentChunkBytes + 100, 'g');
  std::string forged = good;
  forged[5000] = 'F';
  auto stored = SampleStored(3, "52-HEALTH-20261128-0001");
  *stored.mutable_directive()->add_attachments() = *DescribeAttachment("通知.pdf", good);
  std::string other = "%PDF-1.7\n";
  other.resize(300, 'o');
  *stored.mutable_directive()->add_attachments() = *DescribeAttachment("附件二.pdf", other);
  std::vector<std::string> out;
  // Not welcomed yet: the ack goes (it is sent anyway), no request yet.
  ASSERT_TRUE(session.OnMessage(Deliver(stored), out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(DecodeOk(out[0]).has_ack());
  out.clear();
  ASSERT_TRUE(session.OnMessage(Welcome(), out).ok());
  // The pending ack again, then the first chunk of the first document.
  ASSERT_EQ(out.size(), 2u);
  v1::Envelope get = DecodeOk(out[1]);
  ASSERT_TRUE(get.has_attachment_get());
  EXPECT_EQ(get.attachment_get().sha256(), stored.directive().attachments(0).sha256());
  EXPECT_EQ(get.attachment_get().offset(), 0u);
  auto chunk = [&](const v1::Envelope& request, const std::string& content) {
    return Encode([&](v1::Envelope& e) {
      e.set_correlation_id(request.correlation_id());
      auto* c = e.mutable_attachment_chunk();
      c->set_sha256(request.attachment_get().sha256());
      c->set_offset(request.attachment_get().offset());
      c->set_size(content.size());
      c->set_media_type("application/pdf");
      c->set_data(content.substr(request.attachment_get().offset(), kAttachmentChunkBytes));
    });
  };
  // The broker's copy was tampered with: both chunks arrive, the whole is refused.
  out.clear();
  ASSERT_TRUE(session.OnMessage(chunk(get, forged), out).ok());
  ASSERT_EQ(out.size(), 1u);
  get = DecodeOk(out[0]);
  EXPECT_EQ(get.attachment_get().offset(), kAttachmentChunkBytes);
  out.clear();
  Status refused = session.OnMessage(chunk(get, forged), out);
  EXPECT_EQ(refused.code(), Status::Code::kCorruption);
  EXPECT_EQ(session.counters().documents_refused, 1u);
  EXPECT_FALSE(shelf.Complete(WantedDocument::Of(stored.directive().attachments(0))));
  // The second document comes next, and is kept.
  ASSERT_EQ(out.size(), 1u);
  get = DecodeOk(out[0]);
  EXPECT_EQ(get.attachment_get().sha256(), stored.directive().attachments(1).sha256());
  out.clear();
  ASSERT_TRUE(session.OnMessage(chunk(get, other), out).ok());
  EXPECT_EQ(session.counters().documents_kept, 1u);
  EXPECT_TRUE(out.empty()) << "the refused one waits before it is asked for again";
  // After the wait the first is asked for again from its start and kept
  // when it is right.
  clock.Advance(std::chrono::minutes(2));
  session.PollDocuments(out);
  ASSERT_EQ(out.size(), 1u);
  get = DecodeOk(out[0]);
  EXPECT_EQ(get.attachment_get().offset(), 0u);
  for (int i = 0; i < 2; ++i) {
    out.clear();
    ASSERT_TRUE(session.OnMessage(chunk(get, good), out).ok());
    if (!out.empty()) get = DecodeOk(out[0]);
  }
  EXPECT_EQ(session.counters().documents_kept, 2u);
  EXPECT_TRUE(fetcher.idle());
  // Without a shelf, a chunk is a message a terminal never expects.
  MemoryInbox plain_inbox;
  TerminalSession plain(kCommunity, Tier::kCommunity, plain_inbox, clock);
  EXPECT_EQ(plain.OnMessage(chunk(get, good), out).code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace flatcast::subscriber
