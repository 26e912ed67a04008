// The broker's durable state in RocksDB (layout in docs/STORAGE.md):
//   default      format marker and counters ("meta/...")
//   directives   seq (8 bytes big-endian)            -> StoredDirective
//   ids          directive id                         -> seq
//   idempotency  publisher idempotency key            -> seq
//   acks         seq | unit code | 0x00 | level byte  -> AckRecord
//   public       directive id                         -> PublicRecord
//   public_ids   public id                            -> directive id
//   events       event seq (8 bytes big-endian)       -> LifecycleEvent
// Every write that a peer is told about is synced before the call returns.
// Not thread-safe: the broker's event loop is its only user.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flatcast.pb.h"
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
};

struct AckEntry {
  uint64_t seq;
  std::string unit_code;
  v1::AckLevel level;
  v1::AckRecord record;
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

  // Stores acknowledgements in one synced write (group commit). Storing an
  // ack that is already there again only rewrites it.
  virtual Status PutAcks(const std::vector<AckEntry>& acks) = 0;
  // Calls `fn` for each ack of directive `seq` by a unit at or below
  // `region_prefix` (empty: all), in unit-code order. One range scan.
  virtual Status ForEachAck(uint64_t seq, std::string_view region_prefix,
                            const std::function<void(std::string_view unit_code, v1::AckLevel level,
                                                     const v1::AckRecord& record)>& fn) const = 0;
};

// Key encodings, exposed for tests and tools.
std::string SeqKey(uint64_t seq);
std::string AckKey(uint64_t seq, std::string_view unit_code, v1::AckLevel level);

}  // namespace flatcast::broker
