// Answers to return forms at the broker (feedback.h, audit_queries.h): each
// stored synced and chained in the log, confirmed once durable, a
// correction kept beside the answer it corrects, the same answer never
// stored twice, bad answers refused saying why, and the answers summed by
// region.
#include <gtest/gtest.h>

#include "broker_harness.h"
#include "flatcast/broker/store.h"

namespace flatcast::broker {
namespace {

using namespace testing;  // flatcast::testing: the harness and sample messages

v1::ReturnForm SuppliesForm() {
  v1::ReturnForm form;
  v1::FormField* masks = form.add_fields();
  masks->set_key("masks");
  masks->set_label("口罩库存");
  masks->set_kind(v1::FormField::QUANTITY);
  masks->set_unit("个");
  masks->set_required(true);
  masks->set_max(100000);
  masks->set_below(500);
  v1::FormField* open = form.add_fields();
  open->set_key("open");
  open->set_label("是否开放");
  open->set_kind(v1::FormField::YES_NO);
  v1::FormField* risk = form.add_fields();
  risk->set_key("risk");
  risk->set_label("风险");
  risk->set_kind(v1::FormField::CHOICE);
  risk->add_choices("low");
  risk->add_choices("high");
  return form;
}

v1::Envelope AnswerOf(const v1::PublishReceipt& receipt, int64_t masks, int64_t answered_s,
                      std::optional<bool> open = std::nullopt) {
  v1::Envelope env;
  v1::ReturnAnswer* a = env.mutable_return_answer();
  a->set_seq(receipt.seq());
  a->set_directive_id(receipt.id());
  a->set_version(1);
  a->mutable_answered()->set_seconds(answered_s);
  if (open) {
    v1::FieldValue* v = a->add_values();
    v->set_key("open");
    v->set_yes(*open);
  }
  v1::FieldValue* v = a->add_values();
  v->set_key("masks");
  v->set_quantity(masks);
  return env;
}

class Returns : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(b_.Start().ok()); }

  // Published to the communities of 5201 with the supplies form; every
  // community connected and its RECEIVED stored.
  v1::PublishReceipt PublishWithForm() {
    for (const char* unit : kCommunities) b_.Connect(unit);
    v1::Envelope request = SamplePublish({"5201"}, {v1::COMMUNITY});
    *request.mutable_publish()->mutable_directive()->mutable_return_form() = SuppliesForm();
    v1::PublishReceipt receipt = b_.Publish(request);
    for (const char* unit : kCommunities) {
      EXPECT_TRUE(b_.Call(unit, AckOf(receipt, v1::RECEIVED)).has_ack_confirm());
    }
    return receipt;
  }
  v1::ReturnsReply Aggregate(const v1::PublishReceipt& receipt, v1::Tier by = v1::TIER_UNSPECIFIED,
                             uint32_t max_units = 10) {
    v1::AuditRequest q;
    q.mutable_returns()->set_directive_id(receipt.id());
    q.mutable_returns()->set_by(by);
    q.mutable_returns()->set_max_units(max_units);
    v1::Envelope reply = b_.Call("auditor", AuditOf(q));
    EXPECT_TRUE(reply.has_audit_reply()) << reply.DebugString();
    return reply.audit_reply().returns();
  }
  std::string Refusal(const std::string& unit, const v1::Envelope& answer) {
    v1::Envelope reply = b_.Call(unit, answer);
    EXPECT_TRUE(reply.has_error()) << reply.DebugString();
    return reply.error().message();
  }

  static constexpr const char* kCommunities[] = {"520102001001", "520102001002", "520102002001"};
  testing::BrokerHarness b_;
};

