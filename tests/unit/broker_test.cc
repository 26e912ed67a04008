// The broker core in-process (broker_harness.h): a fake clock, a recording
// outbox, a RocksDB store in a temp dir, every pass of the loop a call.
#include <gtest/gtest.h>

#include "broker_harness.h"
#include "flatcast/broker/config.h"
#include "flatcast/broker/fd_budget.h"
#include "flatcast/duration.h"
#include "flatcast/wire.h"

namespace flatcast::broker {
namespace {

using namespace std::chrono_literals;
using namespace testing;  // flatcast::testing: the harness and sample messages

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(b_.Start().ok()); }

  // Deliveries queued for `peer`, taken.
  std::vector<v1::Envelope> Deliveries(const std::string& peer) {
    std::vector<v1::Envelope> out;
    while (auto d = b_.Next(peer, v1::Envelope::kDeliver)) out.push_back(*d);
    return out;
  }

  testing::BrokerHarness b_;
};

TEST_F(BrokerTest, PublishAnswersReceiptWithIdSequenceAndAddressedCount) {
  auto receipt = b_.Publish(SamplePublish({"52"}, {v1::DISTRICT, v1::STREET, v1::COMMUNITY}));
  EXPECT_EQ(receipt.id(), "52-HEALTH-20261128-0001");
  EXPECT_EQ(receipt.seq(), 1u);
  EXPECT_EQ(receipt.addressed_units(), 9u);  // 3 districts, 3 streets, 3 communities
  auto second = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  EXPECT_EQ(second.id(), "52-HEALTH-20261128-0002");
  EXPECT_EQ(second.seq(), 2u);
}

TEST_F(BrokerTest, CityScopedDirectiveReachesOnlyUnitsOfThatCity) {
  b_.Connect("520102001");
  b_.Connect("520201001");
  b_.Publish(SamplePublish({"5201"}, {v1::STREET}));
  auto got = Deliveries("520102001");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].deliver().directive().directive().title(), "Close markets");
  EXPECT_TRUE(Deliveries("520201001").empty());
}

TEST_F(BrokerTest, DistrictOnlyDirectiveDoesNotReachStreetsOrCommunities) {
  for (const char* unit : {"520102", "520102001", "520102001001"}) b_.Connect(unit);
  b_.Publish(SamplePublish({"52"}, {v1::DISTRICT}));
  EXPECT_EQ(Deliveries("520102").size(), 1u);
  EXPECT_TRUE(Deliveries("520102001").empty());
  EXPECT_TRUE(Deliveries("520102001001").empty());
}

TEST_F(BrokerTest, FanOutSendsOneSharedBufferToEveryConnectedUnit) {
  for (const char* unit : {"520102", "520103"}) b_.Connect(unit);
  b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  auto a = Deliveries("520102"), c = Deliveries("520103");
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(a[0].deliver().directive().SerializeAsString(),
            c[0].deliver().directive().SerializeAsString());
}

TEST_F(BrokerTest, AckIsConfirmedAndCountedInCoverage) {
  b_.Connect("520102");
  auto receipt = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  ASSERT_EQ(Deliveries("520102").size(), 1u);
  auto confirm = b_.Call("520102", AckOf(receipt, v1::RECEIVED));
  ASSERT_TRUE(confirm.has_ack_confirm()) << confirm.DebugString();
  EXPECT_EQ(confirm.ack_confirm().seq(), receipt.seq());
  // Idempotent: the same ack again is confirmed and counted once.
  EXPECT_TRUE(b_.Call("520102", AckOf(receipt, v1::RECEIVED)).has_ack_confirm());

  auto cov = b_.Call("publisher", CoverageOf(receipt.id(), 10));
  ASSERT_TRUE(cov.has_coverage_reply()) << cov.DebugString();
  EXPECT_EQ(cov.coverage_reply().addressed(), 2u);  // 520102 and 520103
  EXPECT_EQ(cov.coverage_reply().acknowledged(), 1u);
  EXPECT_EQ(cov.coverage_reply().connected_now(), 1u);
  ASSERT_EQ(cov.coverage_reply().missing_size(), 1);
  EXPECT_EQ(cov.coverage_reply().missing(0), "520103");
  EXPECT_EQ(cov.coverage_reply().missing_names(0), "云岩区");
  EXPECT_TRUE(cov.coverage_reply().has_last_ack_stored());
}

