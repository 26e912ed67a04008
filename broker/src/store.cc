#include "flatcast/broker/store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <filesystem>
#include <map>

namespace flatcast::broker {

namespace {

constexpr char kFormatKey[] = "meta/format";
constexpr char kFormatValue[] = "flatcast-broker-store/1";
constexpr char kDailyPrefix[] = "meta/daily/";

const std::vector<std::string>& ColumnFamilyNames() {
  static const std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName, "directives",
                                                 "ids", "idempotency", "acks", "public",
                                                 "public_ids", "events"};
  return names;
}
enum Cf { kDefault = 0, kDirectives, kIds, kIdempotency, kAcks, kPublic, kPublicIds, kEvents };

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
  RocksStore(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> cfs)
      : db_(std::move(db)), cfs_(std::move(cfs)) {}

  ~RocksStore() override {
    for (auto* cf : cfs_) db_->DestroyColumnFamilyHandle(cf);
    db_->Close();
  }

  Status Init(bool fresh) {
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
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kDirectives]));
    it->SeekToLast();
    FLATCAST_RETURN_IF_ERROR(FromRocks(it->status(), "reading head sequence"));
    head_seq_ = it->Valid() ? DecodeSeq(it->key().ToStringView()) : 0;
    std::unique_ptr<rocksdb::Iterator> ev(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kEvents]));
    ev->SeekToLast();
    FLATCAST_RETURN_IF_ERROR(FromRocks(ev->status(), "reading event sequence"));
    head_event_seq_ = ev->Valid() ? DecodeSeq(ev->key().ToStringView()) : 0;
    return Status::Ok();
  }

  uint64_t head_seq() const override { return head_seq_; }

  Status PutDirective(const v1::StoredDirective& d, std::string_view daily_counter_key,
                      uint32_t daily_counter) override {
    StoreWrite w;
    w.directive = &d;
    if (!daily_counter_key.empty()) w.counters.emplace_back(daily_counter_key, daily_counter);
    return Write(std::move(w));
  }

  Status Write(StoreWrite w) override {
    rocksdb::WriteBatch batch;
    if (w.directive != nullptr) {
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
    for (const auto& r : w.public_records) {
      batch.Put(cfs_[kPublic], r.directive_id(), r.SerializeAsString());
      if (!r.public_id().empty()) batch.Put(cfs_[kPublicIds], r.public_id(), r.directive_id());
    }
    uint64_t event_seq = head_event_seq_;
    for (auto& e : w.events) {
      e.set_event_seq(++event_seq);
      batch.Put(cfs_[kEvents], SeqKey(event_seq), e.SerializeAsString());
    }
    FLATCAST_RETURN_IF_ERROR(FromRocks(db_->Write(SyncedWrite(), &batch), "storing"));
    if (w.directive != nullptr) head_seq_ = w.directive->seq();
    head_event_seq_ = event_seq;
    return Status::Ok();
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

  Result<uint32_t> DailyCounter(std::string_view key) const override {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), cfs_[kDefault],
                      std::string(kDailyPrefix) + std::string(key), &value);
    if (s.IsNotFound()) return uint32_t{0};
    FLATCAST_RETURN_IF_ERROR(FromRocks(s, "reading daily counter"));
    return static_cast<uint32_t>(std::stoul(value));
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

  Status PutAcks(const std::vector<AckEntry>& acks) override {
    if (acks.empty()) return Status::Ok();
    rocksdb::WriteBatch batch;
    for (const auto& a : acks) {
      batch.Put(cfs_[kAcks], AckKey(a.seq, a.unit_code, a.level), a.record.SerializeAsString());
    }
    return FromRocks(db_->Write(SyncedWrite(), &batch), "storing acknowledgements");
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
  static rocksdb::WriteOptions SyncedWrite() {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return wo;
  }

  Result<std::optional<uint64_t>> LookupSeq(int cf, std::string_view key) const {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), cfs_[cf], rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return std::optional<uint64_t>();
    FLATCAST_RETURN_IF_ERROR(FromRocks(s, "reading index"));
    return std::optional<uint64_t>(DecodeSeq(value));
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;
  uint64_t head_seq_ = 0;
  uint64_t head_event_seq_ = 0;
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

std::string AckKey(uint64_t seq, std::string_view unit_code, v1::AckLevel level) {
  std::string key = SeqKey(seq);
  key.append(unit_code);
  key.push_back('\0');
  key.push_back(static_cast<char>(level));
  return key;
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
  db_options.max_background_jobs = 2;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : ColumnFamilyNames()) {
    rocksdb::ColumnFamilyOptions cf_options;
    descriptors.emplace_back(name, cf_options);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(db_options, options.path, descriptors, &handles, &raw);
  if (!s.ok()) return FromRocks(s, "opening store " + options.path);
  auto store = std::make_unique<RocksStore>(std::unique_ptr<rocksdb::DB>(raw), std::move(handles));
  FLATCAST_RETURN_IF_ERROR(store->Init(!exists).WithContext(options.path));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace flatcast::broker
