// The tamper-evident log's hash chain (docs/STORAGE.md, "The log"). Every
// acknowledgement, rating and lifecycle event the broker stores is also a
// LogRecord; each record carries the hash of the one before it and its own:
//
//   hash = BLAKE2b-256(kLogHashContext || record serialized without `hash`)
//
// serialized deterministically. Changing, removing or inserting a record
// breaks the chain at that record, unless everything after it is rewritten
// too, which an auditor detects by comparing the head hash (or any record's
// hash) with one noted earlier (an anchor).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "flatcast.pb.h"

namespace flatcast {

inline constexpr std::string_view kLogHashContext = "flatcast.v1.log\n";
inline constexpr size_t kLogHashBytes = 32;

// The hash of `record` (its `hash` field is ignored).
std::string LogRecordHash(const v1::LogRecord& record);

// The replication chain over a store's commits (docs/HA.md): each commit's
// chain hash is BLAKE2b-256(kBatchHashContext || previous chain hash ||
// the commit's WriteBatch bytes), the previous being empty for commit 1.
// Two stores whose chain hashes agree at commit N hold the same N commits.
inline constexpr std::string_view kBatchHashContext = "flatcast.v1.batch\n";
std::string BatchChainHash(std::string_view prev_chain, std::string_view batch);

// Sets log_seq, prev_hash and hash: the record becomes record `log_seq` of a
// chain whose previous record has hash `prev_hash` (empty for the first).
void SealLogRecord(v1::LogRecord& record, uint64_t log_seq, std::string_view prev_hash);

// What a walk of the chain found.
struct ChainReport {
  uint64_t records = 0;       // records read
  uint64_t head_log_seq = 0;  // the last record's log_seq (0: empty log)
  std::string head_hash;      // its hash
  uint64_t first_bad_log_seq = 0;  // 0: no problem
  std::string first_problem;
  uint32_t problems = 0;
  bool ok() const { return problems == 0; }
};

// Walks a chain fed record by record in key order; checks that keys run
// 1, 2, 3, ... without gaps, that each record decodes, carries its own key as
// log_seq, links to the previous record's hash and matches its own hash, and,
// with an anchor, that record anchor_seq has the anchored hash.
class ChainVerifier {
 public:
  ChainVerifier() = default;
  ChainVerifier(uint64_t anchor_log_seq, std::string anchor_hash)
      : anchor_seq_(anchor_log_seq), anchor_hash_(std::move(anchor_hash)) {}

  // The value stored under log key `key_seq`. Returns the decoded record, or
  // nullopt when it does not decode (a problem is recorded).
  std::optional<v1::LogRecord> Add(uint64_t key_seq, std::string_view value);
  // Records a problem found elsewhere (a primary record that differs from
  // the log) at `log_seq`. The report's first problem is the one at the
  // lowest log_seq.
  void Problem(uint64_t log_seq, std::string what);
  // Call after the last record.
  const ChainReport& Finish();

  const ChainReport& report() const { return report_; }

 private:
  uint64_t anchor_seq_ = 0;
  std::string anchor_hash_;
  bool anchor_seen_ = false;
  uint64_t expected_ = 1;
  std::string prev_hash_;  // empty before record 1
  bool prev_decoded_ = true;
  ChainReport report_;
};

}  // namespace flatcast
