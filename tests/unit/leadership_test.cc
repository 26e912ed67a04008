// Leadership against the in-memory etcd: the key, the epoch, the lease
// measured on this side, the sync record's say in who may lead.
#include "flatcast/ha/leadership.h"

#include <gtest/gtest.h>

#include "fake_etcd.h"

namespace flatcast::ha {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeEtcdCluster;

class LeadershipTest : public ::testing::Test {
 protected:
  LeadershipOptions Options(const std::string& name) {
    LeadershipOptions o;
    o.group = "52";
    o.name = name;
    o.advertise = {{"endpoint", "tcp://" + name + ":7700"}};
    o.ttl = seconds(5);
    o.margin = milliseconds(1000);
    return o;
  }

  FakeSteadyClock clock_;
  FakeEtcdCluster cluster_{clock_};
  std::unique_ptr<Etcd> etcd_a_ = cluster_.Client("a");
  std::unique_ptr<Etcd> etcd_b_ = cluster_.Client("b");
  Leadership a_{*etcd_a_, clock_, Options("a")};
  Leadership b_{*etcd_b_, clock_, Options("b")};
};

TEST_F(LeadershipTest, FirstBrokerTakesTheKeyAndItsCreateRevisionIsTheEpoch) {
  const LeadershipView& view = a_.Step();
  ASSERT_EQ(view.role, Role::kLeader) << view.problem;
  auto key = cluster_.Peek(LeaderKey("52"));
  ASSERT_TRUE(key);
  EXPECT_EQ(view.leader.epoch, key->create_revision);
  EXPECT_EQ(view.leader.name, "a");
  EXPECT_TRUE(view.LeaderAt(clock_.Now()));
  EXPECT_FALSE(view.LeaderAt(clock_.Now() + seconds(4)));  // ttl - margin
  auto info = ParseLeaderValue(key->value, key->create_revision);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->advertised.at("endpoint"), "tcp://a:7700");
}

TEST_F(LeadershipTest, SecondBrokerIsStandbyAndKnowsTheLeader) {
  a_.Step();
  const LeadershipView& view = b_.Step();
  EXPECT_EQ(view.role, Role::kStandby);
  EXPECT_EQ(view.leader.name, "a");
  EXPECT_EQ(view.leader.epoch, a_.view().leader.epoch);
  EXPECT_EQ(view.leader.advertised.at("endpoint"), "tcp://a:7700");
  EXPECT_FALSE(view.LeaderAt(clock_.Now()));
}

TEST_F(LeadershipTest, RenewalsKeepTheLeaderForAsLongAsItRuns) {
  a_.Step();
  int64_t epoch = a_.view().leader.epoch;
  for (int i = 0; i < 20; ++i) {
    clock_.Advance(seconds(1));
    a_.Step();
    b_.Step();
    ASSERT_TRUE(a_.view().LeaderAt(clock_.Now())) << i;
    ASSERT_EQ(b_.view().role, Role::kStandby);
  }
  EXPECT_EQ(a_.view().leader.epoch, epoch);
}

TEST_F(LeadershipTest, CutOffLeaderStopsCountingBeforeTheStandbyCanTakeOver) {
  a_.Step();
  b_.Step();
  int64_t old_epoch = a_.view().leader.epoch;
  cluster_.CutOff("a", true);
  SteadyTime fenced_at{};
  SteadyTime taken_at{};
  for (int i = 0; i < 100 && taken_at == SteadyTime{}; ++i) {
    clock_.Advance(milliseconds(100));
    a_.Step();
    b_.Step();
    if (fenced_at == SteadyTime{} && !a_.view().LeaderAt(clock_.Now())) fenced_at = clock_.Now();
    if (b_.view().role == Role::kLeader) taken_at = clock_.Now();
  }
  ASSERT_NE(taken_at, SteadyTime{});
  ASSERT_NE(fenced_at, SteadyTime{});
  EXPECT_LE(fenced_at + milliseconds(900), taken_at);  // the margin, less one round
  EXPECT_GT(b_.view().leader.epoch, old_epoch);
  // Back in touch, the old leader learns it lost and follows the new one.
  cluster_.CutOff("a", false);
  a_.Step();
  a_.Step();
  a_.Step();
  EXPECT_EQ(a_.view().role, Role::kStandby);
  EXPECT_EQ(a_.view().leader.name, "b");
}