TEST_F(Returns, AnAnswerIsStoredConfirmedAndSentAgainIsConfirmedNotStoredTwice) {
  const v1::PublishReceipt receipt = PublishWithForm();
  const std::string unit = kCommunities[0];
  const uint64_t log_before = b_.store().heads().log_seq;
  v1::Envelope confirm = b_.Call(unit, AnswerOf(receipt, 1200, 1000, true));
  ASSERT_TRUE(confirm.has_return_confirm()) << confirm.DebugString();
  EXPECT_EQ(confirm.return_confirm().seq(), receipt.seq());
  EXPECT_EQ(confirm.return_confirm().answered().seconds(), 1000);
  EXPECT_EQ(confirm.return_confirm().revision(), 1u);
  EXPECT_EQ(b_.store().heads().log_seq, log_before + 1) << "one log record";
  // The same answer again (its confirmation was lost): confirmed, not stored.
  v1::Envelope again = b_.Call(unit, AnswerOf(receipt, 1200, 1000, true));
  ASSERT_TRUE(again.has_return_confirm());
  EXPECT_EQ(again.return_confirm().revision(), 1u);
  EXPECT_EQ(b_.store().heads().log_seq, log_before + 1);
  std::vector<v1::ReturnRecord> stored;
  ASSERT_TRUE(b_.store()
                  .ForEachReturn(receipt.seq(), unit,
                                 [&](uint64_t, std::string_view, const v1::ReturnRecord& r) {
                                   stored.push_back(r);
                                 })
                  .ok());
  ASSERT_EQ(stored.size(), 1u);
  ASSERT_EQ(stored[0].values_size(), 2);
  EXPECT_EQ(stored[0].values(0).key(), "masks") << "in the form's order";
  EXPECT_EQ(stored[0].values(0).quantity(), 1200);
}

TEST_F(Returns, ACorrectionIsTheNextRevisionBothAreKeptAndTheLatestCounts) {
  const v1::PublishReceipt receipt = PublishWithForm();
  const std::string unit = kCommunities[1];
  ASSERT_EQ(b_.Call(unit, AnswerOf(receipt, 300, 1000)).return_confirm().revision(), 1u);
  ASSERT_EQ(b_.Call(unit, AnswerOf(receipt, 900, 2000)).return_confirm().revision(), 2u);
  std::vector<int64_t> masks;
  ASSERT_TRUE(b_.store()
                  .ForEachReturn(receipt.seq(), unit,
                                 [&](uint64_t, std::string_view, const v1::ReturnRecord& r) {
                                   masks.push_back(r.values(0).quantity());
                                 })
                  .ok());
  EXPECT_EQ(masks, (std::vector<int64_t>{300, 900}));
  v1::ReturnsReply agg = Aggregate(receipt);
  ASSERT_EQ(agg.rows_size(), 1);
  EXPECT_EQ(agg.rows(0).answered(), 1u);
  EXPECT_EQ(agg.rows(0).corrected(), 1u);
  EXPECT_EQ(agg.rows(0).fields(0).sum(), 900);
  EXPECT_EQ(agg.rows(0).fields(0).below_count(), 0u) << "the correction is above 500";
  // The log verifies with both, and a restart knows the latest revision.
  v1::AuditRequest verify;
  verify.mutable_verify();
  EXPECT_TRUE(b_.Call("auditor", AuditOf(verify)).audit_reply().verify().ok());
  b_.Stop();
  ASSERT_TRUE(b_.Start().ok());
  b_.Connect(unit);
  EXPECT_EQ(b_.Call(unit, AnswerOf(receipt, 900, 2000)).return_confirm().revision(), 2u)
      << "the stored answer, confirmed again";
  EXPECT_EQ(b_.Call(unit, AnswerOf(receipt, 950, 3000)).return_confirm().revision(), 3u);
}