TEST_F(BrokerTest, CoverageOfARegionCountsOnlyItsUnitsAndUnknownOnesAreRefused) {
  auto receipt = b_.Publish(SamplePublish({"52"}, {v1::STREET, v1::COMMUNITY}));
  auto query = CoverageOf(receipt.id(), 100);
  query.mutable_coverage_query()->set_region("520102001");
  auto cov = b_.Call("publisher", query);
  ASSERT_TRUE(cov.has_coverage_reply()) << cov.DebugString();
  EXPECT_EQ(cov.coverage_reply().addressed(), 3u);  // the street and its two communities
  ASSERT_EQ(cov.coverage_reply().tiers_size(), 2);
  query.mutable_coverage_query()->set_region("529999");
  auto bad = b_.Call("publisher", query);
  ASSERT_TRUE(bad.has_error());
  EXPECT_EQ(bad.error().code(), v1::INVALID);
  auto unknown = b_.Call("publisher", CoverageOf("52-HEALTH-20261128-0404"));
  ASSERT_TRUE(unknown.has_error());
  EXPECT_EQ(unknown.error().code(), v1::NOT_FOUND);
}

TEST_F(BrokerTest, AcksSurviveBrokerRestart) {
  b_.Connect("520102");
  auto receipt = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  ASSERT_TRUE(b_.Call("520102", AckOf(receipt, v1::RECEIVED)).has_ack_confirm());
  b_.Stop();
  b_.TakeAll("520102");
  ASSERT_TRUE(b_.Start().ok());
  auto cov = b_.Call("publisher", CoverageOf(receipt.id()));
  EXPECT_EQ(cov.coverage_reply().acknowledged(), 1u);
  // The acknowledged unit is not sent the directive again; the other one is.
  b_.Connect("520102");
  EXPECT_TRUE(Deliveries("520102").empty());
  b_.Connect("520103");
  EXPECT_EQ(Deliveries("520103").size(), 1u);
}

TEST_F(BrokerTest, HelloCatchesUpOnDirectivesPublishedWhileOffline) {
  b_.Publish(SamplePublish({"5201"}, {v1::COMMUNITY}));
  b_.Connect("520102001001");
  auto got = Deliveries("520102001001");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].deliver().directive().seq(), 1u);
}

TEST_F(BrokerTest, CatchUpSendsOnlyTheLatestVersionOfAnAmendedDirectiveAlsoAfterARestart) {
  auto receipt = b_.Publish(SamplePublish({"5201"}, {v1::COMMUNITY}));
  v1::Envelope amend;
  auto* req = amend.mutable_lifecycle();
  req->set_action(v1::LifecycleRequest::AMEND);
  req->set_directive_id(receipt.id());
  req->set_reason("typo");
  req->set_base_version(1);
  *req->mutable_directive() = SamplePublish({"5201"}, {v1::COMMUNITY}).publish().directive();
  req->mutable_directive()->set_title("Corrected title");
  ASSERT_TRUE(b_.Call("publisher", amend).has_lifecycle_reply());
  for (bool restarted : {false, true}) {
    if (restarted) {
      b_.Stop();
      ASSERT_TRUE(b_.Start().ok());
    }
    b_.Connect("520102001001");
    auto got = Deliveries("520102001001");
    ASSERT_EQ(got.size(), 1u) << (restarted ? "after a restart" : "");
    EXPECT_EQ(got[0].deliver().directive().directive().version(), 2u);
  }
}

TEST_F(BrokerTest, CatchUpStopsAtAFullQueueAndHeartbeatsAskForTheRest) {
  for (int i = 0; i < 3; ++i) b_.Publish(SamplePublish({"5201"}, {v1::COMMUNITY}));
  b_.outbox().LimitQueue("520102001001", 2);  // the welcome and one delivery
  b_.Connect("520102001001");
  EXPECT_EQ(Deliveries("520102001001").size(), 1u);
  b_.Advance(6s);
  auto hb = b_.Next("520102001001", v1::Envelope::kHeartbeat);
  ASSERT_TRUE(hb.has_value());
  EXPECT_EQ(hb->heartbeat().unacknowledged(), 3u);
}

TEST_F(BrokerTest, SameIdempotencyKeyPublishesOnce) {
  auto first = b_.Publish(SamplePublish({"52"}, {v1::DISTRICT}, "key-1"));
  auto again = b_.Publish(SamplePublish({"52"}, {v1::DISTRICT}, "key-1"));
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.id(), first.id());
  EXPECT_EQ(b_.store().head_seq(), 1u);
}

