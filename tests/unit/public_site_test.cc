// The public side (docs/PUBLIC.md), with the broker core in-process and the
// site a public server builds from what it is sent: a public server's link
// messages, what each region sees, the event stream's catch-up, that held
// directives move no id, ETag or event id, and the signatures.
#include <gtest/gtest.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>

#include <nlohmann/json.hpp>

#include <set>

#include "broker_harness.h"
#include "flatcast/broker/access.h"
#include "flatcast/duration.h"
#include "flatcast/feed/site.h"
#include "flatcast/feed/verify.h"
#include "flatcast/wire.h"

namespace flatcast {
namespace {

using namespace std::chrono_literals;

class PublicSite : public ::testing::Test {
 protected:
  static testing::BrokerHarness::Options Options() {
    testing::BrokerHarness::Options o;
    o.start = *ParseTime("2026-11-28T08:00:00Z");
    return o;
  }
  void SetUp() override { ASSERT_TRUE(b_.Start().ok()); }

  // Publishes a public directive for `scope` (held for the 12-hour lead).
  std::string PublishFor(const std::string& scope, const std::string& title,
                         bool is_public = true) {
    auto env = testing::SamplePublish({scope}, {v1::COMMUNITY});
    auto* d = env.mutable_publish()->mutable_directive();
    d->set_is_public(is_public);
    d->set_title(title);
    d->set_internal_note("internal budget line 7");
    return b_.Publish(env).id();
  }
  void Release() {
    b_.Advance(12h + 1s);
    b_.Pass();
  }
  const feed::Site& Site() { return b_.feed().latest(); }
  feed::FeedResponse Get(const std::string& target, std::optional<std::string> last_event_id = {},
                         const std::string& if_none_match = "") {
    feed::FeedRequest req;
    req.method = "GET";
    req.target = target;
    req.if_none_match = if_none_match;
    if (last_event_id) {
      req.has_last_event_id = true;
      req.last_event_id = *last_event_id;
    }
    return Site().Answer(req);
  }
  std::vector<std::string> Titles(const std::string& target) {
    auto got = Get(target);
    EXPECT_EQ(got.status, 200) << got.body;
    std::vector<std::string> titles;
    const auto list = nlohmann::json::parse(got.body);
    for (const auto& d : list["directives"]) titles.push_back(d["title"]);
    std::sort(titles.begin(), titles.end());
    return titles;
  }

  // The first batch with documents queued for `peer` (heartbeats, empty
  // batches, are skipped and dropped).
  std::optional<v1::Envelope> NextDocuments(const std::string& peer) {
    for (auto& env : b_.TakeAll(peer)) {
      if (env.has_public_batch() && env.public_batch().documents_size() > 0) return env;
    }
    return std::nullopt;
  }
  // Sends and takes the error it was answered with, if any.
  std::optional<v1::Envelope> ErrorFor(const std::string& peer, const v1::Envelope& env) {
    b_.TakeAll(peer);
    b_.Send(peer, env);
    return b_.Next(peer, v1::Envelope::kError);
  }

