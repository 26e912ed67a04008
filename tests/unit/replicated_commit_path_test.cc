// The leader's commit path in a pair: a standby that really stores what it
// is sent (a second RocksDB store), a leader state the test moves by hand.
#include "flatcast/broker/replicated_commit_path.h"

#include <gtest/gtest.h>

#include "faulty_store.h"
#include "temp_dir.h"

namespace flatcast::broker {
namespace {

using namespace std::chrono_literals;
using testing::FaultyStore;

// Commits are queued as sent; Deliver applies them to the standby's store.
class FakeStandbyLink final : public StandbyLink {
 public:
  explicit FakeStandbyLink(Store& standby) : standby_(standby) {}
  void Send(int64_t epoch, const ReplicaBatch& batch) override {
    sent_.push_back({epoch, batch});
    ++sent_count;
  }
  uint64_t acked() const override { return acked_; }
  bool caught_up() const override { return connected; }
  std::string standby() const override { return connected ? "b" : ""; }
  std::string why_not() const override { return "no standby connected"; }

  // The standby stores and answers up to `n` commits in flight.
  void Deliver(size_t n = SIZE_MAX) {
    while (n-- > 0 && !sent_.empty()) {
      Status s = standby_.ApplyReplica(sent_.front().second);
      ASSERT_TRUE(s.ok()) << s.ToString();
      acked_ = sent_.front().second.commit_seq;
      last_epoch = sent_.front().first;
      sent_.pop_front();
    }
  }
  void Drop() { sent_.clear(); }

  bool connected = true;
  int sent_count = 0;
  int64_t last_epoch = 0;

 private:
  Store& standby_;
  std::deque<std::pair<int64_t, ReplicaBatch>> sent_;
  uint64_t acked_ = 0;
};

class FakeLeaderState final : public LeaderState {
 public:
  int64_t EpochNow() const override { return epoch; }
  std::string recorded_standby() const override { return recorded; }
  void RecordStandby(const std::string& standby) override { requested = standby; }
  // etcd has written what was asked.
  void Apply() {
    if (requested) recorded = *requested;
    requested.reset();
  }

  int64_t epoch = 7;
  std::string recorded = "b";
  std::optional<std::string> requested;
};

class ReplicatedCommitPathTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(ReplicationMode::kSync); }

  void Make(ReplicationMode mode) {
    path_ = std::make_unique<ReplicatedCommitPath>(
        local_, *leader_, link_, state_, mode,
        [this](bool degraded, const std::string& why) { changes_.emplace_back(degraded, why); });
  }

  static StoreWrite Event(const std::string& id) {
    StoreWrite w;
    v1::LifecycleEvent e;
    e.set_kind(v1::LifecycleEvent::PUBLISHED);
    e.set_directive_id(id);
    w.events.push_back(e);
    return w;
  }
  void Commit(const std::string& id) {
    path_->Commit(Event(id), [this, id](const Status& st) { outcomes_.emplace_back(id, st); });
  }
  static std::unique_ptr<FaultyStore> Open(const std::string& path) {
    auto real = Store::Open({path, true, 64});
    EXPECT_TRUE(real.ok());
    return std::make_unique<FaultyStore>(std::move(real).value());
  }

  testing::TempDir dir_;
  std::unique_ptr<FaultyStore> leader_ = Open(dir_ / "leader");
  std::unique_ptr<FaultyStore> standby_ = Open(dir_ / "standby");
  StoreCommitPath local_{*leader_, 1s};
  FakeStandbyLink link_{*standby_};
  FakeLeaderState state_;
  std::unique_ptr<ReplicatedCommitPath> path_;
  std::vector<std::pair<std::string, Status>> outcomes_;
  std::vector<std::pair<bool, std::string>> changes_;
};

TEST_F(ReplicatedCommitPathTest, ConfirmsOnlyOnceTheStandbyHasStoredIt) {
  Commit("a");
  path_->RunCompletions();
  EXPECT_TRUE(outcomes_.empty());  // on the leader's disk only
  EXPECT_EQ(leader_->heads().commit_seq, 1u);
  link_.Deliver();
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_TRUE(outcomes_[0].second.ok()) << outcomes_[0].second.ToString();
  EXPECT_EQ(standby_->heads(), leader_->heads());
  EXPECT_EQ(standby_->head_chain(), leader_->head_chain());
  EXPECT_EQ(link_.last_epoch, 7);
}

TEST_F(ReplicatedCommitPathTest, PipelinesCommitsAndConfirmsThemInOrder) {
  Commit("a");
  Commit("b");
  Commit("c");
  EXPECT_EQ(link_.sent_count, 3);  // sent before the standby answered the first
  link_.Deliver(2);
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 2u);
  EXPECT_EQ(outcomes_[0].first, "a");
  EXPECT_EQ(outcomes_[1].first, "b");
  EXPECT_EQ(path_->in_flight(), 1u);
  link_.Deliver();
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 3u);
  EXPECT_EQ(outcomes_[2].first, "c");
}

TEST_F(ReplicatedCommitPathTest, ACallbackMayCommitAgain) {
  path_->Commit(Event("a"), [this](const Status&) { Commit("b"); });
  link_.Deliver();
  path_->RunCompletions();
  EXPECT_TRUE(outcomes_.empty());  // b waits for the standby
  link_.Deliver();
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].first, "b");
  EXPECT_TRUE(outcomes_[0].second.ok());
}

