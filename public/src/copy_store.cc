#include "flatcast/feed/copy_store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>

namespace flatcast::feed {

namespace {

constexpr char kDocPrefix[] = "d/";
constexpr char kCursorKey[] = "m/cursor";
constexpr char kKeysKey[] = "m/keys";

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  if (s.IsNoSpace()) return Status::NoSpace(what + ": " + s.ToString());
  if (s.IsCorruption()) return Status::Corruption(what + ": " + s.ToString());
  return Status::IOError(what + ": " + s.ToString());
}

}  // namespace

CopyStore::~CopyStore() = default;

Result<std::unique_ptr<CopyStore>> CopyStore::Open(const std::string& dir) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_open_files = 64;
  options.keep_log_file_num = 4;
  rocksdb::DB* raw = nullptr;
  FLATCAST_RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(options, dir, &raw), "open " + dir));
  std::unique_ptr<CopyStore> store(new CopyStore());
  store->db_.reset(raw);
  std::string value;
  auto got = store->db_->Get(rocksdb::ReadOptions(), kCursorKey, &value);
  if (got.ok()) {
    store->cursor_ = std::strtoull(value.c_str(), nullptr, 10);
  } else if (!got.IsNotFound()) {
    return FromRocks(got, "read the cursor");
  }
  got = store->db_->Get(rocksdb::ReadOptions(), kKeysKey, &value);
  if (got.ok()) {
    v1::PublicWelcome keys;
    if (!keys.ParseFromString(value)) return Status::Corruption(dir + ": the stored keys do not parse");
    store->keys_.assign(keys.keys().begin(), keys.keys().end());
  } else if (!got.IsNotFound()) {
    return FromRocks(got, "read the keys");
  }
  std::unique_ptr<rocksdb::Iterator> it(store->db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(kDocPrefix); it->Valid() && it->key().starts_with(kDocPrefix); it->Next()) {
    v1::PublicDocument doc;
    if (!doc.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return Status::Corruption(dir + ": document " + it->key().ToString() + " does not parse");
    }
    store->docs_[doc.public_id()] = std::move(doc);
  }
  FLATCAST_RETURN_IF_ERROR(FromRocks(it->status(), "read the documents"));
  return store;
}

std::vector<v1::PublicDocument> CopyStore::Documents() const {
  std::vector<v1::PublicDocument> out;
  out.reserve(docs_.size());
  for (const auto& [id, doc] : docs_) out.push_back(doc);
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.public_seq() < b.public_seq(); });
  return out;
}

Status CopyStore::Apply(const std::vector<v1::PublicDocument>& docs, uint64_t last) {
  rocksdb::WriteBatch batch;
  for (const auto& doc : docs) batch.Put(kDocPrefix + doc.public_id(), doc.SerializeAsString());
  batch.Put(kCursorKey, std::to_string(last));
  rocksdb::WriteOptions sync;
  sync.sync = true;
  FLATCAST_RETURN_IF_ERROR(FromRocks(db_->Write(sync, &batch), "store the public documents"));
  for (const auto& doc : docs) docs_[doc.public_id()] = doc;
  cursor_ = last;
  return Status::Ok();
}

Status CopyStore::SetKeys(const std::vector<v1::ReleaseKey>& keys) {
  v1::PublicWelcome w;
  for (const auto& k : keys) *w.add_keys() = k;
  rocksdb::WriteOptions sync;
  sync.sync = true;
  FLATCAST_RETURN_IF_ERROR(
      FromRocks(db_->Put(sync, kKeysKey, w.SerializeAsString()), "store the release keys"));
  keys_ = keys;
  return Status::Ok();
}

}  // namespace flatcast::feed