TEST_F(BrokerTest, InvalidDirectiveIsRefusedWithReasonAndNothingStored) {
  auto req = SamplePublish({"5299"}, {v1::DISTRICT});
  auto reply = b_.Call("publisher", req);
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::INVALID);
  EXPECT_NE(reply.error().message().find("5299"), std::string::npos) << reply.error().message();
  req.mutable_publish()->mutable_directive()->set_title("");
  req.mutable_publish()->mutable_directive()->set_scope(0, "5201");
  reply = b_.Call("publisher", req);
  ASSERT_TRUE(reply.has_error());
  EXPECT_NE(reply.error().message().find("title"), std::string::npos) << reply.error().message();
  EXPECT_EQ(b_.store().head_seq(), 0u);
  EXPECT_EQ(b_.store().writes_attempted(), 0);
}

TEST_F(BrokerTest, ReferenceToAnUnknownDirectiveIsRefused) {
  auto req = SamplePublish({"52"}, {v1::DISTRICT});
  req.mutable_publish()->mutable_directive()->add_references("52-HEALTH-20261128-0404");
  auto reply = b_.Call("publisher", req);
  ASSERT_TRUE(reply.has_error());
  EXPECT_NE(reply.error().message().find("is unknown"), std::string::npos);
}

TEST_F(BrokerTest, MalformedBytesGetAnErrorAndTheBrokerKeepsServing) {
  b_.SendRaw("bad", "\xff\xff\xff not protobuf");
  auto reply = b_.outbox().TakeNext("bad");
  ASSERT_TRUE(reply && reply->has_error());
  EXPECT_EQ(reply->error().code(), v1::MALFORMED);
  b_.SendRaw("bad", std::string(100 * 1024, 'x'));  // over max_message_bytes
  reply = b_.outbox().TakeNext("bad");
  ASSERT_TRUE(reply && reply->has_error());
  EXPECT_EQ(reply->error().code(), v1::TOO_LARGE);
  b_.SendRaw("bad", "", 2);
  reply = b_.outbox().TakeNext("bad");
  ASSERT_TRUE(reply && reply->has_error());
  EXPECT_NE(reply->error().message().find("exactly one body frame, got 2"), std::string::npos);
  v1::Envelope welcome;
  welcome.mutable_welcome()->set_unit_code("520102");  // a broker's message, not one for it
  b_.Send("bad", welcome);
  reply = b_.outbox().TakeNext("bad");
  ASSERT_TRUE(reply && reply->has_error());
  EXPECT_EQ(reply->error().code(), v1::UNSUPPORTED);
  b_.Publish(SamplePublish({"52"}, {v1::DISTRICT}));
}

TEST_F(BrokerTest, UnregisteredUnitIsRefused) {
  auto reply = b_.Connect("529999");
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::NOT_REGISTERED);
}

TEST_F(BrokerTest, AckOfDirectiveNotAddressedToTheUnitIsRefused) {
  auto receipt = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  b_.Connect("520201");  // in 5202, not addressed
  auto reply = b_.Call("520201", AckOf(receipt, v1::RECEIVED));
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::INVALID);
  // An ack before hello is refused too.
  reply = b_.Call("anonymous", AckOf(receipt, v1::RECEIVED));
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::NOT_REGISTERED);
  // And one naming another directive than the sequence's.
  b_.Connect("520102");
  auto wrong = AckOf(receipt, v1::RECEIVED);
  wrong.mutable_ack()->set_directive_id("52-HEALTH-20261128-0404");
  reply = b_.Call("520102", wrong);
  ASSERT_TRUE(reply.has_error());
  EXPECT_NE(reply.error().message().find("is directive"), std::string::npos);
}

TEST_F(BrokerTest, UnacknowledgedDirectiveIsSentAgainAfterTheRedeliveryTimeout) {
  b_.Connect("520102");
  auto receipt = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  ASSERT_EQ(Deliveries("520102").size(), 1u);
  // Nothing again before the timeout...
  b_.Advance(1s);
  EXPECT_TRUE(Deliveries("520102").empty());
  // ...and again once it has passed (the terminal "lost" the first one).
  b_.Advance(2s);
  auto again = Deliveries("520102");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].deliver().directive().seq(), receipt.seq());
  // Once acknowledged, no more redelivery.
  ASSERT_TRUE(b_.Call("520102", AckOf(receipt, v1::RECEIVED)).has_ack_confirm());
  for (int i = 0; i < 10; ++i) b_.Advance(12s);
  EXPECT_TRUE(Deliveries("520102").empty());
}