TEST_F(Returns, AnOlderAnswerArrivingAfterItsCorrectionIsKeptButTheCorrectionCounts) {
  const v1::PublishReceipt receipt = PublishWithForm();
  const std::string unit = kCommunities[0];
  ASSERT_EQ(b_.Call(unit, AnswerOf(receipt, 100, 1000)).return_confirm().revision(), 1u);
  ASSERT_EQ(b_.Call(unit, AnswerOf(receipt, 900, 2000)).return_confirm().revision(), 2u);
  // The first answer sent again (its confirmation lost): confirmed as
  // revision 1 again, nothing stored.
  const uint64_t log_before = b_.store().heads().log_seq;
  v1::Envelope again = b_.Call(unit, AnswerOf(receipt, 100, 1000));
  ASSERT_TRUE(again.has_return_confirm()) << again.DebugString();
  EXPECT_EQ(again.return_confirm().revision(), 1u);
  EXPECT_EQ(b_.store().heads().log_seq, log_before);
  // An answer made between the two that arrives last (a lost message sent
  // again): kept as revision 3, but the correction of 2000 still counts.
  EXPECT_EQ(b_.Call(unit, AnswerOf(receipt, 300, 1500)).return_confirm().revision(), 3u);
  v1::ReturnsReply agg = Aggregate(receipt);
  ASSERT_EQ(agg.rows_size(), 1);
  EXPECT_EQ(agg.rows(0).answered(), 1u);
  EXPECT_EQ(agg.rows(0).corrected(), 1u);
  EXPECT_EQ(agg.rows(0).fields(0).sum(), 900);
  // After a restart too.
  b_.Stop();
  ASSERT_TRUE(b_.Start().ok());
  b_.Connect(unit);
  EXPECT_EQ(b_.Call(unit, AnswerOf(receipt, 100, 1000)).return_confirm().revision(), 1u);
  EXPECT_EQ(b_.Call(unit, AnswerOf(receipt, 300, 1500)).return_confirm().revision(), 3u);
  EXPECT_EQ(Aggregate(receipt).rows(0).fields(0).sum(), 900);
}

TEST_F(Returns, BadAnswersAreRefusedSayingWhyAndNothingIsStored) {
  const v1::PublishReceipt receipt = PublishWithForm();
  const std::string unit = kCommunities[0];
  const uint64_t log_before = b_.store().heads().log_seq;
  EXPECT_NE(Refusal(unit, AnswerOf(receipt, 100001, 1000)).find("it must be from 0 to 100000"),
            std::string::npos);
  v1::Envelope missing = AnswerOf(receipt, 1, 1000, true);
  missing.mutable_return_answer()->mutable_values()->RemoveLast();
  EXPECT_NE(Refusal(unit, missing).find("masks (\"口罩库存\") is required and has no answer"),
            std::string::npos);
  v1::Envelope wrong_type = AnswerOf(receipt, 1, 1000);
  wrong_type.mutable_return_answer()->mutable_values(0)->set_text("many");
  EXPECT_NE(Refusal(unit, wrong_type).find("takes a quantity, not text"), std::string::npos);
  v1::Envelope unknown = AnswerOf(receipt, 1, 1000);
  v1::FieldValue* gloves = unknown.mutable_return_answer()->add_values();
  gloves->set_key("gloves");
  gloves->set_quantity(1);
  EXPECT_NE(Refusal(unit, unknown).find("the form has no field \"gloves\""), std::string::npos);
  v1::Envelope no_time = AnswerOf(receipt, 1, 1000);
  no_time.mutable_return_answer()->clear_answered();
  EXPECT_NE(Refusal(unit, no_time).find("answered is not set"), std::string::npos);
  v1::Envelope empty = AnswerOf(receipt, 1, 1000);
  empty.mutable_return_answer()->clear_values();
  EXPECT_NE(Refusal(unit, empty).find("the answer has no value"), std::string::npos);
  v1::Envelope bad_time = AnswerOf(receipt, 1, 1000);
  bad_time.mutable_return_answer()->mutable_answered()->set_seconds(-99999999999999);
  EXPECT_NE(Refusal(unit, bad_time).find("answered"), std::string::npos);
  // A unit the directive does not address (a street), or one that has not
  // received it.
  b_.Connect("520102001");
  EXPECT_NE(Refusal("520102001", AnswerOf(receipt, 1, 1000)).find("has not received"),
            std::string::npos);
  // A directive without a form.
  v1::PublishReceipt plain = b_.Publish(SamplePublish({"5201"}, {v1::COMMUNITY}));
  EXPECT_TRUE(b_.Call(unit, AckOf(plain, v1::RECEIVED)).has_ack_confirm());
  v1::Envelope formless = AnswerOf(plain, 1, 1000);
  EXPECT_NE(Refusal(unit, formless).find("has no return form"), std::string::npos);
  // No sequence of that id.
  v1::Envelope stray = AnswerOf(receipt, 1, 1000);
  stray.mutable_return_answer()->set_seq(999);
  EXPECT_NE(Refusal(unit, stray).find("no directive"), std::string::npos);
  EXPECT_EQ(b_.store().heads().log_seq, log_before + 2)
      << "only the second directive's PUBLISHED event and its RECEIVED ack";
}

