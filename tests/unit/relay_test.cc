// Relays in the core (docs/RELAY.md), on the test registry: the upstream's
// side (Relays: hello, the versions sent to each relay, acknowledgement
// batches) and the relay's (RelayIntake: versions stored with the upstream
// cursor before they are reported), with a recording outbox and a sink.
#include <gtest/gtest.h>

#include <algorithm>

#include "broker_harness.h"
#include "flatcast/curve.h"
#include "flatcast/duration.h"
#include "flatcast/broker/access.h"
#include "flatcast/key_registry.h"
#include "samples.h"

namespace flatcast::testing {
namespace {

using namespace std::chrono_literals;

v1::Envelope RelayHelloOf(const std::string& region, const Registry& registry, uint64_t cursor = 0) {
  v1::Envelope env;
  env.set_protocol_version(1);
  v1::RelayHello* h = env.mutable_relay_hello();
  h->set_region(region);
  h->set_registry_digest(registry.Cut(region).RegionDigest(""));
  h->set_cursor(cursor);
  h->set_name("relay-" + region);
  return env;
}

// One group of acknowledgements at `level` of upstream version `seq` by
// the units at these offsets in the region (ascending).
v1::Envelope BatchOf(uint64_t after, uint64_t last, uint64_t seq, std::vector<uint32_t> offsets,
                     v1::AckLevel level = v1::RECEIVED) {
  v1::Envelope env;
  env.set_protocol_version(1);
  v1::RelayAckBatch* b = env.mutable_relay_acks();
  b->set_after_log_seq(after);
  b->set_last_log_seq(last);
  v1::RelayAckGroup* g = b->add_groups();
  g->set_seq(seq);
  g->set_version(1);
  g->set_level(level);
  uint32_t prev = 0;
  int64_t ms = ToTimestamp(SampleTime()).seconds() * 1000;
  for (uint32_t o : offsets) {
    g->add_units(o - prev);
    prev = o;
    g->add_acked_ms(ms);
    ms = 0;  // the rest at the same time
  }
  return env;
}

class UpstreamRelays : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.Start().ok()); }

  BrokerHarness broker_;
};

TEST_F(UpstreamRelays, AVersionIsSentToTheRelayWhoseRegionItReachesAndNoOther) {
  v1::Envelope welcome = broker_.Call("relay", RelayHelloOf("5201", broker_.registry()));
  ASSERT_TRUE(welcome.has_relay_welcome()) << welcome.DebugString();
  broker_.Publish(SamplePublish({"5202"}, {v1::STREET}));  // 六盘水: not the relay's
  EXPECT_FALSE(broker_.Next("relay", v1::Envelope::kRelayDeliver).has_value());
  v1::PublishReceipt second = broker_.Publish(SamplePublish({"52"}, {v1::COMMUNITY}));
  auto sent = broker_.Next("relay", v1::Envelope::kRelayDeliver);
  ASSERT_TRUE(sent.has_value());
  EXPECT_EQ(sent->relay_deliver().directive().seq(), second.seq());
  EXPECT_EQ(sent->relay_deliver().directive().directive().id(), second.id());
  EXPECT_EQ(sent->relay_deliver().prev_seq(), 0u) << "the first the relay is sent";
  EXPECT_FALSE(broker_.Next("relay", v1::Envelope::kRelayDeliver).has_value()) << "once";
}

TEST_F(UpstreamRelays, ARelayThatWasAwayIsSentWhatFollowsItsCursorInOrder) {
  v1::PublishReceipt a = broker_.Publish(SamplePublish({"5201"}, {v1::COMMUNITY}));
  broker_.Publish(SamplePublish({"5202"}, {v1::STREET}));
  v1::PublishReceipt c = broker_.Publish(SamplePublish({"520102"}, {v1::STREET}));
  broker_.Send("relay", RelayHelloOf("5201", broker_.registry(), a.seq()));
  auto sent = broker_.Next("relay", v1::Envelope::kRelayDeliver);
  ASSERT_TRUE(sent.has_value());
  EXPECT_EQ(sent->relay_deliver().directive().seq(), c.seq());
  EXPECT_EQ(sent->relay_deliver().prev_seq(), a.seq());
  EXPECT_FALSE(broker_.Next("relay", v1::Envelope::kRelayDeliver).has_value());
}

