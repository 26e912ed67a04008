// A standby's store fed with its leader's commits (docs/HA.md): the same
// bytes, the same heads, the same log, and refusals of a gap, a repeat, a
// diverged history and a batch that is not what it claims.
#include <gtest/gtest.h>
#include <rocksdb/write_batch.h>

#include "flatcast/broker/store.h"
#include "flatcast/log_chain.h"
#include "temp_dir.h"

namespace flatcast::broker {
namespace {

std::unique_ptr<Store> OpenStore(const std::string& path) {
  auto store = Store::Open({path, true, 64});
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return std::move(store).value();
}

StoreWrite DirectiveWrite(uint64_t seq) {
  StoreWrite w;
  v1::StoredDirective d;
  d.set_seq(seq);
  d.mutable_directive()->set_id("D-" + std::to_string(seq));
  d.set_idempotency_key("key-" + std::to_string(seq));
  w.directive = d;
  w.counters.push_back({"5201-20261202", static_cast<uint32_t>(seq)});
  v1::LifecycleEvent e;
  e.set_directive_id(d.directive().id());
  w.events.push_back(e);
  return w;
}

StoreWrite AckWrite(uint64_t seq, const std::string& unit) {
  StoreWrite w;
  AckEntry a{seq, unit, v1::RECEIVED, {}};
  a.record.set_version(1);
  w.acks.push_back(a);
  return w;
}

class StoreReplicaTest : public ::testing::Test {
 protected:
  // Writes on the leader and returns the batch it committed.
  ReplicaBatch Commit(StoreWrite w) {
    Status s = leader_->Write(std::move(w));
    EXPECT_TRUE(s.ok()) << s.ToString();
    return leader_->last_batch();
  }

