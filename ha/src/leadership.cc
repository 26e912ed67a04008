#include "flatcast/ha/leadership.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include <charconv>
#include <nlohmann/json.hpp>

namespace flatcast::ha {

using nlohmann::json;

namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

Status CheckName(const std::string& what, const std::string& value) {
  if (value.empty() || value.size() > 64) {
    return Status::InvalidArgument(what + " must have 1 to 64 characters");
  }
  for (char c : value) {
    if (!IsNameChar(c)) {
      return Status::InvalidArgument(what + " \"" + value +
                                     "\" may hold only letters, digits, '-', '_' and '.'");
    }
  }
  return Status::Ok();
}

std::string Millis(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

}  // namespace

Status ValidateLeadershipOptions(const LeadershipOptions& options) {
  FLATCAST_RETURN_IF_ERROR(CheckName("the broker group", options.group));
  FLATCAST_RETURN_IF_ERROR(CheckName("the broker name", options.name));
  if (options.ttl < std::chrono::seconds(2) || options.ttl > std::chrono::seconds(300)) {
    return Status::InvalidArgument("the leader lease TTL must be between 2 s and 300 s, not " +
                                   std::to_string(options.ttl.count()) + " s");
  }
  if (options.margin < std::chrono::milliseconds(0) || options.margin * 2 >= options.ttl) {
    return Status::InvalidArgument("the lease margin must be at least 0 and under half the TTL");
  }
  if (options.advertise.count("name")) {
    return Status::InvalidArgument("\"name\" is not an advertised field");
  }
  return Status::Ok();
}

const char* RoleName(Role role) {
  switch (role) {
    case Role::kLeader:
      return "leader";
    case Role::kStandby:
      return "standby";
    case Role::kUnknown:
      break;
  }
  return "unknown";
}

std::string LeaderKey(const std::string& group) { return "/flatcast/" + group + "/leader"; }
std::string SyncKey(const std::string& group) { return "/flatcast/" + group + "/sync"; }

std::string LeaderValue(const LeadershipOptions& options) {
  json j = json::object();
  for (const auto& [k, v] : options.advertise) j[k] = v;
  j["name"] = options.name;
  return j.dump();
}

Result<LeaderInfo> ParseLeaderValue(const std::string& value, int64_t epoch) {
  json j = json::parse(value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::Corruption("the leader key does not hold a JSON object");
  }
  LeaderInfo info;
  info.epoch = epoch;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) return Status::Corruption("the leader key's " + k + " is not a string");
    if (k == "name") {
      info.name = v.get<std::string>();
    } else {
      info.advertised[k] = v.get<std::string>();
    }
  }
  if (info.name.empty()) return Status::Corruption("the leader key names no broker");
  return info;
}

std::string SyncValue(const SyncRecord& record) {
  return json{{"leader", record.leader},
              {"standby", record.standby},
              {"epoch", std::to_string(record.epoch)}}
      .dump();
}

Result<SyncRecord> ParseSyncValue(const std::string& value) {
  json j = json::parse(value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::Corruption("the sync record is not a JSON object");
  }
  SyncRecord record;
  record.exists = true;
  auto text = [&](const char* field, std::string* out) -> Status {
    auto it = j.find(field);
    if (it == j.end() || !it->is_string()) {
      return Status::Corruption(std::string("the sync record's ") + field + " is not a string");
    }
    *out = it->get<std::string>();
    return Status::Ok();
  };
  std::string epoch;
  FLATCAST_RETURN_IF_ERROR(text("leader", &record.leader));
  FLATCAST_RETURN_IF_ERROR(text("standby", &record.standby));
  FLATCAST_RETURN_IF_ERROR(text("epoch", &epoch));
  auto [end, ec] = std::from_chars(epoch.data(), epoch.data() + epoch.size(), record.epoch);
  if (ec != std::errc() || end != epoch.data() + epoch.size() || epoch.empty()) {
    return Status::Corruption("the sync record's epoch is not a number");
  }
  return record;
}

std::string MemberKey(const std::string& group, const std::string& name) {
  return "/flatcast/" + group + "/members/" + name;
}

Leadership::Leadership(Etcd& etcd, const SteadyClock& clock, LeadershipOptions options)
    : etcd_(etcd), clock_(clock), options_(std::move(options)),
      leader_key_(LeaderKey(options_.group)), sync_key_(SyncKey(options_.group)),
      member_key_(MemberKey(options_.group, options_.name)) {}

Leadership::~Leadership() = default;

SteadyTime Leadership::LeaseEnd() const {
  return renewed_at_ + std::chrono::duration_cast<std::chrono::milliseconds>(lease_ttl_) -
         options_.margin;
}