  testing::BrokerHarness b_{Options()};
};

TEST_F(PublicSite, ARegionSeesWhatWasReleasedForItOrAboveAndNothingElsewhere) {
  PublishFor("52", "province");
  PublishFor("5201", "guiyang");
  PublishFor("520102", "nanming");
  PublishFor("520103", "yunyan");
  PublishFor("5202", "liupanshui");
  Release();
  using V = std::vector<std::string>;
  EXPECT_EQ(Titles("/public/directives?region=520102001001"), (V{"guiyang", "nanming", "province"}));
  EXPECT_EQ(Titles("/public/directives?region=5202"), (V{"liupanshui", "province"}));
  EXPECT_EQ(Titles("/public/directives?region=52"), (V{"province"}));
  EXPECT_EQ(Titles("/public/directives").size(), 5u);
  auto atom = Get("/public/feed.atom?region=520201");
  EXPECT_NE(atom.body.find("liupanshui"), std::string::npos);
  EXPECT_EQ(atom.body.find("nanming"), std::string::npos);
  auto page = Get("/public/page?region=520102001001");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("新华社区"), std::string::npos) << "the page names its region";
  EXPECT_NE(page.body.find("nanming"), std::string::npos);
  EXPECT_EQ(page.body.find("yunyan"), std::string::npos);
  EXPECT_EQ(page.body.find("<script"), std::string::npos) << "readable without JavaScript";
  EXPECT_EQ(page.body.find("budget line"), std::string::npos);
  for (std::string bad : {"5299", "abc", "", "52010200100112", "5201%00"}) {
    auto got = Get("/public/directives?region=" + bad);
    EXPECT_EQ(got.status, 400) << bad;
    EXPECT_NE(got.body.find("unknown region"), std::string::npos) << got.body;
    EXPECT_EQ(Get("/public/events?region=" + bad).status, 400) << bad;
    EXPECT_EQ(Get("/public/page?region=" + bad).status, 400) << bad;
  }
}

// The number of problems libxml2 finds validating `xml` against CAP 1.2's
// schema (tests/data/cap12.xsd), and the <info> elements' languages.
std::pair<int, std::vector<std::string>> ValidateCap(const std::string& xml) {
  xmlDocPtr doc = xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "cap.xml", nullptr, XML_PARSE_NONET);
  if (doc == nullptr) return {-1, {}};
  xmlSchemaParserCtxtPtr pctx = xmlSchemaNewParserCtxt(FLATCAST_CAP_XSD);
  xmlSchemaPtr schema = xmlSchemaParse(pctx);
  xmlSchemaValidCtxtPtr vctx = xmlSchemaNewValidCtxt(schema);
  const int problems = xmlSchemaValidateDoc(vctx, doc);
  std::vector<std::string> languages;
  for (xmlNodePtr n = xmlDocGetRootElement(doc)->children; n != nullptr; n = n->next) {
    if (n->type != XML_ELEMENT_NODE || std::string(reinterpret_cast<const char*>(n->name)) != "info") continue;
    for (xmlNodePtr c = n->children; c != nullptr; c = c->next) {
      if (c->type == XML_ELEMENT_NODE && std::string(reinterpret_cast<const char*>(c->name)) == "language") {
        xmlChar* text = xmlNodeGetContent(c);
        languages.emplace_back(reinterpret_cast<const char*>(text));
        xmlFree(text);
      }
    }
  }
  xmlSchemaFreeValidCtxt(vctx);
  xmlSchemaFree(schema);
  xmlSchemaFreeParserCtxt(pctx);
  xmlFreeDoc(doc);
  return {problems, languages};
}

TEST_F(PublicSite, ADirectiveInSeveralLanguagesIsOneValidCapInfoEachAndThePageShowsThemAll) {
  auto env = testing::SamplePublish({"5201"}, {v1::COMMUNITY});
  auto* d = env.mutable_publish()->mutable_directive();
  d->set_is_public(true);
  d->set_title("关于公共交通佩戴口罩的通知");
  d->set_language("zh-CN");
  d->mutable_actions(0)->set_what("在车站张贴通知");
  auto* internal = d->add_actions();
  internal->set_what("内部：核对预算");
  internal->set_responsible_tier(v1::COMMUNITY);
  internal->set_internal(true);
  auto* en = d->add_translations();
  en->set_language("en");
  en->set_title("Masks in public transport");
  en->set_body("Wear masks on buses & trains <always>.");
  en->add_actions("Post notices at stops");
  en->add_actions("internal: check the budget");
  auto* ug = d->add_translations();
  ug->set_language("ug-Arab-CN");
  ug->set_title("ئاممىۋى قاتناشتا ماسكا تاقاش");
  b_.Publish(env);
  Release();
  const auto list = nlohmann::json::parse(Get("/public/directives").body);
  ASSERT_EQ(list["directives"].size(), 1u);
  const auto& summary = list["directives"][0];
  EXPECT_EQ(summary["language"], "zh-CN");
  ASSERT_EQ(summary["translations"].size(), 2u);
  EXPECT_EQ(summary["translations"][0]["title"], "Masks in public transport");
  EXPECT_FALSE(summary["translations"][0].contains("body")) << "the list carries titles only";
  const std::string id = summary["id"];
  const auto full = nlohmann::json::parse(Get("/public/directives/" + id).body);
  EXPECT_EQ(full["translations"][0]["body"], "Wear masks on buses & trains <always>.");
  EXPECT_EQ(full["translations"][0]["actions"], nlohmann::json::array({"Post notices at stops"}))
      << "internal action items stay internal in every language";
  EXPECT_EQ(full["translations"][1]["actions"], nlohmann::json::array({"在车站张贴通知"}));

  const std::string cap = Get("/public/directives/" + id + "/cap.xml").body;
  auto [problems, languages] = ValidateCap(cap);
  EXPECT_EQ(problems, 0) << cap;
  EXPECT_EQ(languages, (std::vector<std::string>{"zh-CN", "en", "ug-Arab-CN"}));
  EXPECT_NE(cap.find("Wear masks on buses &amp; trains &lt;always&gt;."), std::string::npos) << cap;
  EXPECT_EQ(cap.find("budget"), std::string::npos);
  EXPECT_EQ(cap.find("预算"), std::string::npos);

  const std::string page = Get("/public/page?region=520102").body;
  EXPECT_NE(page.find("<section class=\"translation\" lang=\"en\">"), std::string::npos) << page;
  EXPECT_NE(page.find("lang=\"ug-Arab-CN\""), std::string::npos);
  EXPECT_NE(page.find("Wear masks on buses &amp; trains &lt;always&gt;."), std::string::npos);
  EXPECT_EQ(page.find("budget"), std::string::npos);
}