  testing::TempDir dir_;
  std::unique_ptr<Store> leader_ = OpenStore(dir_ / "leader");
  std::unique_ptr<Store> standby_ = OpenStore(dir_ / "standby");
};

TEST_F(StoreReplicaTest, CommitsStoredUnsyncedThenOneSyncedAreAllKeptAfterReopen) {
  std::vector<ReplicaBatch> batches = {Commit(DirectiveWrite(1)), Commit(AckWrite(1, "520102")),
                                       Commit(AckWrite(1, "520103"))};
  ASSERT_TRUE(standby_->ApplyReplica(batches[0], /*sync=*/false).ok());
  ASSERT_TRUE(standby_->ApplyReplica(batches[1], /*sync=*/false).ok());
  EXPECT_EQ(standby_->heads().commit_seq, 2u);
  ASSERT_TRUE(standby_->ApplyReplica(batches[2], /*sync=*/true).ok());
  standby_.reset();
  standby_ = OpenStore(dir_ / "standby");
  EXPECT_EQ(standby_->heads(), leader_->heads());
  EXPECT_EQ(standby_->head_chain(), leader_->head_chain());
  // SyncLog after unsynced writes, as a standby does when a later message was not a commit.
  ReplicaBatch fourth = Commit(AckWrite(1, "520111"));
  ASSERT_TRUE(standby_->ApplyReplica(fourth, /*sync=*/false).ok());
  ASSERT_TRUE(standby_->SyncLog().ok());
  standby_.reset();
  standby_ = OpenStore(dir_ / "standby");
  EXPECT_EQ(standby_->heads().commit_seq, 4u);
}

TEST_F(StoreReplicaTest, AStandbyFedTheLeadersCommitsHoldsTheSameAndSurvivesReopen) {
  std::vector<ReplicaBatch> batches = {Commit(DirectiveWrite(1)), Commit(AckWrite(1, "520102")),
                                       Commit(DirectiveWrite(2)), Commit(AckWrite(2, "520103"))};
  for (const ReplicaBatch& b : batches) {
    Status s = standby_->ApplyReplica(b);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(standby_->last_batch().commit_seq, b.commit_seq);
  }
  EXPECT_EQ(standby_->heads(), leader_->heads());
  EXPECT_EQ(standby_->heads().commit_seq, 4u);
  EXPECT_EQ(standby_->head_chain(), leader_->head_chain());
  EXPECT_EQ(standby_->head_chain().size(), kLogHashBytes);
  auto d = standby_->GetDirective(2);
  ASSERT_TRUE(d.ok() && *d);
  EXPECT_EQ((*d)->directive().id(), "D-2");
  auto seq = standby_->SeqOfIdempotencyKey("key-1");
  ASSERT_TRUE(seq.ok() && *seq);
  EXPECT_EQ(**seq, 1u);
  auto leader_log = leader_->VerifyLog(0, "");
  auto standby_log = standby_->VerifyLog(0, "");
  ASSERT_TRUE(leader_log.ok() && standby_log.ok());
  EXPECT_TRUE(standby_log->ok()) << standby_log->first_problem;
  EXPECT_EQ(standby_log->head_hash, leader_log->head_hash);
  EXPECT_EQ(standby_log->records, 4u);

  // The standby's own next commit (after a failover) continues both chains.
  standby_.reset();
  standby_ = OpenStore(dir_ / "standby");
  EXPECT_EQ(standby_->heads(), leader_->heads());
  EXPECT_EQ(standby_->head_chain(), leader_->head_chain());
  ASSERT_TRUE(standby_->Write(AckWrite(1, "520104")).ok());
  auto kept = standby_->GetBatch(5);
  ASSERT_TRUE(kept.ok() && *kept);
  EXPECT_EQ((*kept)->chain, BatchChainHash(leader_->head_chain(), (*kept)->data));
  ASSERT_TRUE(leader_->ApplyReplica(**kept).ok());  // the old leader, now standby, follows
  EXPECT_EQ(leader_->heads(), standby_->heads());
}

TEST_F(StoreReplicaTest, KeepsEveryCommitsBatchForAStandbyThatCatchesUp) {
  for (uint64_t seq = 1; seq <= 5; ++seq) Commit(DirectiveWrite(seq));
  auto none = leader_->GetBatch(0);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);
  for (uint64_t c = 1; c <= 5; ++c) {
    auto b = leader_->GetBatch(c);
    ASSERT_TRUE(b.ok() && *b) << c;
    ASSERT_TRUE(standby_->ApplyReplica(**b).ok()) << c;
  }
  EXPECT_EQ(standby_->heads(), leader_->heads());
  EXPECT_FALSE(*leader_->GetBatch(6));
}

TEST_F(StoreReplicaTest, RefusesAGapAndACommitStoredAlready) {
  ReplicaBatch first = Commit(DirectiveWrite(1));
  ReplicaBatch second = Commit(DirectiveWrite(2));
  Status gap = standby_->ApplyReplica(second);
  EXPECT_EQ(gap.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(gap.message().find("commit 2 does not follow this store's last commit 0"),
            std::string::npos)
      << gap.message();
  ASSERT_TRUE(standby_->ApplyReplica(first).ok());
  Status again = standby_->ApplyReplica(first);
  EXPECT_EQ(again.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(standby_->heads().commit_seq, 1u);
}

TEST_F(StoreReplicaTest, RefusesACommitFromADivergedHistory) {
  // The standby holds the leader's commit 1; another store wrote a different
  // commit 1 (an old leader's commit that never reached its standby).
  ASSERT_TRUE(standby_->ApplyReplica(Commit(DirectiveWrite(1))).ok());
  auto other = OpenStore(dir_ / "other");
  ASSERT_TRUE(other->Write(AckWrite(1, "520199")).ok());
  ASSERT_TRUE(other->Write(AckWrite(1, "520198")).ok());
  Status s = standby_->ApplyReplica(other->last_batch());
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.message().find("diverged"), std::string::npos) << s.message();
  EXPECT_EQ(standby_->heads().commit_seq, 1u);
}

TEST_F(StoreReplicaTest, RefusesABatchThatIsNotWhatItClaims) {
  ReplicaBatch real = Commit(DirectiveWrite(1));
  ReplicaBatch tampered = real;
  tampered.data.back() ^= 1;
  EXPECT_EQ(standby_->ApplyReplica(tampered).code(), Status::Code::kCorruption);

  // Chained correctly, but recording another commit sequence.
  rocksdb::WriteBatch wrong;
  ASSERT_TRUE(wrong.Put("meta/commit_seq", SeqKey(7)).ok());
  ReplicaBatch forged{1, BatchChainHash("", wrong.Data()), wrong.Data()};
  Status s = standby_->ApplyReplica(forged);
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.message().find("another commit sequence"), std::string::npos) << s.message();

  // Chained correctly, but not recording any.
  rocksdb::WriteBatch bare;
  ASSERT_TRUE(bare.Put("meta/anything", "x").ok());
  s = standby_->ApplyReplica({1, BatchChainHash("", bare.Data()), bare.Data()});
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.message().find("does not record its commit sequence"), std::string::npos)
      << s.message();

  // Not a WriteBatch at all.
  std::string junk = "not a write batch";
  s = standby_->ApplyReplica({1, BatchChainHash("", junk), junk});
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(standby_->heads().commit_seq, 0u);
  ASSERT_TRUE(standby_->ApplyReplica(real).ok());
}

// RocksDB asserts that a handler accepts transaction markers; a batch
// holding one (found by fuzz_replication_message) is refused with why, and
// the store goes on.
TEST_F(StoreReplicaTest, RefusesTransactionMarkersWithoutTrippingRocksDB) {
  const std::string header(12, '\0');  // sequence 0, count 0
  for (const std::string& marker :
       {std::string("\x0d"), std::string("\x09"), std::string("\x0b\x02xy"),
        std::string("\x0c\x02xy"), std::string("\x0a\x02xy")}) {
    const std::string data = header + marker;
    ReplicaBatch batch{standby_->heads().commit_seq + 1,
                       BatchChainHash(standby_->head_chain(), data), data};
    Status st = standby_->ApplyReplica(batch);
    EXPECT_FALSE(st.ok()) << "marker " << static_cast<int>(marker[0]);
    EXPECT_NE(st.message().find("the batch holds a"), std::string::npos) << st.ToString();
  }
  ReplicaBatch real = Commit(DirectiveWrite(1));
  EXPECT_TRUE(standby_->ApplyReplica(real).ok());
}

}  // namespace
}  // namespace flatcast::broker
