// A public server's own copy of what is public (docs/PUBLIC.md): RocksDB in
// its data directory, holding each public id's latest document, the release
// keys, and the cursor (the broker's public stream is stored up to it).
// Each batch from the broker is one synced write, so after a crash the copy
// is whole up to the cursor it says.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/status.h"

namespace rocksdb {
class DB;
}

namespace flatcast::feed {

namespace v1 = ::flatcast::v1;

class CopyStore {
 public:
  static Result<std::unique_ptr<CopyStore>> Open(const std::string& dir);
  ~CopyStore();

  uint64_t cursor() const { return cursor_; }
  // Every document, in public_seq order.
  std::vector<v1::PublicDocument> Documents() const;
  const std::vector<v1::ReleaseKey>& keys() const { return keys_; }

  // Stores the batch's documents (each replacing its public id's earlier
  // one) and moves the cursor to `last`, synced.
  Status Apply(const std::vector<v1::PublicDocument>& docs, uint64_t last);
  Status SetKeys(const std::vector<v1::ReleaseKey>& keys);

 private:
  CopyStore() = default;
  std::unique_ptr<rocksdb::DB> db_;
  uint64_t cursor_ = 0;
  std::vector<v1::ReleaseKey> keys_;
  std::map<std::string, v1::PublicDocument> docs_;  // by public id
};

}  // namespace flatcast::feed
