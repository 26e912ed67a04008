#include "flatcast/signing.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>
#include <string>

#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "flatcast/key_registry.h"
#include "flatcast/registry.h"
#include "flatcast/wire.h"
#include "temp_dir.h"

namespace flatcast {
namespace {

using ::flatcast::testing::ReadFile;
using ::flatcast::testing::TempDir;
using ::flatcast::testing::WriteFile;

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

TimePoint At(std::string_view text) { return ParseTime(text).value(); }

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

KeyPair NewKey(KeyKind kind) {
  Result<KeyPair> key = GenerateKeyPair(kind);
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  return key.ok() ? std::move(key).value() : KeyPair{};
}

// A directive as a publisher submits it: no id, sent, version or msg_type.
v1::Directive Submitted() {
  v1::Directive d;
  d.set_issuer_unit("5201");
  d.set_issuer_department("CITY_HEALTH");
  d.set_title("Close wet markets");
  d.set_body("All wet markets close at noon.");
  v1::ActionItem* a = d.add_actions();
  a->set_what("Post notices at every market");
  a->set_responsible_tier(v1::COMMUNITY);
  *a->mutable_due() = ToTimestamp(At("2026-12-01T08:00:00Z"));
  d.add_scope("5201");
  d.add_target_tiers(v1::DISTRICT);
  d.add_target_tiers(v1::COMMUNITY);
  d.set_status(v1::ACTUAL);
  *d.mutable_created() = ToTimestamp(At("2026-11-28T08:00:00.123Z"));
  d.set_is_public(true);
  d.set_internal_note("for staff");
  return d;
}

// ---- primitives ----

TEST(Signing, SignsAndVerifiesTheRfc8032TestVector) {
  // RFC 8032, section 7.1, TEST 1 (empty message).
  Result<KeyPair> key = KeyPairFromSecret(
      KeyKind::kSigning,
      FromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(ToHex(key->public_key),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  Result<std::string> signature = Sign("", *key);
  ASSERT_TRUE(signature.ok());
  EXPECT_EQ(ToHex(*signature),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
            "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  EXPECT_TRUE(Verify("", *signature, key->public_key).ok());
  EXPECT_EQ(Verify("x", *signature, key->public_key).code(), Status::Code::kPermissionDenied);
}

TEST(Signing, KeyIdIsTheFirstEightBytesOfBlake2b256InHex) {
  // hashlib.blake2b(pk, digest_size=32).hexdigest()[:16]
  EXPECT_EQ(KeyId(FromHex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")),
            "7849ac3049680be1");
}

TEST(Signing, Z85MatchesTheSpecificationExample) {
  std::string bytes = FromHex("864fd26fb559f75b");
  EXPECT_EQ(Z85Encode(bytes).value(), "HelloWorld");
  EXPECT_EQ(Z85Decode("HelloWorld").value(), bytes);
  EXPECT_FALSE(Z85Decode("Hell").ok());
  EXPECT_FALSE(Z85Decode("Hell\"World").ok());
  EXPECT_FALSE(Z85Decode(std::string("Hello\0orld", 10)).ok());
  EXPECT_FALSE(Z85Encode("abc").ok());
}

TEST(Signing, CurveKeyPairDerivesTheSamePublicKeyFromItsSecret) {
  KeyPair curve = NewKey(KeyKind::kCurve);
  ASSERT_EQ(curve.public_key.size(), kKeyBytes);
  Result<KeyPair> again = KeyPairFromSecret(KeyKind::kCurve, curve.secret_key);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->public_key, curve.public_key);
}

TEST(Signing, CurveKeysCannotSign) {
  EXPECT_EQ(Sign("m", NewKey(KeyKind::kCurve)).status().code(), Status::Code::kInvalidArgument);
}

// ---- directive signatures ----

TEST(DirectiveSignature, SignedDirectiveVerifies) {
  KeyPair key = NewKey(KeyKind::kSigning);
  Result<DirectiveSignature> sig = SignDirective(Submitted(), key);
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  EXPECT_EQ(sig->key_id, KeyId(key.public_key));
  EXPECT_EQ(sig->signature.size(), kSignatureBytes);
  EXPECT_TRUE(VerifyDirective(Submitted(), *sig, key.public_key).ok());
}

TEST(DirectiveSignature, FieldsTheBrokerAssignsDoNotBreakTheSignature) {
  KeyPair key = NewKey(KeyKind::kSigning);
  DirectiveSignature sig = SignDirective(Submitted(), key).value();
  v1::Directive stored = Submitted();
  stored.set_id("5201-CITY_HEALTH-20261128-0001");
  *stored.mutable_sent() = ToTimestamp(At("2026-11-28T09:00:00Z"));
  stored.set_version(3);
  stored.set_msg_type(v1::CANCEL);
  stored.set_format_version(kDirectiveFormatVersion);
  *stored.mutable_public_release() = ToTimestamp(At("2026-11-28T21:00:00Z"));
  stored.add_references("5201-CITY_HEALTH-20261128-0001");
  EXPECT_TRUE(VerifyDirective(stored, sig, key.public_key).ok());
}

TEST(DirectiveSignature, AnyChangeToSignedContentIsRefused) {
  KeyPair key = NewKey(KeyKind::kSigning);
  DirectiveSignature sig = SignDirective(Submitted(), key).value();
  std::vector<std::pair<std::string, std::function<void(v1::Directive&)>>> changes = {
      {"issuer_unit", [](v1::Directive& d) { d.set_issuer_unit("52"); }},
      {"issuer_department", [](v1::Directive& d) { d.set_issuer_department("HEALTH"); }},
      {"title", [](v1::Directive& d) { d.set_title("Open wet markets"); }},
      {"body", [](v1::Directive& d) { d.set_body("All wet markets stay open."); }},
      {"action what", [](v1::Directive& d) { d.mutable_actions(0)->set_what("Nothing"); }},
      {"action tier",
       [](v1::Directive& d) { d.mutable_actions(0)->set_responsible_tier(v1::STREET); }},
      {"action due", [](v1::Directive& d) { d.mutable_actions(0)->clear_due(); }},
      {"action internal", [](v1::Directive& d) { d.mutable_actions(0)->set_internal(true); }},
      {"extra action", [](v1::Directive& d) { d.add_actions()->set_what("more"); }},
      {"scope", [](v1::Directive& d) { d.add_scope("5202"); }},
      {"target tiers", [](v1::Directive& d) { d.add_target_tiers(v1::STREET); }},
      {"status", [](v1::Directive& d) { d.set_status(v1::EXERCISE); }},
      {"created", [](v1::Directive& d) { d.mutable_created()->set_nanos(0); }},
      {"is_public", [](v1::Directive& d) { d.set_is_public(false); }},
      {"expires",
       [](v1::Directive& d) { *d.mutable_expires() = ToTimestamp(At("2027-01-01T00:00:00Z")); }},
      {"internal_note", [](v1::Directive& d) { d.clear_internal_note(); }},
  };
  for (const auto& [what, change] : changes) {
    v1::Directive forged = Submitted();
    change(forged);
    Status st = VerifyDirective(forged, sig, key.public_key);
    EXPECT_EQ(st.code(), Status::Code::kPermissionDenied) << what;
  }
}

TEST(DirectiveSignature, EveryDirectiveFieldIsEitherSignedOrDeliberatelyUnsigned) {
  std::set<int> classified;
  for (int n : SignedDirectiveFields()) EXPECT_TRUE(classified.insert(n).second) << n;
  for (int n : UnsignedDirectiveFields()) EXPECT_TRUE(classified.insert(n).second) << n;
  const google::protobuf::Descriptor* d = v1::Directive::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    EXPECT_TRUE(classified.contains(d->field(i)->number()))
        << "Directive." << d->field(i)->name()
        << " is new: list it in SignedDirectiveFields or UnsignedDirectiveFields";
  }
  EXPECT_EQ(classified.size(), static_cast<size_t>(d->field_count()));
}

TEST(DirectiveSignature, SigningMessageIsTheContextThenTheDeterministicSerialization) {
  std::string message = DirectiveSigningMessage(Submitted()).value();
  ASSERT_TRUE(message.starts_with(kDirectiveSigningContext));
  v1::Directive parsed;
  ASSERT_TRUE(parsed.ParseFromString(message.substr(kDirectiveSigningContext.size())));
  EXPECT_EQ(parsed.title(), "Close wet markets");
  EXPECT_EQ(DirectiveSigningMessage(Submitted()).value(), message);
}

TEST(DirectiveSignature, SurvivesTheWireAndJson) {
  KeyPair key = NewKey(KeyKind::kSigning);
  DirectiveSignature sig = SignDirective(Submitted(), key).value();

  v1::Envelope env;
  env.set_protocol_version(wire::kProtocolVersion);
  *env.mutable_deliver()->mutable_directive()->mutable_directive() = Submitted();
  Result<v1::Envelope> decoded = wire::Decode(wire::Encode(env));
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(
      VerifyDirective(decoded->deliver().directive().directive(), sig, key.public_key).ok());

  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(Submitted(), &json).ok());
  v1::Directive from_json;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &from_json).ok());
  EXPECT_TRUE(VerifyDirective(from_json, sig, key.public_key).ok());
}

TEST(DirectiveSignature, UnknownFieldsAreNotSigned) {
  v1::Directive with_unknown = Submitted();
  with_unknown.GetReflection()->MutableUnknownFields(&with_unknown)->AddVarint(999, 7);
  EXPECT_EQ(DirectiveSigningMessage(with_unknown).value(),
            DirectiveSigningMessage(Submitted()).value());
}

TEST(DirectiveSignature, SigningRefusesADirectiveWithoutCreatedTime) {
  v1::Directive d = Submitted();
  d.clear_created();
  EXPECT_EQ(SignDirective(d, NewKey(KeyKind::kSigning)).status().code(),
            Status::Code::kInvalidArgument);
}

TEST(DirectiveSignature, RefusesAnotherKeyAndAForgedSignature) {
  KeyPair key = NewKey(KeyKind::kSigning);
  KeyPair other = NewKey(KeyKind::kSigning);
  DirectiveSignature sig = SignDirective(Submitted(), key).value();

  Status wrong_key = VerifyDirective(Submitted(), sig, other.public_key);
  EXPECT_EQ(wrong_key.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(wrong_key.message().find("names key"), std::string::npos) << wrong_key.message();

  // Signed by another key but claiming the right key id.
  DirectiveSignature forged = SignDirective(Submitted(), other).value();
  forged.key_id = sig.key_id;
  Status bad = VerifyDirective(Submitted(), forged, key.public_key);
  EXPECT_EQ(bad.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(bad.message().find("does not verify"), std::string::npos) << bad.message();

  DirectiveSignature truncated = sig;
  truncated.signature.pop_back();
  EXPECT_FALSE(VerifyDirective(Submitted(), truncated, key.public_key).ok());
}

// ---- key files ----

TEST(KeyFiles, SecretFileIsOwnerOnlyAndPublicFileIsReadable) {
  TempDir dir;
  KeyPair key = NewKey(KeyKind::kSigning);
  ASSERT_TRUE(WriteKeyFiles(dir / "publisher", key, /*replace=*/false).ok());
  EXPECT_EQ(ModeOf(dir / "publisher.key"), 0600u);
  EXPECT_EQ(ModeOf(dir / "publisher.pub"), 0644u);
  EXPECT_EQ(ReadFile(dir / "publisher.pub").find("secret ="), std::string::npos);
  // No temporary file is left behind.
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 2u);
}

TEST(KeyFiles, ReadsBackTheKeysWritten) {
  TempDir dir;
  for (KeyKind kind : {KeyKind::kSigning, KeyKind::kCurve}) {
    KeyPair key = NewKey(kind);
    std::string prefix = dir / std::string(KeyKindName(kind));
    ASSERT_TRUE(WriteKeyFiles(prefix, key, false).ok());
    Result<KeyPair> pair = ReadKeyPair(prefix + ".key", kind);
    ASSERT_TRUE(pair.ok()) << pair.status().ToString();
    EXPECT_EQ(pair->public_key, key.public_key);
    EXPECT_EQ(pair->secret_key, key.secret_key);
    EXPECT_EQ(ReadPublicKey(prefix + ".pub", kind).value(), key.public_key);
    EXPECT_EQ(ReadPublicKey(prefix + ".key", kind).value(), key.public_key);
    EXPECT_FALSE(ReadKeyPair(prefix + ".pub", kind).ok());
  }
}

TEST(KeyFiles, RefusesAPrivateKeyReadableByGroupOrOthers) {
  TempDir dir;
  ASSERT_TRUE(WriteKeyFiles(dir / "k", NewKey(KeyKind::kCurve), false).ok());
  for (mode_t mode : {0640, 0604, 0660, 0620}) {
    ASSERT_EQ(::chmod((dir / "k.key").c_str(), mode), 0);
    Result<KeyFile> file = ReadKeyFile(dir / "k.key");
    ASSERT_FALSE(file.ok());
    EXPECT_EQ(file.status().code(), Status::Code::kPermissionDenied);
    EXPECT_NE(file.status().message().find("chmod 600"), std::string::npos)
        << file.status().message();
  }
  ASSERT_EQ(::chmod((dir / "k.key").c_str(), 0400), 0);
  EXPECT_TRUE(ReadKeyFile(dir / "k.key").ok());
  // A public key file may be world-readable.
  ASSERT_EQ(::chmod((dir / "k.pub").c_str(), 0644), 0);
  EXPECT_TRUE(ReadKeyFile(dir / "k.pub").ok());
}

TEST(KeyFiles, NeverOverwritesKeysUnlessAsked) {
  TempDir dir;
  KeyPair first = NewKey(KeyKind::kSigning);
  ASSERT_TRUE(WriteKeyFiles(dir / "k", first, false).ok());
  EXPECT_EQ(WriteKeyFiles(dir / "k", NewKey(KeyKind::kSigning), false).code(),
            Status::Code::kAlreadyExists);
  EXPECT_EQ(ReadKeyPair(dir / "k.key", KeyKind::kSigning)->public_key, first.public_key);
  KeyPair second = NewKey(KeyKind::kSigning);
  ASSERT_TRUE(WriteKeyFiles(dir / "k", second, /*replace=*/true).ok());
  EXPECT_EQ(ReadKeyPair(dir / "k.key", KeyKind::kSigning)->public_key, second.public_key);
  EXPECT_EQ(ModeOf(dir / "k.key"), 0600u);
}

TEST(KeyFiles, ParseRefusesInconsistentFiles) {
  KeyPair key = NewKey(KeyKind::kSigning);
  KeyPair other = NewKey(KeyKind::kSigning);
  std::string pub = "public = \"" + Z85Encode(key.public_key).value() + "\"\n";
  auto error = [](std::string_view text) {
    Result<KeyFile> f = ParseKeyFile(text, "k.key");
    EXPECT_FALSE(f.ok()) << text;
    return f.ok() ? std::string() : f.status().message();
  };
  EXPECT_TRUE(ParseKeyFile("kind = \"signing\"\n" + pub, "k.pub").ok());
  EXPECT_NE(error(pub).find("no kind"), std::string::npos);
  EXPECT_NE(error("kind = \"rsa\"\n" + pub).find("unknown kind"), std::string::npos);
  EXPECT_NE(error("kind = \"signing\"\n").find("no public key"), std::string::npos);
  EXPECT_NE(error("kind = \"signing\"\nkey_id = \"0000000000000000\"\n" + pub).find("key_id"),
            std::string::npos);
  EXPECT_NE(error("kind = \"signing\"\n" + pub + "secret = \"" +
                  Z85Encode(other.secret_key).value() + "\"\n")
                .find("does not belong"),
            std::string::npos);
  EXPECT_NE(error("kind = \"signing\"\n" + pub + "comment = \"x\"\n").find("unknown key"),
            std::string::npos);
  EXPECT_NE(error("kind = \"signing\"\npublic = \"short\"\n").find("40 Z85"), std::string::npos);
  EXPECT_NE(error("kind = \"signing\"\npublic = 5\n").find("must be a string"), std::string::npos);
  EXPECT_NE(error("kind = ").find("k.key:1"), std::string::npos);
}

TEST(KeyFiles, ReadingTheWrongKindIsRefused) {
  TempDir dir;
  ASSERT_TRUE(WriteKeyFiles(dir / "c", NewKey(KeyKind::kCurve), false).ok());
  Result<std::string> key = ReadPublicKey(dir / "c.pub", KeyKind::kSigning);
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.status().message().find("expected a signing key"), std::string::npos);
}

// ---- key registry ----

class KeyRegistryTest : public ::testing::Test {
 protected:
  KeyPair curve1 = NewKey(KeyKind::kCurve);
  KeyPair curve2 = NewKey(KeyKind::kCurve);
  KeyPair curve3 = NewKey(KeyKind::kCurve);
  KeyPair signing1 = NewKey(KeyKind::kSigning);
  KeyPair signing2 = NewKey(KeyKind::kSigning);
  TimePoint t0 = At("2026-11-28T08:00:00Z");
  TimePoint t1 = At("2026-11-29T08:00:00Z");
  TimePoint t2 = At("2026-11-30T08:00:00Z");