Status Leadership::Join() {
  if (lease_ != 0) return Status::Ok();
  SteadyTime sent = clock_.Now();
  auto lease = etcd_.GrantLease(options_.ttl);
  if (!lease.ok()) return lease.status().WithContext("cannot take a session lease");
  EtcdTxn txn;
  txn.compare.push_back({member_key_, EtcdCompare::Target::kCreate, 0});
  txn.puts.push_back({member_key_, LeaderValue(options_), *lease});
  txn.read_on_failure.push_back(member_key_);
  auto result = etcd_.Txn(txn);
  if (!result.ok()) {
    (void)etcd_.RevokeLease(*lease);
    return result.status().WithContext("cannot join group " + options_.group);
  }
  if (!result->succeeded) {
    (void)etcd_.RevokeLease(*lease);
    return Status::AlreadyExists(
        "a broker named " + options_.name + " is already a member of group " + options_.group +
        " in etcd (" + etcd_.endpoint() +
        "): another broker configured with the same name, or this one before a restart, "
        "until its old lease expires (at most " + std::to_string(options_.ttl.count()) + " s)");
  }
  lease_ = *lease;
  lease_ttl_ = options_.ttl;
  renewed_at_ = sent;
  return Status::Ok();
}

const LeadershipView& Leadership::Step() {
  if (lease_ == 0) {
    Status joined = Join();
    if (!joined.ok()) {
      view_.role = Role::kUnknown;
      view_.problem = joined.message();
      return view_;
    }
  } else {
    SteadyTime sent = clock_.Now();
    auto ttl = etcd_.KeepAlive(lease_);
    if (!ttl.ok()) {
      view_.problem = "cannot renew the session lease: " + ttl.status().message();
      if (view_.role == Role::kLeader && clock_.Now() >= view_.valid_until) {
        spdlog::warn("group {}: the leader lease may have expired ({}); not acting as leader "
                     "until etcd answers",
                     options_.group, view_.problem);
      }
      return view_;
    }
    if (ttl->count() <= 0) {
      lease_ = 0;
      if (view_.role == Role::kLeader) {
        LoseLeadership("the session lease expired in etcd");
      } else {
        view_.role = Role::kUnknown;
        view_.problem = "the session lease expired in etcd; joining again";
      }
      return view_;
    }
    renewed_at_ = sent;
    // etcd may grant more than asked; counting on no more than asked is safe.
    lease_ttl_ = std::min(*ttl, options_.ttl);
  }
  if (view_.role == Role::kLeader) {
    CheckLeaderKey();
  } else {
    StepAsCandidate();
  }
  return view_;
}

void Leadership::LoseLeadership(const std::string& why) {
  spdlog::warn("group {}: leadership lost (epoch {}): {}", options_.group, view_.leader.epoch,
               why);
  view_.role = Role::kUnknown;
  view_.leader = {};
  view_.valid_until = {};
  view_.problem = why;
}

void Leadership::CheckLeaderKey() {
  auto key = etcd_.Get(leader_key_);
  if (!key.ok()) {
    view_.problem = "cannot read the leader key: " + key.status().message();
    return;
  }
  if (!*key || (*key)->create_revision != view_.leader.epoch || (*key)->lease != lease_) {
    LoseLeadership("the leader key is no longer this broker's");
    return;
  }
  view_.valid_until = LeaseEnd();
  view_.problem.clear();
  Status sync = ReadSync();
  if (!sync.ok()) view_.problem = sync.message();
}

Status Leadership::ReadSync() {
  auto sync = etcd_.Get(sync_key_);
  if (!sync.ok()) return sync.status().WithContext("cannot read the sync record");
  if (!*sync) {
    view_.sync = {};
    return Status::Ok();
  }
  auto record = ParseSyncValue((*sync)->value);
  if (!record.ok()) return record.status();
  view_.sync = std::move(record).value();
  return Status::Ok();
}

