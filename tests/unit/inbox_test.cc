// DirectoryInbox on a real file system, one temp dir per test, and the
// read-only list/show commands over it.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "flatcast/file_util.h"
#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "flatcast/subscriber/directory_inbox.h"
#include "flatcast/subscriber/inbox_commands.h"
#include "samples.h"
#include "temp_dir.h"

namespace flatcast::subscriber {
namespace {

namespace fs = std::filesystem;

TimePoint T0() { return testing::SampleTime(); }

v1::StoredDirective MakeStored(uint64_t seq, const std::string& id, uint32_t version = 1,
                               const std::string& title = "Close wet markets") {
  v1::StoredDirective stored = testing::SampleStored(seq, id, version);
  stored.set_addressed_units(3);
  stored.set_publisher("city-health");
  stored.mutable_directive()->set_title(title);
  return stored;
}

PendingAck AckFor(const v1::StoredDirective& s, TimePoint acked = T0()) {
  return PendingAck{s.seq(), s.directive().id(), s.directive().version(), v1::RECEIVED, acked, ""};
}

class DirectoryInboxTest : public ::testing::Test {
 protected:
  std::unique_ptr<DirectoryInbox> Open() {
    auto inbox = DirectoryInbox::Open(state_dir_);
    EXPECT_TRUE(inbox.ok()) << inbox.status().ToString();
    return inbox.ok() ? std::move(inbox).value() : nullptr;
  }
  fs::path InboxFile(const std::string& name) const {
    return fs::path(state_dir_) / "inbox" / name;
  }
  nlohmann::json State() const {
    return nlohmann::json::parse(testing::ReadFile(fs::path(state_dir_) / "state.json"));
  }

  testing::TempDir dir_;
  std::string state_dir_ = dir_ / "state";
};

TEST_F(DirectoryInboxTest, StoredDirectivesAndPendingAcksSurviveReopening) {
  auto a = MakeStored(3, "52-HEALTH-20261128-0001");
  auto b = MakeStored(8, "52-HEALTH-20261128-0002");
  {
    auto inbox = Open();
    ASSERT_TRUE(inbox);
    EXPECT_EQ(inbox->last_seq(), 0u);
    ASSERT_TRUE(inbox->Put(b).ok());
    ASSERT_TRUE(inbox->Put(a).ok());
    ASSERT_TRUE(inbox->AddPendingAck(AckFor(a)).ok());
    ASSERT_TRUE(inbox->AddPendingAck(AckFor(b, T0() + std::chrono::milliseconds(1500))).ok());
    ASSERT_TRUE(inbox->RemovePendingAck(3, v1::RECEIVED).value());
  }
  auto inbox = Open();
  ASSERT_TRUE(inbox);
  EXPECT_TRUE(inbox->Contains("52-HEALTH-20261128-0001", 1));
  EXPECT_TRUE(inbox->Contains("52-HEALTH-20261128-0002", 1));
  EXPECT_FALSE(inbox->Contains("52-HEALTH-20261128-0002", 2));
  EXPECT_EQ(inbox->size(), 2u);
  EXPECT_EQ(inbox->last_seq(), 8u);
  ASSERT_EQ(inbox->PendingAcks().size(), 1u);
  EXPECT_EQ(inbox->PendingAcks()[0], AckFor(b, T0() + std::chrono::milliseconds(1500)));
  auto entries = inbox->List();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].seq, 3u);
  EXPECT_EQ(entries[1].id, "52-HEALTH-20261128-0002");
  EXPECT_EQ(entries[1].title, "Close wet markets");
  EXPECT_EQ(entries[1].sent, T0());
}

