// What one broker of a pair sends the other (docs/HA.md, "Replication"):
// the replication messages, and a batch's RocksDB WriteBatch as the standby
// stores it. The first byte picks: even, the bytes are a message for the
// leader's and the standby's decoder; odd, they are a commit's WriteBatch,
// given the right sequence and chain hash so that the standby's check of
// what it writes (column families, the commit seq it records) is reached.
// A batch the check lets through must leave the store readable.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "flatcast/broker/store.h"
#include "flatcast/log_chain.h"
#include "replication_link.h"

using namespace flatcast;
using namespace flatcast::broker;

namespace {

Store& FuzzStore() {
  static Store* store = [] {
    std::string dir = std::filesystem::temp_directory_path() /
                      ("flatcast-fuzz-replication-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    return Store::Open({dir, true, 64}).value().release();
  }();
  return *store;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    (void)DecodeReplicationMessage(body, kMaxStandbyMessageBytes);
    auto msg = DecodeReplicationMessage(body, kMaxReplicationMessageBytes);
    if (msg.ok()) {
      auto again = DecodeReplicationMessage(msg->SerializeAsString(), kMaxReplicationMessageBytes);
      if (!again.ok()) __builtin_trap();
    }
    return 0;
  }
  Store& store = FuzzStore();
  const uint64_t next = store.heads().commit_seq + 1;
  ReplicaBatch batch{next, BatchChainHash(store.head_chain(), body), std::string(body)};
  if (store.ApplyReplica(batch).ok()) {
    if (store.heads().commit_seq != next) __builtin_trap();
    (void)store.ForEachDirective([](const v1::StoredDirective&) { return Status::Ok(); });
  }
  return 0;
}
