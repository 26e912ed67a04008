// Who may send what, and which connections the ZAP handler admits.
#include <gtest/gtest.h>

#include "flatcast/broker/access.h"
#include "flatcast/broker/zap_handler.h"
#include "flatcast/clock.h"

namespace flatcast::broker {
namespace {

using B = v1::Envelope::BodyCase;

PeerIdentity As(KeyRole role, std::string subject) {
  return PeerIdentity{role, std::move(subject), "holder", "0123456789abcdef"};
}

TEST(Access, EachRoleSendsOnlyItsOwnMessages) {
  PeerIdentity unit = As(KeyRole::kUnit, "520102016001");
  PeerIdentity publisher = As(KeyRole::kPublisher, "guizhou-health");
  PeerIdentity auditor = As(KeyRole::kAuditor, "audit-office");
  for (B body : {B::kHello, B::kAck}) {
    EXPECT_TRUE(CheckAccess(unit, body).ok());
    EXPECT_FALSE(CheckAccess(publisher, body).ok());
    EXPECT_FALSE(CheckAccess(auditor, body).ok());
  }
  for (B body : {B::kPublish, B::kLifecycle}) {
    EXPECT_FALSE(CheckAccess(unit, body).ok());
    EXPECT_TRUE(CheckAccess(publisher, body).ok());
    Status refused = CheckAccess(auditor, body);
    EXPECT_EQ(refused.code(), Status::Code::kPermissionDenied);
    EXPECT_NE(refused.message().find("auditors are read-only"), std::string::npos)
        << refused.message();
  }
  for (B body : {B::kCoverageQuery, B::kEventsQuery}) {
    EXPECT_FALSE(CheckAccess(unit, body).ok());
    EXPECT_TRUE(CheckAccess(publisher, body).ok());
    EXPECT_TRUE(CheckAccess(auditor, body).ok());
  }
}

TEST(Access, ARefusalNamesTheSenderAndTheMessage) {
  Status refused = CheckAccess(As(KeyRole::kUnit, "520102016001"), B::kPublish);
  EXPECT_NE(refused.message().find("unit 520102016001"), std::string::npos) << refused.message();
  EXPECT_NE(refused.message().find("\"publish\""), std::string::npos) << refused.message();
}

class Zap : public ::testing::Test {
 protected:
  void SetUp() override {
    active_ = GenerateKeyPair(KeyKind::kCurve).value();
    revoked_ = GenerateKeyPair(KeyKind::kCurve).value();
    TimePoint t = SystemClock::Instance().Now();
    ASSERT_TRUE(keys_.Register("jinianta", KeyRole::kUnit, "520102016001", active_.public_key,
                               std::nullopt, t)
                    .ok());
    ASSERT_TRUE(keys_.Register("gone", KeyRole::kUnit, "520102016002", revoked_.public_key,
                               std::nullopt, t)
                    .ok());
    ASSERT_TRUE(keys_.Revoke("gone", std::nullopt, t).ok());
  }
  KeyRegistry keys_;
  KeyPair active_, revoked_;
};

TEST_F(Zap, AdmitsAnActiveKeyAndNamesTheConnectionByIt) {
  ZapDecision d = DecideZap(keys_, "CURVE", active_.public_key);
  EXPECT_EQ(d.status_code, "200");
  EXPECT_EQ(d.user_id, Z85Encode(active_.public_key).value());
  Result<PeerIdentity> who = ResolvePeer(keys_, d.user_id);
  ASSERT_TRUE(who.ok()) << who.status().message();
  EXPECT_EQ(who->role, KeyRole::kUnit);
  EXPECT_EQ(who->subject, "520102016001");
  EXPECT_EQ(who->holder, "jinianta");
}

TEST_F(Zap, RefusesUnknownAndRevokedKeysAndOtherMechanismsSayingWhy) {
  KeyPair stranger = GenerateKeyPair(KeyKind::kCurve).value();
  ZapDecision unknown = DecideZap(keys_, "CURVE", stranger.public_key);
  EXPECT_EQ(unknown.status_code, "400");
  EXPECT_NE(unknown.status_text.find("unknown CURVE key"), std::string::npos);
  ZapDecision revoked = DecideZap(keys_, "CURVE", revoked_.public_key);
  EXPECT_EQ(revoked.status_code, "400");
  EXPECT_NE(revoked.status_text.find("revoked"), std::string::npos);
  ZapDecision plain = DecideZap(keys_, "PLAIN", "user");
  EXPECT_EQ(plain.status_code, "400");
  EXPECT_NE(plain.status_text.find("CURVE only"), std::string::npos);
  EXPECT_EQ(DecideZap(keys_, "CURVE", "short").status_code, "400");
  EXPECT_TRUE(unknown.user_id.empty());
}

TEST_F(Zap, AConnectionOfARevokedKeyNoLongerResolves) {
  std::string user_id = Z85Encode(active_.public_key).value();
  ASSERT_TRUE(ResolvePeer(keys_, user_id).ok());
  ASSERT_TRUE(keys_.Revoke("jinianta", std::nullopt, SystemClock::Instance().Now()).ok());
  Result<PeerIdentity> who = ResolvePeer(keys_, user_id);
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(who.status().message().find("revoked"), std::string::npos);
}

}  // namespace
}  // namespace flatcast::broker
