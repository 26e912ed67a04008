#include "fake_etcd.h"

namespace flatcast::testing {

using ha::EtcdKeyValue;

class FakeEtcdClient final : public ha::Etcd {
 public:
  FakeEtcdClient(FakeEtcdCluster& cluster, std::string name)
      : c_(cluster), name_(std::move(name)) {}

  Result<int64_t> GrantLease(std::chrono::seconds ttl) override {
    FLATCAST_RETURN_IF_ERROR(Enter());
    int64_t id = c_.next_lease_++;
    c_.leases_[id] = {ttl, c_.clock_.Now() + ttl};
    return Answer(id);
  }

  Result<std::chrono::seconds> KeepAlive(int64_t lease) override {
    FLATCAST_RETURN_IF_ERROR(Enter());
    auto it = c_.leases_.find(lease);
    if (it == c_.leases_.end()) return Answer(std::chrono::seconds(0));
    it->second.expires = c_.clock_.Now() + it->second.ttl;
    return Answer(it->second.ttl);
  }

  Status RevokeLease(int64_t lease) override {
    FLATCAST_RETURN_IF_ERROR(Enter());
    Drop(lease);
    auto lost = Answer(0);
    return lost.ok() ? Status::Ok() : lost.status();
  }

  Result<std::optional<EtcdKeyValue>> Get(const std::string& key) override {
    FLATCAST_RETURN_IF_ERROR(Enter());
    auto it = c_.kv_.find(key);
    if (it == c_.kv_.end()) return Answer(std::optional<EtcdKeyValue>());
    return Answer(std::optional<EtcdKeyValue>(it->second));
  }

  Result<ha::EtcdTxnResult> Txn(const ha::EtcdTxn& txn) override {
    FLATCAST_RETURN_IF_ERROR(Enter());
    bool holds = true;
    for (const auto& cmp : txn.compare) {
      auto it = c_.kv_.find(cmp.key);
      int64_t have = 0;
      if (it != c_.kv_.end()) {
        have = cmp.target == ha::EtcdCompare::Target::kCreate ? it->second.create_revision
                                                               : it->second.mod_revision;
      }
      holds = holds && have == cmp.revision;
    }
    ha::EtcdTxnResult result;
    result.succeeded = holds;
    for (const auto& put : txn.puts) {
      if (holds && put.lease != 0 && !c_.leases_.count(put.lease)) {
        return Status::InvalidArgument("etcdserver: requested lease not found");
      }
    }
    if (holds) {
      bool changed = !txn.puts.empty() || !txn.deletes.empty();
      if (changed) ++c_.revision_;
      for (const auto& put : txn.puts) {
        EtcdKeyValue& kv = c_.kv_[put.key];
        if (kv.create_revision == 0) {
          kv.key = put.key;
          kv.create_revision = c_.revision_;
        }
        kv.value = put.value;
        kv.mod_revision = c_.revision_;
        ++kv.version;
        kv.lease = put.lease;
      }
      for (const auto& key : txn.deletes) c_.kv_.erase(key);
    } else {
      for (const auto& key : txn.read_on_failure) {
        auto it = c_.kv_.find(key);
        if (it != c_.kv_.end()) result.read.push_back(it->second);
      }
    }
    result.revision = c_.revision_;
    return Answer(result);
  }

  std::string endpoint() const override { return "fake://" + name_; }

 private:
  Status Enter() {
    c_.ExpireLeases();
    if (c_.cut_[name_]) return Status::Unavailable("etcd cut off from " + name_);
    return Status::Ok();
  }

  template <typename T>
  Result<T> Answer(T value) {
    int& lose = c_.lose_[name_];
    if (lose > 0 && --lose == 0) return Status::Unavailable("the answer was lost");
    return value;
  }

  void Drop(int64_t lease) {
    c_.leases_.erase(lease);
    bool changed = false;
    for (auto it = c_.kv_.begin(); it != c_.kv_.end();) {
      if (it->second.lease == lease) {
        it = c_.kv_.erase(it);
        changed = true;
      } else {
        ++it;
      }
    }
    if (changed) ++c_.revision_;
  }

  FakeEtcdCluster& c_;
  std::string name_;
};

std::unique_ptr<ha::Etcd> FakeEtcdCluster::Client(const std::string& name) {
  return std::make_unique<FakeEtcdClient>(*this, name);
}

std::optional<ha::EtcdKeyValue> FakeEtcdCluster::Peek(const std::string& key) {
  ExpireLeases();
  auto it = kv_.find(key);
  if (it == kv_.end()) return std::nullopt;
  return it->second;
}

void FakeEtcdCluster::ExpireLeases() {
  SteadyTime now = clock_.Now();
  for (auto it = leases_.begin(); it != leases_.end();) {
    if (it->second.expires <= now) {
      int64_t id = it->first;
      it = leases_.erase(it);
      bool changed = false;
      for (auto kv = kv_.begin(); kv != kv_.end();) {
        if (kv->second.lease == id) {
          kv = kv_.erase(kv);
          changed = true;
        } else {
          ++kv;
        }
      }
      if (changed) ++revision_;
    } else {
      ++it;
    }
  }
}

}  // namespace flatcast::testing
