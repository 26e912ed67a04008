// The link between a pair's brokers over real ZeroMQ on loopback, each end
// with a real RocksDB store (docs/HA.md, "Replication"): a standby copies
// what it lacks and the leader sees it caught up; a standby that follows a
// newer epoch is not written by an older leader; a standby whose history
// departs from the leader's is told so and stores nothing; the replication
// endpoint's ZAP domain admits only the broker key.
#include <gtest/gtest.h>

#include <thread>

#include "flatcast/broker/store.h"
#include "flatcast/broker/zap_handler.h"
#include "flatcast/curve.h"
#include "flatcast/key_registry.h"
#include "replication_link.h"
#include "temp_dir.h"

namespace flatcast::broker {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<Store> OpenStore(const std::string& path) {
  auto store = Store::Open({path, true, 64});
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return std::move(store).value();
}

StoreWrite DirectiveWrite(uint64_t seq, const std::string& title = "") {
  StoreWrite w;
  v1::StoredDirective d;
  d.set_seq(seq);
  d.mutable_directive()->set_id("D-" + std::to_string(seq));
  d.mutable_directive()->set_title(title);
  d.set_idempotency_key("key-" + std::to_string(seq) + title);
  w.directive = d;
  return w;
}

bool Eventually(const std::function<bool()>& condition) {
  for (int i = 0; i < 500; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

class ReplicationLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto link = LeaderLink::Start(ctx_, *leader_, {"tcp://127.0.0.1:*", std::nullopt});
    ASSERT_TRUE(link.ok()) << link.status().ToString();
    link_ = std::move(link).value();
  }

  std::unique_ptr<StandbyFollower> Follower() {
    auto f = StandbyFollower::Start(ctx_, *standby_, {"b", std::nullopt, 100ms});
    EXPECT_TRUE(f.ok());
    return std::move(f).value();
  }

  void CommitOnLeader(int64_t epoch, StoreWrite w) {
    ASSERT_TRUE(leader_->Write(std::move(w)).ok());
    link_->Send(epoch, leader_->last_batch());
  }

  testing::TempDir dir_;
  zmq::context_t ctx_{1};
  std::unique_ptr<Store> leader_ = OpenStore(dir_ / "leader");
  std::unique_ptr<Store> standby_ = OpenStore(dir_ / "standby");
  std::unique_ptr<LeaderLink> link_;
};

TEST_F(ReplicationLinkTest, AStandbyCopiesWhatItLacksThenEachNewCommitAndIsCaughtUp) {
  // Written before the standby connects: it gets them from the store.
  for (uint64_t seq = 1; seq <= 3; ++seq) ASSERT_TRUE(leader_->Write(DirectiveWrite(seq)).ok());
  link_->Lead(7, leader_->heads().commit_seq);
  EXPECT_FALSE(link_->caught_up());
  EXPECT_NE(link_->why_not().find("no standby"), std::string::npos);
  auto follower = Follower();
  follower->Follow(link_->endpoint(), 7);
  ASSERT_TRUE(Eventually([&] { return link_->caught_up(); })) << link_->why_not();
  EXPECT_EQ(link_->standby(), "b");
  EXPECT_EQ(link_->acked(), 3u);
  // A new commit goes out at once and is acknowledged.
  CommitOnLeader(7, DirectiveWrite(4));
  ASSERT_TRUE(Eventually([&] { return link_->acked() == 4; }));
  follower->Stop();
  EXPECT_EQ(standby_->heads(), leader_->heads());
  EXPECT_EQ(standby_->head_chain(), leader_->head_chain());
  EXPECT_EQ(standby_->GetDirective(4).value()->directive().id(), "D-4");
  EXPECT_EQ(follower->state().epoch, 7);
}

TEST_F(ReplicationLinkTest, AStandbyFollowingANewerEpochIsNotWrittenByAnOlderLeader) {
  ASSERT_TRUE(leader_->Write(DirectiveWrite(1)).ok());
  link_->Lead(5, leader_->heads().commit_seq);
  auto follower = Follower();
  follower->Follow(link_->endpoint(), 9);  // etcd says epoch 9 leads now
  ASSERT_TRUE(Eventually([&] { return !follower->state().problem.empty(); }));
  EXPECT_NE(follower->state().problem.find("newer than this broker's 5"), std::string::npos)
      << follower->state().problem;
  std::this_thread::sleep_for(300ms);
  follower->Stop();
  EXPECT_EQ(standby_->heads().commit_seq, 0u);
  EXPECT_FALSE(link_->caught_up());
}

TEST_F(ReplicationLinkTest, AStandbyWhoseHistoryDepartsIsToldSoAndStoresNothingMore) {
  ASSERT_TRUE(leader_->Write(DirectiveWrite(1, "leader's")).ok());
  ASSERT_TRUE(leader_->Write(DirectiveWrite(2, "leader's")).ok());
  // The standby led once and wrote a commit 1 the leader never had.
  ASSERT_TRUE(standby_->Write(DirectiveWrite(1, "its own")).ok());
  link_->Lead(3, leader_->heads().commit_seq);
  auto follower = Follower();
  follower->Follow(link_->endpoint(), 3);
  ASSERT_TRUE(Eventually([&] { return follower->state().diverged; }));
  EXPECT_NE(follower->state().problem.find("copy anew"), std::string::npos)
      << follower->state().problem;
  follower->Stop();
  EXPECT_EQ(standby_->heads().commit_seq, 1u);
  EXPECT_EQ(standby_->GetDirective(1).value()->directive().title(), "its own");
  EXPECT_FALSE(link_->caught_up());
}

TEST_F(ReplicationLinkTest, ABrokerThatDoesNotLeadRefusesStandbys) {
  auto follower = Follower();
  follower->Follow(link_->endpoint(), 1);
  ASSERT_TRUE(Eventually([&] { return !follower->state().problem.empty(); }));
  EXPECT_NE(follower->state().problem.find("does not lead"), std::string::npos);
  follower->Stop();
}

TEST_F(ReplicationLinkTest, MalformedAndOversizedMessagesAreRefusedAndTheLinkServesOn) {
  link_->Lead(2, 0);
  zmq::socket_t raw(ctx_, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(link_->endpoint());
  raw.send(zmq::str_buffer("\xff\xffnot a message"));
  zmq::pollitem_t item{raw.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, 3000ms);
  ASSERT_TRUE(item.revents & ZMQ_POLLIN);
  zmq::message_t reply;
  ASSERT_TRUE(raw.recv(reply));
  v1::ReplicationMessage msg;
  ASSERT_TRUE(msg.ParseFromArray(reply.data(), static_cast<int>(reply.size())));
  EXPECT_EQ(msg.refused().reason(), v1::ReplicationRefused::MALFORMED);
  EXPECT_NE(msg.refused().message().find("does not parse"), std::string::npos);
  // Over the size limit: libzmq drops the connection; nothing else happens.
  raw.send(zmq::buffer(std::string(kMaxStandbyMessageBytes + 1, 'x')));
  // A real standby is served as before.
  ASSERT_TRUE(leader_->Write(DirectiveWrite(1)).ok());
  link_->Send(2, leader_->last_batch());
  auto follower = Follower();
  follower->Follow(link_->endpoint(), 2);
  ASSERT_TRUE(Eventually([&] { return link_->caught_up() && link_->acked() == 1; }));
  follower->Stop();
}

TEST(ReplicationZap, TheReplicationEndpointAdmitsOnlyTheBrokerKey) {
  KeyRegistry keys;
  KeyPair broker = GenerateKeyPair(KeyKind::kCurve).value();
  KeyPair unit = GenerateKeyPair(KeyKind::kCurve).value();
  const TimePoint t = SystemClock::Instance().Now();
  ASSERT_TRUE(keys.Register("pair-52", KeyRole::kBroker, "52", broker.public_key, std::nullopt, t).ok());
  ASSERT_TRUE(keys.Register("u", KeyRole::kUnit, "520102016001", unit.public_key, std::nullopt, t).ok());
  EXPECT_EQ(DecideZap(keys, "CURVE", broker.public_key, kReplicationZapDomain).status_code, "200");
  ZapDecision refused = DecideZap(keys, "CURVE", unit.public_key, kReplicationZapDomain);
  EXPECT_EQ(refused.status_code, "400");
  EXPECT_NE(refused.status_text.find("admits only the broker key"), std::string::npos)
      << refused.status_text;
  // On the client endpoint the unit's key is admitted as before.
  EXPECT_EQ(DecideZap(keys, "CURVE", unit.public_key, "flatcast").status_code, "200");
}

}  // namespace
}  // namespace flatcast::broker