TEST_F(UpstreamRelays, AHelloWithAnotherRegistryOrBeyondTheHeadIsRefused) {
  v1::Envelope other = RelayHelloOf("5201", broker_.registry());
  other.mutable_relay_hello()->set_registry_digest(std::string(32, 'x'));
  v1::Envelope refused = broker_.Call("relay", other);
  ASSERT_TRUE(refused.has_error());
  EXPECT_NE(refused.error().message().find("registry mismatch for region 5201"),
            std::string::npos) << refused.error().message();
  refused = broker_.Call("relay", RelayHelloOf("5201", broker_.registry(), 7));
  ASSERT_TRUE(refused.has_error());
  EXPECT_NE(refused.error().message().find("beyond this broker's last"), std::string::npos)
      << refused.error().message();
  refused = broker_.Call("relay", RelayHelloOf("37", TestRegistry()));
  ASSERT_TRUE(refused.has_error());
  EXPECT_EQ(refused.error().code(), v1::NOT_REGISTERED) << refused.error().message();
  broker_.Publish(SamplePublish({"52"}, {v1::COMMUNITY}));
  EXPECT_FALSE(broker_.Next("relay", v1::Envelope::kRelayDeliver).has_value());
}

TEST_F(UpstreamRelays, AnAckBatchIsStoredWithItsCursorOnceAndTheAuditSeesIt) {
  v1::PublishReceipt r = broker_.Publish(SamplePublish({"5201"}, {v1::COMMUNITY}));
  broker_.Send("relay", RelayHelloOf("5201", broker_.registry()));
  broker_.TakeAll("relay");  // the welcome and the version
  // The relay's region 5201: 5201, 520102, 520102001, 520102001001 (3),
  // 520102001002 (4), 520102002, 520102002001 (6), 520103.
  v1::Envelope stored = broker_.Call("relay", BatchOf(0, 40, r.seq(), {3, 4, 6}));
  ASSERT_TRUE(stored.has_relay_acks_stored()) << stored.DebugString();
  EXPECT_EQ(stored.relay_acks_stored().log_cursor(), 40u);
  EXPECT_EQ(broker_.store().Cursor("relay/5201").value(), 40u);
  v1::Envelope coverage = broker_.Call("auditor", CoverageOf(r.id()));
  EXPECT_EQ(coverage.coverage_reply().acknowledged(), 3u) << coverage.DebugString();
  // The same batch again (its answer lost): not stored twice, the cursor told.
  const uint64_t log_before = broker_.store().HeadLogSeq().value();
  v1::Envelope again = broker_.Call("relay", BatchOf(0, 40, r.seq(), {3, 4, 6}));
  ASSERT_TRUE(again.has_relay_acks_stored());
  EXPECT_EQ(again.relay_acks_stored().log_cursor(), 40u);
  EXPECT_EQ(broker_.store().HeadLogSeq().value(), log_before);
}