TEST_F(DirectoryInboxTest, OperatorStateSurvivesReopeningAndShowsInTheListing) {
  auto a = MakeStored(3, "52-HEALTH-20261128-0001");
  {
    auto inbox = Open();
    ASSERT_TRUE(inbox->Put(a).ok());
    PendingAck ready{3, a.directive().id(), 1, v1::READY, T0(), "two staff on duty"};
    PendingAck confirmed{3, a.directive().id(), 1, v1::CONFIRMED, T0(), ""};
    ASSERT_TRUE(inbox->AddPendingAck(confirmed).ok());
    ASSERT_TRUE(inbox->AddPendingAck(ready).ok());
    ASSERT_TRUE(inbox->RemovePendingAck(3, v1::CONFIRMED).value());  // the broker confirmed it
    PendingRating rating{3, a.directive().id(), 1, 4, 2, "masks are short", T0()};
    ASSERT_TRUE(inbox->AddPendingRating(rating).ok());
    v1::OverdueReport report;
    report.add_own()->set_directive_id(a.directive().id());
    ASSERT_TRUE(inbox->SetOverdue(report).ok());
  }
  auto inbox = Open();
  ASSERT_TRUE(inbox);
  ASSERT_EQ(inbox->PendingAcks().size(), 1u);
  EXPECT_EQ(inbox->PendingAcks()[0].note, "two staff on duty");
  EXPECT_EQ(inbox->Acknowledged(3, v1::CONFIRMED), T0());
  ASSERT_EQ(inbox->PendingRatings().size(), 1u);
  EXPECT_EQ(inbox->PendingRatings()[0].comment, "masks are short");
  EXPECT_EQ(inbox->overdue().own_size(), 1);
  std::ostringstream listing;
  ASSERT_TRUE(ListInboxCommand(state_dir_, false, listing, T0()).ok());
  EXPECT_NE(listing.str().find("ready (pending)"), std::string::npos) << listing.str();
  std::ostringstream overdue;
  ASSERT_TRUE(OverdueCommand(state_dir_, false, overdue).ok());
  EXPECT_NE(overdue.str().find("This unit is overdue"), std::string::npos) << overdue.str();
}

TEST_F(DirectoryInboxTest, AnswersSurviveReopeningAndTheLatestByTimeIsTheConfirmedOne) {
  auto a = MakeStored(3, "52-HEALTH-20261128-0001");
  auto answer = [&](int64_t masks, int64_t answered_s) {
    v1::ReturnAnswer r;
    r.set_seq(3);
    r.set_directive_id(a.directive().id());
    r.set_version(1);
    v1::FieldValue* v = r.add_values();
    v->set_key("masks");
    v->set_quantity(masks);
    r.mutable_answered()->set_seconds(answered_s);
    return r;
  };
  {
    auto inbox = Open();
    ASSERT_TRUE(inbox->Put(a).ok());
    ASSERT_TRUE(inbox->AddPendingReturn(answer(100, 1000)).ok());
    ASSERT_TRUE(inbox->AddPendingReturn(answer(900, 2000)).ok());
    // The correction is confirmed first (revision 2), then the answer it
    // corrects, sent again (revision 1): the correction stays the answer.
    const TimePoint t2000 = FromTimestamp(answer(0, 2000).answered());
    const TimePoint t1000 = FromTimestamp(answer(0, 1000).answered());
    ASSERT_TRUE(inbox->RemovePendingReturn(3, t2000, 2).value());
    ASSERT_TRUE(inbox->RemovePendingReturn(3, t1000, 1).value());
    EXPECT_FALSE(inbox->RemovePendingReturn(3, t1000, 1).value()) << "confirmed once";
    ASSERT_TRUE(inbox->AddPendingReturn(answer(950, 3000)).ok());
  }
  auto inbox = Open();
  ASSERT_TRUE(inbox);
  std::optional<ConfirmedReturn> confirmed = inbox->Returned(3);
  ASSERT_TRUE(confirmed.has_value());
  EXPECT_EQ(confirmed->revision, 2u);
  EXPECT_EQ(confirmed->answer.values(0).quantity(), 900);
  ASSERT_EQ(inbox->PendingReturns().size(), 1u);
  EXPECT_EQ(inbox->PendingReturns()[0].values(0).quantity(), 950);
}

