// Directive signatures at the broker: with a key registry configured, only
// directives signed by the requesting publisher's active signing key are
// stored; a revocation in the registry file takes effect without a restart.
// The broker core runs in-process on a fake clock.
#include <gtest/gtest.h>

#include "broker_harness.h"
#include "flatcast/broker/broker.h"
#include "flatcast/duration.h"
#include "flatcast/key_registry.h"
#include "flatcast/signing.h"

namespace flatcast::broker {
namespace {

using namespace std::chrono_literals;


TimePoint T0() { return testing::SampleTime(); }

class BrokerSignatures : public ::testing::Test {
 protected:
  BrokerSignatures() : b_(Options()) {}
  static testing::BrokerHarness::Options Options() {
    testing::BrokerHarness::Options o;
    o.publishers_toml = testing::kTestPublishers;
    o.keys = true;
    o.start = T0();
    return o;
  }

  void SetUp() override {
    province_key_ = GenerateKeyPair(KeyKind::kSigning).value();
    city_key_ = GenerateKeyPair(KeyKind::kSigning).value();
    KeyRegistry keys;
    ASSERT_TRUE(keys.Register("province", KeyRole::kPublisher, "province",
                              GenerateKeyPair(KeyKind::kCurve)->public_key,
                              province_key_.public_key, T0() - 24h)
                    .ok());
    ASSERT_TRUE(keys.Register("city", KeyRole::kPublisher, "city",
                              GenerateKeyPair(KeyKind::kCurve)->public_key, city_key_.public_key,
                              T0() - 24h)
                    .ok());
    unit_key_ = GenerateKeyPair(KeyKind::kSigning).value();
    ASSERT_TRUE(keys.Register("520102001001", KeyRole::kUnit, "520102001001",
                              GenerateKeyPair(KeyKind::kCurve)->public_key, unit_key_.public_key,
                              T0() - 24h)
                    .ok());
    ASSERT_TRUE(keys.Save(KeysPath()).ok());
    ASSERT_TRUE(b_.Start().ok());
  }

  std::string KeysPath() const { return b_.keys_path(); }

  static v1::Directive Content(
      const std::string& body = "Every community keeps two weeks of masks.") {
    v1::Directive d;
    d.set_issuer_unit("52");
    d.set_issuer_department("HEALTH");
    d.set_title("Stock masks");
    d.set_body(body);
    d.set_status(v1::ACTUAL);
    auto* a = d.add_actions();
    a->set_what("Count stock");
    a->set_responsible_tier(v1::COMMUNITY);
    d.add_scope("52");
    d.add_target_tiers(v1::COMMUNITY);
    *d.mutable_created() = ToTimestamp(T0() - 1min);
    return d;
  }

  static void Sign(v1::Directive& d, const KeyPair& key) {
    DirectiveSignature sig = SignDirective(d, key).value();
    d.mutable_signature()->set_key_id(sig.key_id);
    d.mutable_signature()->set_signature(sig.signature);
  }

  v1::Envelope Publish(const v1::Directive& d, const std::string& publisher = "province",
                       const std::string& idempotency_key = "") {
    v1::Envelope env;
    auto* req = env.mutable_publish();
    req->set_publisher(publisher);
    req->set_idempotency_key(idempotency_key);
    *req->mutable_directive() = d;
    return b_.Call("publisher", env);
  }

  v1::Envelope Change(v1::LifecycleRequest::Action action, const std::string& id,
                      const v1::Directive* amended = nullptr) {
    v1::Envelope env;
    auto* req = env.mutable_lifecycle();
    req->set_action(action);
    req->set_directive_id(id);
    req->set_publisher("province");
    if (amended) {
      *req->mutable_directive() = *amended;
      req->set_base_version(Latest(id).directive().version());
    }
    return b_.Call("publisher", env);
  }

  v1::StoredDirective Latest(const std::string& id) {
    v1::Envelope env;
    env.mutable_coverage_query()->set_directive_id(id);
    v1::Envelope reply = b_.Call("publisher", env);
    EXPECT_TRUE(reply.has_coverage_reply()) << reply.DebugString();
    return reply.coverage_reply().directive();
  }

