// The release hold and the public feed, driven by a fake clock: a 12-hour hold
// passes in microseconds. The broker core runs in-process and its feed
// snapshots are recorded (and served over HTTP where a test says so);
// publishers are registered with rights.
#include <gtest/gtest.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>

#include <nlohmann/json.hpp>

#include <thread>

#include "broker_harness.h"
#include "flatcast/feed/server.h"
#include "flatcast/feed/site.h"
#include "flatcast/duration.h"
#include "flatcast/public_view.h"
#include "http_client.h"

namespace flatcast::broker {
namespace {

using namespace std::chrono_literals;
using testing::HttpGet;


class PublicHold : public ::testing::Test {
 protected:
  PublicHold() : b_(Options()) {}
  static testing::BrokerHarness::Options Options() {
    testing::BrokerHarness::Options o;
    o.publishers_toml = testing::kTestPublishers;
    o.start = *ParseTime("2026-11-28T08:00:00Z");
    return o;
  }
  void SetUp() override { ASSERT_TRUE(b_.Start().ok()); }

  v1::Envelope Publish(const std::string& publisher, bool is_public, bool emergency = false,
                       const std::string& reason = "",
                       std::optional<TimePoint> release = std::nullopt) {
    v1::Envelope env;
    auto* req = env.mutable_publish();
    req->set_publisher(publisher);
    req->set_emergency(emergency);
    req->set_emergency_reason(reason);
    auto* d = req->mutable_directive();
    d->set_issuer_unit("52");
    d->set_issuer_department("HEALTH");
    d->set_title("Stock masks");
    d->set_body("Every community keeps two weeks of masks.");
    d->set_internal_note("Supplier: warehouse 7");
    d->set_status(v1::ACTUAL);
    d->set_is_public(is_public);
    if (release) *d->mutable_public_release() = ToTimestamp(*release);
    auto* a = d->add_actions();
    a->set_what("Count stock");
    a->set_responsible_tier(v1::COMMUNITY);
    auto* hidden = d->add_actions();
    hidden->set_what("Call the warehouse on the private line");
    hidden->set_responsible_tier(v1::STREET);
    hidden->set_internal(true);
    d->add_scope("52");
    d->add_target_tiers(v1::COMMUNITY);
    return b_.Call("publisher", env);
  }

  v1::Envelope Change(v1::LifecycleRequest::Action action, const std::string& id,
                      const std::string& publisher, const std::string& reason = "",
                      std::optional<TimePoint> at = std::nullopt) {
    v1::Envelope env;
    auto* req = env.mutable_lifecycle();
    req->set_action(action);
    req->set_directive_id(id);
    req->set_publisher(publisher);
    req->set_reason(reason);
    if (at) *req->mutable_public_release() = ToTimestamp(*at);
    return b_.Call("publisher", env);
  }

