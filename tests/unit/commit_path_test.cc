// The one commit path over a store that fails on demand.
#include "flatcast/broker/commit_path.h"

#include <gtest/gtest.h>

#include "faulty_store.h"
#include "temp_dir.h"

namespace flatcast::broker {
namespace {

using namespace std::chrono_literals;
using testing::FaultyStore;

class CommitPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto real = Store::Open({dir_ / "data", true, 64});
    ASSERT_TRUE(real.ok()) << real.status().ToString();
    store_ = std::make_unique<FaultyStore>(std::move(real).value());
    path_ = std::make_unique<StoreCommitPath>(*store_, 1s);
  }

  static StoreWrite Event(const std::string& id) {
    StoreWrite w;
    v1::LifecycleEvent e;
    e.set_kind(v1::LifecycleEvent::PUBLISHED);
    e.set_directive_id(id);
    w.events.push_back(e);
    return w;
  }
  // Commits and records the outcome in `outcomes` when called back.
  void Commit(const std::string& id) {
    path_->Commit(Event(id), [this, id](const Status& st) { outcomes_.emplace_back(id, st); });
  }

  testing::TempDir dir_;
  std::unique_ptr<FaultyStore> store_;
  std::unique_ptr<StoreCommitPath> path_;
  std::vector<std::pair<std::string, Status>> outcomes_;
};

TEST_F(CommitPathTest, CallbacksRunOnlyFromRunCompletionsInOrder) {
  Commit("a");
  Commit("b");
  EXPECT_TRUE(outcomes_.empty());
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 2u);
  EXPECT_EQ(outcomes_[0].first, "a");
  EXPECT_TRUE(outcomes_[0].second.ok());
  EXPECT_EQ(outcomes_[1].first, "b");
  EXPECT_EQ(store_->heads().commit_seq, 2u);
  EXPECT_EQ(store_->heads().event_seq, 2u);
}

TEST_F(CommitPathTest, ACallbackMayCommitAgainAndIsCalledBackInTheSameRun) {
  path_->Commit(Event("a"), [this](const Status&) { Commit("b"); });
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_EQ(outcomes_[0].first, "b");
}

TEST_F(CommitPathTest, AFailedWriteThatWasNotAppliedFailsWithItsError) {
  store_->FailWrites(1);
  Commit("a");
  Commit("b");
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 2u);
  EXPECT_FALSE(outcomes_[0].second.ok());
  EXPECT_NE(outcomes_[0].second.message().find("write failed"), std::string::npos);
  EXPECT_NE(outcomes_[0].second.code(), Status::Code::kUnavailable);
  EXPECT_TRUE(outcomes_[1].second.ok());
  EXPECT_EQ(store_->heads().commit_seq, 1u);
  EXPECT_TRUE(path_->health().ok());
}

TEST_F(CommitPathTest, AFailedWriteThatWasAppliedCountsAsDurable) {
  store_->FailWrites(1, FaultyStore::WriteFault::kSyncAfterApply);
  Commit("a");
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 1u);
  EXPECT_TRUE(outcomes_[0].second.ok()) << outcomes_[0].second.ToString();
  EXPECT_FALSE(path_->TakeLateApplied());
}

TEST_F(CommitPathTest, WhileTheStoreCannotRecoverLaterWritesFailAndATickRetries) {
  store_->FailWrites(1, FaultyStore::WriteFault::kSyncAfterApply);
  store_->FailRecoveries(2);
  Commit("a");
  Commit("b");
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 2u);
  EXPECT_EQ(outcomes_[0].second.code(), Status::Code::kUnavailable);
  EXPECT_NE(outcomes_[0].second.message().find("not known"), std::string::npos);
  EXPECT_EQ(outcomes_[1].second.code(), Status::Code::kIOError);
  EXPECT_NE(outcomes_[1].second.message().find("does not accept writes"), std::string::npos);
  EXPECT_FALSE(path_->health().ok());
  const TimePoint t0 = SystemClock::Instance().Now();
  path_->Tick(t0);  // recovered: "a" is in the store
  EXPECT_TRUE(path_->health().ok());
  EXPECT_TRUE(path_->TakeLateApplied());
  EXPECT_FALSE(path_->TakeLateApplied());  // once
  EXPECT_EQ(store_->heads().commit_seq, 1u);
}

TEST_F(CommitPathTest, AWriteAfterAnUnknownOutcomeThatWasAppliedWaitsForTheReload) {
  store_->FailWrites(1, FaultyStore::WriteFault::kSyncAfterApply);
  store_->FailRecoveries(1);
  Commit("a");
  Commit("b");  // recovers, finds "a" applied: "b" was decided without it
  path_->RunCompletions();
  ASSERT_EQ(outcomes_.size(), 2u);
  EXPECT_NE(outcomes_[1].second.message().find("loads first"), std::string::npos);
  EXPECT_TRUE(path_->TakeLateApplied());
  Commit("b");
  path_->RunCompletions();
  EXPECT_TRUE(outcomes_[2].second.ok());
}

TEST_F(CommitPathTest, ATickRetriesRecoveryAtMostOncePerInterval) {
  store_->SetDiskFull(true);
  Commit("a");
  path_->RunCompletions();
  const TimePoint t0 = SystemClock::Instance().Now();
  store_->SetDiskFull(false);
  store_->FailRecoveries(1);
  path_->Tick(t0);  // fails
  path_->Tick(t0 + 500ms);  // not yet tried again
  EXPECT_FALSE(path_->health().ok());
  path_->Tick(t0 + 1s);
  EXPECT_TRUE(path_->health().ok());
  EXPECT_FALSE(path_->TakeLateApplied());  // the full disk had taken nothing
}

}  // namespace
}  // namespace flatcast::broker
