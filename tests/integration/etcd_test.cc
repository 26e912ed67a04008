// Leadership against a real etcd (Debian's etcd-server, one member on
// ephemeral ports): the gateway's JSON as etcd really sends it, the leader
// key and its epoch, a failover on the lease, etcd gone and back.
#include <gtest/gtest.h>

#include <thread>

#include "etcd_process.h"
#include "flatcast/ha/etcd.h"
#include "flatcast/ha/leadership.h"
#include "flatcast/steady_clock.h"
#include "temp_dir.h"

namespace flatcast::ha {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::EtcdProcess;
using testing::TempDir;

class EtcdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    etcd_ = EtcdProcess::Start(dir_.path() / "etcd", &why);
    ASSERT_TRUE(etcd_) << why;
  }

  std::unique_ptr<Etcd> Client(std::vector<std::string> endpoints = {}) {
    if (endpoints.empty()) endpoints = {etcd_->endpoint()};
    auto client = OpenEtcdGateway({endpoints, milliseconds(500)});
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(client).value() : nullptr;
  }

  LeadershipOptions Options(const std::string& name) {
    LeadershipOptions o;
    o.group = "52";
    o.name = name;
    o.advertise = {{"endpoint", "tcp://127.0.0.1:1/" + name}};
    o.ttl = seconds(2);
    o.margin = milliseconds(500);
    return o;
  }

  TempDir dir_;
  std::unique_ptr<EtcdProcess> etcd_;
  const SteadyClock& clock_ = SystemSteadyClock::Instance();
};

TEST_F(EtcdTest, GatewayLeasesTransactionsAndReadsAsEtcdAnswersThem) {
  auto etcd = Client();
  ASSERT_TRUE(etcd);
  auto lease = etcd->GrantLease(seconds(5));
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_GT(*lease, int64_t{1} << 53);  // etcd's lease ids need all 64 bits
  auto ttl = etcd->KeepAlive(*lease);
  ASSERT_TRUE(ttl.ok()) << ttl.status().ToString();
  EXPECT_EQ(ttl->count(), 5);

  std::string key = "/flatcast/test/\x01 binary key";
  EtcdTxn create;
  create.compare.push_back({key, EtcdCompare::Target::kCreate, 0});
  create.puts.push_back({key, "{\"name\":\"a\"}", *lease});
  create.read_on_failure.push_back(key);
  auto first = etcd->Txn(create);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->succeeded);
  auto second = etcd->Txn(create);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->succeeded);
  ASSERT_EQ(second->read.size(), 1u);
  EXPECT_EQ(second->read[0].create_revision, first->revision);
  EXPECT_EQ(second->read[0].lease, *lease);

  auto got = etcd->Get(key);
  ASSERT_TRUE(got.ok() && *got);
  EXPECT_EQ((*got)->key, key);
  EXPECT_EQ((*got)->value, "{\"name\":\"a\"}");
  ASSERT_TRUE(etcd->RevokeLease(*lease).ok());
  EXPECT_TRUE(etcd->RevokeLease(*lease).ok());  // gone already: fine
  got = etcd->Get(key);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(*got);
  ttl = etcd->KeepAlive(*lease);
  ASSERT_TRUE(ttl.ok());
  EXPECT_EQ(ttl->count(), 0);
}

TEST_F(EtcdTest, ADeadEndpointIsPassedOverForTheNextOne) {
  std::string dead = "http://127.0.0.1:" + std::to_string(testing::FreePort());
  auto etcd = Client({dead, etcd_->endpoint()});
  ASSERT_TRUE(etcd);
  auto got = etcd->Get("/flatcast/none");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(etcd->endpoint(), etcd_->endpoint());
}

