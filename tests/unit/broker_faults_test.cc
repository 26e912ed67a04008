// Every branch where a store call fails, on the broker core with a store
// that fails on demand (faulty_store.h): the publisher gets a clear error
// and nothing is half-stored or delivered, acknowledgements stay
// unconfirmed until they are stored, a release that could not be stored is
// tried again, and the broker serves again once the store recovers.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "broker_harness.h"
#include "flatcast/broker/admin.h"
#include "flatcast/broker/broker.h"
#include "flatcast/duration.h"
#include "flatcast/rpc_client.h"
#include "process.h"

namespace flatcast::broker {
namespace {

using namespace std::chrono_literals;
using namespace testing;  // flatcast::testing: the harness and sample messages

class BrokerFaults : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(b_.Start().ok()); }

  size_t DeliveriesTo(const std::string& peer) {
    size_t n = 0;
    while (b_.Next(peer, v1::Envelope::kDeliver)) ++n;
    return n;
  }
  // Log records of acknowledgements at `level` by `unit`.
  int Logged(const std::string& unit, v1::AckLevel level) {
    v1::AuditRequest log;
    log.mutable_log();
    int n = 0;
    v1::Envelope reply = b_.Call("auditor", AuditOf(log));
    for (const auto& r : reply.audit_reply().log().records()) {
      n += r.has_ack() && r.ack().unit_code() == unit && r.ack().level() == level;
    }
    return n;
  }
  bool Verifies() {
    v1::AuditRequest verify;
    verify.mutable_verify();
    return b_.Call("auditor", AuditOf(verify)).audit_reply().verify().ok();
  }

  testing::BrokerHarness b_;
};

void ExpectError(const v1::Envelope& reply, v1::ErrorCode code, const std::string& words) {
  ASSERT_TRUE(reply.has_error()) << reply.DebugString();
  EXPECT_EQ(reply.error().code(), code) << reply.error().message();
  EXPECT_NE(reply.error().message().find(words), std::string::npos) << reply.error().message();
}

TEST_F(BrokerFaults, PublishWhoseWriteFailsIsRefusedAndNothingIsStoredOrSent) {
  b_.Connect("520102");
  b_.store().FailWrites(1);
  auto reply = b_.Call("publisher", SamplePublish({"5201"}, {v1::DISTRICT}));
  ExpectError(reply, v1::INTERNAL, "directive not stored, nothing changed or was sent");
  EXPECT_NE(reply.error().message().find("write failed"), std::string::npos);
  EXPECT_EQ(b_.store().head_seq(), 0u);
  EXPECT_EQ(DeliveriesTo("520102"), 0u);
  // The store took the next write: the same directive gets the first id and sequence.
  auto receipt = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  EXPECT_EQ(receipt.id(), "52-HEALTH-20261128-0001");
  EXPECT_EQ(receipt.seq(), 1u);
  EXPECT_EQ(DeliveriesTo("520102"), 1u);
}

TEST_F(BrokerFaults, RetryWithTheSameIdempotencyKeyAfterAFailedWriteStoresOnce) {
  b_.store().FailWrites(1);
  ExpectError(b_.Call("publisher", SamplePublish({"52"}, {v1::DISTRICT}, "k1")), v1::INTERNAL,
              "retrying with the same idempotency key is safe");
  auto first = b_.Publish(SamplePublish({"52"}, {v1::DISTRICT}, "k1"));
  EXPECT_FALSE(first.duplicate());
  auto again = b_.Publish(SamplePublish({"52"}, {v1::DISTRICT}, "k1"));
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.seq(), first.seq());
  EXPECT_EQ(b_.store().head_seq(), 1u);
}

TEST_F(BrokerFaults, AWriteReportedFailedThatReachedTheStoreCountsAsDurable) {
  b_.Connect("520102");
  b_.store().FailWrites(1, FaultyStore::WriteFault::kSyncAfterApply);
  auto receipt = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}, "k1"));
  EXPECT_EQ(receipt.seq(), 1u);
  EXPECT_EQ(DeliveriesTo("520102"), 1u);
  b_.Stop();
  ASSERT_TRUE(b_.Start().ok());
  auto again = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}, "k1"));
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(b_.store().head_seq(), 1u);
}

