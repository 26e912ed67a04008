// Amendments on the broker core: the status is kept unless changed
// explicitly, a stale or empty amendment is refused, the changes are
// described, and units a narrower version no longer addresses get it as the
// directive's withdrawal.
#include <gtest/gtest.h>

#include "broker_harness.h"

namespace flatcast::broker {
namespace {

using namespace std::chrono_literals;
using testing::BrokerHarness;
using testing::HelloFrom;
using testing::SamplePublish;

class Amend : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(b_.Start().ok()); }

  // Publishes the sample directive to 5201's communities with `status`.
  v1::PublishReceipt PublishDrill(v1::DirectiveStatus status = v1::EXERCISE) {
    v1::Envelope env = SamplePublish({"5201"}, {v1::COMMUNITY});
    env.mutable_publish()->mutable_directive()->set_status(status);
    return b_.Publish(env);
  }
  // The latest stored version, through the publisher's directive query.
  v1::DirectiveReply Fetch(const std::string& id, uint32_t version = 0) {
    v1::Envelope env;
    env.mutable_audit_request()->mutable_directive()->set_directive_id(id);
    env.mutable_audit_request()->mutable_directive()->set_version(version);
    v1::Envelope reply = b_.Call("publisher", env);
    EXPECT_TRUE(reply.has_audit_reply()) << reply.DebugString();
    return reply.audit_reply().directive();
  }
  // An amendment of `id` made from version `base` with `content`.
  v1::Envelope Amendment(const std::string& id, uint32_t base, const v1::Directive& content) {
    v1::Envelope env;
    auto* req = env.mutable_lifecycle();
    req->set_action(v1::LifecycleRequest::AMEND);
    req->set_directive_id(id);
    req->set_base_version(base);
    req->set_reason("typo");
    *req->mutable_directive() = content;
    return env;
  }
  // The latest content of `id` as a publisher would amend it.
  v1::Directive Content(const std::string& id) {
    v1::Directive d = Fetch(id).directive().directive();
    for (auto clear : {&v1::Directive::clear_id, &v1::Directive::clear_version,
                       &v1::Directive::clear_changes, &v1::Directive::clear_references}) {
      (d.*clear)();
    }
    d.clear_sent();
    d.clear_msg_type();
    return d;
  }
  void ExpectRefused(const v1::Envelope& amendment, v1::ErrorCode code, const std::string& text) {
    const uint64_t head = b_.store().head_seq();
    v1::Envelope reply = b_.Call("publisher", amendment);
    ASSERT_TRUE(reply.has_error()) << reply.DebugString();
    EXPECT_EQ(reply.error().code(), code) << reply.error().message();
    EXPECT_NE(reply.error().message().find(text), std::string::npos) << reply.error().message();
    EXPECT_EQ(b_.store().head_seq(), head) << "a refused amendment stored nothing";
  }

  BrokerHarness b_;
};

TEST_F(Amend, OneFieldChangedKeepsTheStatusAndEveryOtherField) {
  auto receipt = PublishDrill();
  v1::Directive d = Content(receipt.id());
  d.set_title("Close markets (corrected)");
  v1::Envelope reply = b_.Call("publisher", Amendment(receipt.id(), 1, d));
  ASSERT_TRUE(reply.has_lifecycle_reply()) << reply.DebugString();
  v1::Directive v2 = Fetch(receipt.id()).directive().directive();
  EXPECT_EQ(v2.version(), 2u);
  EXPECT_EQ(v2.status(), v1::EXERCISE);
  EXPECT_EQ(v2.body(), "All wet markets close at noon.");
  ASSERT_EQ(v2.changes_size(), 1);
  EXPECT_EQ(v2.changes(0), "title: \"Close markets\" -> \"Close markets (corrected)\"");
  EXPECT_EQ(Fetch(receipt.id(), 1).directive().directive().title(), "Close markets");
  auto versions = Fetch(receipt.id()).versions();
  EXPECT_EQ(std::vector<uint32_t>(versions.begin(), versions.end()), (std::vector<uint32_t>{1, 2}));
}

TEST_F(Amend, StatusChangeWithoutTheFlagIsRefused) {
  auto receipt = PublishDrill();
  v1::Directive d = Content(receipt.id());
  d.set_status(v1::ACTUAL);
  d.set_title("Close markets now");
  ExpectRefused(Amendment(receipt.id(), 1, d), v1::INVALID,
                "would change the status from EXERCISE to ACTUAL");
}

