#include "flatcast/broker/store.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <cstdio>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <map>

namespace flatcast::broker {

namespace {

constexpr char kFormatKey[] = "meta/format";
constexpr char kFormatValue[] = "flatcast-broker-store/1";
constexpr char kDailyPrefix[] = "meta/daily/";
constexpr char kCommitSeqKey[] = "meta/commit_seq";
constexpr char kCursorPrefix[] = "meta/cursor/";

// A replicated commit's bytes are read by RocksDB only once they have the
// shape of what Store::Write makes (RocksDB's WriteBatch format, as
// db/write_batch.cc documents it): a 12-byte header (sequence, count), then
// exactly `count` puts and deletes with non-empty keys, in the default or a
// named column family, and nothing after them. RocksDB itself asserts on
// other record kinds and malformed ones (its Debian build keeps its
// assertions), so they are refused here, before it sees them.
Status CheckBatchShape(std::string_view data) {
  constexpr size_t kHeader = 12;
  if (data.size() < kHeader) return Status::Corruption("the batch is shorter than its header");
  uint32_t count = 0;
  for (int i = 0; i < 4; ++i) count |= static_cast<uint32_t>(static_cast<uint8_t>(data[8 + i])) << (8 * i);
  size_t at = kHeader;
  auto varint = [&](uint32_t& out) -> bool {
    out = 0;
    for (int shift = 0; shift <= 28; shift += 7) {
      if (at >= data.size()) return false;
      uint8_t byte = static_cast<uint8_t>(data[at++]);
      out |= static_cast<uint32_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return shift < 28 || byte < 0x10;
    }
    return false;
  };
  auto slice = [&](bool non_empty) -> bool {
    uint32_t length;
    if (!varint(length) || length > data.size() - at || (non_empty && length == 0)) return false;
    at += length;
    return true;
  };
  uint32_t found = 0;
  while (at < data.size()) {
    const uint8_t type = static_cast<uint8_t>(data[at++]);
    uint32_t cf;
    bool ok;
    switch (type) {
      case 0x1:  // kTypeValue: key, value
        ok = slice(true) && slice(false);
        break;
      case 0x5:  // kTypeColumnFamilyValue: cf, key, value
        ok = varint(cf) && slice(true) && slice(false);
        break;
      case 0x0:  // kTypeDeletion: key
        ok = slice(true);
        break;
      case 0x4:  // kTypeColumnFamilyDeletion: cf, key
        ok = varint(cf) && slice(true);
        break;
      default:
        return Status::Corruption(fmt::format(
            "the batch holds a record of kind {} at byte {} (only puts and deletes are replicated)",
            type, at - 1));
    }
    if (!ok) return Status::Corruption(fmt::format("the batch's record {} is malformed", found + 1));
    ++found;
  }
  if (found != count) {
    return Status::Corruption(
        fmt::format("the batch says it holds {} records and holds {}", count, found));
  }
  return Status::Ok();
}
constexpr size_t kWriteBufferBytes = size_t{8} << 20;

// RocksDB's own log lines go to the broker's log, not to a LOG file in the
// data directory: on a full disk RocksDB's file logger asserts on the
// append after a failed one (Debian's librocksdb keeps its assertions) and
// takes the broker down while it reports the error. Routine lines (flushes,
// compactions) are debug; warnings and errors stay visible.
class RocksLogToSpdlog final : public rocksdb::Logger {
 public:
  RocksLogToSpdlog() : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char line[2048];
    int n = std::vsnprintf(line, sizeof(line), format, ap);
    if (n < 0) return;
    spdlog::level::level_enum to = spdlog::level::debug;
    if (level == rocksdb::InfoLogLevel::WARN_LEVEL) to = spdlog::level::warn;
    if (level >= rocksdb::InfoLogLevel::ERROR_LEVEL) to = spdlog::level::err;
    spdlog::log(to, "rocksdb: {}", line);
  }
};

const std::vector<std::string>& ColumnFamilyNames() {
  static const std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName, "directives",
                                                 "ids", "idempotency", "acks", "public",
                                                 "public_ids", "events", "ratings", "log",
                                                 "batches", "returns", "attachments"};
  return names;
}
enum Cf {
  kDefault = 0, kDirectives, kIds, kIdempotency, kAcks, kPublic, kPublicIds, kEvents,
  kRatings, kLog, kBatches, kReturns,
  kAttachments  // a family added later goes last: replicas name families by id
};

// A 64-bit digest of a primary record's place (column family and key), for
// the set of places the log accounts for.
uint64_t PlaceDigest(int cf, std::string_view key) {
  std::string place(1, static_cast<char>(cf));
  place.append(key);
  return std::hash<std::string>{}(place);
}

// The one place where rocksdb::Status becomes a flatcast::Status.
Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  return Status::IOError(msg);
}

uint64_t DecodeSeq(std::string_view bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < bytes.size(); ++i) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  return v;
}

class RocksStore final : public Store {
 public:
  RocksStore(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> cfs,
             bool read_only)
      : db_(std::move(db)), cfs_(std::move(cfs)), read_only_(read_only) {}

  ~RocksStore() override {
    for (auto* cf : cfs_) db_->DestroyColumnFamilyHandle(cf);
    db_->Close();
  }