TEST_F(BrokerFaults, AcknowledgementsWhoseWriteFailsStayUnconfirmedAndAreStoredOnceWhenSentAgain) {
  b_.Connect("520102");
  b_.Connect("520103");
  auto receipt = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  b_.store().FailWrites(1);
  b_.SendPass({{"520102", AckOf(receipt, v1::RECEIVED)}, {"520103", AckOf(receipt, v1::RECEIVED)}});
  EXPECT_FALSE(b_.Next("520102", v1::Envelope::kAckConfirm).has_value());
  EXPECT_FALSE(b_.Next("520103", v1::Envelope::kAckConfirm).has_value());
  EXPECT_EQ(b_.Call("publisher", CoverageOf(receipt.id())).coverage_reply().acknowledged(), 0u);
  // The terminals send them again (on their next heartbeat): stored and confirmed once.
  b_.SendPass({{"520102", AckOf(receipt, v1::RECEIVED)}, {"520103", AckOf(receipt, v1::RECEIVED)}});
  EXPECT_TRUE(b_.Next("520102", v1::Envelope::kAckConfirm).has_value());
  EXPECT_TRUE(b_.Next("520103", v1::Envelope::kAckConfirm).has_value());
  EXPECT_EQ(b_.Call("publisher", CoverageOf(receipt.id())).coverage_reply().acknowledged(), 2u);
  EXPECT_EQ(Logged("520102", v1::RECEIVED), 1);
  EXPECT_TRUE(Verifies());
}

TEST_F(BrokerFaults, RatingWhoseWriteFailsIsConfirmedOnlyOnceStored) {
  const std::string t = "520102001001";
  b_.Connect(t);
  auto receipt = b_.Publish(SamplePublish({"5201"}, {v1::COMMUNITY}));
  ASSERT_TRUE(b_.Call(t, AckOf(receipt, v1::RECEIVED)).has_ack_confirm());
  b_.store().FailWrites(1);
  EXPECT_EQ(b_.Call(t, RatingOf(receipt, 4, 3, 100)).body_case(), v1::Envelope::BODY_NOT_SET);
  auto confirmed = b_.Call(t, RatingOf(receipt, 4, 3, 100));
  ASSERT_TRUE(confirmed.has_rating_confirm()) << confirmed.DebugString();
  v1::AuditRequest ratings;
  ratings.mutable_ratings()->set_by(v1::RatingsQuery::DIRECTIVE);
  auto rows = b_.Call("auditor", AuditOf(ratings)).audit_reply().ratings().rows();
  ASSERT_EQ(rows.size(), 1);
  EXPECT_EQ(rows[0].ratings(), 1u);
}

TEST_F(BrokerFaults, LifecycleChangeWhoseWriteFailsChangesNothing) {
  b_.Connect("520102");
  auto receipt = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  DeliveriesTo("520102");
  v1::Envelope cancel;
  cancel.mutable_lifecycle()->set_action(v1::LifecycleRequest::CANCEL);
  cancel.mutable_lifecycle()->set_directive_id(receipt.id());
  cancel.mutable_lifecycle()->set_reason("wrong district");
  b_.store().FailWrites(1);
  ExpectError(b_.Call("publisher", cancel), v1::INTERNAL, "nothing changed");
  EXPECT_EQ(b_.store().head_seq(), 1u);
  EXPECT_EQ(DeliveriesTo("520102"), 0u);
  auto reply = b_.Call("publisher", cancel);
  ASSERT_TRUE(reply.has_lifecycle_reply()) << reply.DebugString();
  EXPECT_EQ(reply.lifecycle_reply().version(), 2u);
  EXPECT_EQ(DeliveriesTo("520102"), 1u);
}

TEST_F(BrokerFaults, ReleaseThatCannotBeStoredIsTriedAgainAndNeverLost) {
  auto env = SamplePublish({"52"}, {v1::COMMUNITY});
  env.mutable_publish()->mutable_directive()->set_is_public(true);
  auto receipt = b_.Publish(env);
  b_.store().FailWrites(3);
  b_.Advance(12h);  // due: the first attempt fails
  EXPECT_EQ(b_.store().writes_failed(), 1);
  EXPECT_EQ(b_.feed().latest().size(), 0u);
  b_.Advance(100ms);  // tried again only after a second
  EXPECT_EQ(b_.store().writes_failed(), 1);
  b_.Advance(1s);
  b_.Advance(1s);
  EXPECT_EQ(b_.store().writes_failed(), 3);
  EXPECT_EQ(b_.feed().latest().size(), 0u);
  b_.Advance(1s);
  ASSERT_EQ(b_.feed().latest().size(), 1u);
  int released = 0;
  for (const auto& e : b_.Events(receipt.id())) {
    if (e.kind() != v1::LifecycleEvent::RELEASED) continue;
    ++released;
    EXPECT_GE(e.late_by_ms(), 3000);
  }
  EXPECT_EQ(released, 1);
  // Released once: later passes do not release it again.
  b_.Advance(1h);
  EXPECT_EQ(b_.Events(receipt.id()).size(), 3u);  // published, hold set, released
}

