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
//   batches      commit seq (8 bytes big-endian)      -> chain hash (32 bytes) | WriteBatch
//   attachments  SHA-256 (32 bytes)                   -> AttachmentMeta
//                SHA-256 | offset (8 bytes big-endian) -> a chunk of the document
// Every acknowledgement, rating and lifecycle event is also appended to the
// log, in the same write. Every write is synced before the call returns.
//
// Threads: one thread writes (the broker's event loop through its commit
// path) and is the only one to call Write, Recover, head_seq() and heads();
// the other const methods read RocksDB and may be called from other threads
// at the same time (the broker's query worker).
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

// One answer to a version's return form; record.revision() numbers the
// unit's answers to that version from 1 (a correction is the next).
struct ReturnEntry {
  uint64_t seq;
  std::string unit_code;
  v1::ReturnRecord record;
};

// Everything one commit writes, applied in one synced WriteBatch: a
// directive version with its indexes, counters, public records, lifecycle
// events, acknowledgements and ratings, each event, acknowledgement and
// rating with its log record.
// A chunk of an attached document, stored under its SHA-256 and offset.
struct AttachmentChunkWrite {
  std::string sha256;
  uint64_t offset = 0;
  std::string data;
};

struct StoreWrite {
  std::optional<v1::StoredDirective> directive;  // its seq must be head_seq()+1
  // Counters under "meta/daily/<key>" (directive ids, public ids).
  std::vector<std::pair<std::string, uint32_t>> counters;
  std::vector<v1::PublicRecord> public_records;
  // Appended in order; the store assigns event_seq.
  std::vector<v1::LifecycleEvent> events;
  // Storing an ack that is there already rewrites it and logs it again:
  // callers store each ack once. A rating replaces the unit's earlier
  // rating of the same directive version.
  std::vector<AckEntry> acks;
  std::vector<RatingEntry> ratings;
  // Each kept under its revision: a correction adds to the earlier answer.
  std::vector<ReturnEntry> returns;
  // Positions in another broker's stream under "meta/cursor/<name>"
  // (docs/RELAY.md): at a relay, the last upstream version stored
  // ("upstream"); at an upstream, each relay's log position up to which its
  // acknowledgements are stored ("relay/<region>").
  std::vector<std::pair<std::string, uint64_t>> cursors;
  // Attached documents: chunks, and each document's meta under its SHA-256;
  // `attachment_drops` removes a document's meta and chunks (an upload
  // whose content did not match its SHA-256).
  std::vector<AttachmentChunkWrite> attachment_chunks;
  std::vector<std::pair<std::string, v1::AttachmentMeta>> attachment_metas;
  std::vector<std::string> attachment_drops;

  bool empty() const {
    return !directive && counters.empty() && public_records.empty() && events.empty() &&
           acks.empty() && ratings.empty() && returns.empty() && cursors.empty() &&
           attachment_chunks.empty() && attachment_metas.empty() && attachment_drops.empty();
  }
};

// One commit as it went to RocksDB, as the standby stores it too
// (docs/HA.md): the WriteBatch's bytes and the chain hash linking it to
// every commit before it (log_chain.h, BatchChainHash).
struct ReplicaBatch {
  uint64_t commit_seq = 0;
  std::string chain;  // 32 bytes
  std::string data;   // rocksdb::WriteBatch::Data()
};

// The heads of what is stored, which a successful write moves.
struct StoreHeads {
  uint64_t commit_seq = 0;  // writes applied since the store was created
  uint64_t directive_seq = 0;
  uint64_t event_seq = 0;
  uint64_t log_seq = 0;
  bool operator==(const StoreHeads&) const = default;
};

