#include "flatcast/log_chain.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <sodium.h>

#include "flatcast/signing.h"

namespace flatcast {

namespace {

std::string DeterministicBytes(const v1::LogRecord& record) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    record.SerializeWithCachedSizes(&out);
  }
  return bytes;
}

std::string Short(std::string_view hash) { return ToHex(hash.substr(0, 8)); }

}  // namespace

std::string LogRecordHash(const v1::LogRecord& record) {
  v1::LogRecord copy = record;
  copy.clear_hash();
  copy.ByteSizeLong();  // caches sizes for SerializeWithCachedSizes
  std::string message(kLogHashContext);
  message += DeterministicBytes(copy);
  if (sodium_init() < 0) return std::string();
  std::string hash(kLogHashBytes, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(hash.data()), hash.size(),
                     reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                     nullptr, 0);
  return hash;
}

std::string BatchChainHash(std::string_view prev_chain, std::string_view batch) {
  if (sodium_init() < 0) return std::string();
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, kLogHashBytes);
  for (std::string_view part : {kBatchHashContext, prev_chain, batch}) {
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(part.data()),
                              part.size());
  }
  std::string hash(kLogHashBytes, '\0');
  crypto_generichash_final(&state, reinterpret_cast<unsigned char*>(hash.data()), hash.size());
  return hash;
}

void SealLogRecord(v1::LogRecord& record, uint64_t log_seq, std::string_view prev_hash) {
  record.set_log_seq(log_seq);
  record.set_prev_hash(prev_hash.empty() ? std::string(kLogHashBytes, '\0') : std::string(prev_hash));
  record.set_hash(LogRecordHash(record));
}

void ChainVerifier::Problem(uint64_t log_seq, std::string what) {
  // The first problem is the one at the lowest record, whichever pass found it.
  if (report_.problems++ == 0 || log_seq < report_.first_bad_log_seq) {
    report_.first_bad_log_seq = log_seq;
    report_.first_problem = std::move(what);
  }
}

std::optional<v1::LogRecord> ChainVerifier::Add(uint64_t key_seq, std::string_view value) {
  ++report_.records;
  if (key_seq > expected_) {
    Problem(expected_, key_seq == expected_ + 1
                           ? fmt::format("record {} is missing (removed): the log goes on at {}",
                                         expected_, key_seq)
                           : fmt::format("records {} to {} are missing (removed)", expected_,
                                         key_seq - 1));
  }
  expected_ = key_seq + 1;
  v1::LogRecord record;
  if (!record.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    Problem(key_seq, fmt::format("record {} does not decode (changed)", key_seq));
    prev_hash_.clear();
    prev_decoded_ = false;
    return std::nullopt;
  }
  report_.head_log_seq = key_seq;
  report_.head_hash = record.hash();
  std::string hash = LogRecordHash(record);
  if (record.log_seq() != key_seq) {
    Problem(key_seq, fmt::format("the record stored as {} says it is record {} (moved or inserted)",
                                 key_seq, record.log_seq()));
  } else if (hash != record.hash()) {
    Problem(key_seq, fmt::format("record {} was changed: its content does not match its hash", key_seq));
  } else if (prev_decoded_) {
    std::string expected_prev =
        prev_hash_.empty() && key_seq == 1 ? std::string(kLogHashBytes, '\0') : prev_hash_;
    if (record.prev_hash() != expected_prev) {
      Problem(key_seq,
              fmt::format("the chain breaks at record {}: it links to {}, but record {} has hash {} "
                          "(a record before it was inserted, removed or rewritten)",
                          key_seq, Short(record.prev_hash()), key_seq - 1, Short(expected_prev)));
    }
  }
  if (anchor_seq_ != 0 && key_seq == anchor_seq_) {
    anchor_seen_ = true;
    if (record.hash() != anchor_hash_) {
      Problem(key_seq, fmt::format("record {} has hash {}, not the anchored {}: the log was "
                                   "rewritten up to here",
                                   key_seq, Short(record.hash()), Short(anchor_hash_)));
    }
  }
  prev_hash_ = record.hash();
  prev_decoded_ = true;
  return record;
}

const ChainReport& ChainVerifier::Finish() {
  if (anchor_seq_ != 0 && !anchor_seen_) {
    Problem(anchor_seq_, fmt::format("the anchored record {} is not in the log (the log ends at {}): "
                                     "records were removed from its end",
                                     anchor_seq_, report_.head_log_seq));
  }
  return report_;
}

}  // namespace flatcast