TEST_F(EtcdTest, UnreachableEtcdIsReportedWithTheEndpoint) {
  std::string dead = "http://127.0.0.1:" + std::to_string(testing::FreePort());
  auto etcd = Client({dead});
  ASSERT_TRUE(etcd);
  Leadership a(*etcd, clock_, Options("a"));
  const LeadershipView& view = a.Step();
  EXPECT_EQ(view.role, Role::kUnknown);
  EXPECT_NE(view.problem.find(dead), std::string::npos) << view.problem;
  EXPECT_FALSE(OpenEtcdGateway({{"127.0.0.1:2379"}, milliseconds(500)}).ok());
  EXPECT_FALSE(OpenEtcdGateway({{"http://127.0.0.1:99999"}, milliseconds(500)}).ok());
}

TEST_F(EtcdTest, TheStandbyTakesOverWhenTheLeaderStopsRenewingAndTheEpochGrows) {
  auto etcd_a = Client();
  auto etcd_b = Client();
  Leadership a(*etcd_a, clock_, Options("a"));
  Leadership b(*etcd_b, clock_, Options("b"));
  ASSERT_EQ(a.Step().role, Role::kLeader) << a.view().problem;
  ASSERT_EQ(b.Step().role, Role::kStandby) << b.view().problem;
  EXPECT_EQ(b.view().leader.name, "a");
  int64_t epoch = a.view().leader.epoch;
  // a stops renewing (paused); b keeps stepping.
  SteadyTime paused = clock_.Now();
  while (b.view().role != Role::kLeader && clock_.Now() - paused < seconds(10)) {
    std::this_thread::sleep_for(milliseconds(100));
    b.Step();
  }
  ASSERT_EQ(b.view().role, Role::kLeader) << b.view().problem;
  SteadyTime taken = clock_.Now();
  EXPECT_GT(b.view().leader.epoch, epoch);
  // a counted as leader no later than the TTL minus the margin after its
  // last renewal, so before b could take the key.
  EXPECT_FALSE(a.view().LeaderAt(taken));
  EXPECT_LE(a.view().valid_until, taken);
  // a resumes: it learns it lost and follows b.
  a.Step();
  a.Step();
  EXPECT_EQ(a.view().role, Role::kStandby) << a.view().problem;
  EXPECT_EQ(a.view().leader.name, "b");
}

TEST_F(EtcdTest, LeaderWithoutEtcdStopsCountingAtTheLeaseEndAndResumesWhenItReturns) {
  auto etcd_a = Client();
  Leadership a(*etcd_a, clock_, Options("a"));
  ASSERT_EQ(a.Step().role, Role::kLeader);
  int64_t epoch = a.view().leader.epoch;
  etcd_->process().Signal(SIGSTOP);  // etcd hangs: requests time out
  SteadyTime stopped = clock_.Now();
  while (a.view().LeaderAt(clock_.Now()) && clock_.Now() - stopped < seconds(5)) {
    a.Step();
  }
  EXPECT_FALSE(a.view().LeaderAt(clock_.Now()));
  EXPECT_LE(clock_.Now() - stopped, seconds(2));  // within the TTL
  EXPECT_NE(a.view().problem.find("cannot renew"), std::string::npos) << a.view().problem;
  etcd_->process().Signal(SIGCONT);
  // etcd back: if the lease outlived the pause on etcd's side (a TTL is a
  // minimum) the same epoch goes on; otherwise the broker joins again and
  // leads with a new one.
  for (int i = 0; i < 20 && !a.view().LeaderAt(clock_.Now()); ++i) a.Step();
  EXPECT_TRUE(a.view().LeaderAt(clock_.Now())) << a.view().problem;
  EXPECT_GE(a.view().leader.epoch, epoch);
}

TEST_F(EtcdTest, ABrokerNameAlreadyInTheGroupIsRefused) {
  auto etcd_a = Client();
  auto etcd_c = Client();
  Leadership a(*etcd_a, clock_, Options("a"));
  Leadership twin(*etcd_c, clock_, Options("a"));
  ASSERT_TRUE(a.Join().ok());
  Status s = twin.Join();
  EXPECT_EQ(s.code(), Status::Code::kAlreadyExists);
  EXPECT_NE(s.message().find(etcd_->endpoint()), std::string::npos) << s.message();
}

}  // namespace
}  // namespace flatcast::ha