TEST_F(PublicSite, AReconnectingReaderGetsWhatItMissedAfterItsLastEventId) {
  PublishFor("5201", "first");
  Release();
  PublishFor("5202", "elsewhere");
  Release();
  PublishFor("52", "third");
  Release();
  auto fresh = Get("/public/events?region=5201");
  ASSERT_TRUE(fresh.event_stream);
  EXPECT_EQ(fresh.body, "") << "a new reader starts from now";
  EXPECT_EQ(fresh.after, 3u);
  auto missed = Get("/public/events?region=5201", "1");
  ASSERT_TRUE(missed.event_stream);
  EXPECT_EQ(missed.body.find("id: 1\n"), std::string::npos);
  EXPECT_EQ(missed.body.find("elsewhere"), std::string::npos) << "another region's";
  EXPECT_NE(missed.body.find("id: 3\nevent: alert\ndata: {"), std::string::npos) << missed.body;
  EXPECT_EQ(Get("/public/events", "0").body.find("id: 1\n"), 0u);
  for (std::string bad : {"x", "-1", "1.5", "99999999999999999999999", " 1"}) {
    auto got = Get("/public/events", bad);
    EXPECT_FALSE(got.event_stream) << bad;
    EXPECT_EQ(got.status, 400) << bad;
    EXPECT_NE(got.body.find("Last-Event-ID"), std::string::npos) << got.body;
  }
  // Beyond the last event (another server ahead): waits for what follows.
  auto ahead = Get("/public/events", "7");
  EXPECT_TRUE(ahead.event_stream);
  EXPECT_EQ(ahead.after, 7u);
}

// An amendment after release that narrows the scope: the regions it leaves
// no longer list it, but their event streams are told (the new version,
// whose scope shows it left), and a region it still reaches gets the event
// as before.
TEST_F(PublicSite, ARegionAnAmendmentLeavesIsToldOnItsEventStream) {
  const std::string id = PublishFor("5201", "masks");
  Release();
  ASSERT_EQ(Titles("/public/directives?region=520102"), std::vector<std::string>{"masks"});
  auto amend = testing::SamplePublish({"520103"}, {v1::COMMUNITY});
  v1::Directive content = amend.publish().directive();
  content.set_is_public(true);
  content.set_title("masks");
  content.set_internal_note("internal budget line 7");
  v1::Envelope env;
  auto* req = env.mutable_lifecycle();
  req->set_action(v1::LifecycleRequest::AMEND);
  req->set_directive_id(id);
  req->set_base_version(1);
  req->set_reason("only 云岩区 now");
  *req->mutable_directive() = content;
  v1::Envelope reply = b_.Call("publisher", env);
  ASSERT_TRUE(reply.has_lifecycle_reply()) << reply.DebugString();
  b_.Pass();
  EXPECT_TRUE(Titles("/public/directives?region=520102").empty());
  const std::string left = Get("/public/events?region=520102", "1").body;
  EXPECT_NE(left.find("id: 2\n"), std::string::npos) << left;
  EXPECT_NE(left.find("520103"), std::string::npos) << "the event shows where it now applies: " << left;
  EXPECT_NE(Get("/public/events?region=520103", "1").body.find("id: 2\n"), std::string::npos);
  EXPECT_EQ(Get("/public/events?region=5202", "0").body, "") << "a region it never reached hears nothing";
}

