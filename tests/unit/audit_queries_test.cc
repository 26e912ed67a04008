// The auditors' queries and the tamper-evident log, against a real RocksDB
// store in a temp dir: what the store writes, what the queries count, and
// what verification finds after the store is changed behind its back.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "flatcast/broker/audit_queries.h"
#include "flatcast/broker/store.h"
#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "samples.h"
#include "temp_dir.h"

namespace flatcast::broker {
namespace {

using namespace std::chrono_literals;

const TimePoint kSent = std::chrono::system_clock::from_time_t(1764316800);  // 2025-11-28T08:00Z

class AuditQueriesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = testing::TestRegistry();
    Open();
  }

  void Open(bool read_only = false) {
    StoreOptions options{dir_ / "data", true, 64, read_only};
    auto store = Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    queries_ = std::make_unique<AuditQueries>(*store_, registry_, clock_);
  }
  void Close() {
    queries_.reset();
    store_.reset();
  }

  // A directive to every street and community of 520102, stored as seq
  // head+1 with a PUBLISHED event.
  uint64_t Publish(const std::string& id, const std::string& department = "HEALTH",
                   std::optional<v1::AckDeadline> deadline = std::nullopt) {
    v1::StoredDirective s;
    s.set_seq(store_->head_seq() + 1);
    v1::Directive* d = s.mutable_directive();
    d->set_id(id);
    d->set_version(1);
    d->set_title("title of " + id);
    d->set_issuer_unit("52");
    d->set_issuer_department(department);
    d->add_scope("520102");
    d->add_target_tiers(v1::STREET);
    d->add_target_tiers(v1::COMMUNITY);
    d->add_actions()->set_responsible_tier(v1::COMMUNITY);
    d->add_actions()->set_responsible_tier(v1::COMMUNITY);
    d->add_actions()->set_responsible_tier(v1::STREET);
    *d->mutable_sent() = ToTimestamp(kSent);
    if (deadline) *d->add_deadlines() = *deadline;
    s.set_addressed_units(static_cast<uint32_t>(AddressedUnits(*d, registry_).size()));
    v1::LifecycleEvent e;
    e.set_kind(v1::LifecycleEvent::PUBLISHED);
    e.set_directive_id(id);
    e.set_directive_seq(s.seq());
    *e.mutable_at() = ToTimestamp(kSent);
    StoreWrite w;
    w.directive = s;
    w.events.push_back(e);
    EXPECT_TRUE(store_->Write(std::move(w)).ok());
    return s.seq();
  }

  void Ack(uint64_t seq, const std::string& unit, v1::AckLevel level, std::chrono::milliseconds after,
           const std::string& note = "") {
    AckEntry a{seq, unit, level, {}};
    *a.record.mutable_stored() = ToTimestamp(kSent + after);
    *a.record.mutable_acked() = ToTimestamp(kSent + after);
    a.record.set_version(1);
    a.record.set_note(note);
    ASSERT_TRUE(store_->PutAcks({a}).ok());
  }

  void Rate(uint64_t seq, const std::string& unit, uint32_t clarity, uint32_t feasibility,
            const std::string& comment, std::chrono::milliseconds after = 1h) {
    RatingEntry r{seq, unit, {}};
    r.record.set_clarity(clarity);
    r.record.set_feasibility(feasibility);
    r.record.set_comment(comment);
    *r.record.mutable_rated() = ToTimestamp(kSent + after);
    *r.record.mutable_stored() = ToTimestamp(kSent + after);
    ASSERT_TRUE(store_->PutFeedback({}, {r}).ok());
  }

  // Every street and community of 520102 has received; the first two have
  // confirmed; only 520102001001 is ready.
  uint64_t PublishAndAcknowledge() {
    uint64_t seq = Publish("52-HEALTH-20251128-0001");
    int i = 0;
    for (const char* unit : {"520102001", "520102001001", "520102001002", "520102002",
                             "520102002001"}) {
      Ack(seq, unit, v1::RECEIVED, std::chrono::milliseconds(100 * ++i));
    }
    Ack(seq, "520102001", v1::CONFIRMED, 10min);
    Ack(seq, "520102001001", v1::CONFIRMED, 20min);
    Ack(seq, "520102001001", v1::READY, 30min, "masks counted");
    return seq;
  }