TEST_F(BrokerTest, RedeliveryWaitsTwiceAsLongEachRoundUpToTheMaximum) {
  b_.Connect("520102");
  b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  Deliveries("520102");
  std::vector<int> rounds_at;  // seconds after publishing
  for (int s = 1; s <= 200; ++s) {
    b_.Advance(1s);
    if (!Deliveries("520102").empty()) rounds_at.push_back(s);
  }
  // 2 s, then 4, 8, 16, 32 s between rounds, then at most 60 s.
  ASSERT_GE(rounds_at.size(), 6u);
  std::vector<int> gaps;
  for (size_t i = 1; i < rounds_at.size(); ++i) gaps.push_back(rounds_at[i] - rounds_at[i - 1]);
  EXPECT_EQ(rounds_at[0], 2);
  EXPECT_NEAR(gaps[0], 4, 1);
  EXPECT_NEAR(gaps[1], 8, 1);
  EXPECT_NEAR(gaps[2], 16, 1);
  EXPECT_NEAR(gaps[3], 32, 1);
  EXPECT_NEAR(gaps[4], 60, 1);
}

TEST_F(BrokerTest, HeartbeatTellsATerminalHowManyDirectivesItHasNotAcknowledged) {
  b_.Connect("520102001001");
  b_.Publish(SamplePublish({"5201"}, {v1::COMMUNITY}));
  b_.Publish(SamplePublish({"52"}, {v1::COMMUNITY}));
  ASSERT_EQ(Deliveries("520102001001").size(), 2u);
  b_.Advance(6s);
  auto hb = b_.Next("520102001001", v1::Envelope::kHeartbeat);
  ASSERT_TRUE(hb.has_value());
  EXPECT_EQ(hb->heartbeat().head_seq(), 2u);
  EXPECT_EQ(hb->heartbeat().unacknowledged(), 2u);
}

TEST_F(BrokerTest, ATerminalThatLacksNothingAndWasJustSentSomethingGetsNoHeartbeat) {
  b_.Connect("520102");
  auto receipt = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  b_.Advance(4s);
  ASSERT_TRUE(b_.Call("520102", AckOf(receipt, v1::RECEIVED)).has_ack_confirm());
  b_.TakeAll("520102");
  b_.Advance(1500ms);  // the heartbeat round: a confirmation went out 1.5 s ago
  EXPECT_FALSE(b_.Next("520102", v1::Envelope::kHeartbeat).has_value());
  b_.Advance(5s);
  EXPECT_TRUE(b_.Next("520102", v1::Envelope::kHeartbeat).has_value());
}

TEST_F(BrokerTest, AUnitsNewestConnectionReplacesItsOlderOne) {
  b_.Call("old", testing::HelloFrom("520102"));
  b_.Call("new", testing::HelloFrom("520102"));
  b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  EXPECT_TRUE(Deliveries("old").empty());
  EXPECT_EQ(Deliveries("new").size(), 1u);
  EXPECT_EQ(b_.core().connected_units(), 1u);
}

TEST_F(BrokerTest, AUnitWhoseConnectionIsGoneIsForgottenAndCaughtUpWhenBack) {
  b_.Connect("520102");
  b_.outbox().Disconnect("520102");
  b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  EXPECT_EQ(b_.core().connected_units(), 0u);
  b_.Connect("520102");
  EXPECT_EQ(Deliveries("520102").size(), 1u);
}

TEST_F(BrokerTest, ConfirmationsWaitWhileAcknowledgementsArriveAndGoOutTogether) {
  auto a = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  auto c = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  b_.Connect("520102");
  b_.TakeAll("520102");
  b_.SendPass({{"520102", AckOf(a, v1::RECEIVED)}, {"520102", AckOf(c, v1::RECEIVED)}});
  auto sent = b_.TakeAll("520102");
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].has_confirmations()) << sent[0].DebugString();
  EXPECT_EQ(sent[0].confirmations().acks_size(), 2);
}

