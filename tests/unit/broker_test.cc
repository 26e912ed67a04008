// The broker library in-process, spoken to over real ZeroMQ on loopback, with
// a fake clock and a RocksDB store in a temp dir.
#include <gtest/gtest.h>

#include <thread>

#include "flatcast/broker/broker.h"
#include "flatcast/broker/fd_budget.h"
#include "flatcast/wire.h"
#include "peer.h"
#include "temp_dir.h"

namespace flatcast::broker {
namespace {

constexpr char kRegistryText[] =
    "52\tprovince\t贵州省\n"
    "5201\tcity\t贵阳市\n"
    "520102\tdistrict\t南明区\n"
    "520102001\tstreet\t新华路街道\n"
    "520102001001\tcommunity\t新华社区\n"
    "520103\tdistrict\t云岩区\n"
    "5202\tcity\t六盘水市\n"
    "520201\tdistrict\t钟山区\n"
    "520201001\tstreet\t黄土坡街道\n";

using testing::Peer;

v1::Envelope PublishRequest(const std::vector<std::string>& scope,
                            const std::vector<v1::Tier>& tiers, const std::string& key = "") {
  v1::Envelope env;
  auto* req = env.mutable_publish();
  req->set_idempotency_key(key);
  auto* d = req->mutable_directive();
  d->set_issuer_unit("52");
  d->set_issuer_department("HEALTH");
  d->set_title("Close markets");
  d->set_body("All wet markets close at noon.");
  d->set_status(v1::ACTUAL);
  auto* a = d->add_actions();
  a->set_what("Post notices");
  a->set_responsible_tier(v1::COMMUNITY);
  for (const auto& s : scope) d->add_scope(s);
  for (auto t : tiers) d->add_target_tiers(t);
  return env;
}

v1::Envelope Hello(const std::string& unit) {
  v1::Envelope env;
  env.mutable_hello()->set_unit_code(unit);
  return env;
}

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto reg = Registry::Parse(kRegistryText, "test");
    ASSERT_TRUE(reg.ok()) << reg.status().ToString();
    registry_ = std::move(reg).value();
    StartBroker();
  }
  void TearDown() override { StopBroker(); }

  void StartBroker() {
    auto store = Store::Open({dir_ / "data", true, 64});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    BrokerConfig config;
    config.endpoint = "tcp://127.0.0.1:*";
    config.data_dir = dir_ / "data";
    config.max_message_bytes = 64 * 1024;
    broker_ = std::make_unique<Broker>(config, registry_, *store_, clock_, ctx_);
    ASSERT_TRUE(broker_->Start().ok());
    stop_ = false;
    thread_ = std::thread([this] { (void)broker_->Run(stop_); });
  }
  void StopBroker() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    broker_.reset();
    store_.reset();
  }
  std::unique_ptr<Peer> Connect() { return std::make_unique<Peer>(ctx_, broker_->endpoint()); }
  // A terminal that has said hello and got its welcome.
  std::unique_ptr<Peer> Terminal(const std::string& unit) {
    auto p = Connect();
    auto w = p->Call(Hello(unit));
    EXPECT_TRUE(w.has_welcome()) << unit;
    return p;
  }

  testing::TempDir dir_;
  Registry registry_;
  FakeClock clock_{std::chrono::system_clock::from_time_t(1764316800)};  // 2025-11-28T08:00:00Z
  zmq::context_t ctx_{1};
  std::unique_ptr<Store> store_;
  std::unique_ptr<Broker> broker_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(BrokerTest, PublishAnswersReceiptWithIdSequenceAndAddressedCount) {
  auto pub = Connect();
  auto reply = pub->Call(PublishRequest({"52"}, {v1::DISTRICT, v1::STREET, v1::COMMUNITY}));
  ASSERT_TRUE(reply.has_receipt()) << reply.DebugString();
  EXPECT_EQ(reply.receipt().id(), "52-HEALTH-20251128-0001");
  EXPECT_EQ(reply.receipt().seq(), 1u);
  EXPECT_EQ(reply.receipt().addressed_units(), 6u);  // 3 districts, 2 streets, 1 community
  auto second = pub->Call(PublishRequest({"5201"}, {v1::DISTRICT}));
  EXPECT_EQ(second.receipt().id(), "52-HEALTH-20251128-0002");
  EXPECT_EQ(second.receipt().seq(), 2u);
}