  // Changes the store directly, as someone with access to the files could.
  void Tamper(const std::function<void(rocksdb::DB&, std::vector<rocksdb::ColumnFamilyHandle*>&)>& fn) {
    Close();
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir_ / "data", &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir_ / "data", cfs, &handles, &db).ok());
    std::vector<rocksdb::ColumnFamilyHandle*> by_name;
    auto handle = [&](const std::string& name) {
      for (size_t i = 0; i < names.size(); ++i) {
        if (names[i] == name) return handles[i];
      }
      return static_cast<rocksdb::ColumnFamilyHandle*>(nullptr);
    };
    for (const char* n : {"log", "acks", "ratings", "events"}) by_name.push_back(handle(n));
    fn(*db, by_name);
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
    Open();
  }

  v1::VerifyReply Verify() {
    auto reply = queries_->Verify({});
    EXPECT_TRUE(reply.ok()) << reply.status().ToString();
    return reply.ok() ? *reply : v1::VerifyReply();
  }

  testing::TempDir dir_;
  Registry registry_;
  FakeClock clock_{kSent + 2h};
  std::unique_ptr<Store> store_;
  std::unique_ptr<AuditQueries> queries_;
};

TEST_F(AuditQueriesTest, RollupCountsEveryLevelUpTheTree) {
  PublishAndAcknowledge();
  v1::RollupQuery q;
  q.set_directive_id("52-HEALTH-20251128-0001");
  q.set_depth(v1::STREET);
  auto reply = queries_->Rollup(q);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  // 52, 5201, 520102, two streets; 520103 has nothing addressed.
  ASSERT_EQ(reply->rows_size(), 5);
  EXPECT_EQ(reply->rows(0).code(), "52");
  EXPECT_EQ(reply->rows(0).counts().addressed(), 5u);
  EXPECT_EQ(reply->rows(0).counts().received(), 5u);
  EXPECT_EQ(reply->rows(0).counts().confirmed(), 2u);
  EXPECT_EQ(reply->rows(0).counts().ready(), 1u);
  EXPECT_EQ(reply->rows(3).code(), "520102001");
  EXPECT_EQ(reply->rows(3).counts().addressed(), 3u);  // the street and its two communities
  EXPECT_EQ(reply->rows(3).counts().confirmed(), 2u);
  EXPECT_EQ(reply->rows(4).code(), "520102002");
  EXPECT_EQ(reply->rows(4).counts().addressed(), 2u);
  EXPECT_EQ(reply->rows(4).counts().confirmed(), 0u);
}

TEST_F(AuditQueriesTest, MissingListsUnitsWithoutALevelBelowARegionPageByPage) {
  PublishAndAcknowledge();
  v1::MissingQuery q;
  q.set_directive_id("52-HEALTH-20251128-0001");
  q.set_level(v1::CONFIRMED);
  auto all = queries_->Missing(q);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->total(), 3u);
  ASSERT_EQ(all->units_size(), 3);
  EXPECT_EQ(all->units(0).code(), "520102001002");
  q.set_region("520102002");
  auto region = queries_->Missing(q);
  EXPECT_EQ(region->total(), 2u);
  q.set_region("");
  q.set_limit(1);
  q.set_offset(1);
  auto page = queries_->Missing(q);
  EXPECT_EQ(page->total(), 3u);
  ASSERT_EQ(page->units_size(), 1);
  EXPECT_EQ(page->units(0).code(), "520102002");
  q.set_region("5299");
  EXPECT_EQ(queries_->Missing(q).status().code(), Status::Code::kInvalidArgument);
  q.set_region("");
  q.set_directive_id("52-HEALTH-20251128-0099");
  EXPECT_EQ(queries_->Missing(q).status().code(), Status::Code::kNotFound);
}