TEST_F(UpstreamRelays, RelayedAnswersToAReturnFormAreCheckedStoredAndSummedAtTheUpstream) {
  v1::Envelope request = SamplePublish({"5201"}, {v1::COMMUNITY});
  v1::FormField* masks = request.mutable_publish()->mutable_directive()->mutable_return_form()->add_fields();
  masks->set_key("masks");
  masks->set_label("口罩库存");
  masks->set_kind(v1::FormField::QUANTITY);
  masks->set_required(true);
  masks->set_max(100000);
  v1::PublishReceipt r = broker_.Publish(request);
  broker_.Send("relay", RelayHelloOf("5201", broker_.registry()));
  broker_.TakeAll("relay");
  auto answers = [&](uint64_t after, uint64_t last, std::vector<std::pair<uint32_t, int64_t>> given) {
    v1::Envelope env = BatchOf(after, last, r.seq(), {3, 4});
    for (auto [offset, n] : given) {
      v1::RelayReturn* a = env.mutable_relay_acks()->add_returns();
      a->set_seq(r.seq());
      a->set_unit(offset);
      v1::FieldValue* v = a->mutable_record()->add_values();
      v->set_key("masks");
      v->set_quantity(n);
      *a->mutable_record()->mutable_answered() = ToTimestamp(SampleTime());
      a->mutable_record()->set_version(1);
      a->mutable_record()->set_revision(1);
    }
    return env;
  };
  // Out of the field's limits: the whole batch is refused, nothing stored.
  v1::Envelope refused = broker_.Call("relay", answers(0, 10, {{3, 120}, {4, 100001}}));
  ASSERT_TRUE(refused.has_error()) << refused.DebugString();
  EXPECT_NE(refused.error().message().find("it must be from 0 to 100000"), std::string::npos)
      << refused.error().message();
  v1::Envelope stored = broker_.Call("relay", answers(0, 10, {{3, 120}, {4, 800}}));
  ASSERT_TRUE(stored.has_relay_acks_stored()) << stored.DebugString();
  v1::AuditRequest q;
  q.mutable_returns()->set_directive_id(r.id());
  v1::ReturnsReply sums = broker_.Call("auditor", AuditOf(q)).audit_reply().returns();
  ASSERT_EQ(sums.rows_size(), 1);
  EXPECT_EQ(sums.rows(0).answered(), 2u);
  EXPECT_EQ(sums.rows(0).fields(0).sum(), 920);
}

TEST_F(UpstreamRelays, AnAckForAUnitOutsideTheRegionRefusesTheWholeBatch) {
  v1::PublishReceipt r = broker_.Publish(SamplePublish({"52"}, {v1::COMMUNITY, v1::STREET}));
  broker_.Send("relay", RelayHelloOf("5201", broker_.registry()));
  broker_.TakeAll("relay");  // the welcome and the version
  // Offset 8 lies past 5201's eight units (in 5202, another relay's).
  v1::Envelope refused = broker_.Call("relay", BatchOf(0, 10, r.seq(), {3, 8}));
  ASSERT_TRUE(refused.has_error()) << refused.DebugString();
  EXPECT_EQ(refused.error().code(), v1::FORBIDDEN);
  EXPECT_NE(refused.error().message().find("outside region 5201"), std::string::npos)
      << refused.error().message();
  // A unit of the region the version does not address (520103, a district).
  refused = broker_.Call("relay", BatchOf(0, 10, r.seq(), {7}));
  ASSERT_TRUE(refused.has_error());
  EXPECT_NE(refused.error().message().find("not addressed to unit 520103"), std::string::npos)
      << refused.error().message();
  EXPECT_EQ(broker_.store().Cursor("relay/5201").value(), 0u);
  EXPECT_EQ(broker_.Call("auditor", CoverageOf(r.id())).coverage_reply().acknowledged(), 0u);
}

TEST_F(UpstreamRelays, ABatchNotFollowingTheCursorIsAnsweredWithTheCursor) {
  v1::PublishReceipt r = broker_.Publish(SamplePublish({"5201"}, {v1::COMMUNITY}));
  broker_.Send("relay", RelayHelloOf("5201", broker_.registry()));
  broker_.TakeAll("relay");  // the welcome and the version
  v1::Envelope answer = broker_.Call("relay", BatchOf(12, 20, r.seq(), {3}));
  ASSERT_TRUE(answer.has_relay_acks_stored());
  EXPECT_EQ(answer.relay_acks_stored().log_cursor(), 0u) << "send from 0";
  EXPECT_EQ(broker_.Call("auditor", CoverageOf(r.id())).coverage_reply().acknowledged(), 0u);
}

// Every reply the relay got to its batches, in order: (correlation id,
// log cursor), or (correlation id, 0) for an error.
std::vector<std::pair<uint64_t, uint64_t>> BatchAnswers(BrokerHarness& broker) {
  std::vector<std::pair<uint64_t, uint64_t>> answers;
  for (const v1::Envelope& env : broker.TakeAll("relay")) {
    if (env.has_relay_acks_stored()) {
      answers.emplace_back(env.correlation_id(), env.relay_acks_stored().log_cursor());
    } else if (env.has_error()) {
      answers.emplace_back(env.correlation_id(), 0);
    }
  }
  return answers;
}