TEST_F(DirectoryInboxTest, AStateFileWithABadRatingIsAClearError) {
  fs::create_directories(fs::path(state_dir_) / "inbox");
  testing::WriteFile(fs::path(state_dir_) / "state.json",
                     R"({"last_seq": 0, "pending_ratings": [{"seq": 1, "directive_id": "x",
                     "version": 1, "clarity": 9, "feasibility": 1, "rated": "2026-11-28T09:30:00Z"}]})");
  auto inbox = DirectoryInbox::Open(state_dir_);
  ASSERT_FALSE(inbox.ok());
  EXPECT_NE(inbox.status().message().find("pending_ratings[0].clarity"), std::string::npos)
      << inbox.status().message();
}

TEST_F(DirectoryInboxTest, EachDirectiveGetsAJsonAndATextFile) {
  auto stored = MakeStored(3, "52-HEALTH-20261128-0001", 2);
  auto inbox = Open();
  ASSERT_TRUE(inbox->Put(stored).ok());
  ASSERT_TRUE(inbox->AddPendingAck(AckFor(stored)).ok());
  EXPECT_EQ(testing::ReadFile(InboxFile("52-HEALTH-20261128-0001.v2.json")),
            DirectiveToJson(stored));
  EXPECT_EQ(testing::ReadFile(InboxFile("52-HEALTH-20261128-0001.v2.txt")),
            RenderDirectiveText(stored));
  nlohmann::json state = State();
  EXPECT_EQ(state["last_seq"], 3);
  ASSERT_EQ(state["pending_acks"].size(), 1u);
  EXPECT_EQ(state["pending_acks"][0]["directive_id"], "52-HEALTH-20261128-0001");
  EXPECT_EQ(state["pending_acks"][0]["version"], 2);
  EXPECT_EQ(state["pending_acks"][0]["level"], "RECEIVED");
  // Atomic writes leave no temporary files behind.
  for (const auto& entry : fs::recursive_directory_iterator(state_dir_)) {
    EXPECT_FALSE(IsAtomicWriteLeftover(entry.path().filename().string())) << entry.path();
  }
}

TEST_F(DirectoryInboxTest, StoringTheSameVersionTwiceIsRefused) {
  auto inbox = Open();
  auto stored = MakeStored(3, "52-HEALTH-20261128-0001");
  ASSERT_TRUE(inbox->Put(stored).ok());
  EXPECT_EQ(inbox->Put(stored).code(), Status::Code::kAlreadyExists);
  EXPECT_TRUE(inbox->Put(MakeStored(4, "52-HEALTH-20261128-0001", 2)).ok());
  EXPECT_EQ(inbox->size(), 2u);
}

TEST_F(DirectoryInboxTest, IdsThatCannotNameAFileAreRefused) {
  auto inbox = Open();
  for (const char* id : {"../escape", "a/b", ".hidden", ""}) {
    EXPECT_EQ(inbox->Put(MakeStored(1, id)).code(), Status::Code::kInvalidArgument) << id;
  }
  EXPECT_EQ(inbox->size(), 0u);
}

TEST_F(DirectoryInboxTest, CorruptStateFileIsAClearError) {
  { ASSERT_TRUE(Open()); }
  testing::WriteFile(fs::path(state_dir_) / "state.json", "{\"last_seq\": 3, \"pending_acks\": [");
  auto inbox = DirectoryInbox::Open(state_dir_);
  ASSERT_FALSE(inbox.ok());
  EXPECT_EQ(inbox.status().code(), Status::Code::kCorruption);
  EXPECT_NE(inbox.status().message().find("state.json"), std::string::npos);
  EXPECT_NE(inbox.status().message().find("not valid JSON"), std::string::npos);
}