class Store {
 public:
  virtual ~Store() = default;

  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);

  // Highest directive sequence number stored; 0 for an empty store.
  virtual uint64_t head_seq() const = 0;
  virtual StoreHeads heads() const = 0;

  // Applies a StoreWrite atomically and durably (synced before it returns),
  // as commit heads().commit_seq + 1. On an error the outcome is not known
  // for certain (a sync may fail after the bytes reached the disk), and the
  // store may refuse further writes (RocksDB's background error) until
  // Recover() succeeds; after that, heads() tells whether the write was
  // applied. A store opened read-only refuses every write.
  virtual Status Write(StoreWrite write) = 0;
  // After a failed write: brings the store back to accepting writes and
  // re-reads its heads. Ok at once when no write has failed.
  virtual Status Recover() = 0;

  // Replication (docs/HA.md). Every commit is kept as a ReplicaBatch under
  // its commit seq, in the same write. The batch of the last successful
  // Write or ApplyReplica (commit_seq 0 before any):
  virtual const ReplicaBatch& last_batch() const = 0;
  // The chain hash of the last commit (empty for none, or for a store
  // whose commits predate replication).
  virtual const std::string& head_chain() const = 0;
  // A standby stores a batch its leader committed, synced: it must be
  // commit heads().commit_seq + 1 (InvalidArgument otherwise: a gap, or one
  // stored already) and follow this store's chain (Corruption otherwise: the
  // stores have diverged), and name only column families this store has.
  // With `sync` false the write is not durable until the next synced one,
  // which makes it durable too (RocksDB syncs its log up to that point): a
  // standby that received several commits stores them with one sync and
  // acknowledges the last.
  virtual Status ApplyReplica(const ReplicaBatch& batch, bool sync = true) = 0;
  // Makes every write so far durable (after unsynced ApplyReplica calls).
  virtual Status SyncLog() = 0;
  // The batch of commit `commit_seq`, when kept. May be called from other
  // threads (the leader's resync of a standby).
  virtual Result<std::optional<ReplicaBatch>> GetBatch(uint64_t commit_seq) const = 0;

  // Conveniences over Write.
  Status PutDirective(const v1::StoredDirective& d, std::string_view daily_counter_key,
                      uint32_t daily_counter);
  Status PutFeedback(std::vector<AckEntry> acks, std::vector<RatingEntry> ratings);
  Status PutAcks(std::vector<AckEntry> acks) { return PutFeedback(std::move(acks), {}); }

  virtual Result<std::optional<v1::StoredDirective>> GetDirective(uint64_t seq) const = 0;
  virtual Result<std::optional<uint64_t>> SeqOfId(std::string_view id) const = 0;
  virtual Result<std::optional<uint64_t>> SeqOfIdempotencyKey(std::string_view key) const = 0;
  // Last value stored under a daily counter key; 0 if none.
  virtual Result<uint32_t> DailyCounter(std::string_view key) const = 0;
  // Calls `fn` for every daily counter (key without "meta/daily/", value).
  virtual Status ForEachCounter(
      const std::function<void(std::string_view key, uint32_t value)>& fn) const = 0;
  // The cursor stored under that name (StoreWrite::cursors); 0 if none.
  virtual Result<uint64_t> Cursor(std::string_view name) const = 0;
  // Calls `fn` for every cursor whose name starts with `prefix`.
  virtual Status ForEachCursor(
      std::string_view prefix,
      const std::function<void(std::string_view name, uint64_t value)>& fn) const = 0;
  // Calls `fn` for every directive in sequence order; stops at the first error.
  virtual Status ForEachDirective(const std::function<Status(const v1::StoredDirective&)>& fn) const = 0;

  virtual Status ForEachPublicRecord(const std::function<void(const v1::PublicRecord&)>& fn) const = 0;
  // Lifecycle events in order; only those of `directive_id` unless it is empty.
  virtual Status ForEachEvent(std::string_view directive_id,
                              const std::function<void(const v1::LifecycleEvent&)>& fn) const = 0;

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
  // An attached document's meta, and its chunk at `offset` (a multiple of
  // kAttachmentChunkBytes). May be called from other threads.
  virtual Result<std::optional<v1::AttachmentMeta>> GetAttachmentMeta(std::string_view sha256) const = 0;
  virtual Result<std::optional<std::string>> GetAttachmentChunk(std::string_view sha256,
                                                                uint64_t offset) const = 0;
  // Every answer to a return form of version `seq` (0: of every version) by
  // a unit at or below `region_prefix` (empty: all), in (seq, unit,
  // revision) order: a unit's latest answer comes last. One range scan.
  virtual Status ForEachReturn(
      uint64_t seq, std::string_view region_prefix,
      const std::function<void(uint64_t seq, std::string_view unit_code,
                               const v1::ReturnRecord& record)>& fn) const = 0;

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
std::string ReturnKey(uint64_t seq, std::string_view unit_code, uint32_t revision);

}  // namespace flatcast::broker