TEST_F(UpstreamRelays, BatchesSentBackToBackAreStoredInOrderThoseWaitingTogetherInOneWrite) {
  v1::PublishReceipt r = broker_.Publish(SamplePublish({"5201"}, {v1::COMMUNITY}));
  broker_.Send("relay", RelayHelloOf("5201", broker_.registry()));
  broker_.TakeAll("relay");
  v1::Envelope first = BatchOf(0, 40, r.seq(), {3}), second = BatchOf(40, 80, r.seq(), {4}),
               third = BatchOf(80, 90, r.seq(), {6});
  first.set_correlation_id(1);
  second.set_correlation_id(2);
  third.set_correlation_id(3);
  // All three in one pass: the second and third wait behind the first and
  // then go into one write together (one sync).
  const uint64_t commits = broker_.store().heads().commit_seq;
  broker_.SendPass({{"relay", first}, {"relay", second}, {"relay", third}});
  broker_.Pass();
  EXPECT_EQ(BatchAnswers(broker_),
            (std::vector<std::pair<uint64_t, uint64_t>>{{1, 40}, {2, 80}, {3, 90}}));
  EXPECT_EQ(broker_.store().heads().commit_seq, commits + 2);
  EXPECT_EQ(broker_.store().Cursor("relay/5201").value(), 90u);
  EXPECT_EQ(broker_.Call("auditor", CoverageOf(r.id())).coverage_reply().acknowledged(), 3u);
  // One that does not follow the last waiting is answered with the durable cursor.
  v1::Envelope next = BatchOf(90, 95, r.seq(), {3}, v1::CONFIRMED),
               gap = BatchOf(99, 100, r.seq(), {4}, v1::CONFIRMED);
  next.set_correlation_id(4);
  gap.set_correlation_id(5);
  broker_.SendPass({{"relay", next}, {"relay", gap}});
  broker_.Pass();
  EXPECT_EQ(BatchAnswers(broker_),
            (std::vector<std::pair<uint64_t, uint64_t>>{{5, 90}, {4, 95}}));
}

TEST_F(UpstreamRelays, ABatchThatFailsToStoreTakesTheBatchesBehindItDownWithIt) {
  v1::PublishReceipt r = broker_.Publish(SamplePublish({"5201"}, {v1::COMMUNITY}));
  broker_.Send("relay", RelayHelloOf("5201", broker_.registry()));
  broker_.TakeAll("relay");
  v1::Envelope first = BatchOf(0, 40, r.seq(), {3}), second = BatchOf(40, 80, r.seq(), {4});
  first.set_correlation_id(1);
  second.set_correlation_id(2);
  broker_.store().FailWrites(1);
  broker_.SendPass({{"relay", first}, {"relay", second}});
  broker_.Pass();
  // The first failed; the second was never written past it, and the relay
  // is told to go on from 0.
  EXPECT_EQ(BatchAnswers(broker_), (std::vector<std::pair<uint64_t, uint64_t>>{{1, 0}, {2, 0}}));
  EXPECT_EQ(broker_.store().Cursor("relay/5201").value(), 0u);
  EXPECT_EQ(broker_.Call("auditor", CoverageOf(r.id())).coverage_reply().acknowledged(), 0u);
  // Sent again, both are stored.
  broker_.SendPass({{"relay", first}, {"relay", second}});
  broker_.Pass();
  EXPECT_EQ(BatchAnswers(broker_),
            (std::vector<std::pair<uint64_t, uint64_t>>{{1, 40}, {2, 80}}));
  EXPECT_EQ(broker_.Call("auditor", CoverageOf(r.id())).coverage_reply().acknowledged(), 2u);
}