TEST_F(AuditQueriesTest, LatencyIsMeasuredFromSendingToEachLevel) {
  PublishAndAcknowledge();
  v1::LatencyQuery q;
  q.set_directive_id("52-HEALTH-20251128-0001");
  auto reply = queries_->Latency(q);
  ASSERT_TRUE(reply.ok());
  ASSERT_EQ(reply->levels_size(), 3);
  EXPECT_EQ(reply->levels(0).count(), 5u);
  EXPECT_EQ(reply->levels(0).p50_ms(), 300);
  EXPECT_EQ(reply->levels(0).max_ms(), 500);
  EXPECT_EQ(reply->levels(1).count(), 2u);
  EXPECT_EQ(reply->levels(1).p50_ms(), 600000);
  EXPECT_EQ(reply->levels(1).max_ms(), 1200000);
  EXPECT_EQ(reply->levels(2).p99_ms(), 1800000);
}

TEST_F(AuditQueriesTest, UnitHistoryHasEveryLevelTheNoteAndTheRating) {
  uint64_t seq = PublishAndAcknowledge();
  Rate(seq, "520102001001", 4, 2, "masks are short");
  v1::UnitHistoryQuery q;
  q.set_unit_code("520102001001");
  auto reply = queries_->UnitHistory(q);
  ASSERT_TRUE(reply.ok());
  ASSERT_EQ(reply->rows_size(), 1);
  const auto& row = reply->rows(0);
  EXPECT_TRUE(row.has_received());
  EXPECT_TRUE(row.has_confirmed());
  EXPECT_TRUE(row.has_ready());
  EXPECT_EQ(row.ready_note(), "masks counted");
  EXPECT_EQ(row.rating().clarity(), 4u);
  EXPECT_FALSE(row.superseded());
  q.set_unit_code("520103");
  EXPECT_EQ(queries_->UnitHistory(q)->rows_size(), 0);  // nothing addressed to it
}

TEST_F(AuditQueriesTest, ReadinessCountsOnlyWhatWasAcknowledgedByTheRelease) {
  uint64_t seq = PublishAndAcknowledge();
  v1::PublicRecord record;
  record.set_directive_id("52-HEALTH-20251128-0001");
  record.set_state(v1::PublicRecord::RELEASED);
  record.set_latest_seq(seq);
  *record.mutable_released_at() = ToTimestamp(kSent + 15min);  // after 1 CONFIRMED, before READY
  StoreWrite w;
  w.public_records.push_back(record);
  ASSERT_TRUE(store_->Write(std::move(w)).ok());
  v1::ReadinessQuery q;
  q.set_directive_id("52-HEALTH-20251128-0001");
  auto reply = queries_->Readiness(q);
  ASSERT_TRUE(reply.ok());
  EXPECT_TRUE(reply->released());
  EXPECT_EQ(reply->total().received(), 5u);
  EXPECT_EQ(reply->total().confirmed(), 1u);
  EXPECT_EQ(reply->total().ready(), 0u);
  ASSERT_EQ(reply->tiers_size(), 2);  // street, community
  EXPECT_EQ(reply->tiers(0).tier(), v1::STREET);
  EXPECT_EQ(reply->tiers(0).counts().confirmed(), 1u);
}