TEST_F(PublicSite, HeldDirectivesMoveNoIdEtagOrEventId) {
  PublishFor("5201", "released");  // public at 20:00
  auto later = testing::SamplePublish({"5201"}, {v1::COMMUNITY});
  later.mutable_publish()->mutable_directive()->set_is_public(true);
  later.mutable_publish()->mutable_directive()->set_title("held");
  *later.mutable_publish()->mutable_directive()->mutable_public_release() =
      ToTimestamp(*ParseTime("2026-11-28T21:00:00Z"));
  b_.Publish(later);
  PublishFor("52", "internal only", /*is_public=*/false);
  Release();
  const uint64_t head = Site().head();
  ASSERT_EQ(head, 1u);
  const auto list = Get("/public/directives?region=5201");
  const auto page = Get("/public/page");
  const auto atom = Get("/public/feed.atom");
  b_.Advance(30min);  // the second is still held
  EXPECT_EQ(Site().head(), head);
  EXPECT_EQ(Get("/public/directives?region=5201").etag, list.etag);
  EXPECT_EQ(Get("/public/directives?region=5201", {}, list.etag).status, 304);
  EXPECT_EQ(Get("/public/page").body, page.body);
  EXPECT_EQ(Get("/public/feed.atom").body, atom.body);
  EXPECT_EQ(Get("/public/events", std::to_string(head)).body, "");
  EXPECT_EQ(Get("/public/directives").body.find("internal only"), std::string::npos);
  b_.Advance(31min);
  EXPECT_EQ(Site().head(), head + 1) << "the release is the next public change";
  EXPECT_NE(Get("/public/directives?region=5201").etag, list.etag);
  const auto now = nlohmann::json::parse(Get("/public/directives").body);
  ASSERT_EQ(now["directives"].size(), 2u);
  EXPECT_EQ(now["directives"][0]["title"], "held");
  EXPECT_EQ(now["directives"][0]["id"], "52-HEALTH-20261128-P0002")
      << "public ids count releases only, not the internal directive";
}

