#include "flatcast/curve.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "temp_dir.h"

namespace flatcast {
namespace {

std::string Seed(char fill) { return std::string(kKeyBytes, fill); }

TEST(UnitCurveKeys, DerivationIsDeterministicPerSeedAndUnit) {
  KeyPair a = DeriveUnitCurveKey(Seed('a'), "520102016001").value();
  KeyPair again = DeriveUnitCurveKey(Seed('a'), "520102016001").value();
  KeyPair other_unit = DeriveUnitCurveKey(Seed('a'), "520102016002").value();
  KeyPair other_seed = DeriveUnitCurveKey(Seed('b'), "520102016001").value();
  EXPECT_EQ(a.public_key, again.public_key);
  EXPECT_EQ(a.secret_key, again.secret_key);
  EXPECT_NE(a.public_key, other_unit.public_key);
  EXPECT_NE(a.public_key, other_seed.public_key);
  EXPECT_EQ(a.kind, KeyKind::kCurve);
  // The public key is the one libzmq derives from the secret.
  EXPECT_EQ(KeyPairFromSecret(KeyKind::kCurve, a.secret_key).value().public_key, a.public_key);
}

TEST(UnitCurveKeys, RefusesASeedOfTheWrongSize) {
  EXPECT_FALSE(DeriveUnitCurveKey("short", "52").ok());
}

TEST(SeedFiles, AreWrittenOwnerOnlyAndReadBack) {
  testing::TempDir dir;
  std::string path = dir / "seed";
  ASSERT_TRUE(WriteNewSeedFile(path, false).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Result<std::string> seed = ReadSeedFile(path);
  ASSERT_TRUE(seed.ok()) << seed.status().message();
  EXPECT_EQ(seed->size(), kKeyBytes);
  EXPECT_EQ(WriteNewSeedFile(path, false).code(), Status::Code::kAlreadyExists);
  ASSERT_TRUE(WriteNewSeedFile(path, true).ok());
  EXPECT_NE(ReadSeedFile(path).value(), *seed);
}

TEST(SeedFiles, RefusesOneOthersCanReadAndOtherFiles) {
  testing::TempDir dir;
  std::string path = dir / "seed";
  ASSERT_TRUE(WriteNewSeedFile(path, false).ok());
  ::chmod(path.c_str(), 0640);
  Result<std::string> shared = ReadSeedFile(path);
  ASSERT_FALSE(shared.ok());
  EXPECT_EQ(shared.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(shared.status().message().find("chmod 600"), std::string::npos);

  std::string key = dir / "curve";
  KeyPair pair = GenerateKeyPair(KeyKind::kCurve).value();
  ASSERT_TRUE(WriteKeyFiles(key, pair, false).ok());
  Result<std::string> not_seed = ReadSeedFile(key + ".key");
  ASSERT_FALSE(not_seed.ok());
  EXPECT_NE(not_seed.status().message().find("not a unit key seed file"), std::string::npos);
}

TEST(CurveClientKeys, NeedBothTheClientKeyAndTheBrokerKey) {
  testing::TempDir dir;
  KeyPair pair = GenerateKeyPair(KeyKind::kCurve).value();
  ASSERT_TRUE(WriteKeyFiles(dir / "client", pair, false).ok());
  EXPECT_FALSE(LoadCurveClientKeys("", "").value().has_value());
  Result<std::optional<CurveClientKeys>> half = LoadCurveClientKeys(dir / "client.key", "");
  ASSERT_FALSE(half.ok());
  EXPECT_NE(half.status().message().find("--broker-key is missing"), std::string::npos);
  // A public key file does not do as the client's own key.
  EXPECT_FALSE(LoadCurveClientKeys(dir / "client.pub", dir / "client.pub").ok());
  auto both = LoadCurveClientKeys(dir / "client.key", dir / "client.pub");
  ASSERT_TRUE(both.ok()) << both.status().message();
  EXPECT_EQ((*both)->public_key, pair.public_key);
  EXPECT_EQ((*both)->server_public, pair.public_key);
}

TEST(HandshakeFailures, SayWhatToCheck) {
  EXPECT_NE(DescribeHandshakeFailure(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400, "tcp://b:1")
                .find("refused this client's CURVE key (ZAP status 400)"),
            std::string::npos);
  EXPECT_NE(DescribeHandshakeFailure(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                                     ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH, "tcp://b:1")
                .find("one side uses CURVE and the other does not"),
            std::string::npos);
  EXPECT_NE(DescribeHandshakeFailure(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                                     ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC, "tcp://b:1")
                .find("is --broker-key the broker's public key"),
            std::string::npos);
}

}  // namespace
}  // namespace flatcast