TEST_F(DirectoryInboxTest, StateFileWithWrongFieldsIsAClearError) {
  { ASSERT_TRUE(Open()); }
  testing::WriteFile(fs::path(state_dir_) / "state.json", "{\"last_seq\": \"three\"}");
  auto status = DirectoryInbox::Open(state_dir_).status();
  EXPECT_EQ(status.code(), Status::Code::kCorruption);
  EXPECT_NE(status.message().find("last_seq"), std::string::npos) << status.message();

  testing::WriteFile(fs::path(state_dir_) / "state.json",
                     R"({"last_seq": 3, "pending_acks": [{"seq": 3, "directive_id": "x",
                         "version": 1, "level": "SOMETIMES", "acked": "2026-11-28T09:30:00Z"}]})");
  status = DirectoryInbox::Open(state_dir_).status();
  EXPECT_EQ(status.code(), Status::Code::kCorruption);
  EXPECT_NE(status.message().find("pending_acks[0].level"), std::string::npos) << status.message();
}

TEST_F(DirectoryInboxTest, CorruptDirectiveFileIsAClearError) {
  { ASSERT_TRUE(Open()->Put(MakeStored(3, "52-HEALTH-20261128-0001")).ok()); }
  testing::WriteFile(InboxFile("52-HEALTH-20261128-0001.v1.json"), "{ nope");
  auto status = DirectoryInbox::Open(state_dir_).status();
  EXPECT_EQ(status.code(), Status::Code::kCorruption);
  EXPECT_NE(status.message().find("52-HEALTH-20261128-0001.v1.json"), std::string::npos);
}

TEST_F(DirectoryInboxTest, DirectiveStoredJustBeforeACrashIsKeptOnceAndItsAckRecorded) {
  auto first = MakeStored(5, "52-HEALTH-20261128-0001");
  auto second = MakeStored(9, "52-HEALTH-20261128-0002");
  {
    auto inbox = Open();
    ASSERT_TRUE(inbox->Put(first).ok());
    ASSERT_TRUE(inbox->AddPendingAck(AckFor(first)).ok());
  }
  // The files of `second` were written, then the process died before state.json.
  testing::WriteFile(InboxFile("52-HEALTH-20261128-0002.v1.txt"), RenderDirectiveText(second));
  testing::WriteFile(InboxFile("52-HEALTH-20261128-0002.v1.json"), DirectiveToJson(second));

  auto inbox = Open();
  ASSERT_TRUE(inbox);
  EXPECT_TRUE(inbox->Contains("52-HEALTH-20261128-0002", 1));
  EXPECT_EQ(inbox->last_seq(), 9u);
  EXPECT_EQ(inbox->Put(second).code(), Status::Code::kAlreadyExists);
  ASSERT_EQ(inbox->pending_ack_count(), 2u);
  ASSERT_NE(inbox->FindPendingAck(9, v1::RECEIVED), nullptr);
  EXPECT_EQ(inbox->FindPendingAck(9, v1::RECEIVED)->directive_id, "52-HEALTH-20261128-0002");
  EXPECT_EQ(State()["last_seq"], 9);  // repaired on disk too
}

TEST_F(DirectoryInboxTest, InterruptedWritesAreCleanedUpOnOpen) {
  auto stored = MakeStored(5, "52-HEALTH-20261128-0001");
  { ASSERT_TRUE(Open()->Put(stored).ok()); }
  // Text written but not the JSON: not stored. A temporary file: a write cut short.
  testing::WriteFile(InboxFile("52-HEALTH-20261128-0007.v1.txt"), "half");
  testing::WriteFile(InboxFile("52-HEALTH-20261128-0008.v1.json.tmp.Xa3k9Q"), "{");
  testing::WriteFile(InboxFile("52-HEALTH-20261128-0009.v1.json.tmp"), "{");
  fs::remove(InboxFile("52-HEALTH-20261128-0001.v1.txt"));

  auto inbox = Open();
  ASSERT_TRUE(inbox);
  EXPECT_EQ(inbox->size(), 1u);
  EXPECT_FALSE(fs::exists(InboxFile("52-HEALTH-20261128-0007.v1.txt")));
  EXPECT_FALSE(fs::exists(InboxFile("52-HEALTH-20261128-0008.v1.json.tmp.Xa3k9Q")));
  EXPECT_FALSE(fs::exists(InboxFile("52-HEALTH-20261128-0009.v1.json.tmp")));
  EXPECT_EQ(testing::ReadFile(InboxFile("52-HEALTH-20261128-0001.v1.txt")),
            RenderDirectiveText(stored));
}