  // What a public server serves now.
  const feed::Site& Feed() { return b_.feed().latest(); }
  feed::FeedResponse Get(const std::string& target) {
    feed::FeedRequest req;
    req.method = "GET";
    req.target = target;
    return Feed().Answer(req);
  }
  std::string ListText() { return Get("/public/directives").body; }
  nlohmann::json List() { return nlohmann::json::parse(ListText()); }
  // The released document with this public id; empty when there is none.
  std::string Document(const std::string& public_id, bool cap = false) {
    auto got = Get("/public/directives/" + public_id + (cap ? "/cap.xml" : ""));
    return got.status == 200 ? got.body : "";
  }
  // Serves what a public server has now over HTTP, as flatcast-public does.
  std::string Serve() {
    if (!server_) {
      feed::FeedServerOptions options;
      options.endpoint = "127.0.0.1:0";
      auto started = feed::FeedServer::Start(options, b_.feed().shared());
      EXPECT_TRUE(started.ok()) << started.status().ToString();
      server_ = std::move(started).value();
    }
    if (b_.feed().shared()) server_->Publish(b_.feed().shared());
    // Publish is taken up by the server's thread: wait until it serves it.
    for (int i = 0; i < 200; ++i) {
      auto got = HttpGet(server_->url(), "/public/directives");
      if (got.body == ListText()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return server_->url();
  }
  void Tick() { b_.Pass(); }
  std::vector<v1::LifecycleEvent> Events(const std::string& id) { return b_.Events(id); }

  testing::BrokerHarness b_;
  FakeClock& clock_ = b_.clock();
  std::unique_ptr<feed::FeedServer> server_;
};

TEST_F(PublicHold, ReleasesExactlyAfterTheTwelveHourLeadTime) {
  auto receipt = Publish("province", true);
  ASSERT_TRUE(receipt.has_receipt()) << receipt.DebugString();
  Tick();
  EXPECT_TRUE(List()["directives"].empty());
  clock_.Advance(11h + 59min);
  Tick();
  EXPECT_TRUE(List()["directives"].empty());
  clock_.Advance(2min);
  Tick();
  auto list = List()["directives"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_FALSE(list[0].contains("references")) << "a first release refers to nothing";
  EXPECT_EQ(list[0]["version"], 1);
  EXPECT_EQ(ListText().find(receipt.receipt().id()), std::string::npos)
      << "the internal id counts the issuer's held directives of the day";
  EXPECT_EQ(list[0]["released"], "2026-11-28T20:01:00Z");
  auto events = Events(receipt.receipt().id());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].kind(), v1::LifecycleEvent::HOLD_SET);
  EXPECT_EQ(events[1].lead_ms(), 12 * 3600 * 1000);
  EXPECT_EQ(events[2].kind(), v1::LifecycleEvent::RELEASED);
}

TEST_F(PublicHold, HeldAndUnknownIdsGetTheSameNotFound) {
  auto receipt = Publish("province", true);
  Tick();
  std::string feed = Serve();
  auto held = HttpGet(feed, "/public/directives/" + receipt.receipt().id());
  auto held_guess = HttpGet(feed, "/public/directives/52-HEALTH-20261128-P0001");
  auto unknown = HttpGet(feed, "/public/directives/52-HEALTH-20261128-P0999");
  EXPECT_EQ(held.status, 404);
  EXPECT_EQ(held_guess.status, 404);
  EXPECT_EQ(held.body, unknown.body);
  EXPECT_EQ(held_guess.body, unknown.body);
  EXPECT_EQ(held.headers, unknown.headers);
  // The list and the feed do not change while something is held.
  auto before = HttpGet(feed, "/public/feed.atom");
  uint64_t head = Feed().head();
  Publish("province", true);
  Tick();
  EXPECT_EQ(Feed().head(), head);
  auto after = HttpGet(Serve(), "/public/feed.atom");
  EXPECT_EQ(before.body, after.body);
  EXPECT_EQ(before.headers["etag"], after.headers["etag"]);
}

TEST_F(PublicHold, PublicContentLeavesOutInternalFields) {
  auto receipt = Publish("province", true);
  clock_.Advance(12h);
  Tick();
  auto list = List()["directives"];
  ASSERT_EQ(list.size(), 1u);
  std::string public_id = list[0]["id"];
  std::string doc = Document(public_id);
  ASSERT_FALSE(doc.empty());
  EXPECT_NE(doc.find("Count stock"), std::string::npos);
  EXPECT_EQ(doc.find("private line"), std::string::npos);
  EXPECT_EQ(doc.find("warehouse 7"), std::string::npos);
  std::string cap = Document(public_id, /*cap=*/true);
  EXPECT_EQ(cap.find("private line"), std::string::npos);
  EXPECT_EQ(cap.find("warehouse 7"), std::string::npos);
}

TEST_F(PublicHold, ConditionalGetAnswersNotModified) {
  Publish("province", true);
  clock_.Advance(12h);
  Tick();
  std::string feed = Serve();
  auto first = HttpGet(feed, "/public/directives");
  ASSERT_FALSE(first.headers["etag"].empty());
  auto again = HttpGet(feed, "/public/directives", {{"If-None-Match", first.headers["etag"]}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  Publish("province", true);
  clock_.Advance(12h);
  Tick();
  auto changed =
      HttpGet(Serve(), "/public/directives", {{"If-None-Match", first.headers["etag"]}});
  EXPECT_EQ(changed.status, 200);
}

TEST_F(PublicHold, CapOutputIsValidCap12) {
  Publish("province", true);
  clock_.Advance(12h);
  Tick();
  std::string public_id = List()["directives"][0]["id"];
  auto cap = HttpGet(Serve(), "/public/directives/" + public_id + "/cap.xml");
  ASSERT_EQ(cap.status, 200);
  xmlDocPtr doc = xmlReadMemory(cap.body.data(), static_cast<int>(cap.body.size()), "cap.xml",
                                nullptr, XML_PARSE_NONET);
  ASSERT_NE(doc, nullptr);
  xmlNodePtr root = xmlDocGetRootElement(doc);
  EXPECT_STREQ(reinterpret_cast<const char*>(root->name), "alert");
  EXPECT_STREQ(reinterpret_cast<const char*>(root->ns->href), "urn:oasis:names:tc:emergency:cap:1.2");
  xmlSchemaParserCtxtPtr pctx = xmlSchemaNewParserCtxt(FLATCAST_CAP_XSD);
  xmlSchemaPtr schema = xmlSchemaParse(pctx);
  ASSERT_NE(schema, nullptr);
  xmlSchemaValidCtxtPtr vctx = xmlSchemaNewValidCtxt(schema);
  EXPECT_EQ(xmlSchemaValidateDoc(vctx, doc), 0) << cap.body;
  // scope Public; a first Alert refers to no earlier message
  std::string scope, references;
  for (xmlNodePtr n = root->children; n != nullptr; n = n->next) {
    if (n->type != XML_ELEMENT_NODE) continue;
    xmlChar* text = xmlNodeGetContent(n);
    std::string name = reinterpret_cast<const char*>(n->name);
    if (name == "scope") scope = reinterpret_cast<const char*>(text);
    if (name == "references") references = reinterpret_cast<const char*>(text);
    xmlFree(text);
  }
  EXPECT_EQ(scope, "Public");
  EXPECT_TRUE(references.empty()) << references;
  EXPECT_EQ(cap.body.find("52-HEALTH-20261128-0001"), std::string::npos) << "no internal id";
  xmlSchemaFreeValidCtxt(vctx);
  xmlSchemaFree(schema);
  xmlSchemaFreeParserCtxt(pctx);
  xmlFreeDoc(doc);
}

TEST_F(PublicHold, ReleaseThatFellDueWhileDownHappensAtStartAndIsRecordedLate) {
  auto receipt = Publish("province", true);
  Tick();
  b_.Stop();
  clock_.Advance(13h);  // an hour past the release time, broker down
  ASSERT_TRUE(b_.Start().ok());
  Tick();
  ASSERT_EQ(List()["directives"].size(), 1u);
  auto events = Events(receipt.receipt().id());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind(), v1::LifecycleEvent::RELEASED);
  EXPECT_GE(events.back().late_by_ms(), 3600 * 1000);
}

TEST_F(PublicHold, HoldSurvivesRestartAndReleasesOnTime) {
  Publish("province", true);
  Tick();
  b_.Stop();
  clock_.Advance(6h);
  ASSERT_TRUE(b_.Start().ok());
  Tick();
  EXPECT_TRUE(List()["directives"].empty());
  clock_.Advance(6h);
  Tick();
  EXPECT_EQ(List()["directives"].size(), 1u);
}

TEST_F(PublicHold, EarlierReleaseNeedsTheEmergencyRightAndAReason) {
  TimePoint soon = clock_.Now() + 1h;
  auto refused = Publish("province", true, false, "", soon);
  ASSERT_TRUE(refused.has_error());
  EXPECT_NE(refused.error().message().find("earliest allowed"), std::string::npos);
  auto no_reason = Publish("province", true, true, "", soon);
  ASSERT_TRUE(no_reason.has_error());
  EXPECT_NE(no_reason.error().message().find("reason"), std::string::npos);
  auto no_right = Publish("province-duty", true, true, "flood", soon);
  ASSERT_TRUE(no_right.has_error());
  EXPECT_EQ(no_right.error().code(), v1::FORBIDDEN);
  auto past = Publish("province", true, true, "flood", clock_.Now() - 1h);
  ASSERT_TRUE(past.has_error());
  EXPECT_NE(past.error().message().find("in the past"), std::string::npos);
  EXPECT_EQ(b_.store().head_seq(), 0u);  // nothing changed

  auto ok = Publish("province", true, true, "flood", soon);
  ASSERT_TRUE(ok.has_receipt()) << ok.DebugString();
  auto events = Events(ok.receipt().id());
  ASSERT_EQ(events.back().kind(), v1::LifecycleEvent::EMERGENCY_SHORTENED);
  EXPECT_EQ(events.back().reason(), "flood");
  EXPECT_EQ(events.back().publisher(), "province");
  EXPECT_EQ(events.back().lead_ms(), 3600 * 1000);
  clock_.Advance(1h);
  Tick();
  EXPECT_EQ(List()["directives"].size(), 1u);
}

TEST_F(PublicHold, CancelBeforeReleaseNeverBecomesPublic) {
  auto receipt = Publish("province", true);
  auto reply = Change(v1::LifecycleRequest::CANCEL, receipt.receipt().id(), "province", "wrong");
  ASSERT_TRUE(reply.has_lifecycle_reply()) << reply.DebugString();
  EXPECT_EQ(reply.lifecycle_reply().public_record().state(),
            v1::PublicRecord::CANCELLED_BEFORE_RELEASE);
  clock_.Advance(24h);
  Tick();
  EXPECT_TRUE(List()["directives"].empty());
}

TEST_F(PublicHold, CancelAfterReleasePublishesACancellationNotice) {
  auto receipt = Publish("province", true);
  clock_.Advance(12h);
  Tick();
  auto reply = Change(v1::LifecycleRequest::CANCEL, receipt.receipt().id(), "province", "done");
  ASSERT_TRUE(reply.has_lifecycle_reply());
  Tick();
  auto list = List()["directives"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["msg_type"], "Cancel");
  EXPECT_TRUE(list[0].contains("cancelled"));
}

v1::Envelope AmendTitle(testing::BrokerHarness& b, const std::string& id, uint32_t base,
                        const std::string& title) {
  v1::Envelope env;
  auto* req = env.mutable_lifecycle();
  req->set_action(v1::LifecycleRequest::AMEND);
  req->set_directive_id(id);
  req->set_publisher("province");
  req->set_base_version(base);
  auto* d = req->mutable_directive();
  d->set_issuer_unit("52");
  d->set_issuer_department("HEALTH");
  d->set_title(title);
  d->set_status(v1::ACTUAL);
  d->set_is_public(true);
  auto* a = d->add_actions();
  a->set_what("Count stock");
  a->set_responsible_tier(v1::COMMUNITY);
  d->add_scope("52");
  d->add_target_tiers(v1::COMMUNITY);
  return b.Call("publisher", env);
}

TEST_F(PublicHold, AnAmendmentWhileHeldIsReleasedAsVersionOneAndTellsNothingOfTheHeldVersion) {
  auto receipt = Publish("province", true);
  std::string id = receipt.receipt().id();
  auto reply = AmendTitle(b_, id, 1, "Stock masks and gloves");
  ASSERT_TRUE(reply.has_lifecycle_reply()) << reply.DebugString();
  EXPECT_EQ(reply.lifecycle_reply().version(), 2u);
  auto v1rec = b_.store().GetDirective(1).value();
  EXPECT_EQ(v1rec->directive().title(), "Stock masks");  // the first version is untouched
  clock_.Advance(12h);
  Tick();
  auto list = List()["directives"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["title"], "Stock masks and gloves");
  EXPECT_EQ(list[0]["version"], 1) << "the public's first version";
  EXPECT_EQ(list[0]["msg_type"], "Alert");
  auto cap = HttpGet(Serve(), "/public/directives/" + list[0]["id"].get<std::string>() + "/cap.xml");
  EXPECT_NE(cap.body.find("<msgType>Alert</msgType>"), std::string::npos) << cap.body;
  EXPECT_NE(cap.body.find(".v1</identifier>"), std::string::npos) << cap.body;
  EXPECT_EQ(cap.body.find("Stock masks&quot;"), std::string::npos) << "the held title stays internal";
  EXPECT_EQ(cap.body.find("<note>"), std::string::npos) << cap.body;
  EXPECT_EQ(cap.body.find(id), std::string::npos);
  EXPECT_EQ(cap.headers["etag"], "\"c1\"")
      << "the ETag counts public changes only: the held amendment is not one";
}

TEST_F(PublicHold, AnAmendmentAfterReleaseIsAnUpdateReferringToThePublicMessageOnly) {
  auto receipt = Publish("province", true);
  const std::string id = receipt.receipt().id();
  clock_.Advance(12h);
  Tick();
  const std::string public_id = List()["directives"][0]["id"];
  const std::string released = List()["directives"][0]["released"];
  auto reply = AmendTitle(b_, id, 1, "Stock masks and gloves");
  ASSERT_TRUE(reply.has_lifecycle_reply()) << reply.DebugString();
  clock_.Advance(1min);
  Tick();
  auto list = List()["directives"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["version"], 2);
  EXPECT_EQ(list[0]["msg_type"], "Update");
  EXPECT_EQ(list[0]["references"], nlohmann::json::array({public_id + ".v1"}));
  // CAP's Update says what changed and refers to the public Alert.
  auto cap = HttpGet(Serve(), "/public/directives/" + public_id + "/cap.xml");
  EXPECT_NE(cap.body.find("<identifier>" + public_id + ".v2</identifier>"), std::string::npos);
  EXPECT_NE(cap.body.find("<note>Version 2 of this directive. Changes from version 1: title: "
                          "&quot;Stock masks&quot; -&gt; &quot;Stock masks and gloves&quot;; body: changed"),
            std::string::npos)
      << cap.body;
  EXPECT_NE(cap.body.find("<references>52.HEALTH@flatcast," + public_id + ".v1," +
                          CapTime(*ParseTime(released)) + "</references>"),
            std::string::npos)
      << cap.body;
  // Cancelled: a Cancel referring to the same Alert. Nothing public names the internal id.
  ASSERT_TRUE(Change(v1::LifecycleRequest::CANCEL, id, "province", "done").has_lifecycle_reply());
  Tick();
  EXPECT_EQ(List()["directives"][0]["references"], nlohmann::json::array({public_id + ".v1"}));
  const std::string base = Serve();
  for (const std::string& path : {std::string("/public/directives"), "/public/directives/" + public_id,
                                  "/public/directives/" + public_id + "/cap.xml",
                                  std::string("/public/feed.atom")}) {
    auto got = HttpGet(base, path);
    EXPECT_EQ(got.status, 200) << path;
    EXPECT_EQ(got.body.find(id), std::string::npos) << path << "\n" << got.body;
  }
}

TEST_F(PublicHold, ExtendMovesTheReleaseLaterAndReleaseEarlyNeedsTheRight) {
  auto receipt = Publish("province", true);
  std::string id = receipt.receipt().id();
  TimePoint original = clock_.Now() + 12h;
  auto earlier = Change(v1::LifecycleRequest::EXTEND_HOLD, id, "province", "", original - 1h);
  ASSERT_TRUE(earlier.has_error());
  auto later = Change(v1::LifecycleRequest::EXTEND_HOLD, id, "province", "trucks late",
                      original + 6h);
  ASSERT_TRUE(later.has_lifecycle_reply()) << later.DebugString();
  clock_.Advance(13h);
  Tick();
  EXPECT_TRUE(List()["directives"].empty());  // still held: extended
  auto no_right = Change(v1::LifecycleRequest::RELEASE_EARLY, id, "province-duty", "now");
  ASSERT_TRUE(no_right.has_error());
  EXPECT_EQ(no_right.error().code(), v1::FORBIDDEN);
  auto no_reason = Change(v1::LifecycleRequest::RELEASE_EARLY, id, "province", "");
  ASSERT_TRUE(no_reason.has_error());
  auto early = Change(v1::LifecycleRequest::RELEASE_EARLY, id, "province", "outbreak");
  ASSERT_TRUE(early.has_lifecycle_reply()) << early.DebugString();
  Tick();
  EXPECT_EQ(List()["directives"].size(), 1u);
  auto events = Events(id);
  std::vector<v1::LifecycleEvent::Kind> kinds;
  for (const auto& e : events) kinds.push_back(e.kind());
  EXPECT_EQ(kinds, (std::vector<v1::LifecycleEvent::Kind>{
                       v1::LifecycleEvent::PUBLISHED, v1::LifecycleEvent::HOLD_SET,
                       v1::LifecycleEvent::HOLD_EXTENDED, v1::LifecycleEvent::RELEASED_EARLY,
                       v1::LifecycleEvent::RELEASED}));
}

TEST_F(PublicHold, OnlyTheIssuerMayChangeADirectiveAndUnknownIdsAreRefused) {
  auto receipt = Publish("province", true);
  auto other = Change(v1::LifecycleRequest::CANCEL, receipt.receipt().id(), "province-duty");
  ASSERT_TRUE(other.has_error());
  EXPECT_EQ(other.error().code(), v1::FORBIDDEN);
  auto unknown = Change(v1::LifecycleRequest::AMEND, "52-HEALTH-20261128-0099", "province");
  ASSERT_TRUE(unknown.has_error());
  EXPECT_EQ(unknown.error().code(), v1::NOT_FOUND);
  auto unregistered = Publish("nobody", true);
  ASSERT_TRUE(unregistered.has_error());
  EXPECT_EQ(unregistered.error().code(), v1::NOT_REGISTERED);
  EXPECT_EQ(b_.store().head_seq(), 1u);
}

TEST_F(PublicHold, InternalDirectiveNeverAppears) {
  Publish("province", false);
  clock_.Advance(48h);
  Tick();
  EXPECT_TRUE(List()["directives"].empty());
}

}  // namespace
}  // namespace flatcast::broker
