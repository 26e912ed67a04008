// Fetching attached documents (document_fetch.h): a chunk at a time, each
// checked against what the directive declares, the whole against its
// SHA-256; a mismatch refused and nothing of it kept; lost answers asked
// again; the broker's refusals waited out; a restart goes on where the
// files stand.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "flatcast/attachment.h"
#include "flatcast/document_fetch.h"
#include "flatcast/wire.h"
#include "temp_dir.h"

namespace flatcast {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

std::string Pdf(size_t size, char fill = 'x') {
  std::string s = "%PDF-1.7\n";
  s.resize(size, fill);
  for (size_t i = 9; i < size; i += 997) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

WantedDocument Wanted(const std::string& content, std::string name = "notice.pdf") {
  Result<v1::Attachment> a = DescribeAttachment(name, content);
  EXPECT_TRUE(a.ok()) << a.status().message();
  return WantedDocument::Of(*a);
}

// A broker that holds documents and answers AttachmentGet as the real one does.
struct FakeBroker {
  std::map<std::string, std::string> docs;  // by SHA-256
  v1::Envelope Answer(const std::string& request) const {
    Result<v1::Envelope> in = wire::Decode(request);
    EXPECT_TRUE(in.ok());
    EXPECT_EQ(in->body_case(), v1::Envelope::kAttachmentGet);
    v1::Envelope out;
    out.set_correlation_id(in->correlation_id());
    auto it = docs.find(in->attachment_get().sha256());
    if (it == docs.end()) {
      out.mutable_error()->set_code(v1::NOT_FOUND);
      out.mutable_error()->set_message("no attached document with that SHA-256 is stored here");
      return out;
    }
    auto* c = out.mutable_attachment_chunk();
    c->set_sha256(it->first);
    c->set_offset(in->attachment_get().offset());
    c->set_size(it->second.size());
    c->set_media_type(SniffMediaType(it->second));
    c->set_data(it->second.substr(in->attachment_get().offset(), kAttachmentChunkBytes));
    return out;
  }
};

// Runs the fetcher against `broker` until it asks for nothing more; returns the requests sent.
int Drain(DocumentFetcher& fetcher, DocumentShelf& shelf, const FakeBroker& broker, std::vector<Status>* errors = nullptr) {
  int requests = 0;
  while (std::optional<std::string> request = fetcher.Next()) {
    ++requests;
    EXPECT_FALSE(fetcher.Next()) << "a second request while one is in flight";
    Status st = FetchToShelf(fetcher, shelf, broker.Answer(*request));
    if (!st.ok() && errors != nullptr) errors->push_back(st);
  }
  return requests;
}

TEST(DocumentFetch, ADocumentArrivesAChunkAtATimeAndIsKeptOnceItsDigestMatches) {
  TempDir dir;
  FakeClock clock;
  const std::string content = Pdf(600 * 1024);  // three chunks, the last short
  const WantedDocument doc = Wanted(content);
  FakeBroker broker;
  broker.docs[doc.sha256] = content;
  auto shelf = DirectoryShelf::Open(dir / "attachments");
  ASSERT_TRUE(shelf.ok());
  DocumentFetcher fetcher(clock);
  fetcher.Want(doc, 0, false);
  EXPECT_FALSE(fetcher.idle());
  EXPECT_EQ(Drain(fetcher, **shelf, broker), 3);
  EXPECT_TRUE(fetcher.idle());
  EXPECT_EQ(fetcher.counters().completed, 1u);
  EXPECT_EQ(fetcher.counters().bytes, content.size());
  EXPECT_EQ(testing::ReadFile((*shelf)->PathOf(doc.sha256)), content);
  EXPECT_FALSE(std::filesystem::exists((*shelf)->PathOf(doc.sha256) + ".part"));
  EXPECT_TRUE((*shelf)->Complete(doc));
  // Wanted again (another directive names it): nothing to fetch.
  DocumentFetcher again(clock);
  WantAttachments(again, **shelf, [&] {
    v1::Directive d;
    *d.add_attachments() = *DescribeAttachment("notice.pdf", content);
    return d;
  }());
  EXPECT_TRUE(again.idle());
  EXPECT_FALSE(again.Next());
}

TEST(DocumentFetch, ContentThatIsNotTheSignedDocumentIsRefusedAndNothingOfItKept) {
  TempDir dir;
  FakeClock clock;
  const std::string content = Pdf(300 * 1024);
  const WantedDocument doc = Wanted(content);
  // The broker holds other bytes of the same size under that SHA-256.
  FakeBroker broker;
  broker.docs[doc.sha256] = Pdf(300 * 1024, 'y');
  auto shelf = DirectoryShelf::Open(dir / "attachments");
  ASSERT_TRUE(shelf.ok());
  FetchOptions options;
  options.missing_retry = 30s;
  options.seed = 7;
  DocumentFetcher fetcher(clock, options);
  fetcher.Want(doc, 0, false);
  std::vector<Status> errors;
  EXPECT_EQ(Drain(fetcher, **shelf, broker, &errors), 2);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), Status::Code::kCorruption);
  EXPECT_NE(errors[0].message().find("refused"), std::string::npos) << errors[0].message();
  EXPECT_EQ(fetcher.counters().refused, 1u);
  EXPECT_FALSE(std::filesystem::exists((*shelf)->PathOf(doc.sha256)));
  EXPECT_FALSE(std::filesystem::exists((*shelf)->PathOf(doc.sha256) + ".part"));
  ASSERT_EQ(fetcher.Progress().size(), 1u);
  EXPECT_FALSE(fetcher.Progress()[0].complete);
  EXPECT_EQ(fetcher.Progress()[0].held, 0u);
  EXPECT_NE(fetcher.Progress()[0].problem.find("SHA-256"), std::string::npos) << fetcher.Progress()[0].problem;
  // Asked again from the start, but not before the wait; the right bytes are then kept.
  clock.Advance(29s);
  EXPECT_FALSE(fetcher.Next());
  clock.Advance(20s);  // 30 s and up to half of it again
  broker.docs[doc.sha256] = content;
  EXPECT_EQ(Drain(fetcher, **shelf, broker), 2);
  EXPECT_TRUE(fetcher.idle());
  EXPECT_TRUE(fetcher.Progress()[0].problem.empty());
  EXPECT_EQ(testing::ReadFile((*shelf)->PathOf(doc.sha256)), content);
}