  testing::BrokerHarness b_;
  KeyPair province_key_;
  KeyPair city_key_;
  KeyPair unit_key_;
};

void ExpectRefused(const v1::Envelope& reply, v1::ErrorCode code, const std::string& words) {
  ASSERT_TRUE(reply.has_error()) << reply.DebugString();
  EXPECT_EQ(reply.error().code(), code) << reply.error().message();
  EXPECT_NE(reply.error().message().find(words), std::string::npos) << reply.error().message();
}

TEST_F(BrokerSignatures, MissingKeyRegistryStopsTheStart) {
  testing::TempDir other;
  auto store = Store::Open({other / "data", true, 64}).value();
  BrokerConfig config;
  config.endpoint = "tcp://127.0.0.1:*";
  config.data_dir = other / "data";
  config.keys = other / "no-such-keys.toml";
  zmq::context_t ctx(1);
  Broker broker(config, b_.registry(), *store, b_.clock(), ctx);
  Status started = broker.Start();
  EXPECT_FALSE(started.ok());
  EXPECT_NE(started.message().find("key registry"), std::string::npos) << started.ToString();
}

TEST_F(BrokerSignatures, SignedDirectiveIsStoredWithItsSignature) {
  v1::Directive d = Content();
  Sign(d, province_key_);
  v1::Envelope reply = Publish(d);
  ASSERT_TRUE(reply.has_receipt()) << reply.DebugString();
  v1::StoredDirective stored = Latest(reply.receipt().id());
  EXPECT_EQ(stored.directive().signature().key_id(), KeyId(province_key_.public_key));
  EXPECT_EQ(stored.directive().signature().signature(), d.signature().signature());
  // As an auditor would: the stored directive, broker fields included, verifies.
  KeyRegistry keys = KeyRegistry::Load(KeysPath()).value();
  EXPECT_TRUE(
      VerifyDirectiveSignature(stored.directive(), keys, FromTimestamp(stored.directive().sent()))
          .ok());
}

TEST_F(BrokerSignatures, UnsignedDirectiveIsRefused) {
  ExpectRefused(Publish(Content()), v1::INVALID, "not signed");
  v1::Envelope query;
  query.mutable_coverage_query()->set_directive_id("52-HEALTH-20261128-0001");
  ExpectRefused(b_.Call("publisher", query), v1::NOT_FOUND, "no directive");  // nothing stored
}

TEST_F(BrokerSignatures, ForgedSignatureIsRefused) {
  v1::Directive d = Content();
  Sign(d, province_key_);
  d.set_body("Every community hands its masks to the bearer.");  // changed after signing
  ExpectRefused(Publish(d), v1::FORBIDDEN, "does not verify");
}

TEST_F(BrokerSignatures, SignatureByAnUnknownKeyIsRefused) {
  v1::Directive d = Content();
  Sign(d, GenerateKeyPair(KeyKind::kSigning).value());
  ExpectRefused(Publish(d), v1::FORBIDDEN, "unknown signing key");
}

TEST_F(BrokerSignatures, KeyOfAnotherPublisherIsRefused) {
  v1::Directive d = Content();
  Sign(d, city_key_);
  ExpectRefused(Publish(d), v1::FORBIDDEN, "belongs to publisher \"city\"");
}

TEST_F(BrokerSignatures, KeyOfAHolderThatIsNotAPublisherIsRefused) {
  v1::Directive d = Content();
  Sign(d, unit_key_);
  ExpectRefused(Publish(d), v1::FORBIDDEN, "not to a publisher");
}

TEST_F(BrokerSignatures, RevokedKeyIsRefusedWithoutRestart) {
  v1::Directive first = Content("first");
  Sign(first, province_key_);
  ASSERT_TRUE(Publish(first).has_receipt());
  ASSERT_TRUE(UpdateKeyRegistryFile(KeysPath(), false, [&](KeyRegistry& keys) {
                return keys.Revoke("province", KeyKind::kSigning, b_.clock().Now());
              }).ok());
  ASSERT_TRUE(b_.ReloadKeys());
  v1::Directive second = Content("second");
  Sign(second, province_key_);
  ExpectRefused(Publish(second), v1::FORBIDDEN, "revoked");
}

TEST_F(BrokerSignatures, ReplayWithANewIdempotencyKeyIsRefused) {
  v1::Directive d = Content();
  Sign(d, province_key_);
  v1::Envelope first = Publish(d, "province", "key-1");
  ASSERT_TRUE(first.has_receipt()) << first.DebugString();
  // A retry with the same idempotency key is answered with the same receipt.
  v1::Envelope retry = Publish(d, "province", "key-1");
  ASSERT_TRUE(retry.has_receipt()) << retry.DebugString();
  EXPECT_TRUE(retry.receipt().duplicate());
  ExpectRefused(Publish(d, "province", "key-2"), v1::FORBIDDEN, "replay");
}

TEST_F(BrokerSignatures, ReplayIsRefusedAfterARestart) {
  v1::Directive d = Content();
  Sign(d, province_key_);
  ASSERT_TRUE(Publish(d, "province", "key-1").has_receipt());
  b_.Stop();
  ASSERT_TRUE(b_.Start().ok());
  ExpectRefused(Publish(d, "province", "key-2"), v1::FORBIDDEN, "replay");
}

TEST_F(BrokerSignatures, AmendmentNeedsItsOwnSignature) {
  v1::Directive d = Content();
  Sign(d, province_key_);
  v1::Envelope receipt = Publish(d);
  ASSERT_TRUE(receipt.has_receipt());
  const std::string id = receipt.receipt().id();

  v1::Directive unsigned_amendment = Content("amended");
  ExpectRefused(Change(v1::LifecycleRequest::AMEND, id, &unsigned_amendment), v1::INVALID,
                "not signed");
  v1::Directive stale = Content("amended");
  *stale.mutable_signature() = d.signature();  // the old content's signature
  ExpectRefused(Change(v1::LifecycleRequest::AMEND, id, &stale), v1::FORBIDDEN, "does not verify");

  v1::Directive amended = Content("amended");
  Sign(amended, province_key_);
  v1::Envelope reply = Change(v1::LifecycleRequest::AMEND, id, &amended);
  ASSERT_TRUE(reply.has_lifecycle_reply()) << reply.DebugString();
  EXPECT_EQ(Latest(id).directive().signature().signature(), amended.signature().signature());
}

TEST_F(BrokerSignatures, CancellationKeepsAVerifyingSignature) {
  v1::Directive d = Content();
  Sign(d, province_key_);
  v1::Envelope receipt = Publish(d);
  ASSERT_TRUE(receipt.has_receipt());
  b_.Advance(1min);
  v1::Envelope reply = Change(v1::LifecycleRequest::CANCEL, receipt.receipt().id());
  ASSERT_TRUE(reply.has_lifecycle_reply()) << reply.DebugString();
  v1::StoredDirective cancel = Latest(receipt.receipt().id());
  EXPECT_EQ(cancel.directive().msg_type(), v1::CANCEL);
  KeyRegistry keys = KeyRegistry::Load(KeysPath()).value();
  EXPECT_TRUE(VerifyDirectiveSignature(cancel.directive(), keys).ok());
}

}  // namespace
}  // namespace flatcast::broker
