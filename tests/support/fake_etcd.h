// An in-memory etcd for unit tests of leadership: revisions, leases that
// expire on a FakeSteadyClock, transactions, and clients that can be cut
// off (every request fails) or made to lose answers (the request is
// applied, the client is told it failed).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "flatcast/ha/etcd.h"
#include "flatcast/steady_clock.h"

namespace flatcast::testing {

class FakeEtcdCluster {
 public:
  explicit FakeEtcdCluster(const FakeSteadyClock& clock) : clock_(clock) {}

  // A client of this cluster; it must not outlive the cluster.
  std::unique_ptr<ha::Etcd> Client(const std::string& name);
  // Every request of client `name` fails with Unavailable while cut off.
  void CutOff(const std::string& name, bool cut) { cut_[name] = cut; }
  // After `skip` more requests, the next request of client `name` is
  // applied but answered with an error (its answer was lost on the way).
  void LoseAnswer(const std::string& name, int skip = 0) { lose_[name] = skip + 1; }

  std::optional<ha::EtcdKeyValue> Peek(const std::string& key);
  int64_t revision() const { return revision_; }
  // Expires leases whose time is up (every request does it first).
  void ExpireLeases();

 private:
  friend class FakeEtcdClient;
  struct Lease {
    std::chrono::seconds ttl;
    SteadyTime expires;
  };
  const FakeSteadyClock& clock_;
  int64_t revision_ = 1;
  int64_t next_lease_ = (int64_t{1} << 60) + 7;  // above 2^53, as etcd's are
  std::map<std::string, ha::EtcdKeyValue> kv_;
  std::map<int64_t, Lease> leases_;
  std::map<std::string, bool> cut_;
  std::map<std::string, int> lose_;  // requests until the one to lose
};

}  // namespace flatcast::testing