  KeyRegistry WithPublisherAndUnit() {
    KeyRegistry r;
    EXPECT_TRUE(r.Register("guiyang-health", KeyRole::kPublisher, "guiyang-health",
                           curve1.public_key, signing1.public_key, t0)
                    .ok());
    EXPECT_TRUE(r.Register("unit-520102001001", KeyRole::kUnit, "520102001001", curve2.public_key,
                           std::nullopt, t0)
                    .ok());
    return r;
  }
};

TEST_F(KeyRegistryTest, FindsHoldersByCurveKeyRawOrZ85AndByName) {
  KeyRegistry r = WithPublisherAndUnit();
  const KeyRecord* by_raw = r.FindCurveKey(curve2.public_key);
  ASSERT_NE(by_raw, nullptr);
  EXPECT_EQ(by_raw->name, "unit-520102001001");
  EXPECT_EQ(by_raw->role, KeyRole::kUnit);
  EXPECT_EQ(by_raw->subject, "520102001001");
  EXPECT_EQ(r.FindCurveKey(Z85Encode(curve2.public_key).value()), by_raw);
  EXPECT_EQ(r.FindCurveKey(curve3.public_key), nullptr);
  // A signing key is not a CURVE key.
  EXPECT_EQ(r.FindCurveKey(signing1.public_key), nullptr);
  const KeyRecord* signing = r.FindActive("guiyang-health", KeyKind::kSigning);
  ASSERT_NE(signing, nullptr);
  EXPECT_EQ(signing->key_id, KeyId(signing1.public_key));
  EXPECT_EQ(r.FindSigningKey(KeyId(signing1.public_key)), signing);
  EXPECT_EQ(r.FindAll("guiyang-health").size(), 2u);
}

TEST_F(KeyRegistryTest, SavesAndLoadsTheSameRegistry) {
  TempDir dir;
  KeyRegistry r = WithPublisherAndUnit();
  ASSERT_TRUE(r.Revoke("unit-520102001001", std::nullopt, t1).ok());
  ASSERT_TRUE(r.Save(dir / "keys.toml").ok());
  EXPECT_EQ(ModeOf(dir / "keys.toml"), 0644u);
  Result<KeyRegistry> loaded = KeyRegistry::Load(dir / "keys.toml");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->records(), r.records());
  EXPECT_EQ(loaded->Serialize(), r.Serialize());
}