TEST(DocumentFetch, AChunkThatDoesNotFitWhatTheDirectiveDeclaresIsRefused) {
  FakeClock clock;
  const std::string content = Pdf(1000);
  const WantedDocument doc = Wanted(content);
  HashingShelf shelf;
  DocumentFetcher fetcher(clock);
  fetcher.Want(doc, 0, false);
  FakeBroker broker;
  broker.docs[doc.sha256] = content;
  std::optional<std::string> request = fetcher.Next();
  ASSERT_TRUE(request);
  v1::Envelope reply = broker.Answer(*request);
  reply.mutable_attachment_chunk()->set_size(2000);
  Status st = FetchToShelf(fetcher, shelf, reply);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("2000 bytes"), std::string::npos) << st.message();
  EXPECT_EQ(shelf.Held(doc), 0u);
  clock.Advance(60s);
  request = fetcher.Next();
  ASSERT_TRUE(request);
  reply = broker.Answer(*request);
  reply.mutable_attachment_chunk()->mutable_data()->pop_back();
  st = FetchToShelf(fetcher, shelf, reply);
  EXPECT_NE(st.message().find("holds 999 bytes, not 1000"), std::string::npos) << st.message();
  EXPECT_EQ(fetcher.counters().errors, 2u);
  EXPECT_FALSE(fetcher.idle());
}