  Status Init(bool fresh) {
    FLATCAST_RETURN_IF_ERROR(CheckFormat(fresh));
    return ReadHeads();
  }

  Status CheckFormat(bool fresh) {
    if (fresh) {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      FLATCAST_RETURN_IF_ERROR(
          FromRocks(db_->Put(wo, cfs_[kDefault], kFormatKey, kFormatValue), "writing format marker"));
    } else {
      std::string format;
      auto s = db_->Get(rocksdb::ReadOptions(), cfs_[kDefault], kFormatKey, &format);
      if (!s.ok() || format != kFormatValue) {
        return Status::Corruption("data directory has no flatcast store format marker (found \"" +
                                  format + "\")");
      }
    }
    return Status::Ok();
  }

  // The heads from what RocksDB holds now: at open, and after a recovery.
  Status ReadHeads() {
    std::string commits;
    auto cs = db_->Get(rocksdb::ReadOptions(), cfs_[kDefault], kCommitSeqKey, &commits);
    if (!cs.IsNotFound()) FLATCAST_RETURN_IF_ERROR(FromRocks(cs, "reading the commit sequence"));
    commit_seq_ = cs.ok() ? DecodeSeq(commits) : 0;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kDirectives]));
    it->SeekToLast();
    FLATCAST_RETURN_IF_ERROR(FromRocks(it->status(), "reading head sequence"));
    head_seq_ = it->Valid() ? DecodeSeq(it->key().ToStringView()) : 0;
    std::unique_ptr<rocksdb::Iterator> ev(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kEvents]));
    ev->SeekToLast();
    FLATCAST_RETURN_IF_ERROR(FromRocks(ev->status(), "reading event sequence"));
    head_event_seq_ = ev->Valid() ? DecodeSeq(ev->key().ToStringView()) : 0;
    std::unique_ptr<rocksdb::Iterator> log(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kLog]));
    log->SeekToLast();
    FLATCAST_RETURN_IF_ERROR(FromRocks(log->status(), "reading the log's head"));
    if (log->Valid()) {
      head_log_seq_ = DecodeSeq(log->key().ToStringView());
      v1::LogRecord head;
      if (!head.ParseFromArray(log->value().data(), static_cast<int>(log->value().size()))) {
        return Status::Corruption(fmt::format("log record {} does not decode", head_log_seq_));
      }
      head_log_hash_ = head.hash();
    } else {
      head_log_seq_ = 0;
      head_log_hash_.clear();
    }
    std::unique_ptr<rocksdb::Iterator> batches(
        db_->NewIterator(rocksdb::ReadOptions(), cfs_[kBatches]));
    batches->SeekToLast();
    FLATCAST_RETURN_IF_ERROR(FromRocks(batches->status(), "reading the last commit's batch"));
    head_chain_.clear();
    if (batches->Valid() && DecodeSeq(batches->key().ToStringView()) == commit_seq_) {
      if (batches->value().size() < kLogHashBytes) {
        return Status::Corruption(fmt::format("the batch of commit {} is truncated", commit_seq_));
      }
      head_chain_ = std::string(batches->value().ToStringView().substr(0, kLogHashBytes));
    }
    return Status::Ok();
  }

  uint64_t head_seq() const override { return head_seq_; }
  StoreHeads heads() const override {
    return {commit_seq_, head_seq_, head_event_seq_, head_log_seq_};
  }

  Status Write(StoreWrite w) override {
    if (read_only_) return Status::InvalidArgument("the store was opened read-only");
    rocksdb::WriteBatch batch;
    LogAppender log(*this, batch);
    if (w.directive) {
      const v1::StoredDirective& d = *w.directive;
      if (d.seq() != head_seq_ + 1) {
        return Status::Internal("directive sequence " + std::to_string(d.seq()) +
                                " does not follow " + std::to_string(head_seq_));
      }
      std::string seq_key = SeqKey(d.seq());
      batch.Put(cfs_[kDirectives], seq_key, d.SerializeAsString());
      // An amendment keeps its id; the index points at the latest version.
      batch.Put(cfs_[kIds], d.directive().id(), seq_key);
      if (!d.idempotency_key().empty()) batch.Put(cfs_[kIdempotency], d.idempotency_key(), seq_key);
    }
    for (const auto& [key, value] : w.counters) {
      batch.Put(cfs_[kDefault], std::string(kDailyPrefix) + key, std::to_string(value));
    }
    for (const auto& [name, value] : w.cursors) {
      batch.Put(cfs_[kDefault], std::string(kCursorPrefix) + name, std::to_string(value));
    }
    for (const auto& r : w.public_records) {
      batch.Put(cfs_[kPublic], r.directive_id(), r.SerializeAsString());
      if (!r.public_id().empty()) batch.Put(cfs_[kPublicIds], r.public_id(), r.directive_id());
    }
    uint64_t event_seq = head_event_seq_;
    for (auto& e : w.events) {
      e.set_event_seq(++event_seq);
      batch.Put(cfs_[kEvents], SeqKey(event_seq), e.SerializeAsString());
      v1::LogRecord record;
      *record.mutable_at() = e.at();
      *record.mutable_event() = e;
      log.Append(std::move(record));
    }
    for (const auto& a : w.acks) {
      batch.Put(cfs_[kAcks], AckKey(a.seq, a.unit_code, a.level), a.record.SerializeAsString());
      v1::LogRecord record;
      *record.mutable_at() = a.record.stored();
      auto* entry = record.mutable_ack();
      entry->set_seq(a.seq);
      entry->set_unit_code(a.unit_code);
      entry->set_level(a.level);
      *entry->mutable_record() = a.record;
      log.Append(std::move(record));
    }
    for (const auto& r : w.ratings) {
      batch.Put(cfs_[kRatings], RatingKey(r.seq, r.unit_code), r.record.SerializeAsString());
      v1::LogRecord record;
      *record.mutable_at() = r.record.stored();
      auto* entry = record.mutable_rating();
      entry->set_seq(r.seq);
      entry->set_unit_code(r.unit_code);
      *entry->mutable_record() = r.record;
      log.Append(std::move(record));
    }
    for (const auto& r : w.returns) {
      batch.Put(cfs_[kReturns], ReturnKey(r.seq, r.unit_code, r.record.revision()),
                r.record.SerializeAsString());
      v1::LogRecord record;
      *record.mutable_at() = r.record.stored();
      auto* entry = record.mutable_return_answer();
      entry->set_seq(r.seq);
      entry->set_unit_code(r.unit_code);
      *entry->mutable_record() = r.record;
      log.Append(std::move(record));
    }
    for (const std::string& sha256 : w.attachment_drops) {
      batch.Delete(cfs_[kAttachments], sha256);
      batch.DeleteRange(cfs_[kAttachments], sha256 + SeqKey(0), sha256 + std::string(8, '\xff'));
    }
    for (const AttachmentChunkWrite& chunk : w.attachment_chunks) {
      batch.Put(cfs_[kAttachments], chunk.sha256 + SeqKey(chunk.offset), chunk.data);
    }
    for (const auto& [sha256, meta] : w.attachment_metas) {
      batch.Put(cfs_[kAttachments], sha256, meta.SerializeAsString());
    }
    batch.Put(cfs_[kDefault], kCommitSeqKey, SeqKey(commit_seq_ + 1));
    ReplicaBatch replica{commit_seq_ + 1, std::string(), batch.Data()};
    replica.chain = BatchChainHash(head_chain_, replica.data);
    batch.Put(cfs_[kBatches], SeqKey(replica.commit_seq), replica.chain + replica.data);
    rocksdb::WriteOptions synced;
    synced.sync = true;
    Status st = FromRocks(db_->Write(synced, &batch), "storing");
    if (!st.ok()) {
      failed_ = true;
      return st;
    }
    ++commit_seq_;
    head_chain_ = replica.chain;
    last_batch_ = std::move(replica);
    if (w.directive) head_seq_ = w.directive->seq();
    head_event_seq_ = event_seq;
    log.Commit();
    return Status::Ok();
  }

  Status Recover() override {
    if (!failed_) return Status::Ok();
    // RocksDB refuses writes after a failed one until resumed; resuming
    // flushes the memtables to a new WAL, so a batch whose write failed is
    // not replayed later.
    rocksdb::Status resumed = db_->Resume();
    if (resumed.IsBusy()) {
      // After a full disk RocksDB resumes by itself once a write buffer's
      // worth of space is free; until then it answers "busy".
      return Status::IOError(fmt::format(
          "RocksDB resumes by itself once {} MB are free on {}", kWriteBufferBytes >> 20, db_->GetName()));
    }
    FLATCAST_RETURN_IF_ERROR(FromRocks(resumed, "resuming the store after a failed write"));
    FLATCAST_RETURN_IF_ERROR(ReadHeads());
    failed_ = false;
    return Status::Ok();
  }

  const ReplicaBatch& last_batch() const override { return last_batch_; }
  const std::string& head_chain() const override { return head_chain_; }

  Status ApplyReplica(const ReplicaBatch& replica, bool sync) override {
    if (read_only_) return Status::InvalidArgument("the store was opened read-only");
    if (failed_) return Status::Unavailable("the store has not recovered from a failed write");
    if (replica.commit_seq != commit_seq_ + 1) {
      return Status::InvalidArgument(fmt::format(
          "commit {} does not follow this store's last commit {}", replica.commit_seq, commit_seq_));
    }
    if (replica.chain != BatchChainHash(head_chain_, replica.data)) {
      return Status::Corruption(fmt::format(
          "commit {} does not follow this store's chain: the stores have diverged after commit {} "
          "or before it",
          replica.commit_seq, commit_seq_));
    }
    if (Status shape = CheckBatchShape(replica.data); !shape.ok()) {
      return Status::Corruption(fmt::format("commit {}: {}", replica.commit_seq, shape.message()));
    }
    rocksdb::WriteBatch batch(replica.data);
    ReplicaCheck check(*this, replica.commit_seq);
    Status iterated = FromRocks(batch.Iterate(&check), "reading the replicated batch");
    if (!check.problem.empty()) {
      return Status::Corruption(fmt::format("commit {}: {}", replica.commit_seq, check.problem));
    }
    FLATCAST_RETURN_IF_ERROR(iterated.WithContext(fmt::format("commit {}", replica.commit_seq)));
    if (!check.commit_seq_seen) {
      return Status::Corruption(
          fmt::format("commit {} does not record its commit sequence", replica.commit_seq));
    }
    batch.Put(cfs_[kBatches], SeqKey(replica.commit_seq), replica.chain + replica.data);
    rocksdb::WriteOptions options;
    options.sync = sync;
    Status st = FromRocks(db_->Write(options, &batch), "storing a replicated commit");
    if (!st.ok()) {
      failed_ = true;
      return st;
    }
    FLATCAST_RETURN_IF_ERROR(ReadHeads());
    last_batch_ = replica;
    return Status::Ok();
  }

  Status SyncLog() override {
    if (read_only_) return Status::Ok();
    return FromRocks(db_->SyncWAL(), "syncing the store's log");
  }

  Result<std::optional<ReplicaBatch>> GetBatch(uint64_t commit_seq) const override {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), cfs_[kBatches], SeqKey(commit_seq), &value);
    if (s.IsNotFound()) return std::optional<ReplicaBatch>();
    FLATCAST_RETURN_IF_ERROR(FromRocks(s, "reading a commit's batch"));
    if (value.size() < kLogHashBytes) {
      return Status::Corruption(fmt::format("the batch of commit {} is truncated", commit_seq));
    }
    return std::optional<ReplicaBatch>(
        ReplicaBatch{commit_seq, value.substr(0, kLogHashBytes), value.substr(kLogHashBytes)});
  }

  Status ForEachCounter(
      const std::function<void(std::string_view, uint32_t)>& fn) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kDefault]));
    const std::string_view prefix = kDailyPrefix;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      std::string_view key = it->key().ToStringView().substr(prefix.size());
      std::string value = it->value().ToString();
      char* end = nullptr;
      unsigned long n = std::strtoul(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n > UINT32_MAX) {
        return Status::Corruption(fmt::format("counter {} holds \"{}\"", key, value));
      }
      fn(key, static_cast<uint32_t>(n));
    }
    return FromRocks(it->status(), "scanning counters");
  }

  Status ForEachPublicRecord(
      const std::function<void(const v1::PublicRecord&)>& fn) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kPublic]));
    v1::PublicRecord r;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (!r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return Status::Corruption("public record of " + it->key().ToString() + " does not decode");
      }
      fn(r);
    }
    return FromRocks(it->status(), "scanning public records");
  }

  Status ForEachEvent(std::string_view directive_id,
                      const std::function<void(const v1::LifecycleEvent&)>& fn) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kEvents]));
    v1::LifecycleEvent e;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (!e.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return Status::Corruption("lifecycle event " +
                                  std::to_string(DecodeSeq(it->key().ToStringView())) +
                                  " does not decode");
      }
      if (directive_id.empty() || e.directive_id() == directive_id) fn(e);
    }
    return FromRocks(it->status(), "scanning lifecycle events");
  }

  Result<std::optional<v1::StoredDirective>> GetDirective(uint64_t seq) const override {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), cfs_[kDirectives], SeqKey(seq), &value);
    if (s.IsNotFound()) return std::optional<v1::StoredDirective>();
    FLATCAST_RETURN_IF_ERROR(FromRocks(s, "reading directive"));
    v1::StoredDirective d;
    if (!d.ParseFromString(value)) {
      return Status::Corruption("stored directive " + std::to_string(seq) + " does not decode");
    }
    return std::optional<v1::StoredDirective>(std::move(d));
  }

  Result<std::optional<uint64_t>> SeqOfId(std::string_view id) const override {
    return LookupSeq(kIds, id);
  }
  Result<std::optional<uint64_t>> SeqOfIdempotencyKey(std::string_view key) const override {
    return LookupSeq(kIdempotency, key);
  }

  Result<uint64_t> Cursor(std::string_view name) const override {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), cfs_[kDefault],
                      std::string(kCursorPrefix) + std::string(name), &value);
    if (s.IsNotFound()) return uint64_t{0};
    FLATCAST_RETURN_IF_ERROR(FromRocks(s, "reading a cursor"));
    return ParseCursor(name, value);
  }

  Status ForEachCursor(
      std::string_view prefix,
      const std::function<void(std::string_view, uint64_t)>& fn) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kDefault]));
    const std::string start = std::string(kCursorPrefix) + std::string(prefix);
    for (it->Seek(start); it->Valid() && it->key().starts_with(start); it->Next()) {
      std::string_view name = it->key().ToStringView().substr(std::strlen(kCursorPrefix));
      Result<uint64_t> value = ParseCursor(name, it->value().ToString());
      if (!value.ok()) return value.status();
      fn(name, *value);
    }
    return FromRocks(it->status(), "scanning cursors");
  }

  static Result<uint64_t> ParseCursor(std::string_view name, const std::string& value) {
    char* end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || errno == ERANGE) {
      return Status::Corruption(fmt::format("cursor {} holds \"{}\"", name, value));
    }
    return static_cast<uint64_t>(n);
  }

  Result<uint32_t> DailyCounter(std::string_view key) const override {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), cfs_[kDefault],
                      std::string(kDailyPrefix) + std::string(key), &value);
    if (s.IsNotFound()) return uint32_t{0};
    FLATCAST_RETURN_IF_ERROR(FromRocks(s, "reading daily counter"));
    char* end = nullptr;
    unsigned long n = std::strtoul(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || n > UINT32_MAX) {
      return Status::Corruption(fmt::format("counter {} holds \"{}\"", key, value));
    }
    return static_cast<uint32_t>(n);
  }

  Status ForEachDirective(
      const std::function<Status(const v1::StoredDirective&)>& fn) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kDirectives]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      v1::StoredDirective d;
      if (!d.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return Status::Corruption("stored directive " +
                                  std::to_string(DecodeSeq(it->key().ToStringView())) +
                                  " does not decode");
      }
      FLATCAST_RETURN_IF_ERROR(fn(d));
    }
    return FromRocks(it->status(), "scanning directives");
  }

  Result<std::optional<v1::AckRecord>> GetAck(uint64_t seq, std::string_view unit_code,
                                              v1::AckLevel level) const override {
    return GetMessage<v1::AckRecord>(kAcks, AckKey(seq, unit_code, level), "acknowledgement");
  }

  Status ForEachRating(const std::function<void(uint64_t, std::string_view,
                                                const v1::RatingRecord&)>& fn) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kRatings]));
    v1::RatingRecord record;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string_view key = it->key().ToStringView();
      if (key.size() < 9) return Status::Corruption("short rating key");
      if (!record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return Status::Corruption("rating record does not decode");
      }
      fn(DecodeSeq(key), key.substr(8), record);
    }
    return FromRocks(it->status(), "scanning ratings");
  }

  Status ForEachReturn(uint64_t seq, std::string_view region_prefix,
                       const std::function<void(uint64_t, std::string_view,
                                                const v1::ReturnRecord&)>& fn) const override {
    std::string prefix = seq == 0 ? std::string() : SeqKey(seq) + std::string(region_prefix);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kReturns]));
    v1::ReturnRecord record;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      std::string_view key = it->key().ToStringView();
      // seq(8) | unit | 0x00 | revision(4)
      if (key.size() < 8 + 1 + 1 + 4 || key[key.size() - 5] != '\0') {
        return Status::Corruption("malformed return key");
      }
      std::string_view unit = key.substr(8, key.size() - 8 - 5);
      if (seq == 0 && !region_prefix.empty() && !unit.starts_with(region_prefix)) continue;
      if (!record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return Status::Corruption("return record of unit " + std::string(unit) + " does not decode");
      }
      fn(DecodeSeq(key), unit, record);
    }
    return FromRocks(it->status(), "scanning returns");
  }

  Result<std::optional<v1::RatingRecord>> GetRating(uint64_t seq,
                                                    std::string_view unit_code) const override {
    return GetMessage<v1::RatingRecord>(kRatings, RatingKey(seq, unit_code), "rating");
  }

  Result<std::optional<v1::PublicRecord>> GetPublicRecord(std::string_view id) const override {
    return GetMessage<v1::PublicRecord>(kPublic, std::string(id), "public record");
  }

  Result<std::optional<v1::AttachmentMeta>> GetAttachmentMeta(std::string_view sha256) const override {
    return GetMessage<v1::AttachmentMeta>(kAttachments, std::string(sha256), "attachment");
  }

  Result<std::optional<std::string>> GetAttachmentChunk(std::string_view sha256,
                                                        uint64_t offset) const override {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), cfs_[kAttachments], std::string(sha256) + SeqKey(offset), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    FLATCAST_RETURN_IF_ERROR(FromRocks(s, "reading an attachment's chunk"));
    return std::optional<std::string>(std::move(value));
  }

  Status ForEachLogRecord(uint64_t after_log_seq,
                          const std::function<bool(const v1::LogRecord&)>& fn) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kLog]));
    v1::LogRecord record;
    for (it->Seek(SeqKey(after_log_seq + 1)); it->Valid(); it->Next()) {
      if (!record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return Status::Corruption(fmt::format("log record {} does not decode",
                                              DecodeSeq(it->key().ToStringView())));
      }
      if (!fn(record)) break;
    }
    return FromRocks(it->status(), "scanning the log");
  }

  Result<std::optional<v1::LogRecord>> GetLogRecord(uint64_t log_seq) const override {
    return GetMessage<v1::LogRecord>(kLog, SeqKey(log_seq), "log record");
  }

  Result<uint64_t> HeadLogSeq() const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kLog]));
    it->SeekToLast();
    FLATCAST_RETURN_IF_ERROR(FromRocks(it->status(), "reading the log's head"));
    return it->Valid() ? DecodeSeq(it->key().ToStringView()) : uint64_t{0};
  }

  Result<ChainReport> VerifyLog(uint64_t anchor_log_seq,
                                const std::string& anchor_hash) const override {
    // One snapshot for both passes, so records stored meanwhile are neither
    // walked nor reported as missing from the log.
    const rocksdb::Snapshot* snapshot = db_->GetSnapshot();
    struct Release {
      const rocksdb::DB* db;
      const rocksdb::Snapshot* s;
      ~Release() { const_cast<rocksdb::DB*>(db)->ReleaseSnapshot(s); }
    } release{db_.get(), snapshot};
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot;
    ro.fill_cache = false;
    ChainVerifier verifier = anchor_hash.empty() ? ChainVerifier()
                                                 : ChainVerifier(anchor_log_seq, anchor_hash);

    // Pass 1: the chain, and for each place a log record names (column
    // family and key of its primary copy) the digest of the value it must
    // have there; a place named twice (a rating replaced) keeps its latest.
    struct Place {
      uint64_t digest;
      uint64_t value_digest;
      uint64_t log_seq;
      bool seen = false;  // matched by pass 2
    };
    std::vector<Place> places;
    {
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cfs_[kLog]));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        std::optional<v1::LogRecord> r =
            verifier.Add(DecodeSeq(it->key().ToStringView()), it->value().ToStringView());
        if (!r) continue;
        auto [cf, key] = PrimaryPlace(*r);
        if (cf < 0) continue;
        places.push_back({PlaceDigest(cf, key), std::hash<std::string>{}(PrimaryValue(*r)),
                          r->log_seq()});
      }
      FLATCAST_RETURN_IF_ERROR(FromRocks(it->status(), "walking the log"));
    }
    std::stable_sort(places.begin(), places.end(),
                     [](const Place& a, const Place& b) { return a.digest < b.digest; });
    // In place: keep the last of each run of equal digests.
    size_t kept = 0;
    for (size_t i = 0; i < places.size(); ++i) {
      if (i + 1 < places.size() && places[i + 1].digest == places[i].digest) continue;
      places[kept++] = places[i];
    }
    places.resize(kept);
    std::vector<Place>& latest = places;

    // Pass 2: one scan of each primary column family. Every record must be
    // the one the log says (changed: its value differs; inserted: the log
    // does not name it), and every place the log names must be there.
    for (int cf : {kAcks, kRatings, kEvents, kReturns}) {
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cfs_[cf]));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        uint64_t digest = PlaceDigest(cf, it->key().ToStringView());
        auto found = std::lower_bound(latest.begin(), latest.end(), digest,
                                      [](const Place& a, uint64_t d) { return a.digest < d; });
        if (found == latest.end() || found->digest != digest) {
          verifier.Problem(verifier.report().head_log_seq + 1,
                           fmt::format("{} in the store is not in the log (inserted outside the "
                                       "broker): {}",
                                       PlaceName(cf), DescribePlace(cf, it->key().ToStringView())));
          continue;
        }
        found->seen = true;
        if (std::hash<std::string>{}(it->value().ToString()) != found->value_digest) {
          verifier.Problem(found->log_seq,
                           fmt::format("the {} logged in record {} was changed in the store: it "
                                       "no longer matches the log",
                                       PlaceName(cf), found->log_seq));
        }
      }
      FLATCAST_RETURN_IF_ERROR(FromRocks(it->status(), "scanning the store"));
    }
    for (const Place& p : latest) {
      if (!p.seen) {
        verifier.Problem(p.log_seq, fmt::format("the record logged in record {} was removed from "
                                                "the store",
                                                p.log_seq));
      }
    }
    return verifier.Finish();
  }

  Status ForEachAck(uint64_t seq, std::string_view region_prefix,
                    const std::function<void(std::string_view, v1::AckLevel,
                                             const v1::AckRecord&)>& fn) const override {
    std::string prefix = SeqKey(seq) + std::string(region_prefix);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kAcks]));
    v1::AckRecord record;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      std::string_view key = it->key().ToStringView();
      // seq(8) | unit | 0x00 | level
      if (key.size() < 8 + 1 + 2) return Status::Corruption("short ack key");
      std::string_view unit = key.substr(8, key.size() - 8 - 2);
      auto level = static_cast<v1::AckLevel>(static_cast<uint8_t>(key.back()));
      if (!record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return Status::Corruption("ack record of unit " + std::string(unit) + " does not decode");
      }
      fn(unit, level, record);
    }
    return FromRocks(it->status(), "scanning acknowledgements");
  }

 private:
  template <typename Message>
  Result<std::optional<Message>> GetMessage(int cf, const std::string& key,
                                            std::string_view what) const {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), cfs_[cf], key, &value);
    if (s.IsNotFound()) return std::optional<Message>();
    FLATCAST_RETURN_IF_ERROR(FromRocks(s, fmt::format("reading {}", what)));
    Message m;
    if (!m.ParseFromString(value)) return Status::Corruption(fmt::format("{} does not decode", what));
    return std::optional<Message>(std::move(m));
  }

  // Where a log record's primary copy lives: column family and key; -1 for
  // none.
  static std::pair<int, std::string> PrimaryPlace(const v1::LogRecord& r) {
    switch (r.entry_case()) {
      case v1::LogRecord::kAck:
        return {kAcks, AckKey(r.ack().seq(), r.ack().unit_code(), r.ack().level())};
      case v1::LogRecord::kRating:
        return {kRatings, RatingKey(r.rating().seq(), r.rating().unit_code())};
      case v1::LogRecord::kEvent:
        return {kEvents, SeqKey(r.event().event_seq())};
      case v1::LogRecord::kReturnAnswer:
        return {kReturns, ReturnKey(r.return_answer().seq(), r.return_answer().unit_code(),
                                    r.return_answer().record().revision())};
      default:
        return {-1, ""};
    }
  }
  // The value the primary copy of `r` must have.
  static std::string PrimaryValue(const v1::LogRecord& r) {
    switch (r.entry_case()) {
      case v1::LogRecord::kAck: return r.ack().record().SerializeAsString();
      case v1::LogRecord::kRating: return r.rating().record().SerializeAsString();
      case v1::LogRecord::kEvent: return r.event().SerializeAsString();
      case v1::LogRecord::kReturnAnswer: return r.return_answer().record().SerializeAsString();
      default: return "";
    }
  }
  static const char* PlaceName(int cf) {
    return cf == kAcks      ? "acknowledgement"
           : cf == kRatings ? "rating"
           : cf == kReturns ? "return"
                            : "lifecycle event";
  }
  static std::string DescribePlace(int cf, std::string_view key) {
    if (key.size() < 8) return "a malformed key";
    uint64_t seq = DecodeSeq(key);
    if (cf == kEvents) return fmt::format("event {}", seq);
    std::string_view unit = key.substr(8);
    if (cf == kAcks && unit.size() >= 2) {
      return fmt::format("directive seq {}, unit {}, level {}", seq, unit.substr(0, unit.size() - 2),
                         static_cast<int>(static_cast<uint8_t>(unit.back())));
    }
    if (cf == kReturns && unit.size() >= 5) {
      return fmt::format("directive seq {}, unit {}, answer {}", seq, unit.substr(0, unit.size() - 5),
                         DecodeSeq(std::string(4, '\0') + std::string(unit.substr(unit.size() - 4))));
    }
    return fmt::format("directive seq {}, unit {}", seq, unit);
  }

  // Checks a replicated WriteBatch before it is applied: only puts and
  // deletes, only to this store's column families (never to the batches
  // themselves), and the commit sequence it records is its own.
  class ReplicaCheck final : public rocksdb::WriteBatch::Handler {
   public:
    ReplicaCheck(const RocksStore& store, uint64_t commit_seq)
        : store_(store), expected_(SeqKey(commit_seq)) {}
    rocksdb::Status PutCF(uint32_t cf, const rocksdb::Slice& key,
                          const rocksdb::Slice& value) override {
      if (!Known(cf)) return Refuse(fmt::format("a put to unknown column family {}", cf));
      if (cf == store_.cfs_[kDefault]->GetID() && key.ToStringView() == kCommitSeqKey) {
        if (value.ToStringView() != expected_) return Refuse("it records another commit sequence");
        commit_seq_seen = true;
      }
      return rocksdb::Status::OK();
    }
    rocksdb::Status DeleteCF(uint32_t cf, const rocksdb::Slice&) override {
      if (!Known(cf)) return Refuse(fmt::format("a delete in unknown column family {}", cf));
      return rocksdb::Status::OK();
    }
    rocksdb::Status SingleDeleteCF(uint32_t, const rocksdb::Slice&) override {
      return Refuse("a single delete");
    }
    rocksdb::Status DeleteRangeCF(uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override {
      return Refuse("a range delete");
    }
    rocksdb::Status MergeCF(uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override {
      return Refuse("a merge");
    }
    rocksdb::Status PutBlobIndexCF(uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override {
      return Refuse("a blob index");
    }
    rocksdb::Status PutEntityCF(uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override {
      return Refuse("a wide-column entity");
    }
    // RocksDB asserts that these markers' handlers succeed (write_batch.cc,
    // WriteBatchInternal::Iterate): a refusal is noted, Ok is returned, and
    // Continue() then ends the iteration; ApplyReplica refuses by `problem`.
    rocksdb::Status MarkBeginPrepare(bool) override { return Note("a transaction's prepare"); }
    rocksdb::Status MarkEndPrepare(const rocksdb::Slice&) override {
      return Note("a transaction's prepare");
    }
    rocksdb::Status MarkCommit(const rocksdb::Slice&) override { return Note("a transaction's commit"); }
    rocksdb::Status MarkCommitWithTimestamp(const rocksdb::Slice&, const rocksdb::Slice&) override {
      return Note("a transaction's commit");
    }
    rocksdb::Status MarkRollback(const rocksdb::Slice&) override {
      return Note("a transaction's rollback");
    }
    rocksdb::Status MarkNoop(bool) override { return Note("a no-op marker"); }
    bool Continue() override { return problem.empty(); }
    std::string problem;
    bool commit_seq_seen = false;

   private:
    bool Known(uint32_t cf) const {
      for (size_t i = 0; i < store_.cfs_.size(); ++i) {
        if (store_.cfs_[i]->GetID() == cf) return i != kBatches;
      }
      return false;
    }
    rocksdb::Status Refuse(std::string why) {
      if (problem.empty()) problem = "the batch holds " + why;
      return rocksdb::Status::InvalidArgument(problem);
    }
    rocksdb::Status Note(std::string why) {
      if (problem.empty()) problem = "the batch holds " + why;
      return rocksdb::Status::OK();
    }
    const RocksStore& store_;
    std::string expected_;
  };

  // Appends log records to a write batch, chaining them from the store's
  // head; Commit() moves the head once the batch is written.
  class LogAppender {
   public:
    LogAppender(RocksStore& store, rocksdb::WriteBatch& batch)
        : store_(store), batch_(batch), seq_(store.head_log_seq_), hash_(store.head_log_hash_) {}
    void Append(v1::LogRecord record) {
      SealLogRecord(record, ++seq_, hash_);
      hash_ = record.hash();
      batch_.Put(store_.cfs_[kLog], SeqKey(seq_), record.SerializeAsString());
    }
    void Commit() {
      store_.head_log_seq_ = seq_;
      store_.head_log_hash_ = hash_;
    }

   private:
    RocksStore& store_;
    rocksdb::WriteBatch& batch_;
    uint64_t seq_;
    std::string hash_;
  };

  Result<std::optional<uint64_t>> LookupSeq(int cf, std::string_view key) const {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), cfs_[cf], rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return std::optional<uint64_t>();
    FLATCAST_RETURN_IF_ERROR(FromRocks(s, "reading index"));
    return std::optional<uint64_t>(DecodeSeq(value));
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;
  bool read_only_;
  bool failed_ = false;  // a write failed and Recover() has not succeeded since
  uint64_t commit_seq_ = 0;
  uint64_t head_seq_ = 0;
  uint64_t head_event_seq_ = 0;
  uint64_t head_log_seq_ = 0;   // writer thread only
  std::string head_log_hash_;   // writer thread only
  std::string head_chain_;      // writer thread only
  ReplicaBatch last_batch_;     // writer thread only
};

}  // namespace

std::string SeqKey(uint64_t seq) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i) {
    key[i] = static_cast<char>(seq & 0xff);
    seq >>= 8;
  }
  return key;
}