TEST_F(BrokerTest, CityScopedDirectiveReachesOnlyUnitsOfThatCity) {
  auto inside = Terminal("520102001");
  auto outside = Terminal("520201001");
  auto pub = Connect();
  ASSERT_TRUE(pub->Call(PublishRequest({"5201"}, {v1::STREET})).has_receipt());
  auto got = inside->Receive();
  ASSERT_TRUE(got.has_deliver());
  EXPECT_EQ(got.deliver().directive().directive().title(), "Close markets");
  EXPECT_FALSE(outside->Receive(std::chrono::milliseconds(300)).has_deliver());
}

TEST_F(BrokerTest, DistrictOnlyDirectiveDoesNotReachStreetsOrCommunities) {
  auto district = Terminal("520102");
  auto street = Terminal("520102001");
  auto community = Terminal("520102001001");
  auto pub = Connect();
  ASSERT_TRUE(pub->Call(PublishRequest({"52"}, {v1::DISTRICT})).has_receipt());
  EXPECT_TRUE(district->Receive().has_deliver());
  EXPECT_FALSE(street->Receive(std::chrono::milliseconds(300)).has_deliver());
  EXPECT_FALSE(community->Receive(std::chrono::milliseconds(300)).has_deliver());
}

TEST_F(BrokerTest, AckIsConfirmedAndCountedInCoverage) {
  auto t = Terminal("520102");
  auto pub = Connect();
  auto receipt = pub->Call(PublishRequest({"5201"}, {v1::DISTRICT})).receipt();
  auto deliver = t->Receive();
  ASSERT_TRUE(deliver.has_deliver());
  v1::Envelope ack;
  ack.mutable_ack()->set_seq(receipt.seq());
  ack.mutable_ack()->set_directive_id(receipt.id());
  ack.mutable_ack()->set_version(1);
  ack.mutable_ack()->set_level(v1::RECEIVED);
  auto confirm = t->Call(ack);
  ASSERT_TRUE(confirm.has_ack_confirm()) << confirm.DebugString();
  EXPECT_EQ(confirm.ack_confirm().seq(), receipt.seq());
  // Idempotent: the same ack again is confirmed and counted once.
  EXPECT_TRUE(t->Call(ack).has_ack_confirm());

  v1::Envelope q;
  q.mutable_coverage_query()->set_directive_id(receipt.id());
  q.mutable_coverage_query()->set_max_missing(10);
  auto cov = pub->Call(q);
  ASSERT_TRUE(cov.has_coverage_reply()) << cov.DebugString();
  EXPECT_EQ(cov.coverage_reply().addressed(), 2u);  // 520102 and 520103
  EXPECT_EQ(cov.coverage_reply().acknowledged(), 1u);
  ASSERT_EQ(cov.coverage_reply().missing_size(), 1);
  EXPECT_EQ(cov.coverage_reply().missing(0), "520103");
}

TEST_F(BrokerTest, AcksSurviveBrokerRestart) {
  auto receipt = Connect()->Call(PublishRequest({"5201"}, {v1::DISTRICT})).receipt();
  {
    auto t = Terminal("520102");
    ASSERT_TRUE(t->Receive().has_deliver());
    v1::Envelope ack;
    ack.mutable_ack()->set_seq(receipt.seq());
    ack.mutable_ack()->set_directive_id(receipt.id());
    ack.mutable_ack()->set_level(v1::RECEIVED);
    ASSERT_TRUE(t->Call(ack).has_ack_confirm());
  }
  StopBroker();
  StartBroker();
  v1::Envelope q;
  q.mutable_coverage_query()->set_directive_id(receipt.id());
  auto cov = Connect()->Call(q);
  EXPECT_EQ(cov.coverage_reply().acknowledged(), 1u);
  // The acknowledged unit is not sent the directive again; the other one is.
  EXPECT_FALSE(Terminal("520102")->Receive(std::chrono::milliseconds(300)).has_deliver());
  EXPECT_TRUE(Terminal("520103")->Receive().has_deliver());
}