TEST_F(KeyRegistryTest, TheBinaryFormHoldsTheSameRecordsAndIsReadLikeTheText) {
  TempDir dir;
  KeyRegistry r = WithPublisherAndUnit();
  ASSERT_TRUE(r.Revoke("unit-520102001001", std::nullopt, t1).ok());
  ASSERT_TRUE(r.Save(dir / "keys.bin", KeyFileFormat::kBinary).ok());
  EXPECT_EQ(ReadFile(dir / "keys.bin").substr(0, 16), "FLATCAST-KEYS-1\n");
  Result<KeyRegistry> loaded = KeyRegistry::Load(dir / "keys.bin");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->format(), KeyFileFormat::kBinary);
  EXPECT_EQ(loaded->records(), r.records());
  EXPECT_EQ(loaded->Serialize(), r.Serialize()) << "the same TOML either way";
  EXPECT_TRUE(loaded->FindCurveKey(curve2.public_key)->revoked());
  EXPECT_EQ(loaded->FindSigningKey(KeyId(signing1.public_key))->name, "guiyang-health");
  // An update keeps the form.
  ASSERT_TRUE(UpdateKeyRegistryFile(dir / "keys.bin", false, [&](KeyRegistry& k) {
                return k.Register("audit-office", KeyRole::kAuditor, "audit-office",
                                  curve3.public_key, std::nullopt, t2);
              }).ok());
  Result<KeyRegistry> updated = KeyRegistry::Load(dir / "keys.bin");
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(updated->format(), KeyFileFormat::kBinary);
  EXPECT_EQ(updated->records().size(), 4u);
}