std::string RatingKey(uint64_t seq, std::string_view unit_code) {
  std::string key = SeqKey(seq);
  key.append(unit_code);
  return key;
}

std::string ReturnKey(uint64_t seq, std::string_view unit_code, uint32_t revision) {
  std::string key = SeqKey(seq);
  key.append(unit_code);
  key.push_back('\0');
  for (int shift = 24; shift >= 0; shift -= 8) key.push_back(static_cast<char>(revision >> shift));
  return key;
}

std::string AckKey(uint64_t seq, std::string_view unit_code, v1::AckLevel level) {
  std::string key = SeqKey(seq);
  key.append(unit_code);
  key.push_back('\0');
  key.push_back(static_cast<char>(level));
  return key;
}

Status Store::PutDirective(const v1::StoredDirective& d, std::string_view daily_counter_key,
                           uint32_t daily_counter) {
  StoreWrite w;
  w.directive = d;
  if (!daily_counter_key.empty()) w.counters.emplace_back(daily_counter_key, daily_counter);
  return Write(std::move(w));
}

Status Store::PutFeedback(std::vector<AckEntry> acks, std::vector<RatingEntry> ratings) {
  if (acks.empty() && ratings.empty()) return Status::Ok();
  StoreWrite w;
  w.acks = std::move(acks);
  w.ratings = std::move(ratings);
  return Write(std::move(w));
}

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  bool exists = fs::exists(fs::path(options.path) / "CURRENT", ec);
  if (!exists && !options.initialise) {
    return Status::NotFound("no flatcast store in " + options.path +
                            " (start with --init to create a new one)");
  }
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = !exists;
  // Column families added by a newer format are created on an existing store.
  db_options.create_missing_column_families = true;
  db_options.max_open_files = options.max_open_files;
  db_options.keep_log_file_num = 4;
  db_options.info_log = std::make_shared<RocksLogToSpdlog>();
  db_options.stats_dump_period_sec = 0;
  db_options.max_background_jobs = 2;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : ColumnFamilyNames()) {
    rocksdb::ColumnFamilyOptions cf_options;
    // Memtables of 8 MB rather than 64: a flatcast store grows slowly, and
    // RocksDB resumes by itself after a full disk only once this much is
    // free again (its SstFileManager waits for the largest write buffer).
    cf_options.write_buffer_size = kWriteBufferBytes;
    descriptors.emplace_back(name, cf_options);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (options.read_only) {
    if (!exists) return Status::NotFound("no flatcast store in " + options.path);
    // A read-only open cannot create column families: a store written by an
    // older broker that lacks one is refused, saying how to upgrade it.
    std::vector<std::string> present;
    FLATCAST_RETURN_IF_ERROR(FromRocks(
        rocksdb::DB::ListColumnFamilies(db_options, options.path, &present), "opening store"));
    std::vector<rocksdb::ColumnFamilyDescriptor> available;
    for (const auto& d : descriptors) {
      if (std::find(present.begin(), present.end(), d.name) == present.end()) {
        return Status::InvalidArgument(fmt::format(
            "{}: the store has no \"{}\" column family; open it once with a broker of this "
            "version",
            options.path, d.name));
      }
      available.push_back(d);
    }
    s = rocksdb::DB::OpenForReadOnly(db_options, options.path, available, &handles, &raw);
  } else {
    s = rocksdb::DB::Open(db_options, options.path, descriptors, &handles, &raw);
  }
  if (!s.ok()) return FromRocks(s, "opening store " + options.path);
  auto store = std::make_unique<RocksStore>(std::unique_ptr<rocksdb::DB>(raw), std::move(handles),
                                            options.read_only);
  FLATCAST_RETURN_IF_ERROR(store->Init(!exists).WithContext(options.path));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace flatcast::broker
