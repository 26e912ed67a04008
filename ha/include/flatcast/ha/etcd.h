// The few etcd v3 operations a broker pair needs (docs/HA.md): leases, one
// key read, and transactions guarded by revisions. `Etcd` is the seam: the
// broker talks to a real etcd through its v3 JSON gateway (OpenEtcdGateway),
// the unit tests to FakeEtcd (tests/support/fake_etcd.h).
//
// etcd's facts kept here: every revision and lease id is an int64 (lease ids
// exceed 2^53, so the gateway sends them as JSON strings); a key's
// create_revision changes only when it is deleted and created again, which
// makes the leader key's create_revision the leader's epoch; a lease granted
// with a TTL lives at least that long after its last keep-alive reached
// etcd, possibly longer (etcd extends leases when its own leader changes).
//
// Threads: an Etcd object is used by one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flatcast/status.h"

namespace flatcast::ha {

struct EtcdKeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;  // 0: none
};

// One comparison of a transaction: the key's revision equals `revision`
// (0 with kCreate: the key does not exist).
struct EtcdCompare {
  enum class Target { kCreate, kMod };
  std::string key;
  Target target = Target::kCreate;
  int64_t revision = 0;
};

struct EtcdPut {
  std::string key;
  std::string value;
  int64_t lease = 0;  // 0: the key outlives every lease
};

// If every comparison holds: the puts and deletes, atomically. Otherwise
// the keys of `read_on_failure` are read, in the same revision.
struct EtcdTxn {
  std::vector<EtcdCompare> compare;
  std::vector<EtcdPut> puts;
  std::vector<std::string> deletes;
  std::vector<std::string> read_on_failure;
};

struct EtcdTxnResult {
  bool succeeded = false;
  // The store's revision after the transaction: a key a successful
  // transaction created has this create_revision.
  int64_t revision = 0;
  std::vector<EtcdKeyValue> read;  // the keys of read_on_failure that exist
};

class Etcd {
 public:
  virtual ~Etcd() = default;
  // A new lease of at least `ttl`; its id.
  virtual Result<int64_t> GrantLease(std::chrono::seconds ttl) = 0;
  // Renews the lease; the TTL it has from now on, 0 once it has expired or
  // was revoked (then its keys are gone).
  virtual Result<std::chrono::seconds> KeepAlive(int64_t lease) = 0;
  // Ends the lease and deletes its keys; Ok for one that is gone already.
  virtual Status RevokeLease(int64_t lease) = 0;
  virtual Result<std::optional<EtcdKeyValue>> Get(const std::string& key) = 0;
  virtual Result<EtcdTxnResult> Txn(const EtcdTxn& txn) = 0;
  // The endpoint that answered last, for messages.
  virtual std::string endpoint() const = 0;
};

struct EtcdGatewayOptions {
  // "http://host:port" of each member; tried in turn until one answers.
  std::vector<std::string> endpoints;
  // The most one request may take (connect, send, answer).
  std::chrono::milliseconds timeout{1000};
};

// A client of etcd's v3 JSON gateway (HTTP/1.1 through Boost.Beast, one
// kept-alive connection). Every request carries gRPC's "hasleader"
// metadata, so a member cut off from its cluster's majority refuses it
// instead of answering from a stale view; the next member is then tried.
// Refuses endpoints that are not http://host:port.
Result<std::unique_ptr<Etcd>> OpenEtcdGateway(const EtcdGatewayOptions& options);

// The gateway's JSON, decoded (for the gateway, its tests and fuzzing).
// Each refuses a body that is not the answer expected, with what was wrong.
namespace gateway {
// {"error": ..., "message": ...} in whatever form the gateway sent it;
// empty when `body` is not an error.
std::string ErrorMessage(std::string_view body);
Result<int64_t> ParseGrant(std::string_view body);
Result<std::chrono::seconds> ParseKeepAlive(std::string_view body);
Result<std::optional<EtcdKeyValue>> ParseRange(std::string_view body);
Result<EtcdTxnResult> ParseTxn(std::string_view body);
// The request body of a transaction.
std::string TxnBody(const EtcdTxn& txn);
}  // namespace gateway

}  // namespace flatcast::ha