TEST_F(KeyRegistryTest, ABinaryFormThatBreaksTheRulesIsRefusedSayingWhere) {
  std::string good = WithPublisherAndUnit().Serialize(KeyFileFormat::kBinary);
  Result<KeyRegistry> truncated =
      KeyRegistry::Parse(std::string_view(good).substr(0, good.size() - 7), "keys.bin");
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("keys.bin: key 3 does not decode"),
            std::string::npos)
      << truncated.status().message();
  // The same key twice: what the text form refuses, the binary form does too.
  KeyRegistry r = WithPublisherAndUnit();
  std::string text = r.Serialize();
  std::string twice = text + text.substr(text.find("\n[[key]]"));
  Result<KeyRegistry> from_text = KeyRegistry::Parse(twice, "keys.toml");
  ASSERT_FALSE(from_text.ok());
  // Entries are length-delimited (a one-byte varint here): the first again.
  const size_t first_length = static_cast<uint8_t>(good[16]);
  ASSERT_LT(first_length, 128u);
  const std::string first_entry = good.substr(16, 1 + first_length);
  Result<KeyRegistry> from_binary = KeyRegistry::Parse(good + first_entry, "keys.bin");
  ASSERT_FALSE(from_binary.ok());
  EXPECT_NE(from_binary.status().message().find("keys.bin: key 4: key"), std::string::npos)
      << from_binary.status().message();
  EXPECT_NE(from_binary.status().message().find("is already registered"), std::string::npos);
  v1::KeyRegistryEntry mayor;
  ASSERT_TRUE(mayor.ParseFromString(first_entry.substr(1)));
  mayor.set_role("mayor");
  const std::string encoded = mayor.SerializeAsString();
  ASSERT_LT(encoded.size(), 128u);
  Result<KeyRegistry> role = KeyRegistry::Parse(
      "FLATCAST-KEYS-1\n" + std::string(1, static_cast<char>(encoded.size())) + encoded,
      "keys.bin");
  ASSERT_FALSE(role.ok());
  EXPECT_NE(role.status().message().find("keys.bin: key 1: unknown role \"mayor\""),
            std::string::npos)
      << role.status().message();
}