TEST_F(BrokerTest, HelloCatchesUpOnDirectivesPublishedWhileOffline) {
  auto pub = Connect();
  ASSERT_TRUE(pub->Call(PublishRequest({"5201"}, {v1::COMMUNITY})).has_receipt());
  auto late = Terminal("520102001001");
  auto got = late->Receive();
  ASSERT_TRUE(got.has_deliver());
  EXPECT_EQ(got.deliver().directive().seq(), 1u);
}

TEST_F(BrokerTest, SameIdempotencyKeyPublishesOnce) {
  auto pub = Connect();
  auto first = pub->Call(PublishRequest({"52"}, {v1::DISTRICT}, "key-1"));
  auto again = pub->Call(PublishRequest({"52"}, {v1::DISTRICT}, "key-1"));
  ASSERT_TRUE(again.has_receipt());
  EXPECT_TRUE(again.receipt().duplicate());
  EXPECT_EQ(again.receipt().id(), first.receipt().id());
  EXPECT_EQ(store_->head_seq(), 1u);
}

TEST_F(BrokerTest, InvalidDirectiveIsRefusedWithReasonAndNothingStored) {
  auto pub = Connect();
  auto req = PublishRequest({"5299"}, {v1::DISTRICT});
  auto reply = pub->Call(req);
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::INVALID);
  EXPECT_NE(reply.error().message().find("5299"), std::string::npos) << reply.error().message();
  req.mutable_publish()->mutable_directive()->set_title("");
  req.mutable_publish()->mutable_directive()->set_scope(0, "5201");
  reply = pub->Call(req);
  ASSERT_TRUE(reply.has_error());
  EXPECT_NE(reply.error().message().find("title"), std::string::npos) << reply.error().message();
  EXPECT_EQ(store_->head_seq(), 0u);
}

TEST_F(BrokerTest, MalformedBytesGetAnErrorAndTheBrokerKeepsServing) {
  auto bad = Connect();
  bad->SendRaw("\xff\xff\xff not protobuf");
  auto reply = bad->Receive();
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::MALFORMED);
  bad->SendRaw(std::string(100 * 1024, 'x'));  // over max_message_bytes
  reply = bad->Receive();
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::TOO_LARGE);
  EXPECT_TRUE(Connect()->Call(PublishRequest({"52"}, {v1::DISTRICT})).has_receipt());
}

TEST_F(BrokerTest, UnregisteredUnitIsRefused) {
  auto p = Connect();
  auto reply = p->Call(Hello("529999"));
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::NOT_REGISTERED);
}

TEST_F(BrokerTest, AckOfDirectiveNotAddressedToTheUnitIsRefused) {
  auto receipt = Connect()->Call(PublishRequest({"5201"}, {v1::DISTRICT})).receipt();
  auto t = Terminal("520201");  // in 5202, not addressed
  v1::Envelope ack;
  ack.mutable_ack()->set_seq(receipt.seq());
  ack.mutable_ack()->set_directive_id(receipt.id());
  ack.mutable_ack()->set_level(v1::RECEIVED);
  auto reply = t->Call(ack);
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::INVALID);
  // An ack before hello is refused too.
  auto anonymous = Connect();
  reply = anonymous->Call(ack);
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::NOT_REGISTERED);
}

}  // namespace
}  // namespace flatcast::broker