TEST_F(BrokerFaults, AFullDiskRefusesWritesSayingWhyAndTheBrokerServesAgainWhenSpaceReturns) {
  b_.Connect("520102");
  auto stored = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  ASSERT_TRUE(b_.Call("520102", AckOf(stored, v1::RECEIVED)).has_ack_confirm());
  b_.store().SetDiskFull(true);
  // Its outcome is not known until the store recovers: retry later.
  ExpectError(b_.Call("publisher", SamplePublish({"5201"}, {v1::DISTRICT})), v1::UNAVAILABLE,
              "No space left on device");
  ExpectError(b_.Call("publisher", SamplePublish({"5201"}, {v1::DISTRICT})), v1::INTERNAL,
              "the store does not accept writes");
  // What is stored is still delivered and answered.
  b_.Connect("520103");
  EXPECT_EQ(DeliveriesTo("520103"), 1u);
  EXPECT_TRUE(b_.Call("publisher", CoverageOf(stored.id())).has_coverage_reply());
  EXPECT_EQ(b_.Call("520103", AckOf(stored, v1::RECEIVED)).body_case(), v1::Envelope::BODY_NOT_SET);
  b_.store().SetDiskFull(false);
  b_.Advance(1s);  // the store recovers
  b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  ASSERT_TRUE(b_.Call("520103", AckOf(stored, v1::RECEIVED)).has_ack_confirm());
  EXPECT_EQ(b_.store().head_seq(), 2u);
  EXPECT_TRUE(Verifies());
}

TEST_F(BrokerFaults, AWriteOfUnknownOutcomeIsAdoptedWhenTheRecoveredStoreHoldsIt) {
  b_.Connect("520102");
  b_.store().FailWrites(1, FaultyStore::WriteFault::kSyncAfterApply);
  // At once, on the pass's timer and for the next write.
  b_.store().FailRecoveries(3);
  // Applied, but the store cannot tell yet: the publisher is told so, nothing is sent.
  ExpectError(b_.Call("publisher", SamplePublish({"5201"}, {v1::DISTRICT}, "a")), v1::UNAVAILABLE,
              "whether it was stored is not known");
  EXPECT_EQ(DeliveriesTo("520102"), 0u);
  // While the store has not recovered, nothing else is written.
  ExpectError(b_.Call("publisher", SamplePublish({"5201"}, {v1::DISTRICT}, "b")), v1::INTERNAL,
              "the store does not accept writes");
  b_.Advance(1s);  // recovered: the store holds "a", which the broker loads and sends
  EXPECT_EQ(DeliveriesTo("520102"), 1u);
  auto a = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}, "a"));
  EXPECT_TRUE(a.duplicate());
  EXPECT_EQ(a.seq(), 1u);
  auto next = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}, "b"));
  EXPECT_FALSE(next.duplicate());
  EXPECT_EQ(next.seq(), 2u);
  EXPECT_EQ(next.id(), "52-HEALTH-20261128-0002");
  EXPECT_TRUE(Verifies());
}

TEST_F(BrokerFaults, AWriteOfUnknownOutcomeThatWasNotAppliedLeavesNothingBehind) {
  b_.store().FailWrites(1);
  b_.store().FailRecoveries(1);
  ExpectError(b_.Call("publisher", SamplePublish({"5201"}, {v1::DISTRICT}, "a")), v1::UNAVAILABLE,
              "not known");
  b_.Advance(1s);
  auto a = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}, "a"));
  EXPECT_FALSE(a.duplicate());
  EXPECT_EQ(a.seq(), 1u);
}

TEST_F(BrokerFaults, DeadlinePassedThatCannotBeRecordedIsRecordedOnTheNextRound) {
  b_.Connect("520102");
  auto env = SamplePublish({"5201"}, {v1::DISTRICT});
  auto* deadline = env.mutable_publish()->mutable_directive()->add_deadlines();
  deadline->set_level(v1::CONFIRMED);
  deadline->set_within_ms(3600 * 1000);
  auto receipt = b_.Publish(env);
  b_.store().FailWrites(1);
  b_.Advance(1h + 6s);
  auto passed = [&] {
    int n = 0;
    for (const auto& e : b_.Events(receipt.id())) n += e.kind() == v1::LifecycleEvent::DEADLINE_PASSED;
    return n;
  };
  EXPECT_EQ(passed(), 0);
  EXPECT_TRUE(b_.Next("520102", v1::Envelope::kOverdueReport).has_value());  // reminded anyway
  b_.Advance(6s);
  EXPECT_EQ(passed(), 1);
  b_.Advance(6s);
  EXPECT_EQ(passed(), 1);
}

