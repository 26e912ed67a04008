#include "flatcast/log_chain.h"

#include <gtest/gtest.h>

#include <vector>

namespace flatcast {
namespace {

// A chain of `n` acknowledgement records, as the store writes them.
std::vector<v1::LogRecord> Chain(int n) {
  std::vector<v1::LogRecord> chain;
  std::string prev;
  for (int i = 1; i <= n; ++i) {
    v1::LogRecord r;
    r.mutable_at()->set_seconds(1764316800 + i);
    r.mutable_ack()->set_seq(1);
    r.mutable_ack()->set_unit_code("52010200100" + std::to_string(i % 10));
    r.mutable_ack()->set_level(v1::RECEIVED);
    SealLogRecord(r, static_cast<uint64_t>(i), prev);
    prev = r.hash();
    chain.push_back(r);
  }
  return chain;
}

ChainReport Walk(const std::vector<std::pair<uint64_t, std::string>>& stored,
                 ChainVerifier verifier = ChainVerifier()) {
  for (const auto& [key, value] : stored) verifier.Add(key, value);
  return verifier.Finish();
}

std::vector<std::pair<uint64_t, std::string>> Stored(const std::vector<v1::LogRecord>& chain) {
  std::vector<std::pair<uint64_t, std::string>> out;
  for (const auto& r : chain) out.emplace_back(r.log_seq(), r.SerializeAsString());
  return out;
}

TEST(LogChain, ASealedChainVerifiesAndNamesItsHead) {
  auto chain = Chain(5);
  ChainReport report = Walk(Stored(chain));
  EXPECT_TRUE(report.ok()) << report.first_problem;
  EXPECT_EQ(report.records, 5u);
  EXPECT_EQ(report.head_log_seq, 5u);
  EXPECT_EQ(report.head_hash, chain.back().hash());
  EXPECT_EQ(chain[0].prev_hash(), std::string(kLogHashBytes, '\0'));
  EXPECT_EQ(chain[1].prev_hash(), chain[0].hash());
}

TEST(LogChain, HashCoversEveryFieldButItself) {
  auto chain = Chain(1);
  v1::LogRecord changed = chain[0];
  changed.mutable_ack()->mutable_record()->set_note("x");
  EXPECT_NE(LogRecordHash(changed), chain[0].hash());
  v1::LogRecord rehashed = chain[0];
  rehashed.set_hash("anything");
  EXPECT_EQ(LogRecordHash(rehashed), chain[0].hash());
}

TEST(LogChain, AChangedRecordIsFoundAtItsSequenceNumber) {
  auto stored = Stored(Chain(5));
  v1::LogRecord r;
  ASSERT_TRUE(r.ParseFromString(stored[2].second));
  r.mutable_ack()->set_unit_code("520102001999");
  stored[2].second = r.SerializeAsString();
  ChainReport report = Walk(stored);
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.first_bad_log_seq, 3u);
  EXPECT_NE(report.first_problem.find("record 3 was changed"), std::string::npos)
      << report.first_problem;
}

TEST(LogChain, BytesThatDoNotDecodeAreAChange) {
  auto stored = Stored(Chain(3));
  stored[1].second = "\xff\xff\xff";
  ChainReport report = Walk(stored);
  EXPECT_EQ(report.first_bad_log_seq, 2u);
  EXPECT_NE(report.first_problem.find("does not decode"), std::string::npos);
}

TEST(LogChain, ARemovedRecordIsReportedMissing) {
  auto stored = Stored(Chain(5));
  stored.erase(stored.begin() + 1);
  ChainReport report = Walk(stored);
  EXPECT_EQ(report.first_bad_log_seq, 2u);
  EXPECT_NE(report.first_problem.find("record 2 is missing"), std::string::npos)
      << report.first_problem;
}

TEST(LogChain, ARecordInsertedAndRenumberedBreaksTheChain) {
  // A forger inserts a record after 2 and renumbers the rest, resealing the
  // inserted one against record 2; record 4 (old 3) still links to old 2's
  // successor.
  auto chain = Chain(4);
  v1::LogRecord forged;
  forged.mutable_ack()->set_seq(1);
  forged.mutable_ack()->set_unit_code("520102001777");
  SealLogRecord(forged, 3, chain[1].hash());
  std::vector<v1::LogRecord> tampered = {chain[0], chain[1], forged};
  for (size_t i = 2; i < chain.size(); ++i) {
    v1::LogRecord moved = chain[i];
    moved.set_log_seq(moved.log_seq() + 1);
    moved.set_hash(LogRecordHash(moved));  // resealed at its new place
    tampered.push_back(moved);
  }
  ChainReport report = Walk(Stored(tampered));
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.first_bad_log_seq, 4u);
  EXPECT_NE(report.first_problem.find("the chain breaks at record 4"), std::string::npos)
      << report.first_problem;
}

TEST(LogChain, AnAnchorRevealsAChainRewrittenFromTheStart) {
  auto chain = Chain(4);
  std::string anchored = chain[2].hash();
  // Rewritten from record 1 on: internally consistent, but not what was noted.
  std::vector<v1::LogRecord> rewritten;
  std::string prev;
  for (auto r : chain) {
    r.mutable_ack()->mutable_record()->set_version(9);
    SealLogRecord(r, r.log_seq(), prev);
    prev = r.hash();
    rewritten.push_back(r);
  }
  EXPECT_TRUE(Walk(Stored(rewritten)).ok());
  ChainReport report = Walk(Stored(rewritten), ChainVerifier(3, anchored));
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.first_bad_log_seq, 3u);
  EXPECT_NE(report.first_problem.find("anchored"), std::string::npos);
  EXPECT_TRUE(Walk(Stored(chain), ChainVerifier(3, anchored)).ok());
}

TEST(LogChain, AnAnchorBeyondTheEndRevealsATruncation) {
  auto chain = Chain(5);
  std::string anchored = chain[4].hash();
  chain.pop_back();
  ChainReport report = Walk(Stored(chain), ChainVerifier(5, anchored));
  EXPECT_FALSE(report.ok());
  EXPECT_NE(report.first_problem.find("not in the log"), std::string::npos);
}

}  // namespace
}  // namespace flatcast