TEST_F(DirectoryInboxTest, OnlyOneProcessMayHoldTheDirectory) {
  auto inbox = Open();
  ASSERT_TRUE(inbox);
  auto second = DirectoryInbox::Open(state_dir_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kUnavailable);
  inbox.reset();
  EXPECT_TRUE(DirectoryInbox::Open(state_dir_).ok());
}

TEST_F(DirectoryInboxTest, ListShowsStoredDirectivesInSeqOrder) {
  {
    auto inbox = Open();
    ASSERT_TRUE(inbox->Put(MakeStored(8, "52-HEALTH-20261128-0002", 1, "Open schools")).ok());
    ASSERT_TRUE(inbox->Put(MakeStored(3, "52-HEALTH-20261128-0001")).ok());
  }
  std::ostringstream table;
  ASSERT_TRUE(ListInboxCommand(state_dir_, false, table).ok());
  std::string text = table.str();
  size_t first = text.find("52-HEALTH-20261128-0001");
  size_t second = text.find("52-HEALTH-20261128-0002");
  ASSERT_NE(first, std::string::npos) << text;
  ASSERT_NE(second, std::string::npos) << text;
  EXPECT_LT(first, second);
  EXPECT_NE(text.find("Open schools"), std::string::npos);

  std::ostringstream json;
  ASSERT_TRUE(ListInboxCommand(state_dir_, true, json).ok());
  auto list = nlohmann::json::parse(json.str());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["seq"], 3);
  EXPECT_EQ(list[1]["id"], "52-HEALTH-20261128-0002");
  EXPECT_EQ(list[1]["title"], "Open schools");
}

TEST_F(DirectoryInboxTest, ListOfAMissingStateDirectoryIsAnError) {
  std::ostringstream out;
  EXPECT_EQ(ListInboxCommand(dir_ / "nowhere", false, out).code(), Status::Code::kNotFound);
}

TEST_F(DirectoryInboxTest, ShowPrintsTheLatestVersionAsTextOrJson) {
  auto first_version = MakeStored(3, "52-HEALTH-20261128-0001", 1, "First version");
  auto second_version = MakeStored(6, "52-HEALTH-20261128-0001", 2, "Second version");
  {
    auto inbox = Open();
    ASSERT_TRUE(inbox->Put(first_version).ok());
    ASSERT_TRUE(inbox->Put(second_version).ok());
  }
  std::ostringstream text;
  TimePoint now = *ParseTime("2026-11-28T10:00:00Z");
  ASSERT_TRUE(ShowDirectiveCommand(state_dir_, "52-HEALTH-20261128-0001", std::nullopt, false, text,
                                   now)
                  .ok());
  EXPECT_EQ(text.str(), RenderDirectiveText(second_version, now));

  std::ostringstream first;
  ASSERT_TRUE(ShowDirectiveCommand(state_dir_, "52-HEALTH-20261128-0001", 1, false, first).ok());
  EXPECT_NE(first.str().find("First version"), std::string::npos);

  std::ostringstream json;
  ASSERT_TRUE(
      ShowDirectiveCommand(state_dir_, "52-HEALTH-20261128-0001", std::nullopt, true, json).ok());
  auto parsed = nlohmann::json::parse(json.str());
  EXPECT_EQ(parsed["directive"]["title"], "Second version");
}