TEST_F(Amend, ExerciseBecomesActualOnlyWhenConfirmedAndIsRecorded) {
  auto receipt = PublishDrill();
  v1::Directive d = Content(receipt.id());
  d.set_status(v1::ACTUAL);
  v1::Envelope explicit_change = Amendment(receipt.id(), 1, d);
  explicit_change.mutable_lifecycle()->set_change_status(true);
  ExpectRefused(explicit_change, v1::INVALID, "confirm with --confirm-actual");
  explicit_change.mutable_lifecycle()->set_reason("");
  explicit_change.mutable_lifecycle()->set_confirm_actual(true);
  ExpectRefused(explicit_change, v1::INVALID, "needs a reason");
  explicit_change.mutable_lifecycle()->set_reason("the drill found a real case");
  ASSERT_TRUE(b_.Call("publisher", explicit_change).has_lifecycle_reply());
  EXPECT_EQ(Fetch(receipt.id()).directive().directive().status(), v1::ACTUAL);
  bool recorded = false;
  for (const auto& e : b_.Events(receipt.id())) {
    if (e.kind() != v1::LifecycleEvent::STATUS_CHANGED) continue;
    recorded = true;
    EXPECT_EQ(e.status_from(), v1::EXERCISE);
    EXPECT_EQ(e.status_to(), v1::ACTUAL);
    EXPECT_EQ(e.version(), 2u);
    EXPECT_EQ(e.reason(), "the drill found a real case");
  }
  EXPECT_TRUE(recorded);
}

TEST_F(Amend, ChangeStatusFlagWithTheSameStatusIsRefused) {
  auto receipt = PublishDrill();
  v1::Directive d = Content(receipt.id());
  d.set_title("Other title");
  v1::Envelope env = Amendment(receipt.id(), 1, d);
  env.mutable_lifecycle()->set_change_status(true);
  ExpectRefused(env, v1::INVALID, "the status stays EXERCISE");
}

TEST_F(Amend, AmendmentThatChangesNothingIsRefused) {
  auto receipt = PublishDrill();
  ExpectRefused(Amendment(receipt.id(), 1, Content(receipt.id())), v1::INVALID, "changes nothing");
}

TEST_F(Amend, StaleUnknownOrMissingBaseVersionIsRefused) {
  auto receipt = PublishDrill();
  v1::Directive d = Content(receipt.id());
  d.set_title("Second");
  ASSERT_TRUE(b_.Call("publisher", Amendment(receipt.id(), 1, d)).has_lifecycle_reply());
  d.set_title("Third");
  ExpectRefused(Amendment(receipt.id(), 1, d), v1::INVALID, "version 2 was published since");
  ExpectRefused(Amendment(receipt.id(), 7, d), v1::NOT_FOUND, "has no version 7");
  ExpectRefused(Amendment(receipt.id(), 0, d), v1::INVALID, "names the version it changes");
}

TEST_F(Amend, IssuerChangeAndCancelledDirectiveAreRefused) {
  auto receipt = PublishDrill();
  v1::Directive d = Content(receipt.id());
  d.set_issuer_unit("5201");
  ExpectRefused(Amendment(receipt.id(), 1, d), v1::INVALID, "an amendment keeps the issuer");
  v1::Envelope cancel;
  cancel.mutable_lifecycle()->set_action(v1::LifecycleRequest::CANCEL);
  cancel.mutable_lifecycle()->set_directive_id(receipt.id());
  ASSERT_TRUE(b_.Call("publisher", cancel).has_lifecycle_reply());
  d = Content(receipt.id());
  d.set_title("After the cancellation");
  ExpectRefused(Amendment(receipt.id(), 2, d), v1::INVALID, "is cancelled");
}