TEST_F(AuditQueriesTest, RatingsAggregateByDepartmentAndByDirectiveAndALaterOneReplaces) {
  uint64_t a = Publish("52-HEALTH-20251128-0001", "HEALTH");
  uint64_t b = Publish("52-TRAFFIC-20251128-0001", "TRAFFIC");
  Rate(a, "520102001001", 2, 2, "unclear");
  Rate(a, "520102001001", 4, 3, "clear after the call", 2h);  // replaces the first
  Rate(a, "520102001002", 5, 5, "");
  Rate(b, "520102001001", 1, 1, "impossible by Friday");
  v1::RatingsQuery q;
  q.set_by(v1::RatingsQuery::DEPARTMENT);
  auto by_department = queries_->Ratings(q);
  ASSERT_TRUE(by_department.ok());
  ASSERT_EQ(by_department->rows_size(), 2);
  EXPECT_EQ(by_department->rows(0).key(), "HEALTH");
  EXPECT_EQ(by_department->rows(0).ratings(), 2u);
  EXPECT_DOUBLE_EQ(by_department->rows(0).clarity_mean(), 4.5);
  EXPECT_DOUBLE_EQ(by_department->rows(0).feasibility_mean(), 4.0);
  EXPECT_EQ(by_department->rows(1).key(), "TRAFFIC");
  EXPECT_EQ(by_department->rows(1).clarity_histogram(0), 1u);
  q.set_by(v1::RatingsQuery::DIRECTIVE);
  q.set_comments(5);
  auto by_directive = queries_->Ratings(q);
  ASSERT_EQ(by_directive->rows_size(), 2);
  EXPECT_EQ(by_directive->rows(0).key(), "52-HEALTH-20251128-0001");
  ASSERT_EQ(by_directive->rows(0).comments_size(), 1);
  EXPECT_EQ(by_directive->rows(0).comments(0), "clear after the call");
  // Both ratings of 520102001001 are in the log.
  v1::LogQuery log;
  log.set_region("520102001001");
  auto records = queries_->Log(log);
  int ratings = 0;
  for (const auto& r : records->records()) ratings += r.has_rating();
  EXPECT_EQ(ratings, 3);
}

TEST_F(AuditQueriesTest, BurdenCountsDirectivesAndActionItemsPerUnitWeekAndDepartment) {
  uint64_t a = Publish("52-HEALTH-20251128-0001", "HEALTH");
  uint64_t b = Publish("52-HEALTH-20251128-0002", "HEALTH");
  Ack(a, "520102001001", v1::RECEIVED, 1s);
  Ack(b, "520102001001", v1::RECEIVED, 1s);
  Ack(a, "520102001", v1::RECEIVED, 1s);
  Ack(b, "520102002001", v1::RECEIVED, 7 * 24h);  // the next week
  v1::BurdenQuery q;
  auto by_unit = queries_->Burden(q);
  ASSERT_TRUE(by_unit.ok());
  ASSERT_EQ(by_unit->rows_size(), 3);
  EXPECT_EQ(by_unit->rows(0).unit_code(), "520102001");
  EXPECT_EQ(by_unit->rows(0).action_items(), 1u);  // one item for streets
  EXPECT_EQ(by_unit->rows(1).unit_code(), "520102001001");
  EXPECT_EQ(by_unit->rows(1).week(), "2025-W48");
  EXPECT_EQ(by_unit->rows(1).directives(), 2u);
  EXPECT_EQ(by_unit->rows(1).action_items(), 4u);  // two items each for communities
  EXPECT_EQ(by_unit->rows(2).week(), "2025-W49");
  q.set_by(v1::BurdenQuery::TIER);
  q.set_region("520102001");
  auto by_tier = queries_->Burden(q);
  ASSERT_EQ(by_tier->rows_size(), 2);
  EXPECT_EQ(by_tier->rows(1).tier(), v1::COMMUNITY);
  EXPECT_EQ(by_tier->rows(1).units(), 2u);
  EXPECT_EQ(by_tier->rows(1).directives(), 2u);
}

TEST_F(AuditQueriesTest, LogRangesFindTheirStartByTimeAndPage) {
  PublishAndAcknowledge();
  v1::LogQuery q;
  *q.mutable_since() = ToTimestamp(kSent + 5min);
  auto later = queries_->Log(q);
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(later->records_size(), 3);  // the two CONFIRMED and the READY
  EXPECT_EQ(later->records(0).ack().level(), v1::CONFIRMED);
  v1::LogQuery page;
  page.set_limit(2);
  auto first = queries_->Log(page);
  EXPECT_EQ(first->records_size(), 2);
  EXPECT_TRUE(first->more());
  page.set_after_log_seq(first->records(1).log_seq());
  auto second = queries_->Log(page);
  EXPECT_EQ(second->records(0).log_seq(), 3u);
}