TEST_F(UpstreamRelays, RelayMessagesBeforeAHelloAreRefused) {
  v1::Envelope stored;
  stored.set_protocol_version(1);
  stored.mutable_relay_stored()->set_seq(1);
  v1::Envelope refused = broker_.Call("relay", stored);
  ASSERT_TRUE(refused.has_error());
  EXPECT_EQ(refused.error().code(), v1::NOT_REGISTERED);
}

TEST(RelayAccess, OnlyARelayKeySendsRelayMessagesAndOnlyForItsRegion) {
  using B = v1::Envelope::BodyCase;
  broker::PeerIdentity relay{KeyRole::kRelay, "5201", "relay-5201", "0123456789abcdef"};
  broker::PeerIdentity unit{KeyRole::kUnit, "520102001001", "u", "0123456789abcdef"};
  for (B body : {B::kRelayHello, B::kRelayStored, B::kRelayAcks}) {
    EXPECT_TRUE(broker::CheckAccess(relay, body).ok());
    EXPECT_FALSE(broker::CheckAccess(unit, body).ok());
  }
  EXPECT_FALSE(broker::CheckAccess(relay, B::kAck).ok()) << "a relay is no terminal";
  EXPECT_FALSE(broker::CheckAccess(relay, B::kPublish).ok()) << "nor a publisher";

  BrokerHarness::Options options;
  options.keys = true;
  options.authenticate = true;
  BrokerHarness broker(options);
  KeyPair key = GenerateKeyPair(KeyKind::kCurve).value();
  KeyRegistry keys;
  ASSERT_TRUE(keys.Register("relay-5201", KeyRole::kRelay, "5201", key.public_key, std::nullopt,
                            SampleTime())
                  .ok());
  ASSERT_TRUE(keys.Save(broker.keys_path()).ok());
  ASSERT_TRUE(broker.Start().ok());
  broker.SetUserId("relay", key.public_key);  // raw, as ZAP gives it
  v1::Envelope refused = broker.Call("relay", RelayHelloOf("5202", broker.registry()));
  ASSERT_TRUE(refused.has_error());
  EXPECT_EQ(refused.error().code(), v1::FORBIDDEN);
  EXPECT_NE(refused.error().message().find("cannot relay for region \"5202\""), std::string::npos)
      << refused.error().message();
  EXPECT_TRUE(broker.Call("relay", RelayHelloOf("5201", broker.registry())).has_relay_welcome());
}

// The relay's side: what it told its upstream.
class RecordingSink final : public broker::UpstreamSink {
 public:
  void Stored(uint64_t seq) override { stored.push_back(seq); }
  void NotStored(uint64_t seq, const Status& why) override {
    not_stored.push_back(seq);
    last_why = why.message();
  }
  std::vector<uint64_t> stored, not_stored;
  std::string last_why;
};

class RelaySide : public ::testing::Test {
 protected:
  RelaySide() : broker_(Options(sink_)) {}
  static BrokerHarness::Options Options(RecordingSink& sink) {
    BrokerHarness::Options options;
    options.relay_region = "5201";
    options.upstream = &sink;
    return options;
  }
  void SetUp() override { ASSERT_TRUE(broker_.Start().ok()); }

  RecordingSink sink_;
  BrokerHarness broker_;
};

TEST_F(RelaySide, AVersionIsStoredWithTheCursorThenFannedOutThenReported) {
  broker_.Connect("520102001001");
  broker_.core().OnUpstreamVersion(SampleStored(41, "52-HEALTH-20261128-0001", 1, {"52"}));
  broker_.Pass();
  ASSERT_EQ(sink_.stored, std::vector<uint64_t>{41});
  EXPECT_EQ(broker_.store().Cursor("upstream").value(), 41u);
  EXPECT_EQ(broker_.core().upstream_cursor(), 41u);
  auto stored = broker_.store().GetDirective(1).value();
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->upstream_seq(), 41u);
  EXPECT_EQ(stored->directive().id(), "52-HEALTH-20261128-0001");
  EXPECT_EQ(stored->addressed_units(), 3u) << "the relay's communities only";
  auto delivered = broker_.Next("520102001001", v1::Envelope::kDeliver);
  ASSERT_TRUE(delivered.has_value());
  EXPECT_EQ(delivered->deliver().directive().seq(), 1u) << "the relay's own sequence";
}

