// The store's reserve of free space: what is refused first when the disk
// runs short, on a filesystem whose free space the test sets.
#include "flatcast/broker/disk_space.h"

#include <gtest/gtest.h>

#include "broker_harness.h"
#include "flatcast/broker/commit_path.h"

namespace flatcast::broker {
namespace {

using namespace std::chrono_literals;
using testing::AckOf;
using testing::BrokerHarness;
using testing::FakeDiskSpace;
using testing::SamplePublish;

StoreWrite DirectiveWrite(size_t body_bytes) {
  StoreWrite w;
  w.directive.emplace();
  w.directive->mutable_directive()->set_body(std::string(body_bytes, 'x'));
  return w;
}
StoreWrite AckWrite() {
  StoreWrite w;
  w.acks.push_back({1, "520102001001", v1::RECEIVED, {}});
  return w;
}

TEST(SpaceReserve, DirectivesAreRefusedWithinTheReserveAndEverythingInItsLastQuarter) {
  FakeDiskSpace disk;
  SpaceReserve reserve(disk, 100 << 20);
  disk.set_available_mb(500);
  EXPECT_TRUE(reserve.Admit(DirectiveWrite(1000)).ok());
  EXPECT_EQ(reserve.Now(), SpaceReserve::Level::kAmple);

  disk.set_available_mb(60);
  Status refused = reserve.Admit(DirectiveWrite(1000));
  EXPECT_EQ(refused.code(), Status::Code::kNoSpace);
  EXPECT_EQ(refused.message(),
            "the store has 60.0 MB left of its 100.0 MB reserve: new directives and changes are "
            "refused (acknowledgements are still stored); free space on /fake/data");
  EXPECT_TRUE(reserve.Admit(AckWrite()).ok());
  EXPECT_EQ(reserve.Now(), SpaceReserve::Level::kWithinReserve);

  disk.set_available_mb(20);
  Status none = reserve.Admit(AckWrite());
  EXPECT_EQ(none.code(), Status::Code::kNoSpace);
  EXPECT_NE(none.message().find("less than its last quarter: nothing more is stored"),
            std::string::npos) << none.message();
  EXPECT_EQ(reserve.Now(), SpaceReserve::Level::kExhausted);
}

TEST(SpaceReserve, ALargeDirectiveCountsWhatItWouldTake) {
  FakeDiskSpace disk;
  SpaceReserve reserve(disk, 100 << 20);
  disk.set_available_mb(101);
  EXPECT_TRUE(reserve.Admit(DirectiveWrite(100 << 10)).ok());
  EXPECT_FALSE(reserve.Admit(DirectiveWrite(1 << 20)).ok())
      << "1 MB written twice (log and table) does not fit above the reserve";
  EXPECT_GT(ApproximateBytes(DirectiveWrite(1 << 20)), uint64_t{2} << 20);
}

TEST(SpaceReserve, AnAttachedDocumentsChunksAreNewContentRefusedWithinTheReserve) {
  FakeDiskSpace disk;
  SpaceReserve reserve(disk, 100 << 20);
  StoreWrite chunk;
  chunk.attachment_chunks.push_back({std::string(32, 'a'), 0, std::string(256 << 10, 'x')});
  EXPECT_GT(ApproximateBytes(chunk), uint64_t{512} << 10) << "its bytes count, twice";
  disk.set_available_mb(101);
  EXPECT_TRUE(reserve.Admit(chunk).ok());
  disk.set_available_mb(60);
  EXPECT_EQ(reserve.Admit(chunk).code(), Status::Code::kNoSpace);
  EXPECT_TRUE(reserve.Admit(AckWrite()).ok());
}

TEST(SpaceReserve, NoReserveChecksNothingAndStartNeedsMoreThanTheReserve) {
  FakeDiskSpace disk;
  disk.set_available_mb(1);
  EXPECT_TRUE(SpaceReserve(disk, 0).Admit(DirectiveWrite(1000)).ok());
  EXPECT_TRUE(SpaceReserve(disk, 0).CheckAtStart("store_reserve_mb").ok());
  Status start = SpaceReserve(disk, 100 << 20).CheckAtStart("store_reserve_mb");
  EXPECT_EQ(start.code(), Status::Code::kNoSpace);
  EXPECT_EQ(start.message(),
            "/fake/data has 1.0 MB free, not more than the store's reserve of 100.0 MB "
            "(store_reserve_mb): free space there or lower the setting");
}

TEST(SpaceReserve, TheRealFilesystemIsMeasured) {
  testing::TempDir dir;
  auto disk = StatvfsDiskSpace(dir.path().string());
  Result<uint64_t> free = disk->Available();
  ASSERT_TRUE(free.ok()) << free.status().ToString();
  EXPECT_GT(*free, 0u);
  EXPECT_FALSE(StatvfsDiskSpace("/no/such/dir")->Available().ok());
}

class BrokerReserve : public ::testing::Test {
 protected:
  BrokerReserve() : b_(Options()) {}
  static BrokerHarness::Options Options() {
    BrokerHarness::Options o;
    o.store_reserve_mb = 100;
    return o;
  }
  void SetUp() override { ASSERT_TRUE(b_.Start().ok()); }
  BrokerHarness b_;
};

TEST_F(BrokerReserve, WithinTheReservePublishesAreRefusedAndAcksStillStored) {
  b_.Connect("520102001001");
  auto first = b_.Publish(SamplePublish({"5201"}, {v1::COMMUNITY}));
  ASSERT_TRUE(b_.Next("520102001001", v1::Envelope::kDeliver).has_value());

  b_.disk().set_available_mb(60);
  v1::Envelope refused = b_.Call("publisher", SamplePublish({"5201"}, {v1::COMMUNITY}));
  ASSERT_TRUE(refused.has_error()) << refused.DebugString();
  EXPECT_EQ(refused.error().code(), v1::NO_SPACE);
  EXPECT_NE(refused.error().message().find("directive not stored, nothing changed or was sent: the "
                                           "store has 60.0 MB left of its 100.0 MB reserve"),
            std::string::npos)
      << refused.error().message();
  EXPECT_EQ(b_.store().head_seq(), 1u);
  v1::Envelope cancel;
  cancel.mutable_lifecycle()->set_action(v1::LifecycleRequest::CANCEL);
  cancel.mutable_lifecycle()->set_directive_id(first.id());
  EXPECT_EQ(b_.Call("publisher", cancel).error().code(), v1::NO_SPACE);

  EXPECT_TRUE(b_.Call("520102001001", AckOf(first, v1::RECEIVED)).has_ack_confirm())
      << "acknowledgements are stored within the reserve";
  EXPECT_TRUE(b_.Call("publisher", testing::CoverageOf(first.id())).has_coverage_reply())
      << "queries are answered";
}

TEST_F(BrokerReserve, InTheLastQuarterNothingIsConfirmedAndAllIsAcceptedOnceSpaceIsBack) {
  b_.Connect("520102001001");
  auto first = b_.Publish(SamplePublish({"5201"}, {v1::COMMUNITY}));
  const uint64_t log_before = b_.store().heads().log_seq;
  b_.disk().set_available_mb(10);
  v1::Envelope not_stored = b_.Call("520102001001", AckOf(first, v1::RECEIVED));
  EXPECT_FALSE(not_stored.has_ack_confirm()) << not_stored.DebugString();
  EXPECT_EQ(b_.store().heads().log_seq, log_before) << "no ack reached the store";

  b_.disk().set_available_mb(500);
  b_.Advance(2s);
  EXPECT_TRUE(b_.Call("520102001001", AckOf(first, v1::RECEIVED)).has_ack_confirm())
      << "the terminal's resend is stored once there is room";
  v1::Envelope published = b_.Call("publisher", SamplePublish({"5201"}, {v1::COMMUNITY}));
  EXPECT_TRUE(published.has_receipt()) << published.DebugString();
}

TEST(CommitPathSpace, HealthSaysWhenTheDiskIsWithinItsReserve) {
  testing::TempDir dir;
  auto store = Store::Open({dir / "data", true, 64}).value();
  FakeDiskSpace disk;
  SpaceReserve reserve(disk, 100 << 20);
  StoreCommitPath path(*store, 1s, &reserve);
  path.Tick(testing::SampleTime());
  EXPECT_TRUE(path.health().ok());
  disk.set_available_mb(50);
  path.Tick(testing::SampleTime() + 2s);
  EXPECT_EQ(path.health().code(), Status::Code::kNoSpace);
  disk.set_available_mb(500);
  path.Tick(testing::SampleTime() + 4s);
  EXPECT_TRUE(path.health().ok());
}

}  // namespace
}  // namespace flatcast::broker