TEST(IsoWeek, FollowsIso8601AcrossYearEnds) {
  auto at = [](int y, int m, int d) {
    return std::chrono::sys_days(std::chrono::year(y) / m / d) + std::chrono::hours(12);
  };
  EXPECT_EQ(IsoWeek(at(2026, 12, 1)), "2026-W49");
  EXPECT_EQ(IsoWeek(at(2027, 1, 1)), "2026-W53");  // a Friday
  EXPECT_EQ(IsoWeek(at(2024, 12, 30)), "2025-W01");
  EXPECT_EQ(IsoWeek(at(2021, 1, 3)), "2020-W53");
}

TEST_F(AuditQueriesTest, AnUntouchedStoreVerifies) {
  PublishAndAcknowledge();
  v1::VerifyReply r = Verify();
  EXPECT_TRUE(r.ok()) << r.problem();
  EXPECT_EQ(r.records(), 9u);  // 1 event, 8 acks
  EXPECT_EQ(r.head_log_seq(), 9u);
}

TEST_F(AuditQueriesTest, VerifyFindsALogRecordChangedInTheStore) {
  PublishAndAcknowledge();
  Tamper([](rocksdb::DB& db, auto& cf) {
    std::string value;
    ASSERT_TRUE(db.Get({}, cf[0], SeqKey(4), &value).ok());
    v1::LogRecord r;
    ASSERT_TRUE(r.ParseFromString(value));
    r.mutable_ack()->mutable_record()->mutable_stored()->set_seconds(1);
    ASSERT_TRUE(db.Put({}, cf[0], SeqKey(4), r.SerializeAsString()).ok());
  });
  v1::VerifyReply r = Verify();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_log_seq(), 4u);
  EXPECT_NE(r.problem().find("record 4 was changed"), std::string::npos) << r.problem();
}

TEST_F(AuditQueriesTest, VerifyFindsAnAcknowledgementChangedOutsideTheLog) {
  uint64_t seq = PublishAndAcknowledge();
  Tamper([&](rocksdb::DB& db, auto& cf) {
    v1::AckRecord forged;
    forged.set_version(1);
    forged.mutable_stored()->set_seconds(1);
    ASSERT_TRUE(db.Put({}, cf[1], AckKey(seq, "520102002", v1::RECEIVED), forged.SerializeAsString()).ok());
  });
  v1::VerifyReply r = Verify();
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.problem().find("acknowledgement logged in record"), std::string::npos) << r.problem();
  EXPECT_NE(r.problem().find("was changed in the store"), std::string::npos) << r.problem();
}

TEST_F(AuditQueriesTest, VerifyFindsRemovedAndInsertedRecords) {
  uint64_t seq = PublishAndAcknowledge();
  Tamper([&](rocksdb::DB& db, auto& cf) {
    ASSERT_TRUE(db.Delete({}, cf[0], SeqKey(6)).ok());
  });
  v1::VerifyReply removed = Verify();
  EXPECT_FALSE(removed.ok());
  EXPECT_EQ(removed.first_bad_log_seq(), 6u);
  EXPECT_NE(removed.problem().find("record 6 is missing"), std::string::npos) << removed.problem();

  testing::TempDir other;
  Tamper([&](rocksdb::DB& db, auto& cf) {
    v1::AckRecord forged;
    forged.set_version(1);
    ASSERT_TRUE(db.Put({}, cf[1], AckKey(seq, "520102001002", v1::READY), forged.SerializeAsString()).ok());
  });
  v1::VerifyReply inserted = Verify();
  EXPECT_GE(inserted.problems(), 2u);  // the removal, and the ack the log does not know
}

TEST_F(AuditQueriesTest, ReadOnlyStoreVerifiesAndRefusesWrites) {
  PublishAndAcknowledge();
  Close();
  Open(/*read_only=*/true);
  EXPECT_TRUE(Verify().ok());
  AckEntry a{1, "520102001002", v1::CONFIRMED, {}};
  Status st = store_->PutAcks({a});
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("read-only"), std::string::npos);
}

}  // namespace
}  // namespace flatcast::broker
