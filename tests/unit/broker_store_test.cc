#include <gtest/gtest.h>

#include <map>

#include "flatcast/broker/store.h"
#include "temp_dir.h"

namespace flatcast::broker {
namespace {

v1::StoredDirective MakeStored(uint64_t seq, const std::string& id, const std::string& key = "") {
  v1::StoredDirective d;
  d.set_seq(seq);
  d.mutable_directive()->set_id(id);
  d.mutable_directive()->set_title("title " + id);
  d.set_idempotency_key(key);
  return d;
}

AckEntry MakeAck(uint64_t seq, const std::string& unit, v1::AckLevel level = v1::RECEIVED) {
  AckEntry a{seq, unit, level, {}};
  a.record.set_version(1);
  return a;
}

TEST(BrokerStore, RefusesMissingDataDirectoryWithoutInit) {
  testing::TempDir dir;
  auto store = Store::Open({dir / "data", false, 64});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Status::Code::kNotFound);
  EXPECT_NE(store.status().message().find("--init"), std::string::npos);
}

TEST(BrokerStore, RefusesDirectoryThatIsNotAFlatcastStore) {
  testing::TempDir dir;
  testing::WriteFile(dir.path() / "CURRENT", "garbage\n");
  auto store = Store::Open({dir.path().string(), false, 64});
  ASSERT_FALSE(store.ok());
}

TEST(BrokerStore, DirectivesSurviveReopenWithHeadSequence) {
  testing::TempDir dir;
  {
    auto store = Store::Open({dir / "data", true, 64});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE(store.value()->PutDirective(MakeStored(1, "52-A-20261128-0001", "k1"), "52-A", 1).ok());
    ASSERT_TRUE(store.value()->PutDirective(MakeStored(2, "52-A-20261128-0002"), "52-A", 2).ok());
  }
  auto store = Store::Open({dir / "data", false, 64});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Store& s = *store.value();
  EXPECT_EQ(s.head_seq(), 2u);
  EXPECT_EQ(s.SeqOfId("52-A-20261128-0002").value().value(), 2u);
  EXPECT_EQ(s.SeqOfIdempotencyKey("k1").value().value(), 1u);
  EXPECT_FALSE(s.SeqOfIdempotencyKey("k2").value().has_value());
  EXPECT_EQ(s.DailyCounter("52-A").value(), 2u);
  auto d = s.GetDirective(1);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.value()->directive().title(), "title 52-A-20261128-0001");
  std::vector<uint64_t> seqs;
  ASSERT_TRUE(s.ForEachDirective([&](const v1::StoredDirective& x) {
                 seqs.push_back(x.seq());
                 return Status::Ok();
               }).ok());
  EXPECT_EQ(seqs, (std::vector<uint64_t>{1, 2}));
}

TEST(BrokerStore, RefusesSequenceGap) {
  testing::TempDir dir;
  auto store = Store::Open({dir / "data", true, 64});
  ASSERT_TRUE(store.ok());
  EXPECT_FALSE(store.value()->PutDirective(MakeStored(5, "x"), "", 0).ok());
  EXPECT_EQ(store.value()->head_seq(), 0u);
}

TEST(BrokerStore, AckRangeScanReturnsOnlyUnitsBelowRegion) {
  testing::TempDir dir;
  auto store = Store::Open({dir / "data", true, 64});
  ASSERT_TRUE(store.ok());
  Store& s = *store.value();
  ASSERT_TRUE(s.PutAcks({MakeAck(1, "520102"), MakeAck(1, "520102001"), MakeAck(1, "520102001001"),
                         MakeAck(1, "520201"), MakeAck(2, "520102")})
                  .ok());
  std::vector<std::string> units;
  ASSERT_TRUE(s.ForEachAck(1, "520102", [&](std::string_view u, v1::AckLevel level,
                                            const v1::AckRecord&) {
                 EXPECT_EQ(level, v1::RECEIVED);
                 units.emplace_back(u);
               }).ok());
  EXPECT_EQ(units, (std::vector<std::string>{"520102", "520102001", "520102001001"}));
  units.clear();
  ASSERT_TRUE(s.ForEachAck(1, "", [&](std::string_view u, v1::AckLevel, const v1::AckRecord&) {
                 units.emplace_back(u);
               }).ok());
  EXPECT_EQ(units.size(), 4u);
}

TEST(BrokerStore, RepeatedAckChangesNothing) {
  testing::TempDir dir;
  auto store = Store::Open({dir / "data", true, 64});
  ASSERT_TRUE(store.ok());
  Store& s = *store.value();
  ASSERT_TRUE(s.PutAcks({MakeAck(1, "520102")}).ok());
  ASSERT_TRUE(s.PutAcks({MakeAck(1, "520102")}).ok());
  int count = 0;
  ASSERT_TRUE(s.ForEachAck(1, "", [&](std::string_view, v1::AckLevel, const v1::AckRecord&) {
                 ++count;
               }).ok());
  EXPECT_EQ(count, 1);
}

TEST(BrokerStore, EveryWriteIsOneCommitAndTheHeadsSurviveReopen) {
  testing::TempDir dir;
  StoreHeads heads;
  {
    auto store = Store::Open({dir / "data", true, 64});
    ASSERT_TRUE(store.ok());
    Store& s = *store.value();
    EXPECT_EQ(s.heads(), StoreHeads{});
    StoreWrite w;
    w.directive = MakeStored(1, "52-A-20261128-0001");
    w.counters.emplace_back("52-A-2026-11-28", 1);
    w.counters.emplace_back("public/52-A-2026-11-28", 7);
    w.events.emplace_back().set_kind(v1::LifecycleEvent::PUBLISHED);
    w.acks.push_back(MakeAck(1, "520102"));
    ASSERT_TRUE(s.Write(std::move(w)).ok());
    ASSERT_TRUE(s.PutAcks({MakeAck(1, "520103")}).ok());
    heads = s.heads();
    EXPECT_EQ(heads.commit_seq, 2u);
    EXPECT_EQ(heads.directive_seq, 1u);
    EXPECT_EQ(heads.event_seq, 1u);
    EXPECT_EQ(heads.log_seq, 3u);  // the event and both acknowledgements
    EXPECT_TRUE(s.Recover().ok());  // nothing failed: nothing to do
  }
  auto store = Store::Open({dir / "data", false, 64});
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(store.value()->heads(), heads);
  std::map<std::string, uint32_t> counters;
  ASSERT_TRUE(store.value()->ForEachCounter([&](std::string_view key, uint32_t value) {
    counters[std::string(key)] = value;
  }).ok());
  EXPECT_EQ(counters, (std::map<std::string, uint32_t>{{"52-A-2026-11-28", 1},
                                                       {"public/52-A-2026-11-28", 7}}));
}

TEST(BrokerStore, AStoreOpenedReadOnlyRefusesWrites) {
  testing::TempDir dir;
  { ASSERT_TRUE(Store::Open({dir / "data", true, 64}).ok()); }
  auto store = Store::Open({dir / "data", false, 64, /*read_only=*/true});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Status st = store.value()->PutAcks({MakeAck(1, "520102")});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("read-only"), std::string::npos);
  EXPECT_EQ(store.value()->heads().commit_seq, 0u);
}

TEST(BrokerStore, AckKeyOrdersBySequenceThenUnit) {
  EXPECT_LT(AckKey(1, "5299", v1::RECEIVED), AckKey(2, "52", v1::RECEIVED));
  EXPECT_LT(AckKey(1, "520102", v1::READY), AckKey(1, "520102001", v1::RECEIVED));
}

}  // namespace
}  // namespace flatcast::broker