TEST_F(BrokerFaults, AQueryWhoseReadFailsIsAnsweredWithTheErrorAndPublishingGoesOn) {
  auto receipt = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  b_.store().SetReadsFail(true);
  ExpectError(b_.Call("publisher", CoverageOf(receipt.id())), v1::INTERNAL, "read failed");
  // The loop reads nothing from the store to publish or acknowledge.
  b_.Connect("520102");
  EXPECT_EQ(DeliveriesTo("520102"), 1u);
  b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  ASSERT_TRUE(b_.Call("520102", AckOf(receipt, v1::RECEIVED)).has_ack_confirm());
  b_.store().SetReadsFail(false);
  EXPECT_EQ(b_.Call("publisher", CoverageOf(receipt.id())).coverage_reply().acknowledged(), 1u);
}

TEST(BrokerRecovery, AStoreThatCannotBeReadStopsTheStartWithTheReason) {
  testing::BrokerHarness::Options options;
  options.on_open = [](FaultyStore& store) { store.SetReadsFail(true); };
  testing::BrokerHarness b(options);
  Status started = b.Start();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.message().find("read failed"), std::string::npos) << started.ToString();
}

}  // namespace
}  // namespace flatcast::broker

namespace flatcast::broker {
namespace {

using namespace std::chrono_literals;

// The whole broker (its loop on a thread, TCP on loopback) over a store that
// fails on demand: what its admin listener answers follows the store.
TEST(BrokerReadiness, ReadyzAndHealthzSayWhyWhileTheStoreFailsAndRecoverWithIt) {
  testing::TempDir dir;
  const Registry registry = testing::TestRegistry();
  testing::FaultyStore store(Store::Open({dir / "data", true, 64}).value());
  BrokerConfig config;
  config.endpoint = "tcp://127.0.0.1:*";
  config.data_dir = dir / "data";
  config.store_reserve_mb = 0;
  zmq::context_t ctx(1);
  AdminSurface admin;
  Broker broker(config, registry, store, SystemClock::Instance(), ctx, &admin);
  ASSERT_TRUE(broker.Start().ok());
  std::atomic<bool> stop{false};
  std::thread loop([&] { (void)broker.Serve(stop); });
  struct Join {
    std::atomic<bool>& stop;
    std::thread& loop;
    ~Join() {
      stop = true;
      loop.join();
    }
  } join{stop, loop};
  auto answer = [&](std::string_view target) { return admin.Answer(target); };
  ASSERT_TRUE(testing::WaitFor([&] { return answer("/readyz").status == 200; }, 10s))
      << answer("/readyz").body;
  EXPECT_EQ(answer("/healthz").body, "ok\n");

  // A write fails and so does every recovery: the publisher is refused, and
  // the admin listener says the store is the reason.
  store.FailWrites(1);
  store.FailRecoveries(1000000);
  RpcClient client(ctx, broker.endpoint());
  auto refused = client.Call(testing::SamplePublish({"5201"}, {v1::DISTRICT}), 5s);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("directive not confirmed"), std::string::npos)
      << refused.status().ToString();
  AdminResponse ready;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        ready = answer("/readyz");
        return ready.status == 503;
      },
      10s));
  EXPECT_NE(ready.body.find("a store write failed"), std::string::npos) << ready.body;
  EXPECT_NE(ready.body.find("recovery failed"), std::string::npos) << ready.body;
  const AdminResponse health = answer("/healthz");
  EXPECT_EQ(health.status, 503) << "a store that cannot write is not healthy";
  EXPECT_NE(health.body.find("a store write failed"), std::string::npos) << health.body;

  // Recovery succeeds on its next try (every second): ready, and it stores again.
  store.FailRecoveries(0);
  ASSERT_TRUE(testing::WaitFor([&] { return answer("/readyz").status == 200; }, 10s))
      << answer("/readyz").body;
  EXPECT_EQ(answer("/healthz").status, 200);
  auto stored = client.Call(testing::SamplePublish({"5201"}, {v1::DISTRICT}), 5s);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_TRUE(stored->has_receipt()) << stored->DebugString();
}

}  // namespace
}  // namespace flatcast::broker