TEST_F(Returns, AnswersAreSummedByRegionWithShortagesAndMissingUnitsListed) {
  const v1::PublishReceipt receipt = PublishWithForm();
  ASSERT_TRUE(b_.Call(kCommunities[0], AnswerOf(receipt, 1200, 1000, true)).has_return_confirm());
  ASSERT_TRUE(b_.Call(kCommunities[1], AnswerOf(receipt, 100, 1000, false)).has_return_confirm());
  // 520102002001 does not answer.
  v1::ReturnsReply by_street = Aggregate(receipt, v1::STREET);
  ASSERT_EQ(by_street.rows_size(), 2);
  EXPECT_EQ(by_street.form().fields_size(), 3);
  const v1::ReturnsRow& first = by_street.rows(0);
  EXPECT_EQ(first.region(), "520102001");
  EXPECT_EQ(first.addressed(), 2u);
  EXPECT_EQ(first.answered(), 2u);
  const v1::FieldAggregate& masks = first.fields(0);
  EXPECT_EQ(masks.sum(), 1300);
  EXPECT_EQ(masks.min(), 100);
  EXPECT_EQ(masks.max(), 1200);
  EXPECT_EQ(masks.threshold(), 500);
  EXPECT_EQ(masks.below_count(), 1u);
  ASSERT_EQ(masks.below_size(), 1);
  EXPECT_EQ(masks.below(0).code(), kCommunities[1]);
  const v1::FieldAggregate& open = first.fields(1);
  ASSERT_EQ(open.counts_size(), 2);
  EXPECT_EQ(open.counts(0), 1u);  // yes
  EXPECT_EQ(open.counts(1), 1u);  // no
  const v1::ReturnsRow& second = by_street.rows(1);
  EXPECT_EQ(second.region(), "520102002");
  EXPECT_EQ(second.answered(), 0u);
  ASSERT_EQ(second.missing_size(), 1);
  EXPECT_EQ(second.missing(0).code(), kCommunities[2]);
  EXPECT_EQ(by_street.total().addressed(), 3u);
  EXPECT_EQ(by_street.total().answered(), 2u);
  EXPECT_EQ(by_street.total().fields(0).sum(), 1300);
  // A threshold of the auditor's own, and one region only.
  v1::AuditRequest q;
  q.mutable_returns()->set_directive_id(receipt.id());
  q.mutable_returns()->set_region("520102001");
  (*q.mutable_returns()->mutable_below())["masks"] = 2000;
  v1::ReturnsReply mine = b_.Call("auditor", AuditOf(q)).audit_reply().returns();
  ASSERT_EQ(mine.rows_size(), 1);
  EXPECT_EQ(mine.rows(0).region(), "520102001");
  EXPECT_EQ(mine.rows(0).fields(0).below_count(), 2u);
  (*q.mutable_returns()->mutable_below())["open"] = 1;
  v1::Envelope refused = b_.Call("auditor", AuditOf(q));
  ASSERT_TRUE(refused.has_error());
  EXPECT_NE(refused.error().message().find("no quantity field \"open\""), std::string::npos);
}

}  // namespace
}  // namespace flatcast::broker