TEST_F(KeyRegistryTest, ACutKeepsTheRegionsUnitsAndRelaysAndEveryPublisherAndAuditor) {
  KeyRegistry r = WithPublisherAndUnit();
  KeyPair other_unit = NewKey(KeyKind::kCurve), relay52 = NewKey(KeyKind::kCurve),
          relay64 = NewKey(KeyKind::kCurve), pair = NewKey(KeyKind::kCurve);
  ASSERT_TRUE(r.Register("unit-640104001001", KeyRole::kUnit, "640104001001",
                         other_unit.public_key, std::nullopt, t0)
                  .ok());
  ASSERT_TRUE(r.Register("relay-52", KeyRole::kRelay, "52", relay52.public_key, std::nullopt, t0)
                  .ok());
  ASSERT_TRUE(r.Register("relay-64", KeyRole::kRelay, "64", relay64.public_key, std::nullopt, t0)
                  .ok());
  ASSERT_TRUE(r.Register("pair-00", KeyRole::kBroker, "national", pair.public_key, std::nullopt, t0)
                  .ok());
  ASSERT_TRUE(r.Register("audit-office", KeyRole::kAuditor, "audit-office", curve3.public_key,
                         std::nullopt, t0)
                  .ok());
  KeyRegistry cut = r.Cut("52");
  std::vector<std::string> names;
  for (const KeyRecord& k : cut.records()) names.push_back(k.name);
  EXPECT_EQ(names, (std::vector<std::string>{"guiyang-health", "guiyang-health",
                                             "unit-520102001001", "relay-52", "audit-office"}));
  EXPECT_NE(cut.FindSigningKey(KeyId(signing1.public_key)), nullptr);
  EXPECT_EQ(cut.FindCurveKey(other_unit.public_key), nullptr);
  // A copy has indices of its own.
  KeyRegistry copy = cut;
  cut = KeyRegistry();
  ASSERT_NE(copy.FindCurveKey(relay52.public_key), nullptr);
  EXPECT_EQ(copy.FindCurveKey(relay52.public_key)->name, "relay-52");
}