TEST(DocumentFetch, ALostAnswerIsAskedForAgainAndALateOneIsIgnored) {
  FakeClock clock;
  const std::string content = Pdf(kAttachmentChunkBytes + 10);
  const WantedDocument doc = Wanted(content);
  FakeBroker broker;
  broker.docs[doc.sha256] = content;
  HashingShelf shelf;
  FetchOptions options;
  options.answer_timeout = 10s;
  DocumentFetcher fetcher(clock, options);
  fetcher.Want(doc, 0, false);
  std::optional<std::string> first = fetcher.Next();
  ASSERT_TRUE(first);
  clock.Advance(9s);
  EXPECT_FALSE(fetcher.Next());
  clock.Advance(2s);
  std::optional<std::string> again = fetcher.Next();
  ASSERT_TRUE(again);
  EXPECT_EQ(fetcher.counters().resent, 1u);
  // The first answer arrives after all: it fits (same chunk), so it is kept;
  // the second then answers nothing in flight and is ignored.
  EXPECT_TRUE(FetchToShelf(fetcher, shelf, broker.Answer(*first)).ok());
  EXPECT_TRUE(FetchToShelf(fetcher, shelf, broker.Answer(*again)).ok());
  EXPECT_EQ(shelf.Held(doc), kAttachmentChunkBytes);
  // An error answering an old request changes nothing either.
  std::optional<std::string> last = fetcher.Next();
  ASSERT_TRUE(last);
  v1::Envelope stale;
  stale.set_correlation_id(kFetchCorrelationBit | 1);
  stale.mutable_error()->set_code(v1::NOT_FOUND);
  ASSERT_TRUE(DocumentFetcher::IsReply(stale));
  EXPECT_TRUE(FetchToShelf(fetcher, shelf, stale).ok());
  EXPECT_TRUE(FetchToShelf(fetcher, shelf, broker.Answer(*last)).ok());
  EXPECT_TRUE(fetcher.idle());
  EXPECT_TRUE(shelf.Complete(doc));
}

TEST(DocumentFetch, TheBrokersRefusalsAreWaitedOutBusySoonerThanMissing) {
  FakeClock clock;
  const std::string content = Pdf(500);
  const WantedDocument doc = Wanted(content);
  HashingShelf shelf;
  FetchOptions options;
  options.busy_retry = 1s;
  options.missing_retry = 30s;
  options.seed = 3;
  DocumentFetcher fetcher(clock, options);
  fetcher.Want(doc, 0, false);
  auto refuse = [&](v1::ErrorCode code) {
    std::optional<std::string> request = fetcher.Next();
    EXPECT_TRUE(request);
    v1::Envelope in = *wire::Decode(*request);
    v1::Envelope out;
    out.set_correlation_id(in.correlation_id());
    out.mutable_error()->set_code(code);
    out.mutable_error()->set_message("said so");
    return FetchToShelf(fetcher, shelf, out);
  };
  Status busy = refuse(v1::UNAVAILABLE);
  EXPECT_EQ(busy.code(), Status::Code::kUnavailable);
  EXPECT_NE(busy.message().find("UNAVAILABLE: said so"), std::string::npos) << busy.message();
  clock.Advance(1600ms);  // 1 s and up to half of it
  Status missing = refuse(v1::NOT_FOUND);
  EXPECT_EQ(missing.code(), Status::Code::kUnavailable);
  EXPECT_NE(fetcher.Progress()[0].problem.find("NOT_FOUND"), std::string::npos);
  clock.Advance(29s);
  EXPECT_FALSE(fetcher.Next()) << "a missing document is asked for after 30 s at least";
  clock.Advance(17s);  // 30 s and up to half of it
  Status again = refuse(v1::NOT_FOUND);
  clock.Advance(59s);
  EXPECT_FALSE(fetcher.Next()) << "the next wait doubled: 60 s at least";
  clock.Advance(32s);
  FakeBroker broker;
  broker.docs[doc.sha256] = content;
  EXPECT_EQ(Drain(fetcher, shelf, broker), 1);
  EXPECT_TRUE(fetcher.idle());
}