TEST_F(ReplicatedCommitPathTest, SyncModeRefusesBeforeWritingWhenNoStandbyIsInSync) {
  link_.connected = false;
  Commit("a");
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].second.code(), Status::Code::kUnavailable);
  EXPECT_NE(outcomes_[0].second.message().find("no standby in sync"), std::string::npos)
      << outcomes_[0].second.message();
  EXPECT_NE(outcomes_[0].second.message().find("nothing was stored"), std::string::npos);
  EXPECT_EQ(leader_->heads().commit_seq, 0u);
  EXPECT_EQ(link_.sent_count, 0);
  EXPECT_FALSE(path_->health().ok());
}

TEST_F(ReplicatedCommitPathTest, AStandbyCountsAsInSyncOnlyOnceEtcdRecordsIt) {
  state_.recorded = "";
  EXPECT_FALSE(path_->in_sync());
  Commit("a");
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_FALSE(outcomes_[0].second.ok());
  EXPECT_NE(path_->health().message().find("not yet recorded in etcd"), std::string::npos)
      << path_->health().message();
  ASSERT_TRUE(state_.requested);
  EXPECT_EQ(*state_.requested, "b");
  state_.Apply();
  EXPECT_TRUE(path_->in_sync());
  Commit("b");
  link_.Deliver();
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 2u);
  EXPECT_TRUE(outcomes_[1].second.ok());
}

TEST_F(ReplicatedCommitPathTest, SyncModeKeepsWhatTheStandbyMissedUntilItIsBack) {
  Commit("a");
  link_.connected = false;  // the standby vanished before storing a
  link_.Drop();
  for (int i = 0; i < 3; ++i) path_->RunCompletions();
  EXPECT_TRUE(outcomes_.empty());  // neither confirmed nor refused: it is on one disk
  Commit("b");
  path_->RunCompletions();
  EXPECT_TRUE(outcomes_.empty());  // b is refused, after a in order
  EXPECT_EQ(state_.recorded, "b");  // the standby keeps its right to take over
  // The standby is back and resynced from the leader's kept batches.
  auto kept = leader_->GetBatch(1);
  ASSERT_TRUE(kept.ok() && *kept);
  link_.connected = true;
  link_.Send(7, **kept);
  link_.Deliver();
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 2u);
  EXPECT_EQ(outcomes_[0].first, "a");
  EXPECT_TRUE(outcomes_[0].second.ok());
  EXPECT_EQ(outcomes_[1].first, "b");
  EXPECT_EQ(outcomes_[1].second.code(), Status::Code::kUnavailable);
  EXPECT_EQ(leader_->heads().commit_seq, 1u);
}

TEST_F(ReplicatedCommitPathTest, AllowDegradedUnrecordsTheStandbyBeforeConfirmingAlone) {
  Make(ReplicationMode::kAllowDegraded);
  Commit("a");
  link_.connected = false;
  link_.Drop();
  path_->RunCompletions();
  EXPECT_TRUE(outcomes_.empty());  // not before etcd stops naming the standby
  ASSERT_TRUE(state_.requested);
  EXPECT_EQ(*state_.requested, "");
  state_.Apply();
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_TRUE(outcomes_[0].second.ok());
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_TRUE(changes_[0].first);
  EXPECT_NE(changes_[0].second.find("no standby in sync"), std::string::npos);
  EXPECT_TRUE(path_->degraded());
  Commit("b");  // alone, at once
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 2u);
  EXPECT_TRUE(outcomes_[1].second.ok());
  // Back, but still lacking what was confirmed alone: etcd does not name it
  // yet, and nothing more is confirmed alone.
  link_.connected = true;
  path_->Tick(TimePoint{});
  EXPECT_FALSE(state_.requested);
  Commit("c");
  path_->RunCompletions();
  EXPECT_EQ(outcomes_.size(), 2u);  // "c" waits for the standby
  // It copies what it lacks: then it is recorded again, and that is said.
  link_.Drop();
  for (uint64_t seq = 1; seq <= 3; ++seq) link_.Send(7, *leader_->GetBatch(seq).value());
  link_.Deliver();
  path_->Tick(TimePoint{});
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 3u);
  EXPECT_TRUE(outcomes_[2].second.ok());
  ASSERT_TRUE(state_.requested);
  EXPECT_EQ(*state_.requested, "b");
  state_.Apply();
  path_->Tick(TimePoint{});
  ASSERT_EQ(changes_.size(), 2u);
  EXPECT_FALSE(changes_[1].first);
  EXPECT_FALSE(path_->degraded());
}

TEST_F(ReplicatedCommitPathTest, NothingIsConfirmedOnceTheLeaseIsNotCurrent) {
  Commit("a");
  link_.Deliver();
  state_.epoch = 0;  // the lease ran out (etcd gone, or paused past it)
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].second.code(), Status::Code::kUnavailable);
  EXPECT_NE(outcomes_[0].second.message().find("lease ran out"), std::string::npos);
  Commit("b");
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 2u);
  EXPECT_NE(outcomes_[1].second.message().find("not the leader"), std::string::npos);
  EXPECT_EQ(leader_->heads().commit_seq, 1u);
}

TEST_F(ReplicatedCommitPathTest, ALocalFailureIsReportedAndNothingIsSent) {
  leader_->FailWrites(1);
  Commit("a");
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].second.code(), Status::Code::kIOError);
  EXPECT_EQ(link_.sent_count, 0);
}

TEST(ReplicationModeTest, ParsesBothModesAndRefusesOthers) {
  EXPECT_EQ(*ParseReplicationMode("sync"), ReplicationMode::kSync);
  EXPECT_EQ(*ParseReplicationMode("allow-degraded"), ReplicationMode::kAllowDegraded);
  auto bad = ParseReplicationMode("async");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("\"sync\" or \"allow-degraded\""), std::string::npos);
}

}  // namespace
}  // namespace flatcast::broker