TEST_F(KeyRegistryTest, AdmitsActiveCurveKeysAndRefusesUnknownOrRevokedOnes) {
  KeyRegistry r = WithPublisherAndUnit();
  Result<KeyRecord> admitted = r.AdmitCurveKey(curve2.public_key);
  ASSERT_TRUE(admitted.ok());
  EXPECT_EQ(admitted->subject, "520102001001");

  Result<KeyRecord> unknown = r.AdmitCurveKey(curve3.public_key);
  EXPECT_EQ(unknown.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(unknown.status().message().find("unknown CURVE key"), std::string::npos);

  ASSERT_TRUE(r.Revoke("unit-520102001001", std::nullopt, t1).ok());
  Result<KeyRecord> revoked = r.AdmitCurveKey(curve2.public_key);
  EXPECT_EQ(revoked.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(revoked.status().message().find("revoked at 2026-11-29T08:00:00Z"), std::string::npos)
      << revoked.status().message();
  EXPECT_EQ(r.Revoke("unit-520102001001", std::nullopt, t2).code(), Status::Code::kNotFound);
}

TEST_F(KeyRegistryTest, RotationRevokesTheOldKeyAndActivatesTheNewOne) {
  KeyRegistry r = WithPublisherAndUnit();
  ASSERT_TRUE(r.Rotate("guiyang-health", curve3.public_key, signing2.public_key, t1).ok());
  EXPECT_FALSE(r.AdmitCurveKey(curve1.public_key).ok());
  Result<KeyRecord> now = r.AdmitCurveKey(curve3.public_key);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->name, "guiyang-health");
  EXPECT_EQ(now->role, KeyRole::kPublisher);
  EXPECT_EQ(r.FindActive("guiyang-health", KeyKind::kSigning)->key_id, KeyId(signing2.public_key));
  EXPECT_EQ(r.FindAll("guiyang-health").size(), 4u);
  EXPECT_EQ(r.Rotate("nobody", curve3.public_key, std::nullopt, t1).code(),
            Status::Code::kNotFound);
}

TEST_F(KeyRegistryTest, RotatingOnlyTheCurveKeyKeepsTheSigningKey) {
  KeyRegistry r = WithPublisherAndUnit();
  ASSERT_TRUE(r.Rotate("guiyang-health", curve3.public_key, std::nullopt, t1).ok());
  EXPECT_EQ(r.FindActive("guiyang-health", KeyKind::kSigning)->key_id, KeyId(signing1.public_key));
}

TEST_F(KeyRegistryTest, SigningKeysAreCheckedAtTheTimeOfUse) {
  KeyRegistry r = WithPublisherAndUnit();
  std::string id = KeyId(signing1.public_key);
  ASSERT_TRUE(r.SigningKeyValidAt(id).ok());
  ASSERT_TRUE(r.Revoke("guiyang-health", KeyKind::kSigning, t1).ok());
  // The broker, now: refused.
  EXPECT_EQ(r.SigningKeyValidAt(id).status().code(), Status::Code::kPermissionDenied);
  // An auditor checking a directive sent while the key was valid: accepted.
  EXPECT_TRUE(r.SigningKeyValidAt(id, At("2026-11-28T12:00:00Z")).ok());
  EXPECT_FALSE(r.SigningKeyValidAt(id, At("2026-11-29T12:00:00Z")).ok());
  EXPECT_FALSE(r.SigningKeyValidAt(id, At("2026-11-27T12:00:00Z")).ok());
  EXPECT_EQ(r.SigningKeyValidAt("0000000000000000").status().code(), Status::Code::kNotFound);
  // Revoking only the signing key leaves the CURVE key active.
  EXPECT_TRUE(r.AdmitCurveKey(curve1.public_key).ok());
}

TEST_F(KeyRegistryTest, RegisterRefusesReuseSecondActiveKeysAndIdentityChanges) {
  KeyRegistry r = WithPublisherAndUnit();
  EXPECT_EQ(r.Register("guiyang-health", KeyRole::kPublisher, "guiyang-health", curve3.public_key,
                       std::nullopt, t1)
                .code(),
            Status::Code::kAlreadyExists);
  EXPECT_EQ(
      r.Register("other", KeyRole::kAuditor, "other", curve1.public_key, std::nullopt, t1).code(),
      Status::Code::kAlreadyExists);
  // The same key as both kinds.
  EXPECT_EQ(
      r.Register("other", KeyRole::kAuditor, "other", signing1.public_key, std::nullopt, t1).code(),
      Status::Code::kAlreadyExists);
  ASSERT_TRUE(r.Revoke("unit-520102001001", std::nullopt, t1).ok());
  // A revoked key is never reused, even by its holder.
  EXPECT_EQ(r.Register("unit-520102001001", KeyRole::kUnit, "520102001001", curve2.public_key,
                       std::nullopt, t2)
                .code(),
            Status::Code::kAlreadyExists);
  EXPECT_EQ(r.Register("unit-520102001001", KeyRole::kUnit, "520102001002", curve3.public_key,
                       std::nullopt, t2)
                .code(),
            Status::Code::kInvalidArgument);
  EXPECT_TRUE(r.Register("unit-520102001001", KeyRole::kUnit, "520102001001", curve3.public_key,
                         std::nullopt, t2)
                  .ok());
  EXPECT_EQ(r.Register("bad name", KeyRole::kAuditor, "a", NewKey(KeyKind::kCurve).public_key,
                       std::nullopt, t2)
                .code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(
      r.Register("u", KeyRole::kUnit, "5201x", NewKey(KeyKind::kCurve).public_key, std::nullopt, t2)
          .code(),
      Status::Code::kInvalidArgument);
}

TEST_F(KeyRegistryTest, ARefusedRegistrationChangesNothing) {
  KeyRegistry r = WithPublisherAndUnit();
  std::string before = r.Serialize();
  // The CURVE key is new but the signing key is taken.
  EXPECT_FALSE(r.Register("auditor", KeyRole::kAuditor, "auditor", curve3.public_key,
                          signing1.public_key, t1)
                   .ok());
  EXPECT_EQ(r.Serialize(), before);
}

TEST_F(KeyRegistryTest, ARefusedRotationChangesNothing) {
  KeyRegistry r = WithPublisherAndUnit();
  std::string before = r.Serialize();
  // The new CURVE key is fine, the new signing key is the unit's CURVE key.
  EXPECT_EQ(r.Rotate("guiyang-health", curve3.public_key, curve2.public_key, t1).code(),
            Status::Code::kAlreadyExists);
  EXPECT_EQ(r.Serialize(), before);
  EXPECT_TRUE(r.AdmitCurveKey(curve1.public_key).ok());
  EXPECT_EQ(r.FindCurveKey(curve3.public_key), nullptr);
}

TEST_F(KeyRegistryTest, ParseRefusesSecretsAndInconsistentRecords) {
  std::string text = WithPublisherAndUnit().Serialize();
  auto error = [](const std::string& t) {
    Result<KeyRegistry> r = KeyRegistry::Parse(t, "keys.toml");
    EXPECT_FALSE(r.ok()) << t;
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_TRUE(KeyRegistry::Parse(text, "keys.toml").ok());
  EXPECT_TRUE(KeyRegistry::Parse("", "keys.toml")->records().empty());

  std::string secret = text + "secret = \"" + Z85Encode(curve3.secret_key).value() + "\"\n";
  EXPECT_NE(error(secret).find("public keys only"), std::string::npos);

  // The last record listed twice.
  std::string last = text.substr(text.rfind("[[key]]"));
  EXPECT_NE(error(text + "\n" + last).find("never reused"), std::string::npos);

  std::string bad_id = text;
  size_t at = bad_id.find("key_id = \"") + 10;
  bad_id.replace(at, 16, "0000000000000000");
  EXPECT_NE(error(bad_id).find("does not match"), std::string::npos);

  EXPECT_NE(error(text + "extra = 1\n").find("unknown field"), std::string::npos);
  EXPECT_NE(error("other = 1\n").find("unknown key"), std::string::npos);
  EXPECT_NE(error("[[key]]\nname = \"x\"\n").find("keys.toml:1"), std::string::npos);

  std::string second_active = text;
  // Give the unit's record the publisher's name: a second active CURVE key.
  size_t unit = second_active.find("name = \"unit-520102001001\"");
  second_active.replace(unit, std::string("name = \"unit-520102001001\"").size(),
                        "name = \"guiyang-health\"");
  EXPECT_FALSE(KeyRegistry::Parse(second_active, "keys.toml").ok());
}

TEST_F(KeyRegistryTest, UnitSubjectsAreCheckedAgainstTheUnitRegistry) {
  Registry units = Registry::Parse(
                       "52\tprovince\tGuizhou\n5201\tcity\tGuiyang\n520102\tdistrict\tNanming\n"
                       "520102001\tstreet\tXinhua\n520102001001\tcommunity\tFushui\n",
                       "units")
                       .value();
  KeyRegistry r = WithPublisherAndUnit();
  EXPECT_TRUE(r.CheckSubjects(units).ok());
  ASSERT_TRUE(
      r.Register("unit-5202", KeyRole::kUnit, "5202", curve3.public_key, std::nullopt, t1).ok());
  Status st = r.CheckSubjects(units);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("unit 5202"), std::string::npos);
}

TEST_F(KeyRegistryTest, FileUpdatesCreateTheRegistryAndWriteNothingOnRefusal) {
  TempDir dir;
  std::string path = dir / "keys.toml";
  auto register_publisher = [&](KeyRegistry& r) {
    return r.Register("guiyang-health", KeyRole::kPublisher, "guiyang-health", curve1.public_key,
                      std::nullopt, t0);
  };
  EXPECT_EQ(UpdateKeyRegistryFile(path, /*create=*/false, register_publisher).code(),
            Status::Code::kNotFound);
  ASSERT_TRUE(UpdateKeyRegistryFile(path, /*create=*/true, register_publisher).ok());
  std::string before = ReadFile(path);
  EXPECT_FALSE(UpdateKeyRegistryFile(path, false, register_publisher).ok());
  EXPECT_EQ(ReadFile(path), before);
  ASSERT_TRUE(UpdateKeyRegistryFile(path, false, [&](KeyRegistry& r) {
                return r.Revoke("guiyang-health", std::nullopt, t1);
              }).ok());
  EXPECT_TRUE(KeyRegistry::Load(path)->FindCurveKey(curve1.public_key)->revoked());
}

TEST_F(KeyRegistryTest, WatcherPicksUpARevocationAndKeepsTheLastGoodRegistry) {
  TempDir dir;
  std::string path = dir / "keys.toml";
  ASSERT_TRUE(WithPublisherAndUnit().Save(path).ok());
  Result<KeyRegistryWatcher> watcher = KeyRegistryWatcher::Open(path);
  ASSERT_TRUE(watcher.ok()) << watcher.status().ToString();
  EXPECT_FALSE(watcher->ReloadIfChanged().value());
  EXPECT_TRUE(watcher->registry().AdmitCurveKey(curve2.public_key).ok());

  ASSERT_TRUE(UpdateKeyRegistryFile(path, false, [&](KeyRegistry& r) {
                return r.Revoke("unit-520102001001", std::nullopt, t1);
              }).ok());
  EXPECT_TRUE(watcher->ReloadIfChanged().value());
  EXPECT_FALSE(watcher->registry().AdmitCurveKey(curve2.public_key).ok());

  WriteFile(path, "[[key]]\nname = broken");
  EXPECT_FALSE(watcher->ReloadIfChanged().ok());
  EXPECT_FALSE(watcher->registry().AdmitCurveKey(curve2.public_key).ok());
  EXPECT_TRUE(watcher->registry().AdmitCurveKey(curve1.public_key).ok());
}

}  // namespace
}  // namespace flatcast