TEST_F(DirectoryInboxTest, ShowOfAnUnknownIdNamesIt) {
  { ASSERT_TRUE(Open()->Put(MakeStored(3, "52-HEALTH-20261128-0001")).ok()); }
  std::ostringstream out;
  Status status =
      ShowDirectiveCommand(state_dir_, "52-HEALTH-20261128-0099", std::nullopt, false, out);
  EXPECT_EQ(status.code(), Status::Code::kNotFound);
  EXPECT_NE(status.message().find("52-HEALTH-20261128-0099"), std::string::npos);
  EXPECT_TRUE(out.str().empty());
  status = ShowDirectiveCommand(state_dir_, "52-HEALTH-20261128-0001", 4, false, out);
  EXPECT_EQ(status.code(), Status::Code::kNotFound);
}

TEST_F(DirectoryInboxTest, ShowRendersAgainWhenTheTextFileIsGone) {
  auto stored = MakeStored(3, "52-HEALTH-20261128-0001");
  { ASSERT_TRUE(Open()->Put(stored).ok()); }
  fs::remove(InboxFile("52-HEALTH-20261128-0001.v1.txt"));
  std::ostringstream out;
  TimePoint now = *ParseTime("2026-11-28T10:00:00Z");
  ASSERT_TRUE(
      ShowDirectiveCommand(state_dir_, "52-HEALTH-20261128-0001", std::nullopt, false, out, now).ok());
  EXPECT_EQ(out.str(), RenderDirectiveText(stored, now));
}

TEST_F(DirectoryInboxTest, ListShowsTheLatestVersionAndTheTimeLeftBeforePublicRelease) {
  auto first = MakeStored(3, "52-HEALTH-20261128-0001", 1, "First version");
  auto second = MakeStored(6, "52-HEALTH-20261128-0001", 2, "Second version");
  second.mutable_directive()->set_is_public(true);
  *second.mutable_directive()->mutable_public_release() =
      ToTimestamp(*ParseTime("2026-11-28T20:00:00Z"));
  {
    auto inbox = Open();
    ASSERT_TRUE(inbox->Put(first).ok());
    ASSERT_TRUE(inbox->Put(second).ok());
  }
  std::ostringstream table;
  ASSERT_TRUE(ListInboxCommand(state_dir_, false, table, *ParseTime("2026-11-28T08:30:00Z")).ok());
  EXPECT_EQ(table.str().find("First version"), std::string::npos) << table.str();
  EXPECT_NE(table.str().find("2026-11-28T20:00:00Z (in 11h30m)"), std::string::npos) << table.str();
  std::ostringstream json;
  ASSERT_TRUE(ListInboxCommand(state_dir_, true, json, *ParseTime("2026-11-28T21:00:00Z")).ok());
  auto list = nlohmann::json::parse(json.str());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["version"], 2);
  EXPECT_EQ(list[0]["public"], "2026-11-28T20:00:00Z (public now)");
}

TEST(MemoryInboxTest, KeepsKeysAndPendingAcksWithoutTheDirectives) {
  MemoryInbox inbox(/*keep_directives=*/false);
  auto stored = MakeStored(4, "52-HEALTH-20261128-0001");
  ASSERT_TRUE(inbox.Put(stored).ok());
  EXPECT_EQ(inbox.Put(stored).code(), Status::Code::kAlreadyExists);
  EXPECT_TRUE(inbox.Contains("52-HEALTH-20261128-0001", 1));
  EXPECT_EQ(inbox.last_seq(), 4u);
  ASSERT_TRUE(inbox.AddPendingAck(AckFor(stored)).ok());
  EXPECT_EQ(inbox.pending_ack_count(), 1u);
  EXPECT_FALSE(inbox.RemovePendingAck(4, v1::CONFIRMED).value());
  EXPECT_TRUE(inbox.RemovePendingAck(4, v1::RECEIVED).value());
  ASSERT_EQ(inbox.List().size(), 1u);
  EXPECT_TRUE(inbox.List()[0].title.empty());
}

}  // namespace
}  // namespace flatcast::subscriber