TEST_F(BrokerTest, EveryLevelIsStoredOnceAndCountsInTheAuditorsRollup) {
  b_.Connect("520102001001");
  auto receipt = b_.Publish(SamplePublish({"5201"}, {v1::COMMUNITY, v1::STREET}));
  for (v1::AckLevel level : {v1::RECEIVED, v1::CONFIRMED, v1::READY}) {
    auto confirm =
        b_.Call("520102001001", AckOf(receipt, level, level == v1::READY ? "two staff on duty" : ""));
    ASSERT_TRUE(confirm.has_ack_confirm()) << confirm.DebugString();
    EXPECT_EQ(confirm.ack_confirm().level(), level);
  }
  // Sent again (its confirmation lost): confirmed, not stored or logged twice.
  EXPECT_TRUE(b_.Call("520102001001", AckOf(receipt, v1::CONFIRMED)).has_ack_confirm());

  v1::AuditRequest rollup;
  rollup.mutable_rollup()->set_directive_id(receipt.id());
  rollup.mutable_rollup()->set_region("520102");
  rollup.mutable_rollup()->set_depth(v1::STREET);
  auto reply = b_.Call("auditor", AuditOf(rollup));
  ASSERT_TRUE(reply.has_audit_reply()) << reply.DebugString();
  const auto& rows = reply.audit_reply().rollup().rows();
  ASSERT_EQ(rows.size(), 3);  // the district and its two streets
  EXPECT_EQ(rows[0].counts().addressed(), 5u);
  EXPECT_EQ(rows[0].counts().confirmed(), 1u);
  EXPECT_EQ(rows[0].counts().ready(), 1u);
  v1::AuditRequest log;
  log.mutable_log();
  auto records = b_.Call("auditor", AuditOf(log)).audit_reply().log().records();
  int confirmed = 0;
  for (const auto& r : records) confirmed += r.has_ack() && r.ack().level() == v1::CONFIRMED;
  EXPECT_EQ(confirmed, 1);
  v1::AuditRequest history;
  history.mutable_unit_history()->set_unit_code("520102001001");
  auto row = b_.Call("auditor", AuditOf(history)).audit_reply().unit_history().rows(0);
  EXPECT_EQ(row.ready_note(), "two staff on duty");
}

TEST_F(BrokerTest, RatingsAreStoredConfirmedAndRefusedWhenOutOfRangeOrUnreceived) {
  const std::string t = "520102001001";
  b_.Connect(t);
  auto receipt = b_.Publish(SamplePublish({"5201"}, {v1::COMMUNITY}));
  auto early = b_.Call(t, RatingOf(receipt, 3, 3, 100));
  ASSERT_TRUE(early.has_error()) << early.DebugString();
  EXPECT_NE(early.error().message().find("has not received"), std::string::npos);
  ASSERT_TRUE(b_.Call(t, AckOf(receipt, v1::RECEIVED)).has_ack_confirm());
  auto bad = b_.Call(t, RatingOf(receipt, 0, 6, 100));
  ASSERT_TRUE(bad.has_error());
  EXPECT_NE(bad.error().message().find("clarity must be from 1 to 5"), std::string::npos);
  auto ok = b_.Call(t, RatingOf(receipt, 4, 2, 100));
  ASSERT_TRUE(ok.has_rating_confirm()) << ok.DebugString();
  EXPECT_EQ(ok.rating_confirm().rated().seconds(), 100);
  ASSERT_TRUE(b_.Call(t, RatingOf(receipt, 4, 2, 100)).has_rating_confirm());  // again: same one
  ASSERT_TRUE(b_.Call(t, RatingOf(receipt, 5, 4, 200)).has_rating_confirm());  // a later one
  v1::AuditRequest ratings;
  ratings.mutable_ratings()->set_by(v1::RatingsQuery::DIRECTIVE);
  auto rows = b_.Call("auditor", AuditOf(ratings)).audit_reply().ratings().rows();
  ASSERT_EQ(rows.size(), 1);
  EXPECT_EQ(rows[0].ratings(), 1u);  // the later one replaced the first
  EXPECT_DOUBLE_EQ(rows[0].clarity_mean(), 5.0);
  v1::AuditRequest log;
  log.mutable_log();
  int logged = 0;
  v1::Envelope log_reply = b_.Call("auditor", AuditOf(log));
  for (const auto& r : log_reply.audit_reply().log().records()) logged += r.has_rating();
  EXPECT_EQ(logged, 2);  // both kept in the log
}

