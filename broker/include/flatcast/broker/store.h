// The broker's durable state in RocksDB (layout in docs/STORAGE.md):
//   default      format marker and counters ("meta/...")
//   directives   seq (8 bytes big-endian)            -> StoredDirective
//   ids          directive id                         -> seq
//   idempotency  publisher idempotency key            -> seq
//   acks         seq | unit code | 0x00 | level byte  -> AckRecord
//   public       directive id                         -> PublicRecord
//   public_ids   public id                            -> directive id
//   events       event seq (8 bytes big-endian)       -> LifecycleEvent
//   ratings      seq | unit code                      -> RatingRecord (latest)
//   log          log seq (8 bytes big-endian)         -> LogRecord (hash-chained)
// Every acknowledgement, rating and lifecycle event is also appended to the
// log, in the same write. Every write that a peer is told about is synced
// before the call returns.
//
// Threads: one thread writes (the broker's event loop) and is the only one
// to call head_seq(); the other const methods read RocksDB and may be called
// from other threads at the same time (the broker's query worker).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/log_chain.h"
#include "flatcast/status.h"

namespace flatcast::broker {

namespace v1 = ::flatcast::v1;

struct StoreOptions {
  std::string path;
  // Create an empty store when `path` holds none. Without it a missing or
  // unrecognisable data directory is refused, so a typo never starts an empty broker.
  bool initialise = false;
  // RocksDB's table-file cache; part of the broker's file-descriptor budget.
  int max_open_files = 64;
  // Open for reading only (an auditor's copy, or a stopped broker's store);
  // every write then fails.
  bool read_only = false;
};

struct AckEntry {
  uint64_t seq;
  std::string unit_code;
  v1::AckLevel level;
  v1::AckRecord record;
};

struct RatingEntry {
  uint64_t seq;
  std::string unit_code;
  v1::RatingRecord record;
};

// Everything one state change writes, applied in one synced WriteBatch.
struct StoreWrite {
  const v1::StoredDirective* directive = nullptr;  // must be head_seq()+1
  // Counters under "meta/daily/<key>" (directive ids, public ids).
  std::vector<std::pair<std::string, uint32_t>> counters;
  std::vector<v1::PublicRecord> public_records;
  // Appended in order; the store assigns event_seq.
  std::vector<v1::LifecycleEvent> events;
};

class Store {
 public:
  virtual ~Store() = default;

  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);

  // Highest sequence number stored; 0 for an empty store.
  virtual uint64_t head_seq() const = 0;

  // Stores a new directive with its id and idempotency key (if any) and the
  // issuer's daily counter, in one synced write. `d.seq()` must be head_seq()+1.
  virtual Status PutDirective(const v1::StoredDirective& d, std::string_view daily_counter_key,
                              uint32_t daily_counter) = 0;
  // Applies a StoreWrite atomically and durably.
  virtual Status Write(StoreWrite write) = 0;
  virtual Result<std::optional<v1::StoredDirective>> GetDirective(uint64_t seq) const = 0;
  virtual Result<std::optional<uint64_t>> SeqOfId(std::string_view id) const = 0;
  virtual Result<std::optional<uint64_t>> SeqOfIdempotencyKey(std::string_view key) const = 0;
  // Last value stored under a daily counter key; 0 if none.
  virtual Result<uint32_t> DailyCounter(std::string_view key) const = 0;
  // Calls `fn` for every directive in sequence order; stops at the first error.
  virtual Status ForEachDirective(const std::function<Status(const v1::StoredDirective&)>& fn) const = 0;

  virtual Status ForEachPublicRecord(const std::function<void(const v1::PublicRecord&)>& fn) const = 0;
  // Lifecycle events in order; only those of `directive_id` unless it is empty.
  virtual Status ForEachEvent(std::string_view directive_id,
                              const std::function<void(const v1::LifecycleEvent&)>& fn) const = 0;

  // Stores acknowledgements and ratings in one synced write (group commit),
  // appending each to the log. Storing an ack that is already there again
  // rewrites it and logs it again: callers store each ack once. A rating
  // replaces the unit's earlier rating of the same directive version.
  virtual Status PutFeedback(const std::vector<AckEntry>& acks,
                             const std::vector<RatingEntry>& ratings) = 0;
  Status PutAcks(const std::vector<AckEntry>& acks) { return PutFeedback(acks, {}); }
  // Calls `fn` for each ack of directive `seq` by a unit at or below
  // `region_prefix` (empty: all), in unit-code order. One range scan.
  virtual Status ForEachAck(uint64_t seq, std::string_view region_prefix,
                            const std::function<void(std::string_view unit_code, v1::AckLevel level,
                                                     const v1::AckRecord& record)>& fn) const = 0;
  virtual Result<std::optional<v1::AckRecord>> GetAck(uint64_t seq, std::string_view unit_code,
                                                      v1::AckLevel level) const = 0;

  // Every stored rating (the latest of each unit and directive version), in
  // (seq, unit) order.
  virtual Status ForEachRating(
      const std::function<void(uint64_t seq, std::string_view unit_code,
                               const v1::RatingRecord& record)>& fn) const = 0;
  virtual Result<std::optional<v1::RatingRecord>> GetRating(uint64_t seq,
                                                            std::string_view unit_code) const = 0;
  virtual Result<std::optional<v1::PublicRecord>> GetPublicRecord(std::string_view id) const = 0;

  // Log records after `after_log_seq`, in order, while `fn` returns true.
  virtual Status ForEachLogRecord(uint64_t after_log_seq,
                                  const std::function<bool(const v1::LogRecord&)>& fn) const = 0;
  virtual Result<std::optional<v1::LogRecord>> GetLogRecord(uint64_t log_seq) const = 0;
  // The last record's log_seq, read from the store (0: empty log).
  virtual Result<uint64_t> HeadLogSeq() const = 0;
  // Walks the log's hash chain (ChainVerifier) in one snapshot, then, in one
  // scan of each column family, checks that every stored acknowledgement,
  // rating and event equals its latest log record (by 64-bit digests of key
  // and value, held in memory: 24 bytes a record) and that the log names
  // nothing the store lacks and the store holds nothing the log lacks. `anchor_hash` non-empty:
  // record `anchor_log_seq` must have that hash.
  virtual Result<ChainReport> VerifyLog(uint64_t anchor_log_seq,
                                        const std::string& anchor_hash) const = 0;
};

// Key encodings, exposed for tests and tools.
std::string SeqKey(uint64_t seq);
std::string AckKey(uint64_t seq, std::string_view unit_code, v1::AckLevel level);
std::string RatingKey(uint64_t seq, std::string_view unit_code);

}  // namespace flatcast::broker