TEST_F(LeadershipTest, LeaderPausedPastItsLeaseIsNotLeaderWhenItResumes) {
  a_.Step();
  SteadyTime valid_until = a_.view().valid_until;
  clock_.Advance(seconds(6));  // SIGSTOP: no round ran
  EXPECT_FALSE(a_.view().LeaderAt(clock_.Now()));
  EXPECT_GE(clock_.Now(), valid_until);
  b_.Step();
  EXPECT_EQ(b_.view().role, Role::kLeader);
  a_.Step();  // SIGCONT: its lease is gone
  EXPECT_NE(a_.view().role, Role::kLeader);
}

TEST_F(LeadershipTest, ALostTransactionAnswerIsRecognisedByTheLease) {
  ASSERT_TRUE(a_.Join().ok());
  // A round: renew, read the leader key, read the sync record, take the key.
  cluster_.LoseAnswer("a", 3);
  a_.Step();
  EXPECT_NE(a_.view().role, Role::kLeader);
  EXPECT_TRUE(cluster_.Peek(LeaderKey("52")));  // taken, but a was not told
  a_.Step();
  EXPECT_EQ(a_.view().role, Role::kLeader) << a_.view().problem;
  EXPECT_TRUE(a_.view().LeaderAt(clock_.Now()));
  EXPECT_EQ(a_.view().leader.epoch, cluster_.Peek(LeaderKey("52"))->create_revision);
  b_.Step();
  EXPECT_EQ(b_.view().role, Role::kStandby);
}

TEST_F(LeadershipTest, TwoBrokersWithTheSameNameAreRefused) {
  auto etcd_c = cluster_.Client("c");
  Leadership twin(*etcd_c, clock_, Options("a"));
  ASSERT_TRUE(a_.Join().ok());
  Status s = twin.Join();
  EXPECT_EQ(s.code(), Status::Code::kAlreadyExists);
  EXPECT_NE(s.message().find("already a member of group 52"), std::string::npos) << s.message();
  twin.Step();
  EXPECT_NE(twin.view().role, Role::kLeader);
}

TEST_F(LeadershipTest, OnlyABrokerTheSyncRecordNamesMayTakeTheKey) {
  a_.Step();
  b_.Step();
  ASSERT_TRUE(a_.SetSyncStandby("").ok());  // a confirms alone
  cluster_.CutOff("a", true);
  for (int i = 0; i < 60; ++i) {
    clock_.Advance(milliseconds(100));
    b_.Step();
  }
  EXPECT_EQ(b_.view().role, Role::kStandby);
  EXPECT_NE(b_.view().problem.find("may not take the key"), std::string::npos)
      << b_.view().problem;
  EXPECT_FALSE(cluster_.Peek(LeaderKey("52")));
  cluster_.CutOff("a", false);
  a_.Step();  // its session expired: it joins again
  a_.Step();
  EXPECT_EQ(a_.view().role, Role::kLeader) << a_.view().problem;
}

TEST_F(LeadershipTest, AStandbyRecordedInSyncTakesOver) {
  a_.Step();
  b_.Step();
  ASSERT_TRUE(a_.SetSyncStandby("b").ok());
  ASSERT_TRUE(a_.Leave().ok());  // the leader goes away cleanly
  b_.Step();
  EXPECT_EQ(b_.view().role, Role::kLeader) << b_.view().problem;
  EXPECT_EQ(b_.view().sync.standby, "b");
  EXPECT_EQ(b_.view().sync.leader, "a");
}

TEST_F(LeadershipTest, ADeposedLeaderCannotWriteTheSyncRecord) {
  a_.Step();
  cluster_.CutOff("a", true);
  clock_.Advance(seconds(6));
  b_.Step();
  ASSERT_EQ(b_.view().role, Role::kLeader);
  cluster_.CutOff("a", false);
  Status s = a_.SetSyncStandby("");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(a_.view().role, Role::kLeader);
  EXPECT_FALSE(cluster_.Peek(SyncKey("52")));  // never written
}

TEST_F(LeadershipTest, ResignLetsTheStandbyTakeOverAtOnce) {
  a_.Step();
  b_.Step();
  ASSERT_TRUE(a_.Resign().ok());
  b_.Step();
  EXPECT_EQ(b_.view().role, Role::kLeader);
}

