// Directive signatures at the broker: with a key registry configured, only
// directives signed by the requesting publisher's active signing key are
// stored; a revocation in the registry file takes effect without a restart.
// The broker runs in-process on a fake clock.
#include <gtest/gtest.h>

#include <thread>

#include "flatcast/broker/broker.h"
#include "flatcast/duration.h"
#include "flatcast/key_registry.h"
#include "flatcast/signing.h"
#include "peer.h"
#include "temp_dir.h"

namespace flatcast::broker {
namespace {

using namespace std::chrono_literals;
using testing::Peer;

constexpr char kRegistryText[] =
    "52\tprovince\t贵州省\n"
    "5201\tcity\t贵阳市\n"
    "520102\tdistrict\t南明区\n"
    "520102001\tstreet\t新华路街道\n"
    "520102001001\tcommunity\t新华社区\n";

constexpr char kPublishers[] = R"(
[[publisher]]
name = "province"
unit = "52"
department = "HEALTH"

[[publisher]]
name = "city"
unit = "5201"
department = "CITY_HEALTH"
)";

TimePoint T0() { return ParseTime("2026-11-28T09:30:00Z").value(); }

class BrokerSignatures : public ::testing::Test {
 protected:
  BrokerSignatures() : clock_(T0()) {}

  void SetUp() override {
    registry_ = Registry::Parse(kRegistryText, "test").value();
    testing::WriteFile(dir_.path() / "publishers.toml", kPublishers);
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
    Start();
  }
  void TearDown() override { Stop(); }

  std::string KeysPath() const { return dir_ / "keys.toml"; }

  void Start() {
    store_ = Store::Open({dir_ / "data", true, 64}).value();
    BrokerConfig config;
    config.endpoint = "tcp://127.0.0.1:*";
    config.data_dir = dir_ / "data";
    config.publishers = dir_ / "publishers.toml";
    config.keys = KeysPath();
    broker_ = std::make_unique<Broker>(config, registry_, *store_, clock_, ctx_);
    ASSERT_TRUE(broker_->Start().ok());
    stop_ = false;
    thread_ = std::thread([this] { (void)broker_->Run(stop_); });
    pub_ = std::make_unique<Peer>(ctx_, broker_->endpoint());
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    pub_.reset();
    broker_.reset();
    store_.reset();
  }

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
    return pub_->Call(env);
  }

  v1::Envelope Change(v1::LifecycleRequest::Action action, const std::string& id,
                      const v1::Directive* amended = nullptr) {
    v1::Envelope env;
    auto* req = env.mutable_lifecycle();
    req->set_action(action);
    req->set_directive_id(id);
    req->set_publisher("province");
    if (amended) *req->mutable_directive() = *amended;
    return pub_->Call(env);
  }

  v1::StoredDirective Latest(const std::string& id) {
    v1::Envelope env;
    env.mutable_coverage_query()->set_directive_id(id);
    v1::Envelope reply = pub_->Call(env);
    EXPECT_TRUE(reply.has_coverage_reply()) << reply.DebugString();
    return reply.coverage_reply().directive();
  }

  // Lets the broker's once-a-second registry check run on the fake clock.
  void LetKeysReload() {
    clock_.Advance(2s);
    std::this_thread::sleep_for(1s);
  }

  testing::TempDir dir_;
  Registry registry_;
  FakeClock clock_;
  zmq::context_t ctx_{1};
  std::unique_ptr<Store> store_;
  std::unique_ptr<Broker> broker_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::unique_ptr<Peer> pub_;
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
  Broker broker(config, registry_, *store, clock_, ctx_);
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
  ExpectRefused(pub_->Call(query), v1::NOT_FOUND, "no directive");  // nothing stored
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
                return keys.Revoke("province", KeyKind::kSigning, clock_.Now());
              }).ok());
  LetKeysReload();
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
  Stop();
  Start();
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
  clock_.Advance(1min);
  v1::Envelope reply = Change(v1::LifecycleRequest::CANCEL, receipt.receipt().id());
  ASSERT_TRUE(reply.has_lifecycle_reply()) << reply.DebugString();
  v1::StoredDirective cancel = Latest(receipt.receipt().id());
  EXPECT_EQ(cancel.directive().msg_type(), v1::CANCEL);
  KeyRegistry keys = KeyRegistry::Load(KeysPath()).value();
  EXPECT_TRUE(VerifyDirectiveSignature(cancel.directive(), keys).ok());
}

}  // namespace
}  // namespace flatcast::broker