namespace flatcast::broker {
namespace {

TEST_F(BrokerTest, UnacknowledgedDirectiveIsSentAgainAfterTheRedeliveryTimeout) {
  auto t = Terminal("520102");
  auto pub = Connect();
  auto receipt = pub->Call(PublishRequest({"5201"}, {v1::DISTRICT})).receipt();
  ASSERT_TRUE(t->Receive().has_deliver());
  // Nothing again before the timeout...
  EXPECT_FALSE(t->Receive(std::chrono::milliseconds(300)).has_deliver());
  // ...and again once it has passed (the terminal "lost" the first one).
  clock_.Advance(std::chrono::seconds(3));
  auto again = t->Receive();
  ASSERT_TRUE(again.has_deliver()) << again.DebugString();
  EXPECT_EQ(again.deliver().directive().seq(), receipt.seq());
  // Once acknowledged, no more redelivery.
  v1::Envelope ack;
  ack.mutable_ack()->set_seq(receipt.seq());
  ack.mutable_ack()->set_directive_id(receipt.id());
  ack.mutable_ack()->set_level(v1::RECEIVED);
  ASSERT_TRUE(t->Call(ack).has_ack_confirm());
  clock_.Advance(std::chrono::seconds(120));
  auto later = t->Receive(std::chrono::milliseconds(500));
  EXPECT_FALSE(later.has_deliver()) << later.DebugString();
}

TEST_F(BrokerTest, HeartbeatTellsATerminalHowManyDirectivesItHasNotAcknowledged) {
  auto t = Terminal("520102001001");
  auto pub = Connect();
  ASSERT_TRUE(pub->Call(PublishRequest({"5201"}, {v1::COMMUNITY})).has_receipt());
  ASSERT_TRUE(pub->Call(PublishRequest({"52"}, {v1::COMMUNITY})).has_receipt());
  ASSERT_TRUE(t->Receive().has_deliver());
  ASSERT_TRUE(t->Receive().has_deliver());
  clock_.Advance(std::chrono::seconds(6));
  v1::Envelope hb;
  for (int i = 0; i < 10 && !hb.has_heartbeat(); ++i) hb = t->Receive();  // skip redeliveries
  ASSERT_TRUE(hb.has_heartbeat());
  EXPECT_EQ(hb.heartbeat().head_seq(), 2u);
  EXPECT_EQ(hb.heartbeat().unacknowledged(), 2u);
}

v1::Envelope AckOf(const v1::PublishReceipt& receipt, v1::AckLevel level, const std::string& note = "") {
  v1::Envelope ack;
  ack.mutable_ack()->set_seq(receipt.seq());
  ack.mutable_ack()->set_directive_id(receipt.id());
  ack.mutable_ack()->set_version(1);
  ack.mutable_ack()->set_level(level);
  ack.mutable_ack()->set_note(note);
  return ack;
}

v1::Envelope RatingOf(const v1::PublishReceipt& receipt, uint32_t clarity, uint32_t feasibility,
                      int64_t rated_seconds) {
  v1::Envelope env;
  auto* r = env.mutable_rating();
  r->set_seq(receipt.seq());
  r->set_directive_id(receipt.id());
  r->set_version(1);
  r->set_clarity(clarity);
  r->set_feasibility(feasibility);
  r->set_comment("not enough masks");
  r->mutable_rated()->set_seconds(rated_seconds);
  return env;
}

v1::Envelope Audit(v1::AuditRequest request) {
  v1::Envelope env;
  *env.mutable_audit_request() = std::move(request);
  return env;
}

TEST_F(BrokerTest, EveryLevelIsStoredOnceAndCountsInTheAuditorsRollup) {
  auto t = Terminal("520102001001");
  auto pub = Connect();
  auto receipt = pub->Call(PublishRequest({"5201"}, {v1::COMMUNITY, v1::STREET})).receipt();
  ASSERT_TRUE(t->Receive().has_deliver());
  for (v1::AckLevel level : {v1::RECEIVED, v1::CONFIRMED, v1::READY}) {
    auto confirm = t->Call(AckOf(receipt, level, level == v1::READY ? "two staff on duty" : ""));
    ASSERT_TRUE(confirm.has_ack_confirm()) << confirm.DebugString();
    EXPECT_EQ(confirm.ack_confirm().level(), level);
  }
  // Sent again (its confirmation lost): confirmed, not stored or logged twice.
  EXPECT_TRUE(t->Call(AckOf(receipt, v1::CONFIRMED)).has_ack_confirm());

  v1::AuditRequest rollup;
  rollup.mutable_rollup()->set_directive_id(receipt.id());
  rollup.mutable_rollup()->set_region("520102");
  rollup.mutable_rollup()->set_depth(v1::STREET);
  auto reply = pub->Call(Audit(rollup));
  ASSERT_TRUE(reply.has_audit_reply()) << reply.DebugString();
  const auto& rows = reply.audit_reply().rollup().rows();
  ASSERT_EQ(rows.size(), 2);  // the district and its street
  EXPECT_EQ(rows[0].counts().addressed(), 2u);
  EXPECT_EQ(rows[0].counts().confirmed(), 1u);
  EXPECT_EQ(rows[0].counts().ready(), 1u);
  v1::AuditRequest log;
  log.mutable_log();
  auto records = pub->Call(Audit(log)).audit_reply().log().records();
  int confirmed = 0;
  for (const auto& r : records) confirmed += r.has_ack() && r.ack().level() == v1::CONFIRMED;
  EXPECT_EQ(confirmed, 1);
  v1::AuditRequest history;
  history.mutable_unit_history()->set_unit_code("520102001001");
  auto row = pub->Call(Audit(history)).audit_reply().unit_history().rows(0);
  EXPECT_EQ(row.ready_note(), "two staff on duty");
}

TEST_F(BrokerTest, RatingsAreStoredConfirmedAndRefusedWhenOutOfRangeOrUnreceived) {
  auto t = Terminal("520102001001");
  auto pub = Connect();
  auto receipt = pub->Call(PublishRequest({"5201"}, {v1::COMMUNITY})).receipt();
  ASSERT_TRUE(t->Receive().has_deliver());
  auto early = t->Call(RatingOf(receipt, 3, 3, 100));
  ASSERT_TRUE(early.has_error()) << early.DebugString();
  EXPECT_NE(early.error().message().find("has not received"), std::string::npos);
  ASSERT_TRUE(t->Call(AckOf(receipt, v1::RECEIVED)).has_ack_confirm());
  auto bad = t->Call(RatingOf(receipt, 0, 6, 100));
  ASSERT_TRUE(bad.has_error());
  EXPECT_NE(bad.error().message().find("clarity must be from 1 to 5"), std::string::npos);
  auto ok = t->Call(RatingOf(receipt, 4, 2, 100));
  ASSERT_TRUE(ok.has_rating_confirm()) << ok.DebugString();
  EXPECT_EQ(ok.rating_confirm().rated().seconds(), 100);
  ASSERT_TRUE(t->Call(RatingOf(receipt, 4, 2, 100)).has_rating_confirm());  // again: same one
  ASSERT_TRUE(t->Call(RatingOf(receipt, 5, 4, 200)).has_rating_confirm());  // a later one
  v1::AuditRequest ratings;
  ratings.mutable_ratings()->set_by(v1::RatingsQuery::DIRECTIVE);
  auto rows = pub->Call(Audit(ratings)).audit_reply().ratings().rows();
  ASSERT_EQ(rows.size(), 1);
  EXPECT_EQ(rows[0].ratings(), 1u);  // the later one replaced the first
  EXPECT_DOUBLE_EQ(rows[0].clarity_mean(), 5.0);
  v1::AuditRequest log;
  log.mutable_log();
  int logged = 0;
  v1::Envelope log_reply = pub->Call(Audit(log));
  for (const auto& r : log_reply.audit_reply().log().records()) logged += r.has_rating();
  EXPECT_EQ(logged, 2);  // both kept in the log
}

TEST_F(BrokerTest, AUnitPastItsDeadlineIsRemindedAndItsParentTold) {
  auto street = Terminal("520102001");
  auto late = Terminal("520102001001");
  auto pub = Connect();
  auto env = PublishRequest({"520102001"}, {v1::STREET, v1::COMMUNITY});
  auto* deadline = env.mutable_publish()->mutable_directive()->add_deadlines();
  deadline->set_level(v1::CONFIRMED);
  deadline->set_within_ms(2 * 3600 * 1000);
  auto receipt = pub->Call(env).receipt();
  ASSERT_FALSE(receipt.id().empty());
  // The street confirms in time; the community does not.
  ASSERT_TRUE(street->Call(AckOf(receipt, v1::RECEIVED)).has_ack_confirm());
  ASSERT_TRUE(street->Call(AckOf(receipt, v1::CONFIRMED)).has_ack_confirm());
  clock_.Advance(std::chrono::hours(2) + std::chrono::seconds(6));
  auto next_report = [](Peer& p) {
    for (int i = 0; i < 20; ++i) {
      v1::Envelope e = p.Receive();
      if (e.has_overdue_report() || e.body_case() == v1::Envelope::BODY_NOT_SET) return e;
    }
    return v1::Envelope();
  };
  v1::Envelope own = next_report(*late);
  ASSERT_TRUE(own.has_overdue_report()) << own.DebugString();
  ASSERT_EQ(own.overdue_report().own_size(), 1);
  EXPECT_EQ(own.overdue_report().own(0).level(), v1::CONFIRMED);
  EXPECT_EQ(own.overdue_report().own(0).directive_id(), receipt.id());
  v1::Envelope parent = next_report(*street);
  ASSERT_TRUE(parent.has_overdue_report()) << parent.DebugString();
  EXPECT_EQ(parent.overdue_report().own_size(), 0);
  ASSERT_EQ(parent.overdue_report().children_size(), 1);
  ASSERT_EQ(parent.overdue_report().children(0).units_size(), 1);
  EXPECT_EQ(parent.overdue_report().children(0).units(0), "520102001001");

  // Late, but acknowledged: the street hears that nothing is overdue.
  ASSERT_TRUE(late->Call(AckOf(receipt, v1::CONFIRMED)).has_ack_confirm());
  clock_.Advance(std::chrono::seconds(6));
  v1::Envelope cleared = next_report(*street);
  ASSERT_TRUE(cleared.has_overdue_report()) << cleared.DebugString();
  EXPECT_EQ(cleared.overdue_report().children_size(), 0);

  v1::Envelope events;
  events.mutable_events_query()->set_directive_id(receipt.id());
  int passed = 0;
  v1::Envelope events_reply = pub->Call(events);
  for (const auto& e : events_reply.events_reply().events()) {
    if (e.kind() == v1::LifecycleEvent::DEADLINE_PASSED) {
      ++passed;
      EXPECT_EQ(e.overdue_units(), 1u);
      EXPECT_EQ(e.level(), v1::CONFIRMED);
    }
  }
  EXPECT_EQ(passed, 1);  // recorded once, however often the tracker runs
}

TEST_F(BrokerTest, MalformedDeadlinesAreRefused) {
  auto env = PublishRequest({"520102001"}, {v1::COMMUNITY});
  auto* d = env.mutable_publish()->mutable_directive()->add_deadlines();
  d->set_level(v1::READY);
  d->set_before_public_release(true);  // the directive is not public
  auto reply = Connect()->Call(env);
  ASSERT_TRUE(reply.has_error());
  EXPECT_NE(reply.error().message().find("not public"), std::string::npos) << reply.error().message();
}

TEST_F(BrokerTest, AuditQueriesAreAnsweredOffTheLoopAndErrorsSayWhy) {
  auto pub = Connect();
  v1::AuditRequest missing;
  missing.mutable_missing()->set_directive_id("52-HEALTH-20251128-0404");
  auto reply = pub->Call(Audit(missing));
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::NOT_FOUND);
  v1::AuditRequest empty;
  reply = pub->Call(Audit(empty));
  ASSERT_TRUE(reply.has_error());
  EXPECT_NE(reply.error().message().find("names no query"), std::string::npos);
  v1::AuditRequest verify;
  verify.mutable_verify();
  reply = pub->Call(Audit(verify));
  ASSERT_TRUE(reply.has_audit_reply()) << reply.DebugString();
  EXPECT_TRUE(reply.audit_reply().verify().ok());
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