TEST(LeadershipOptionsTest, RefusesBadNamesAndTimes) {
  LeadershipOptions o;
  o.group = "52";
  o.name = "broker-a";
  EXPECT_TRUE(ValidateLeadershipOptions(o).ok());
  o.name = "a/b";
  EXPECT_NE(ValidateLeadershipOptions(o).message().find("only letters"), std::string::npos);
  o.name = "a";
  o.ttl = seconds(1);
  EXPECT_NE(ValidateLeadershipOptions(o).message().find("between 2 s and 300 s"),
            std::string::npos);
  o.ttl = seconds(4);
  o.margin = milliseconds(2000);
  EXPECT_FALSE(ValidateLeadershipOptions(o).ok());
}

TEST(EtcdGatewayJsonTest, ReadsInt64StringsAboveTwoToThe53AndBase64) {
  auto range = gateway::ParseRange(
      R"({"header":{"revision":"9"},"kvs":[{"key":"L2Zsb2NhbC9sZWFkZXI=","create_revision":"7",)"
      R"("mod_revision":"8","version":"2","value":"eyJuYW1lIjoiYSJ9","lease":"9007199254740993"}],"count":"1"})");
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  ASSERT_TRUE(*range);
  EXPECT_EQ((*range)->key, "/flocal/leader");
  EXPECT_EQ((*range)->value, R"({"name":"a"})");
  EXPECT_EQ((*range)->lease, 9007199254740993);  // 2^53 + 1: a double would lose it
  EXPECT_EQ((*range)->create_revision, 7);
  auto empty = gateway::ParseRange(R"({"header":{"revision":"9"}})");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(*empty);
}

TEST(EtcdGatewayJsonTest, ZeroValuesLeftOutReadAsZero) {
  auto ttl = gateway::ParseKeepAlive(R"({"result":{"header":{"revision":"2"},"ID":"123"}})");
  ASSERT_TRUE(ttl.ok());
  EXPECT_EQ(ttl->count(), 0);  // an expired lease
  auto txn = gateway::ParseTxn(R"({"header":{"revision":"4"},"responses":[{"response_range":)"
                               R"({"header":{"revision":"4"},"kvs":[{"key":"YQ==","create_revision":"3"}]}}]})");
  ASSERT_TRUE(txn.ok()) << txn.status().ToString();
  EXPECT_FALSE(txn->succeeded);
  ASSERT_EQ(txn->read.size(), 1u);
  EXPECT_EQ(txn->read[0].key, "a");
  EXPECT_EQ(txn->read[0].value, "");
  EXPECT_EQ(txn->revision, 4);
}

TEST(EtcdGatewayJsonTest, RefusesWhatIsNotTheExpectedAnswer) {
  EXPECT_FALSE(gateway::ParseGrant("not json").ok());
  EXPECT_FALSE(gateway::ParseGrant(R"({"ID":"12x"})").ok());
  EXPECT_FALSE(gateway::ParseGrant(R"({"TTL":"5"})").ok());
  EXPECT_FALSE(gateway::ParseRange(R"({"kvs":[{"key":"***"}]})").ok());
  EXPECT_FALSE(gateway::ParseRange(R"({"kvs":{"key":"YQ=="}})").ok());
  EXPECT_FALSE(gateway::ParseTxn(R"({"succeeded":true})").ok());  // no header
  EXPECT_FALSE(gateway::ParseTxn(R"({"header":{"revision":"99999999999999999999"}})").ok());
  // A TTL that would overflow the lease's end is refused, not computed with.
  EXPECT_FALSE(gateway::ParseKeepAlive(R"({"result":{"ID":"1","TTL":"9223372036854775807"}})").ok());
  auto error = gateway::ParseKeepAlive(
      R"({"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader"}})");
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.status().message(), "etcdserver: no leader");
  EXPECT_EQ(gateway::ErrorMessage(R"({"error":"x","message":"lease not found","code":5})"),
            "lease not found");
}

TEST(EtcdGatewayJsonTest, TransactionBodyEncodesKeysAndRevisionsAsEtcdExpects) {
  EtcdTxn txn;
  txn.compare.push_back({"a", EtcdCompare::Target::kCreate, 0});
  txn.puts.push_back({"a", "v", 9007199254740993});
  txn.read_on_failure.push_back("a");
  std::string body = gateway::TxnBody(txn);
  EXPECT_NE(body.find(R"("key":"YQ==")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("lease":"9007199254740993")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("create_revision":"0")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("target":"CREATE")"), std::string::npos) << body;
}

}  // namespace
}  // namespace flatcast::ha