void Leadership::StepAsCandidate() {
  auto key = etcd_.Get(leader_key_);
  if (!key.ok()) {
    view_.role = Role::kUnknown;
    view_.problem = "cannot read the leader key: " + key.status().message();
    return;
  }
  if (*key) {
    auto info = ParseLeaderValue((*key)->value, (*key)->create_revision);
    if (!info.ok()) {
      view_.role = Role::kUnknown;
      view_.problem = info.status().message();
      return;
    }
    if ((*key)->lease == lease_) {
      // This broker's own earlier transaction took the key after all (its
      // answer was lost on the way).
      view_.role = Role::kLeader;
      view_.leader = std::move(info).value();
      view_.valid_until = LeaseEnd();
      view_.problem.clear();
      spdlog::info("group {}: this broker ({}) leads from epoch {}", options_.group,
                   options_.name, view_.leader.epoch);
      return;
    }
    if (info->name == options_.name) {
      // This broker's name under another lease: the leader key of this
      // broker before a restart, until its old lease expires.
      view_.role = Role::kUnknown;
      view_.leader = std::move(info).value();
      view_.problem = "the leader key still names this broker (" + options_.name +
                      ") under its lease from before a restart; waiting for it to expire";
      return;
    }
    if (view_.role != Role::kStandby || view_.leader.epoch != info->epoch) {
      spdlog::info("group {}: {} leads (epoch {}); this broker ({}) is standby", options_.group,
                   info->name, info->epoch, options_.name);
    }
    view_.role = Role::kStandby;
    view_.leader = std::move(info).value();
    view_.problem.clear();
    Status sync = ReadSync();
    if (!sync.ok()) view_.problem = sync.message();
    return;
  }

  // No leader: this broker may take the key if the sync record allows it.
  Status sync = ReadSync();
  if (!sync.ok()) {
    view_.role = Role::kUnknown;
    view_.problem = sync.message();
    return;
  }
  view_.leader = {};
  if (view_.sync.exists && view_.sync.leader != options_.name &&
      view_.sync.standby != options_.name) {
    view_.role = Role::kStandby;
    view_.problem = "no leader, and this broker may not take the key: the sync record names " +
                    view_.sync.leader + " as the last leader and " +
                    (view_.sync.standby.empty() ? std::string("no standby")
                                                : view_.sync.standby) +
                    " in sync (this broker may lack what was confirmed)";
    return;
  }
  if (view_.sync.exists && options_.store_complete && !options_.store_complete()) {
    view_.role = Role::kStandby;
    view_.problem = "no leader, and this broker may not take the key: its store is still being "
                    "copied from a leader (it may lack what was confirmed)";
    return;
  }
  EtcdTxn txn;
  txn.compare.push_back({leader_key_, EtcdCompare::Target::kCreate, 0});
  txn.puts.push_back({leader_key_, LeaderValue(options_), lease_});
  txn.read_on_failure.push_back(leader_key_);
  auto result = etcd_.Txn(txn);
  if (!result.ok()) {
    // Whether it took the key is not known: the next round reads the key
    // and recognises the lease if it did.
    view_.role = Role::kUnknown;
    view_.problem = "cannot take the leader key: " + result.status().message();
    return;
  }
  if (!result->succeeded) {
    view_.role = Role::kUnknown;
    view_.problem = "another broker took the leader key first";
    return;  // the next round reads which
  }
  view_.role = Role::kLeader;
  view_.leader.name = options_.name;
  view_.leader.advertised = options_.advertise;
  view_.leader.epoch = result->revision;
  view_.valid_until = LeaseEnd();
  view_.problem.clear();
  spdlog::info("group {}: this broker ({}) leads from epoch {} (lease TTL {} s, margin {})",
               options_.group, options_.name, view_.leader.epoch, options_.ttl.count(),
               Millis(options_.margin));
}

Status Leadership::SetSyncStandby(const std::string& standby) {
  if (view_.role != Role::kLeader) return Status::Unavailable("this broker does not lead");
  SyncRecord record{true, options_.name, standby, view_.leader.epoch};
  EtcdTxn txn;
  txn.compare.push_back({leader_key_, EtcdCompare::Target::kCreate, view_.leader.epoch});
  txn.puts.push_back({sync_key_, SyncValue(record), 0});
  auto result = etcd_.Txn(txn);
  if (!result.ok()) return result.status().WithContext("cannot write the sync record");
  if (!result->succeeded) {
    LoseLeadership("the leader key changed before the sync record was written");
    return Status::Unavailable("this broker no longer leads");
  }
  view_.sync = record;
  return Status::Ok();
}

Status Leadership::Resign() {
  if (view_.role != Role::kLeader) return Status::Ok();
  spdlog::info("group {}: this broker ({}) resigns the leadership (epoch {})", options_.group,
               options_.name, view_.leader.epoch);
  EtcdTxn txn;
  txn.compare.push_back({leader_key_, EtcdCompare::Target::kCreate, view_.leader.epoch});
  txn.deletes.push_back(leader_key_);
  view_.role = Role::kUnknown;
  view_.leader = {};
  view_.valid_until = {};
  auto result = etcd_.Txn(txn);
  if (!result.ok()) return result.status().WithContext("cannot delete the leader key");
  return Status::Ok();
}

Status Leadership::Leave() {
  (void)Resign();
  if (lease_ == 0) return Status::Ok();
  Status s = etcd_.RevokeLease(lease_);
  lease_ = 0;
  view_.role = Role::kUnknown;
  return s;
}

}  // namespace flatcast::ha
