// Attached documents: what a directive may declare, the content checked
// against it, and the broker's store of them (chunks uploaded in order,
// each committed; the whole checked against its SHA-256; chunks served to
// whoever asks with the SHA-256; a directive accepted only once its
// documents are stored), with the broker core in-process.
#include <gtest/gtest.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>

#include <nlohmann/json.hpp>

#include "broker_harness.h"
#include "flatcast/broker/access.h"
#include "flatcast/attachment.h"
#include "flatcast/directive.h"
#include "flatcast/public_view.h"
#include "flatcast/signing.h"

namespace flatcast {
namespace {

using namespace std::chrono_literals;

// A PDF of `size` bytes (a header and filler: what matters here is its bytes).
std::string Pdf(size_t size, char fill = 'x') {
  std::string s = "%PDF-1.7\n";
  s.resize(size, fill);
  return s;
}

TEST(AttachmentDescribe, TheContentDecidesTheMediaTypeAndTheLimitsHold) {
  auto pdf = DescribeAttachment("通知.pdf", Pdf(1000));
  ASSERT_TRUE(pdf.ok()) << pdf.status().message();
  EXPECT_EQ(pdf->media_type(), "application/pdf");
  EXPECT_EQ(pdf->size(), 1000u);
  EXPECT_EQ(pdf->sha256().size(), 32u);
  EXPECT_EQ(pdf->sha1().size(), 20u);
  // SHA-256 and SHA-1 of "abc" (FIPS 180 test vectors), as a PNG's bytes would be hashed.
  AttachmentDigest digest;
  digest.Update("a");
  digest.Update("bc");
  std::string sha256, sha1;
  digest.Finish(&sha256, &sha1);
  EXPECT_EQ(ToHex(sha256), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(ToHex(sha1), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(DescribeAttachment("map.png", std::string("\x89PNG\r\n\x1a\n", 8) + "data")->media_type(), "image/png");
  EXPECT_EQ(DescribeAttachment("photo.jpg", std::string("\xff\xd8\xff\xe0", 4) + "data")->media_type(), "image/jpeg");

  struct Case {
    std::string name, content, declared, says;
  };
  for (const Case& c : {Case{"a.exe", "MZ\x90", "", "not a PDF, PNG or JPEG"},
                        Case{"a.pdf", "", "", "is empty"},
                        Case{"a.pdf", Pdf(kMaxAttachmentBytes + 1), "", "the limit is 10.0 MiB"},
                        Case{"../a.pdf", Pdf(10), "", "may not hold \"/\""},
                        Case{"", Pdf(10), "", "the name is empty"},
                        Case{"a.pdf", Pdf(10), "image/png", "declared image/png but its content is application/pdf"}}) {
    auto a = DescribeAttachment(c.name, c.content, c.declared);
    EXPECT_FALSE(a.ok()) << c.says;
    EXPECT_NE(a.status().message().find(c.says), std::string::npos) << a.status().message();
  }
}

TEST(AttachmentDescribe, ContentThatIsNotWhatTheDirectiveDeclaresIsRefusedSayingHow) {
  auto a = DescribeAttachment("a.pdf", Pdf(5000));
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(VerifyAttachment(*a, Pdf(5000)).ok());
  Status shorter = VerifyAttachment(*a, Pdf(4999));
  EXPECT_NE(shorter.message().find("is 4999 bytes, not the 5000"), std::string::npos) << shorter.message();
  Status other = VerifyAttachment(*a, Pdf(5000, 'y'));
  EXPECT_NE(other.message().find("not the " + ToHex(a->sha256())), std::string::npos) << other.message();
}

TEST(AttachmentDescribe, ADirectivesAttachmentsAreCheckedNamingTheWrongOne) {
  v1::Directive d = testing::SampleStored(1, "52-HEALTH-20261128-0001").directive();
  *d.add_attachments() = *DescribeAttachment("a.pdf", Pdf(100));
  EXPECT_TRUE(ValidateDirectiveContent(d).ok()) << ValidateDirectiveContent(d).message();
  auto refused = [](const v1::Directive& bad, const std::string& says) {
    Status st = ValidateDirectiveContent(bad);
    EXPECT_FALSE(st.ok()) << says;
    EXPECT_NE(st.message().find(says), std::string::npos) << st.message();
  };
  v1::Directive bad = d;
  *bad.add_attachments() = d.attachments(0);
  refused(bad, "attachment 2 (a.pdf): the same document is attached twice");
  bad = d;
  bad.mutable_attachments(0)->set_media_type("text/html");
  refused(bad, "media type \"text/html\" is not");
  bad = d;
  bad.mutable_attachments(0)->set_size(kMaxAttachmentBytes + 1);
  refused(bad, "size 10485761 is not from 1 byte to 10.0 MiB");
  bad = d;
  bad.mutable_attachments(0)->set_sha256("short");
  refused(bad, "the SHA-256 is 5 bytes, not 32");
  bad = d;
  for (char c : std::string("bcde")) *bad.add_attachments() = *DescribeAttachment("x.pdf", Pdf(100, c));
  refused(bad, "5 attachments; the limit is 4");
}

class AttachmentStore : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(b_.Start().ok()); }

  v1::Envelope Put(const v1::Attachment& a, const std::string& content, uint64_t offset,
                   std::optional<std::string> data = std::nullopt) {
    v1::Envelope env;
    auto* put = env.mutable_attachment_put();
    put->set_sha256(a.sha256());
    put->set_size(a.size());
    put->set_media_type(a.media_type());
    put->set_offset(offset);
    put->set_data(data ? *data : content.substr(offset, kAttachmentChunkBytes));
    return b_.Call("publisher", env);
  }
  // Uploads `content` chunk by chunk as a publisher does; the last answer.
  v1::Envelope Upload(const v1::Attachment& a, const std::string& content) {
    uint64_t offset = 0;
    for (int i = 0; i < 100; ++i) {
      v1::Envelope got = Put(a, content, offset);
      if (!got.has_attachment_stored() || got.attachment_stored().complete()) return got;
      offset = got.attachment_stored().stored();
    }
    return {};
  }
  v1::Envelope Get(const std::string& peer, const std::string& sha256, uint64_t offset) {
    v1::Envelope env;
    env.mutable_attachment_get()->set_sha256(sha256);
    env.mutable_attachment_get()->set_offset(offset);
    return b_.Call(peer, env);
  }

  static testing::BrokerHarness::Options Options() {
    testing::BrokerHarness::Options o;
    // The broker's default: a chunk of 256 KiB fits.
    o.configure = [](broker::BrokerConfig& c) { c.max_message_bytes = 1 << 20; };
    return o;
  }
  testing::BrokerHarness b_{Options()};
};

TEST_F(AttachmentStore, ADocumentIsStoredChunkByChunkAndServedBackWhole) {
  const std::string content = Pdf(5 * kAttachmentChunkBytes / 2);  // 2.5 chunks
  const v1::Attachment a = *DescribeAttachment("通知.pdf", content);
  v1::Envelope first = Put(a, content, 0);
  ASSERT_TRUE(first.has_attachment_stored()) << first.DebugString();
  EXPECT_EQ(first.attachment_stored().stored(), kAttachmentChunkBytes);
  EXPECT_FALSE(first.attachment_stored().complete());
  // Out of order, or again: not stored, told where the upload stands.
  EXPECT_EQ(Put(a, content, 2 * kAttachmentChunkBytes).attachment_stored().stored(), kAttachmentChunkBytes);
  EXPECT_EQ(Put(a, content, 0).attachment_stored().stored(), kAttachmentChunkBytes);
  // Not complete: nobody may read it yet.
  EXPECT_EQ(Get("520102016001", a.sha256(), 0).error().code(), v1::NOT_FOUND);
  v1::Envelope done = Upload(a, content);
  ASSERT_TRUE(done.has_attachment_stored()) << done.DebugString();
  EXPECT_TRUE(done.attachment_stored().complete());
  EXPECT_EQ(done.attachment_stored().stored(), content.size());

  // After a restart, from the store: the whole, chunk by chunk, as sent.
  b_.Stop();
  ASSERT_TRUE(b_.Start().ok());
  std::string back;
  for (uint64_t offset = 0; offset < content.size(); offset += kAttachmentChunkBytes) {
    v1::Envelope chunk = Get("520102016001", a.sha256(), offset);
    ASSERT_TRUE(chunk.has_attachment_chunk()) << chunk.DebugString();
    EXPECT_EQ(chunk.attachment_chunk().size(), content.size());
    EXPECT_EQ(chunk.attachment_chunk().media_type(), "application/pdf");
    back += chunk.attachment_chunk().data();
  }
  EXPECT_TRUE(VerifyAttachment(a, back).ok());
  // Stored once: uploading it again costs one chunk.
  EXPECT_TRUE(Put(a, content, 0).attachment_stored().complete());
  EXPECT_EQ(Get("520102016001", a.sha256(), content.size()).error().code(), v1::INVALID);
  EXPECT_EQ(Get("520102016001", a.sha256(), 1).error().code(), v1::INVALID);
  EXPECT_EQ(Get("520102016001", std::string(32, 'x'), 0).error().code(), v1::NOT_FOUND);
  EXPECT_EQ(Get("520102016001", "short", 0).error().code(), v1::INVALID);
}

TEST_F(AttachmentStore, ContentThatIsNotItsSha256IsRefusedAndNothingOfItKept) {
  const std::string content = Pdf(kAttachmentChunkBytes + 10);
  v1::Attachment a = *DescribeAttachment("a.pdf", content);
  const std::string forged = Pdf(kAttachmentChunkBytes + 10, 'y');
  ASSERT_TRUE(Put(a, forged, 0).has_attachment_stored());
  v1::Envelope refused = Put(a, forged, kAttachmentChunkBytes);
  ASSERT_TRUE(refused.has_error()) << refused.DebugString();
  EXPECT_EQ(refused.error().code(), v1::INVALID);
  EXPECT_NE(refused.error().message().find("nothing of it is kept"), std::string::npos) << refused.error().message();
  // Nothing kept: the upload starts again from 0 and then succeeds.
  EXPECT_EQ(Put(a, content, kAttachmentChunkBytes).attachment_stored().stored(), 0u);
  EXPECT_TRUE(Upload(a, content).attachment_stored().complete());

  struct Case {
    std::function<void(v1::AttachmentPut&)> spoil;
    std::string says;
  };
  const std::string other = Pdf(100, 'z');
  const v1::Attachment b = *DescribeAttachment("b.pdf", other);
  for (const Case& c :
       {Case{[](v1::AttachmentPut& p) { p.set_media_type("text/html"); }, "media type \"text/html\""},
        Case{[](v1::AttachmentPut& p) { p.set_media_type("image/png"); }, "declared image/png but begins like application/pdf"},
        Case{[](v1::AttachmentPut& p) { p.set_size(kMaxAttachmentBytes + 1); }, "is not from 1 byte"},
        Case{[](v1::AttachmentPut& p) { p.set_offset(7); }, "offset 7 is not a multiple"},
        Case{[](v1::AttachmentPut& p) { p.mutable_data()->pop_back(); }, "holds 99 bytes; it must hold 100"},
        Case{[](v1::AttachmentPut& p) { p.set_sha256("x"); }, "sha256 is 1 bytes"}}) {
    v1::Envelope env;
    auto* put = env.mutable_attachment_put();
    put->set_sha256(b.sha256());
    put->set_size(b.size());
    put->set_media_type(b.media_type());
    put->set_data(other);
    c.spoil(*put);
    v1::Envelope got = b_.Call("publisher", env);
    ASSERT_TRUE(got.has_error()) << c.says;
    EXPECT_NE(got.error().message().find(c.says), std::string::npos) << got.error().message();
  }
}

TEST_F(AttachmentStore, ADirectiveIsAcceptedOnlyOnceItsDocumentsAreStoredAndItsCapNamesThem) {
  const std::string content = Pdf(3000);
  const v1::Attachment a = *DescribeAttachment("通知.pdf", content);
  auto env = testing::SamplePublish({"5201"}, {v1::COMMUNITY});
  *env.mutable_publish()->mutable_directive()->add_attachments() = a;
  env.mutable_publish()->mutable_directive()->set_is_public(true);
  v1::Envelope refused = b_.Call("publisher", env);
  ASSERT_TRUE(refused.has_error()) << refused.DebugString();
  EXPECT_NE(refused.error().message().find("is not stored at the broker: upload it first"), std::string::npos)
      << refused.error().message();
  ASSERT_TRUE(Upload(a, content).attachment_stored().complete());
  v1::Envelope lying = env;
  lying.mutable_publish()->mutable_directive()->mutable_attachments(0)->set_size(2999);
  v1::Envelope wrong = b_.Call("publisher", lying);
  ASSERT_TRUE(wrong.has_error());
  EXPECT_NE(wrong.error().message().find("declares 2999 bytes"), std::string::npos) << wrong.error().message();
  const std::string id = b_.Publish(env).id();
  ASSERT_FALSE(id.empty());

  // Released: the CAP alert names the document as a <resource>, valid CAP 1.2.
  b_.Advance(12h + 1s);
  b_.Pass();
  const feed::Site& site = b_.feed().latest();
  feed::FeedRequest req;
  req.method = "GET";
  req.target = "/public/directives";
  const auto list = nlohmann::json::parse(site.Answer(req).body);
  ASSERT_EQ(list["directives"].size(), 1u);
  req.target = "/public/directives/" + list["directives"][0]["id"].get<std::string>();
  const auto full = nlohmann::json::parse(site.Answer(req).body);
  EXPECT_EQ(full["attachments"][0]["sha256"], ToHex(a.sha256()));
  EXPECT_EQ(full["attachments"][0]["size"], 3000);
  req.target += "/cap.xml";
  const std::string cap = site.Answer(req).body;
  EXPECT_NE(cap.find("<resourceDesc>通知.pdf</resourceDesc>"), std::string::npos) << cap;
  EXPECT_NE(cap.find("<size>3000</size>"), std::string::npos);
  EXPECT_NE(cap.find("<digest>" + ToHex(a.sha1()) + "</digest>"), std::string::npos);
  xmlDocPtr doc = xmlReadMemory(cap.data(), static_cast<int>(cap.size()), "cap.xml", nullptr, XML_PARSE_NONET);
  ASSERT_NE(doc, nullptr);
  xmlSchemaParserCtxtPtr pctx = xmlSchemaNewParserCtxt(FLATCAST_CAP_XSD);
  xmlSchemaPtr schema = xmlSchemaParse(pctx);
  xmlSchemaValidCtxtPtr vctx = xmlSchemaNewValidCtxt(schema);
  EXPECT_EQ(xmlSchemaValidateDoc(vctx, doc), 0) << cap;
  xmlSchemaFreeValidCtxt(vctx);
  xmlSchemaFree(schema);
  xmlSchemaFreeParserCtxt(pctx);
  xmlFreeDoc(doc);
}

TEST(AttachmentAccess, OnlyAPublisherStoresADocumentAndAnyKeyHolderWithItsSha256ReadsIt) {
  using B = v1::Envelope::BodyCase;
  const broker::PeerIdentity publisher{KeyRole::kPublisher, "guizhou-health", "p", "0123456789abcdef"};
  const broker::PeerIdentity unit{KeyRole::kUnit, "520102001001", "u", "0123456789abcdef"};
  const broker::PeerIdentity pub{KeyRole::kPublic, "public-1", "public-1", "0123456789abcdef"};
  const broker::PeerIdentity auditor{KeyRole::kAuditor, "audit", "a", "0123456789abcdef"};
  EXPECT_TRUE(broker::CheckAccess(publisher, B::kAttachmentPut).ok());
  for (const auto& who : {unit, pub, auditor}) {
    Status st = broker::CheckAccess(who, B::kAttachmentPut);
    EXPECT_EQ(st.code(), Status::Code::kPermissionDenied) << who.Describe();
  }
  for (const auto& who : {publisher, unit, pub, auditor}) {
    EXPECT_TRUE(broker::CheckAccess(who, B::kAttachmentGet).ok()) << who.Describe();
  }
}


// Documents are served at most at the configured rate: beyond it a request
// is answered UNAVAILABLE (the fetcher asks again a little later), and the
// budget comes back with time.
TEST(AttachmentRate, RequestsBeyondTheRateAreAskedToComeAgainAndServedOnceTimePasses) {
  testing::BrokerHarness::Options o;
  o.configure = [](broker::BrokerConfig& c) {
    c.max_message_bytes = 1 << 20;
    c.document_rate_mb = 1;  // four chunks a second
  };
  testing::BrokerHarness b(o);
  ASSERT_TRUE(b.Start().ok());
  const std::string content = Pdf(8 * kAttachmentChunkBytes);
  const v1::Attachment a = *DescribeAttachment("大文件.pdf", content);
  for (uint64_t offset = 0; offset < content.size(); offset += kAttachmentChunkBytes) {
    v1::Envelope put;
    put.mutable_attachment_put()->set_sha256(a.sha256());
    put.mutable_attachment_put()->set_size(a.size());
    put.mutable_attachment_put()->set_media_type(a.media_type());
    put.mutable_attachment_put()->set_offset(offset);
    put.mutable_attachment_put()->set_data(content.substr(offset, kAttachmentChunkBytes));
    ASSERT_TRUE(b.Call("publisher", put).has_attachment_stored());
  }
  auto get = [&](uint64_t offset) {
    v1::Envelope env;
    env.mutable_attachment_get()->set_sha256(a.sha256());
    env.mutable_attachment_get()->set_offset(offset);
    return b.Call("520102016001", env);
  };
  for (uint64_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(get(i * kAttachmentChunkBytes).has_attachment_chunk()) << i;
  }
  v1::Envelope refused = get(4 * kAttachmentChunkBytes);
  EXPECT_EQ(refused.error().code(), v1::UNAVAILABLE);
  EXPECT_NE(refused.error().message().find("ask again shortly"), std::string::npos) << refused.DebugString();
  b.Advance(300ms);  // 0.3 MiB back: one chunk
  EXPECT_TRUE(get(4 * kAttachmentChunkBytes).has_attachment_chunk());
  EXPECT_EQ(get(5 * kAttachmentChunkBytes).error().code(), v1::UNAVAILABLE);
}

}  // namespace
}  // namespace flatcast