TEST_F(Amend, NarrowerScopeWithdrawsTheDirectiveFromUnitsNoLongerAddressed) {
  b_.Connect("520102001001");
  b_.Connect("520102002001");
  auto receipt = PublishDrill();
  for (const char* unit : {"520102001001", "520102002001"}) {
    ASSERT_TRUE(b_.Next(unit, v1::Envelope::kDeliver).has_value()) << unit;
  }
  v1::Directive d = Content(receipt.id());
  d.set_scope(0, "520102001");  // one street instead of the city
  ASSERT_TRUE(b_.Call("publisher", Amendment(receipt.id(), 1, d)).has_lifecycle_reply());
  v1::StoredDirective v2 = Fetch(receipt.id()).directive();
  EXPECT_EQ(v2.addressed_units(), 2u) << "the audit counts what version 2 addresses";
  EXPECT_EQ(v2.directive().changes(0), "scope: +520102001 -5201");
  // Still addressed, and no longer addressed: both are sent version 2.
  auto kept = b_.Next("520102001001", v1::Envelope::kDeliver);
  auto withdrawn = b_.Next("520102002001", v1::Envelope::kDeliver);
  ASSERT_TRUE(kept && withdrawn);
  EXPECT_EQ(withdrawn->deliver().directive().directive().version(), 2u);

  // The withdrawn unit settles it with RECEIVED; it has nothing more to do.
  v1::Envelope ack;
  ack.mutable_ack()->set_seq(v2.seq());
  ack.mutable_ack()->set_directive_id(receipt.id());
  ack.mutable_ack()->set_version(2);
  ack.mutable_ack()->set_level(v1::CONFIRMED);
  v1::Envelope refused = b_.Call("520102002001", ack);
  ASSERT_TRUE(refused.has_error());
  EXPECT_NE(refused.error().message().find("no longer addresses unit 520102002001"), std::string::npos)
      << refused.error().message();
  ack.mutable_ack()->set_level(v1::RECEIVED);
  EXPECT_TRUE(b_.Call("520102002001", ack).has_ack_confirm());

  // Unacknowledged, the withdrawal is sent again; acknowledged, it is not.
  b_.Advance(10min);
  EXPECT_FALSE(b_.Next("520102002001", v1::Envelope::kDeliver).has_value());
  EXPECT_TRUE(b_.Next("520102001001", v1::Envelope::kDeliver).has_value());
}

TEST_F(Amend, WithdrawalSurvivesARestartAndReachesAUnitThatWasOffline) {
  auto receipt = PublishDrill();
  v1::Directive d = Content(receipt.id());
  d.set_scope(0, "520102001");
  ASSERT_TRUE(b_.Call("publisher", Amendment(receipt.id(), 1, d)).has_lifecycle_reply());
  b_.Stop();
  ASSERT_TRUE(b_.Start().ok());
  b_.Connect("520102002001");
  auto got = b_.Next("520102002001", v1::Envelope::kDeliver);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->deliver().directive().directive().version(), 2u);
  EXPECT_FALSE(b_.Next("520102002001", v1::Envelope::kDeliver).has_value())
      << "version 1 is superseded and not sent";
}

TEST_F(Amend, WiderScopeReachesTheUnitsNewlyAddressed) {
  b_.Connect("520201001");
  v1::Envelope env = SamplePublish({"5201"}, {v1::STREET});
  env.mutable_publish()->mutable_directive()->mutable_actions(0)->set_responsible_tier(v1::STREET);
  auto receipt = b_.Publish(env);
  EXPECT_FALSE(b_.Next("520201001", v1::Envelope::kDeliver).has_value());
  v1::Directive d = Content(receipt.id());
  d.add_scope("5202");
  ASSERT_TRUE(b_.Call("publisher", Amendment(receipt.id(), 1, d)).has_lifecycle_reply());
  auto got = b_.Next("520201001", v1::Envelope::kDeliver);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->deliver().directive().directive().version(), 2u);
}

TEST_F(Amend, APublishCannotCarryChangesOfItsOwn) {
  v1::Envelope env = SamplePublish({"5201"}, {v1::COMMUNITY});
  env.mutable_publish()->mutable_directive()->add_changes("status: ACTUAL -> EXERCISE");
  v1::Envelope reply = b_.Call("publisher", env);
  ASSERT_TRUE(reply.has_error()) << reply.DebugString();
  EXPECT_NE(reply.error().message().find("changes are described by the broker"), std::string::npos)
      << reply.error().message();
  EXPECT_EQ(b_.store().head_seq(), 0u);
}

TEST_F(Amend, DirectiveQueryOfAnUnknownIdOrVersionSaysSo) {
  auto receipt = PublishDrill();
  v1::Envelope env;
  env.mutable_audit_request()->mutable_directive()->set_directive_id(receipt.id());
  env.mutable_audit_request()->mutable_directive()->set_version(3);
  v1::Envelope reply = b_.Call("publisher", env);
  ASSERT_TRUE(reply.has_error());
  EXPECT_NE(reply.error().message().find("has no version 3 (versions 1 to 1)"), std::string::npos)
      << reply.error().message();
  env.mutable_audit_request()->mutable_directive()->set_directive_id("52-HEALTH-20990101-0001");
  reply = b_.Call("publisher", env);
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::NOT_FOUND);
}

}  // namespace
}  // namespace flatcast::broker