TEST(DocumentFetch, ARestartGoesOnFromTheWholeChunksOnDisk) {
  TempDir dir;
  FakeClock clock;
  const std::string content = Pdf(3 * kAttachmentChunkBytes + 5);
  const WantedDocument doc = Wanted(content);
  FakeBroker broker;
  broker.docs[doc.sha256] = content;
  auto shelf = DirectoryShelf::Open(dir / "attachments");
  ASSERT_TRUE(shelf.ok());
  {
    DocumentFetcher fetcher(clock);
    fetcher.Want(doc, 0, false);
    for (int i = 0; i < 2; ++i) {
      std::optional<std::string> request = fetcher.Next();
      ASSERT_TRUE(request);
      ASSERT_TRUE(FetchToShelf(fetcher, **shelf, broker.Answer(*request)).ok());
    }
  }
  // Half of a third chunk was written when the process stopped.
  {
    std::FILE* f = std::fopen(((*shelf)->PathOf(doc.sha256) + ".part").c_str(), "ab");
    ASSERT_NE(f, nullptr);
    std::fwrite(content.data() + 2 * kAttachmentChunkBytes, 1, 1000, f);
    std::fclose(f);
  }
  EXPECT_EQ((*shelf)->Held(doc), 2 * kAttachmentChunkBytes);
  DocumentFetcher fetcher(clock);
  fetcher.Want(doc, (*shelf)->Held(doc), false);
  EXPECT_EQ(Drain(fetcher, **shelf, broker), 2);
  EXPECT_EQ(testing::ReadFile((*shelf)->PathOf(doc.sha256)), content);
}

// A shelf whose disk is full.
class FullShelf final : public DocumentShelf {
 public:
  bool full = true;
  HashingShelf inner;
  uint64_t Held(const WantedDocument& doc) override { return inner.Held(doc); }
  bool Complete(const WantedDocument& doc) override { return inner.Complete(doc); }
  Status Append(const WantedDocument& doc, uint64_t offset, std::string_view data) override {
    if (full) return Status::IOError("attachments/x.part: writing: No space left on device");
    return inner.Append(doc, offset, data);
  }
  Status Finish(const WantedDocument& doc) override { return inner.Finish(doc); }
};

TEST(DocumentFetch, AChunkThatCannotBeWrittenIsAskedForAgainOnceThereIsRoom) {
  FakeClock clock;
  const std::string content = Pdf(700);
  const WantedDocument doc = Wanted(content);
  FakeBroker broker;
  broker.docs[doc.sha256] = content;
  FullShelf shelf;
  FetchOptions options;
  options.busy_retry = 1s;
  DocumentFetcher fetcher(clock, options);
  fetcher.Want(doc, 0, false);
  std::vector<Status> errors;
  EXPECT_EQ(Drain(fetcher, shelf, broker, &errors), 1);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message().find("No space left"), std::string::npos);
  EXPECT_NE(fetcher.Progress()[0].problem.find("No space left"), std::string::npos);
  shelf.full = false;
  clock.Advance(2s);
  EXPECT_EQ(Drain(fetcher, shelf, broker), 1);
  EXPECT_TRUE(fetcher.idle());
}


TEST(DocumentFetch, ABusyBrokerIsAskedAgainWithinEightSecondsAndAHalfHowEverLongItRefuses) {
  FakeClock clock;
  const std::string content = Pdf(500);
  const WantedDocument doc = Wanted(content);
  HashingShelf shelf;
  FetchOptions options;
  options.seed = 11;
  DocumentFetcher fetcher(clock, options);
  fetcher.Want(doc, 0, false);
  for (int i = 0; i < 12; ++i) {
    std::optional<std::string> request = fetcher.Next();
    ASSERT_TRUE(request) << "refusal " << i;
    v1::Envelope out;
    out.set_correlation_id(wire::Decode(*request)->correlation_id());
    out.mutable_error()->set_code(v1::UNAVAILABLE);
    EXPECT_EQ(FetchToShelf(fetcher, shelf, out).code(), Status::Code::kUnavailable);
    clock.Advance(12s);  // 8 s and up to half of it
  }
  EXPECT_FALSE(fetcher.idle());
}

}  // namespace
}  // namespace flatcast