TEST_F(BrokerTest, AUnitPastItsDeadlineIsRemindedAndItsParentTold) {
  const std::string street = "520102001", late = "520102001001";
  b_.Connect(street);
  b_.Connect(late);
  auto env = SamplePublish({"520102001"}, {v1::STREET, v1::COMMUNITY});
  auto* deadline = env.mutable_publish()->mutable_directive()->add_deadlines();
  deadline->set_level(v1::CONFIRMED);
  deadline->set_within_ms(2 * 3600 * 1000);
  auto receipt = b_.Publish(env);
  // The street confirms in time; the communities do not.
  ASSERT_TRUE(b_.Call(street, AckOf(receipt, v1::RECEIVED)).has_ack_confirm());
  ASSERT_TRUE(b_.Call(street, AckOf(receipt, v1::CONFIRMED)).has_ack_confirm());
  b_.Advance(2h + 6s);
  auto own = b_.Next(late, v1::Envelope::kOverdueReport);
  ASSERT_TRUE(own.has_value());
  ASSERT_EQ(own->overdue_report().own_size(), 1);
  EXPECT_EQ(own->overdue_report().own(0).level(), v1::CONFIRMED);
  EXPECT_EQ(own->overdue_report().own(0).directive_id(), receipt.id());
  auto parent = b_.Next(street, v1::Envelope::kOverdueReport);
  ASSERT_TRUE(parent.has_value());
  EXPECT_EQ(parent->overdue_report().own_size(), 0);
  ASSERT_EQ(parent->overdue_report().children_size(), 1);
  ASSERT_EQ(parent->overdue_report().children(0).units_size(), 2);
  EXPECT_EQ(parent->overdue_report().children(0).units(0), "520102001001");

  // Late, but acknowledged: the street hears that only the other one is overdue.
  ASSERT_TRUE(b_.Call(late, AckOf(receipt, v1::CONFIRMED)).has_ack_confirm());
  b_.Advance(6s);
  auto changed = b_.Next(street, v1::Envelope::kOverdueReport);
  ASSERT_TRUE(changed.has_value());
  ASSERT_EQ(changed->overdue_report().children_size(), 1);
  EXPECT_EQ(changed->overdue_report().children(0).units_size(), 1);
  // A unit with something overdue is told again when it says hello.
  b_.Connect("520102001002");
  EXPECT_TRUE(b_.Next("520102001002", v1::Envelope::kOverdueReport).has_value());

  int passed = 0;
  for (const auto& e : b_.Events(receipt.id())) {
    if (e.kind() != v1::LifecycleEvent::DEADLINE_PASSED) continue;
    ++passed;
    EXPECT_EQ(e.overdue_units(), 2u);
    EXPECT_EQ(e.level(), v1::CONFIRMED);
  }
  EXPECT_EQ(passed, 1);  // recorded once, however often the tracker runs
  b_.Stop();
  ASSERT_TRUE(b_.Start().ok());
  b_.Advance(6s);
  passed = 0;
  for (const auto& e : b_.Events(receipt.id())) passed += e.kind() == v1::LifecycleEvent::DEADLINE_PASSED;
  EXPECT_EQ(passed, 1);  // nor again after a restart
}

TEST_F(BrokerTest, MalformedDeadlinesAreRefused) {
  auto env = SamplePublish({"520102001"}, {v1::COMMUNITY});
  auto* d = env.mutable_publish()->mutable_directive()->add_deadlines();
  d->set_level(v1::READY);
  d->set_before_public_release(true);  // the directive is not public
  auto reply = b_.Call("publisher", env);
  ASSERT_TRUE(reply.has_error());
  EXPECT_NE(reply.error().message().find("not public"), std::string::npos) << reply.error().message();
}

TEST_F(BrokerTest, QueriesAreAnsweredFromTheStoreAndErrorsSayWhy) {
  v1::AuditRequest missing;
  missing.mutable_missing()->set_directive_id("52-HEALTH-20261128-0404");
  auto reply = b_.Call("auditor", AuditOf(missing));
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::NOT_FOUND);
  reply = b_.Call("auditor", AuditOf(v1::AuditRequest()));
  ASSERT_TRUE(reply.has_error());
  EXPECT_NE(reply.error().message().find("names no query"), std::string::npos);
  v1::AuditRequest verify;
  verify.mutable_verify();
  reply = b_.Call("auditor", AuditOf(verify));
  ASSERT_TRUE(reply.has_audit_reply()) << reply.DebugString();
  EXPECT_TRUE(reply.audit_reply().verify().ok());
  v1::Envelope events;
  events.mutable_events_query()->set_directive_id("52-HEALTH-20261128-0404");
  reply = b_.Call("publisher", events);
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::NOT_FOUND);
}

TEST_F(BrokerTest, TimesFromPeersOutsideTheirLimitsAreRefusedNamingTheField) {
  auto far = SamplePublish({"5201"}, {v1::DISTRICT});
  auto* d = far.mutable_publish()->mutable_directive();
  d->set_is_public(true);
  *d->mutable_public_release() = ToTimestamp(b_.clock().Now() + 400 * 24h);
  auto reply = b_.Call("publisher", far);
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::INVALID);
  EXPECT_NE(reply.error().message().find("public_release"), std::string::npos);
  auto huge = SamplePublish({"5201"}, {v1::DISTRICT});
  auto* deadline = huge.mutable_publish()->mutable_directive()->add_deadlines();
  deadline->set_level(v1::CONFIRMED);
  deadline->set_within_ms(9223372036854775000);
  reply = b_.Call("publisher", huge);
  ASSERT_TRUE(reply.has_error());
  EXPECT_NE(reply.error().message().find("deadlines[0].within_ms"), std::string::npos);
  EXPECT_EQ(b_.store().head_seq(), 0u);

  auto receipt = b_.Publish(SamplePublish({"5201"}, {v1::DISTRICT}));
  b_.Connect("520102");
  auto ack = AckOf(receipt, v1::RECEIVED);
  ack.mutable_ack()->mutable_acked()->set_seconds(-1);
  reply = b_.Call("520102", ack);
  ASSERT_TRUE(reply.has_error());
  EXPECT_NE(reply.error().message().find("acked"), std::string::npos);
  v1::AuditRequest log;
  log.mutable_log()->mutable_since()->set_seconds(kLatestInputSeconds + 1);
  reply = b_.Call("auditor", AuditOf(log));
  ASSERT_TRUE(reply.has_error());
  EXPECT_NE(reply.error().message().find("since"), std::string::npos);
}