TEST_F(PublicSite, EachDocumentVerifiesWithThePublishedKeyAndNothingElseDoes) {
  PublishFor("5201", "masks");
  Release();
  const auto list = nlohmann::json::parse(Get("/public/directives").body);
  const std::string id = list["directives"][0]["id"];
  const std::string json = Get("/public/directives/" + id).body;
  const std::string cap = Get("/public/directives/" + id + "/cap.xml").body;
  const std::string sig = Get("/public/directives/" + id + "/signature").body;
  const std::string keys = Get("/.well-known/flatcast/keys.json").body;
  auto ok = feed::VerifyPublicDocument(json, sig, keys);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->key_id, KeyId(b_.signing().key.public_key));
  EXPECT_FALSE(ok->cap);
  auto cap_ok = feed::VerifyPublicDocument(cap, sig, keys);
  ASSERT_TRUE(cap_ok.ok()) << cap_ok.status().ToString();
  EXPECT_TRUE(cap_ok->cap);

  std::string forged = json;
  forged.replace(forged.find("masks"), 5, "MASKS");
  auto bad = feed::VerifyPublicDocument(forged, sig, keys);
  EXPECT_EQ(bad.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(bad.status().message().find("does not verify"), std::string::npos);

  auto retired = nlohmann::json::parse(keys);
  retired["keys"][0]["valid_until"] = "2026-11-28T09:00:00Z";  // before the release
  auto late = feed::VerifyPublicDocument(json, sig, retired.dump());
  EXPECT_EQ(late.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(late.status().message().find("retired"), std::string::npos);

  auto other = GenerateKeyPair(KeyKind::kSigning).value();
  auto stranger = nlohmann::json::parse(keys);
  stranger["keys"][0]["key_id"] = KeyId(other.public_key);
  EXPECT_EQ(feed::VerifyPublicDocument(json, sig, stranger.dump()).status().code(),
            Status::Code::kNotFound);
  EXPECT_EQ(feed::VerifyPublicDocument(json, "{}", keys).status().code(),
            Status::Code::kInvalidArgument);
  // The published key also as PEM, for openssl.
  EXPECT_NE(keys.find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
}

TEST_F(PublicSite, APublicServerIsSentOnlyWhatIsReleasedFromItsCursorOneBatchAtATime) {
  PublishFor("5201", "one");  // public at 20:00
  auto later = testing::SamplePublish({"5201"}, {v1::COMMUNITY});
  later.mutable_publish()->mutable_directive()->set_is_public(true);
  later.mutable_publish()->mutable_directive()->set_title("held");
  *later.mutable_publish()->mutable_directive()->mutable_public_release() =
      ToTimestamp(*ParseTime("2026-11-28T20:00:05Z"));
  b_.Publish(later);
  Release();  // 20:00:01
  v1::Envelope hello;
  hello.set_protocol_version(wire::kProtocolVersion);
  hello.mutable_public_hello()->set_cursor(0);
  hello.mutable_public_hello()->set_name("public-1");
  auto welcome = b_.Call("pub", hello);
  ASSERT_TRUE(welcome.has_public_welcome()) << welcome.DebugString();
  EXPECT_EQ(welcome.public_welcome().head(), 1u);
  ASSERT_EQ(welcome.public_welcome().keys_size(), 1);
  EXPECT_EQ(welcome.public_welcome().keys(0).key_id(), KeyId(b_.signing().key.public_key));
  auto batch = NextDocuments("pub");
  ASSERT_TRUE(batch.has_value());
  ASSERT_EQ(batch->public_batch().documents_size(), 1);
  const v1::PublicDocument& doc = batch->public_batch().documents(0);
  EXPECT_EQ(doc.public_seq(), 1u);
  EXPECT_EQ(doc.json().find("internal budget"), std::string::npos);
  EXPECT_EQ(doc.json().find("held"), std::string::npos);
  EXPECT_TRUE(Verify(doc.json(), doc.json_signature(), b_.signing().key.public_key).ok());
  // Nothing more until it says it stored the batch; then the next release.
  b_.Advance(5s);  // 20:00:06: the second is released
  EXPECT_FALSE(NextDocuments("pub").has_value());
  v1::Envelope stored;
  stored.set_protocol_version(wire::kProtocolVersion);
  stored.mutable_public_stored()->set_cursor(1);
  b_.Send("pub", stored);
  auto next = NextDocuments("pub");
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->public_batch().after(), 1u);
  ASSERT_EQ(next->public_batch().documents_size(), 1);
  EXPECT_NE(next->public_batch().documents(0).json().find("held"), std::string::npos);
  // Silent for three heartbeat intervals: forgotten; what it says then is refused.
  b_.Advance(16s);
  stored.mutable_public_stored()->set_cursor(2);
  auto forgotten = ErrorFor("pub", stored);
  ASSERT_TRUE(forgotten.has_value());
  EXPECT_NE(forgotten->error().message().find("say hello"), std::string::npos);
  // A cursor beyond the stream: another broker's copy.
  hello.mutable_public_hello()->set_cursor(99);
  auto refused = b_.Call("pub2", hello);
  ASSERT_TRUE(refused.has_error()) << refused.DebugString();
  EXPECT_NE(refused.error().message().find("empty data directory"), std::string::npos);
  // Stored beyond what was sent is refused.
  hello.mutable_public_hello()->set_cursor(0);
  ASSERT_TRUE(b_.Call("pub3", hello).has_public_welcome());
  stored.mutable_public_stored()->set_cursor(50);
  auto beyond = ErrorFor("pub3", stored);
  ASSERT_TRUE(beyond.has_value());
  EXPECT_NE(beyond->error().message().find("beyond what was sent"), std::string::npos);
}

TEST_F(PublicSite, WhatWasSignedIsServedAsItWasAfterARestartWithAnotherReleaseKey) {
  PublishFor("5201", "masks");
  Release();
  ASSERT_EQ(b_.feed().documents().size(), 1u);
  const v1::PublicDocument before = b_.feed().documents()[0];
  const std::string old_key = KeyId(b_.signing().key.public_key);
  EXPECT_EQ(before.key_id(), old_key);
  b_.Stop();
  b_.signing().key = GenerateKeyPair(KeyKind::kSigning).value();  // rotated
  ASSERT_TRUE(b_.Start().ok());
  b_.Pass();
  ASSERT_EQ(b_.feed().documents().size(), 1u);
  const v1::PublicDocument& after = b_.feed().documents()[0];
  EXPECT_EQ(after.json(), before.json());
  EXPECT_EQ(after.json_signature(), before.json_signature())
      << "the document keeps the signature it was released with";
  EXPECT_EQ(after.key_id(), old_key);
  // What changes publicly from now on is signed with the new key.
  PublishFor("5201", "gloves");
  Release();
  ASSERT_EQ(b_.feed().documents().size(), 2u);
  EXPECT_EQ(b_.feed().documents()[1].key_id(), KeyId(b_.signing().key.public_key));
}

// A site built from documents made by hand (not through a broker).
v1::PublicDocument Doc(uint64_t seq, const std::string& id, const std::string& scope,
                       const std::string& json = "") {
  v1::PublicDocument d;
  d.set_public_seq(seq);
  d.set_public_id(id);
  d.set_version(1);
  d.add_scope(scope);
  *d.mutable_released() = ToTimestamp(testing::SampleTime());
  *d.mutable_updated() = ToTimestamp(testing::SampleTime());
  d.set_json(json.empty() ? "{\"id\": \"" + id + "\", \"title\": \"" + id + "\"}" : json);
  return d;
}

feed::FeedResponse Ask(const feed::Site& site, const std::string& target,
                       std::optional<std::string> last_event_id = {}) {
  feed::FeedRequest req;
  req.method = "GET";
  req.target = target;
  if (last_event_id) {
    req.has_last_event_id = true;
    req.last_event_id = *last_event_id;
  }
  return site.Answer(req);
}

TEST(PublicSiteBuilt, ARegionsEtagChangesWhenADocumentLeavesIt) {
  auto registry = std::make_shared<const Registry>(testing::TestRegistry());
  auto before = feed::Site::Build({Doc(2, "B", "520102"), Doc(3, "A", "52")}, {}, registry).value();
  // B amended to another district: its new event id is 4, and it leaves 520102.
  auto after = feed::Site::Build({Doc(3, "A", "52"), Doc(4, "B", "520103")}, {}, registry).value();
  auto b = Ask(*before, "/public/directives?region=520102");
  auto a = Ask(*after, "/public/directives?region=520102");
  EXPECT_NE(b.body, a.body);
  EXPECT_NE(b.etag, a.etag) << "a cached copy must not be told it is current";
}

TEST(PublicSiteBuilt, ABadDocumentIsLeftOutAndTheRestServed) {
  auto registry = std::make_shared<const Registry>(testing::TestRegistry());
  auto site = feed::Site::Build({Doc(1, "A", "52"), Doc(2, "B", "52", "[not json"),
                                 Doc(3, "C", "52", "[]"), Doc(4, "A", "52")},
                                {}, registry);
  ASSERT_TRUE(site.ok());
  EXPECT_EQ((*site)->size(), 1u) << "A's later version only";
  EXPECT_EQ(Ask(**site, "/public/directives/B").status, 404);
  EXPECT_EQ(Ask(**site, "/public/directives/A").status, 200);
}

TEST(PublicSiteBuilt, BytesThatAreNotUtf8AreAnErrorNotACrash) {
  auto registry = std::make_shared<const Registry>(testing::TestRegistry());
  auto site = feed::Site::Build({Doc(1, "A", "52")}, {}, registry).value();
  auto bad_region = Ask(*site, "/public/directives?region=52\xff\xfe");
  EXPECT_EQ(bad_region.status, 400);
  EXPECT_NE(bad_region.body.find("unknown region"), std::string::npos);
  auto bad_id = Ask(*site, "/public/events", std::string("\xff") + "1");
  EXPECT_EQ(bad_id.status, 400);
  EXPECT_TRUE(nlohmann::json::accept(bad_id.body)) << bad_id.body;
  const std::string raw = "GET /public/page?region=\xc3\x28 HTTP/1.1\r\nLast-Event-ID: \xff\r\n\r\n";
  EXPECT_EQ(feed::AnswerHttpRequest(raw, *site).rfind("HTTP/1.1 400", 0), 0u);
}

TEST(PublicSiteBuilt, ALongCatchUpComesInPagesThatEndTheStream) {
  auto registry = std::make_shared<const Registry>(testing::TestRegistry());
  std::vector<v1::PublicDocument> docs;
  const std::string big(20000, 'x');
  for (uint64_t i = 1; i <= 20; ++i) {
    docs.push_back(Doc(i, "D" + std::to_string(i), "52",
                       "{\"id\": \"D" + std::to_string(i) + "\", \"body\": \"" + big + "\"}"));
  }
  auto site = feed::Site::Build(docs, {}, registry).value();
  uint64_t from = 0;
  std::set<std::string> got;
  for (int page = 0; page < 20; ++page) {
    auto r = Ask(*site, "/public/events", std::to_string(from));
    ASSERT_TRUE(r.event_stream);
    EXPECT_LE(r.body.size(), 160u * 1024) << "a page stays well within a reader's backlog";
    for (size_t at = 0; (at = r.body.find("id: ", at)) != std::string::npos; at += 4) {
      got.insert(r.body.substr(at + 4, r.body.find('\n', at) - at - 4));
    }
    if (!r.close_after) break;
    from = r.after;
  }
  EXPECT_EQ(got.size(), 20u) << "every event, page after page, none twice";
}

TEST(PublicAccess, APublicServerWhoseKeyIsRevokedIsSentNothingMore) {
  testing::BrokerHarness::Options options;
  options.keys = true;
  options.authenticate = true;
  testing::BrokerHarness broker(options);
  KeyPair key = GenerateKeyPair(KeyKind::kCurve).value();
  KeyRegistry keys;
  const TimePoint t = testing::SampleTime() - std::chrono::hours(1);
  ASSERT_TRUE(keys.Register("public-1", KeyRole::kPublic, "public-1", key.public_key, std::nullopt, t)
                  .ok());
  ASSERT_TRUE(keys.Save(broker.keys_path()).ok());
  ASSERT_TRUE(broker.Start().ok());
  broker.SetUserId("pub", key.public_key);
  v1::Envelope hello;
  hello.set_protocol_version(wire::kProtocolVersion);
  hello.mutable_public_hello()->set_name("public-1");
  ASSERT_TRUE(broker.Call("pub", hello).has_public_welcome());
  broker.Advance(6s);
  EXPECT_TRUE(broker.Next("pub", v1::Envelope::kPublicBatch).has_value()) << "a heartbeat";
  ASSERT_TRUE(keys.Revoke("public-1", std::nullopt, testing::SampleTime()).ok());
  ASSERT_TRUE(keys.Save(broker.keys_path()).ok());
  ASSERT_TRUE(broker.ReloadKeys());
  broker.TakeAll("pub");
  broker.Advance(6s);
  broker.Advance(6s);
  EXPECT_FALSE(broker.Next("pub", v1::Envelope::kPublicBatch).has_value())
      << "nothing goes to a server whose key was revoked";
}

TEST(PublicAccess, APublicServerMayOnlySayHelloAndWhatItStored) {
  broker::PeerIdentity pub{KeyRole::kPublic, "public-1", "public-1", "0123456789abcdef"};
  using B = v1::Envelope::BodyCase;
  EXPECT_TRUE(broker::CheckAccess(pub, B::kPublicHello).ok());
  EXPECT_TRUE(broker::CheckAccess(pub, B::kPublicStored).ok());
  EXPECT_TRUE(broker::CheckAccess(pub, B::kAttachmentGet).ok()) << "an attached document";
  for (B body : {B::kCoverageQuery, B::kAuditRequest, B::kEventsQuery, B::kHello, B::kPublish,
                 B::kClusterQuery, B::kOperatorRequest, B::kRelayHello, B::kAttachmentPut}) {
    Status st = broker::CheckAccess(pub, body);
    EXPECT_EQ(st.code(), Status::Code::kPermissionDenied) << wire::BodyName(body);
    EXPECT_NE(st.message().find("a public server may only"), std::string::npos) << st.message();
  }
  broker::PeerIdentity unit{KeyRole::kUnit, "520102001001", "u", "0123456789abcdef"};
  EXPECT_EQ(broker::CheckAccess(unit, B::kPublicHello).code(), Status::Code::kPermissionDenied);
}

}  // namespace
}  // namespace flatcast