TEST_F(RelaySide, AVersionSentAgainIsNotStoredTwice) {
  broker_.core().OnUpstreamVersion(SampleStored(41, "52-HEALTH-20261128-0001", 1, {"52"}));
  broker_.core().OnUpstreamVersion(SampleStored(41, "52-HEALTH-20261128-0001", 1, {"52"}));
  broker_.Pass();
  EXPECT_EQ(sink_.stored, (std::vector<uint64_t>{41, 41}));
  EXPECT_EQ(broker_.store().head_seq(), 1u);
}

TEST_F(RelaySide, AVersionForAnotherRegionIsRefusedAndNothingIsStored) {
  broker_.core().OnUpstreamVersion(SampleStored(9, "52-HEALTH-20261128-0002", 1, {"5202"}));
  broker_.Pass();
  EXPECT_EQ(sink_.not_stored, std::vector<uint64_t>{9});
  EXPECT_NE(sink_.last_why.find("reaches no unit of this relay's region"), std::string::npos)
      << sink_.last_why;
  EXPECT_EQ(broker_.store().head_seq(), 0u);
  EXPECT_EQ(broker_.store().Cursor("upstream").value(), 0u);
}

TEST_F(RelaySide, AMalformedVersionIsRefusedSayingWhyAndNothingIsStored) {
  // What the relay's index and fan-out rely on is checked at the relay too
  // (found by fuzz_relay_messages: a target tier of 95).
  v1::StoredDirective bad_tier = SampleStored(9, "52-HEALTH-20261128-0002", 1, {"52"});
  bad_tier.mutable_directive()->add_target_tiers(static_cast<v1::Tier>(95));
  v1::StoredDirective no_actions = SampleStored(10, "52-HEALTH-20261128-0003", 1, {"52"});
  no_actions.mutable_directive()->clear_actions();
  broker_.core().OnUpstreamVersion(bad_tier);
  broker_.Pass();
  EXPECT_NE(sink_.last_why.find("target tier #95 is not allowed"), std::string::npos)
      << sink_.last_why;
  broker_.core().OnUpstreamVersion(no_actions);
  broker_.Pass();
  EXPECT_NE(sink_.last_why.find("no action item"), std::string::npos) << sink_.last_why;
  EXPECT_EQ(sink_.not_stored, (std::vector<uint64_t>{9, 10}));
  EXPECT_EQ(broker_.store().head_seq(), 0u);
  EXPECT_EQ(broker_.store().Cursor("upstream").value(), 0u);
}

TEST_F(RelaySide, AnUpstreamDirectiveIsChangedOnlyWhereItWasPublished) {
  broker_.core().OnUpstreamVersion(SampleStored(41, "52-HEALTH-20261128-0001", 1, {"52"}));
  broker_.Pass();
  v1::Envelope cancel;
  cancel.set_protocol_version(1);
  cancel.mutable_lifecycle()->set_action(v1::LifecycleRequest::CANCEL);
  cancel.mutable_lifecycle()->set_directive_id("52-HEALTH-20261128-0001");
  cancel.mutable_lifecycle()->set_publisher("province");
  v1::Envelope refused = broker_.Call("publisher", cancel);
  ASSERT_TRUE(refused.has_error());
  EXPECT_EQ(refused.error().code(), v1::FORBIDDEN);
  EXPECT_NE(refused.error().message().find("came from this relay's upstream"), std::string::npos)
      << refused.error().message();
  EXPECT_EQ(broker_.store().head_seq(), 1u);
}

TEST_F(RelaySide, TheCursorSurvivesARestart) {
  broker_.core().OnUpstreamVersion(SampleStored(41, "52-HEALTH-20261128-0001", 1, {"52"}));
  broker_.Pass();
  broker_.Stop();
  ASSERT_TRUE(broker_.Start().ok());
  EXPECT_EQ(broker_.core().upstream_cursor(), 41u);
}

}  // namespace
}  // namespace flatcast::testing