TEST(FdBudget, RefusesWhenTheLimitCannotCoverEveryTerminal) {
  auto budget = CheckFdBudget(uint64_t{1} << 40, 64);
  ASSERT_FALSE(budget.ok());
  EXPECT_NE(budget.status().message().find("raise the limit"), std::string::npos)
      << budget.status().message();
  auto fits = CheckFdBudget(100, 64);
  ASSERT_TRUE(fits.ok()) << fits.status().ToString();
  EXPECT_EQ(fits->needed, 100u + 64u + kFdReserve);
  EXPECT_GE(fits->limit, fits->needed);
}

TEST(FdBudget, CountsOnlyTheKeyHoldersWhenConnectionsAreAdmittedByKey) {
  const Registry registry = testing::TestRegistry();
  KeyRegistry keys;
  const TimePoint t = testing::SampleTime();
  auto curve = [] { return GenerateKeyPair(KeyKind::kCurve).value().public_key; };
  ASSERT_TRUE(keys.Register("unit-520102001001", KeyRole::kUnit, "520102001001", curve(),
                            std::nullopt, t).ok());
  ASSERT_TRUE(keys.Register("unit-520102001002", KeyRole::kUnit, "520102001002", curve(),
                            std::nullopt, t).ok());
  ASSERT_TRUE(keys.Revoke("unit-520102001002", std::nullopt, t).ok());
  ASSERT_TRUE(keys.Register("unit-640104001001", KeyRole::kUnit, "640104001001", curve(),
                            std::nullopt, t).ok());  // not a unit of this registry
  ASSERT_TRUE(keys.Register("relay-5201", KeyRole::kRelay, "5201", curve(), std::nullopt, t).ok());
  ASSERT_TRUE(keys.Register("auditor", KeyRole::kAuditor, "auditor", curve(), std::nullopt, t).ok());
  EXPECT_EQ(ExpectedConnections(registry, &keys, 0), 2u) << "one unit and one relay";
  EXPECT_EQ(ExpectedConnections(registry, nullptr, 0), registry.size()) << "open: every unit";
  EXPECT_EQ(ExpectedConnections(registry, &keys, 7), 7u) << "max_terminals decides";
}

TEST(BrokerConfig, RefusesUnknownKeysAndBadDurations) {
  testing::TempDir dir;
  testing::WriteFile(dir.path() / "a.toml", "data_dir = \"/tmp/x\"\nheartbeat_intervall = \"5s\"\n");
  auto a = LoadBrokerConfig(dir / "a.toml");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("heartbeat_intervall"), std::string::npos);
  testing::WriteFile(dir.path() / "b.toml", "heartbeat_interval = \"5\"\n");
  EXPECT_FALSE(LoadBrokerConfig(dir / "b.toml").ok());
  testing::WriteFile(dir.path() / "c.toml",
                     "redelivery_initial = \"10s\"\nredelivery_max = \"1s\"\n");
  EXPECT_FALSE(LoadBrokerConfig(dir / "c.toml").ok());
  testing::WriteFile(dir.path() / "d.toml", "data_dir = \"/tmp/x\"\nheartbeat_interval = \"500ms\"\n");
  auto d = LoadBrokerConfig(dir / "d.toml");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->heartbeat_interval, std::chrono::milliseconds(500));
}

TEST(BrokerConfig, APairTableIsReadAndItsBadValuesAreRefusedSayingWhich) {
  testing::TempDir dir;
  testing::WriteFile(dir.path() / "ok.toml",
                     "[pair]\netcd = [\"http://10.0.0.1:2379\", \"http://10.0.0.2:2379\"]\n"
                     "group = \"52\"\nname = \"broker-a\"\nreplication = \"allow-degraded\"\n"
                     "lease_ttl = \"7s\"\nstandby_timeout = \"15s\"\n");
  auto ok = LoadBrokerConfig(dir / "ok.toml");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(ok->pair.enabled());
  EXPECT_EQ(ok->pair.etcd.size(), 2u);
  EXPECT_EQ(ok->pair.lease_ttl, std::chrono::seconds(7));
  EXPECT_EQ(ok->pair.standby_timeout, std::chrono::seconds(15));
  EXPECT_EQ(BrokerConfig().pair.standby_timeout, std::chrono::seconds(10));
  const std::pair<const char*, const char*> bad[] = {
      {"[pair]\netcd = [\"http://e:2379\"]\ngroup = \"52\"\nname = \"a\"\nleader = \"a\"\n",
       "unknown key \"pair.leader\""},
      {"[pair]\netcd = [\"10.0.0.1:2379\"]\ngroup = \"52\"\nname = \"a\"\n",
       "not an etcd client URL"},
      {"[pair]\netcd = \"http://e:2379\"\ngroup = \"52\"\nname = \"a\"\n", "must be a list"},
      {"[pair]\netcd = [1]\ngroup = \"52\"\nname = \"a\"\n", "must hold strings"},
      {"[pair]\netcd = [\"http://e:2379\"]\ngroup = \"52\"\n", "needs pair.group and pair.name"},
      {"[pair]\netcd = [\"http://e:2379\"]\ngroup = \"52\"\nname = \"a\"\nreplication = \"async\"\n",
       "must be \"sync\" or \"allow-degraded\""},
      {"[pair]\netcd = [\"http://e:2379\"]\ngroup = \"52\"\nname = \"a\"\nlease_ttl = \"99999999999999d\"\n",
       "pair.lease_ttl"},
      {"[pair]\netcd = [\"http://e:2379\"]\ngroup = \"52\"\nname = \"a\"\nstandby_timeout = \"50ms\"\n",
       "pair.standby_timeout is 50ms; it must be from 100ms to 10m"},
      {"pair = 3\n", "pair must be a table"}};
  for (const auto& [text, why] : bad) {
    testing::WriteFile(dir.path() / "bad.toml", text);
    auto loaded = LoadBrokerConfig(dir / "bad.toml");
    ASSERT_FALSE(loaded.ok()) << text;
    EXPECT_NE(loaded.status().message().find(why), std::string::npos)
        << text << " -> " << loaded.status().message();
  }
}

TEST(BrokerConfig, RefusesDurationsOutsideTheirLimitsSayingWhich) {
  testing::TempDir dir;
  testing::WriteFile(dir.path() / "a.toml", "heartbeat_interval = \"2h\"\n");
  auto a = LoadBrokerConfig(dir / "a.toml");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("heartbeat_interval is 2h; it must be from 10ms to 1h"),
            std::string::npos)
      << a.status().message();
  testing::WriteFile(dir.path() / "b.toml", "public_lead_time = \"400d\"\n");
  EXPECT_FALSE(LoadBrokerConfig(dir / "b.toml").ok());
}

TEST(BrokerConfig, StoreReserveIsZeroOrAtLeastWhatOneLogStepTakes) {
  testing::TempDir dir;
  for (const char* bad : {"store_reserve_mb = 8\n", "store_reserve_mb = -1\n",
                          "store_reserve_mb = 2000000\n"}) {
    testing::WriteFile(dir.path() / "a.toml", bad);
    auto a = LoadBrokerConfig(dir / "a.toml");
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_NE(a.status().message().find("store_reserve_mb"), std::string::npos) << a.status().message();
  }
  for (const char* good : {"store_reserve_mb = 0\n", "store_reserve_mb = 32\n"}) {
    testing::WriteFile(dir.path() / "b.toml", good);
    EXPECT_TRUE(LoadBrokerConfig(dir / "b.toml").ok()) << good;
  }
  EXPECT_EQ(BrokerConfig().store_reserve_mb, 256);
}

TEST(BrokerConfig, KeysNamesTheKeyRegistryAndIsOffByDefault) {
  testing::TempDir dir;
  testing::WriteFile(dir.path() / "a.toml", "data_dir = \"/tmp/x\"\nkeys = \"keys.toml\"\n");
  auto a = LoadBrokerConfig(dir / "a.toml");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->keys, "keys.toml");
  testing::WriteFile(dir.path() / "b.toml", "data_dir = \"/tmp/x\"\n");
  auto b = LoadBrokerConfig(dir / "b.toml");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_TRUE(b->keys.empty());
}

}  // namespace
}  // namespace flatcast::broker
