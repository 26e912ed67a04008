// Who leads a broker group, decided by etcd (docs/HA.md), the way Patroni
// does for PostgreSQL:
//
//   /flatcast/<group>/leader  {"name": ..., <advertised fields>}, under the
//                             leader's lease; taken with a transaction that
//                             succeeds only if the key does not exist. Its
//                             create_revision is the leader's epoch, the
//                             fencing token carried by everything it sends.
//   /flatcast/<group>/members/<name>  the same fields, under the broker's
//                             session lease: one broker of each name.
//   /flatcast/<group>/sync    {"leader": A, "standby": B, "epoch": E}: the
//                             standby the leader replicates to synchronously
//                             ("" while it confirms alone); written by the
//                             leader only, guarded by its epoch.
//
// Only a broker the sync record names (as leader or as in-sync standby), or
// any broker when there is no record yet, may take the leader key: a standby
// that was not in sync never becomes leader by itself.
//
// Each broker holds one session lease, renewed every round; its member key
// and, while it leads, the leader key are attached to it.
//
// The leader renews its lease every round. It counts as leader only until
// the time of its last successful renewal's request plus the TTL minus a
// margin, on the monotonic clock: etcd keeps a lease at least the TTL after
// the renewal reached it, so once that time passes some other broker may
// hold the key, and the leader must not confirm, deliver or release
// anything more. Leadership does not watch the key (a watch through the
// gateway on a member cut off from its majority keeps running silently); it
// reads it each round with a linearizable read, which fails without a
// majority.
//
// Threads: one (the broker's leadership thread); Step() blocks on etcd for
// at most a few request timeouts.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "flatcast/ha/etcd.h"
#include "flatcast/status.h"
#include "flatcast/steady_clock.h"

namespace flatcast::ha {

struct LeadershipOptions {
  std::string group;  // keys under /flatcast/<group>/
  std::string name;   // this broker's name, unique in its group
  // Written into the leader key beside "name" while this broker leads (its
  // endpoints, so clients and the standby can find it).
  std::map<std::string, std::string> advertise;
  std::chrono::seconds ttl{5};
  // Subtracted from the lease on this side: covers the request's time on
  // the way and the two clocks' drift.
  std::chrono::milliseconds margin{1000};
  // Asked before taking a free key when the group has a sync record (a
  // history): false while this broker's store is incomplete (copied anew,
  // or new, and not yet caught up with a leader). Unset: always may.
  std::function<bool()> store_complete;
};

// Checks what flags or a file may have set: a group and name of letters,
// digits, '-', '_', '.'; ttl 2..300 s; 0 <= margin < ttl / 2.
Status ValidateLeadershipOptions(const LeadershipOptions& options);

enum class Role { kUnknown, kStandby, kLeader };
const char* RoleName(Role role);

struct LeaderInfo {
  std::string name;  // empty: no leader
  std::map<std::string, std::string> advertised;
  int64_t epoch = 0;
};

struct SyncRecord {
  bool exists = false;
  std::string leader;
  std::string standby;  // "": the leader confirms alone
  int64_t epoch = 0;
};

struct LeadershipView {
  Role role = Role::kUnknown;
  LeaderInfo leader;  // this broker while kLeader
  // kLeader: this broker may act as leader strictly before this time.
  SteadyTime valid_until{};
  SyncRecord sync;
  // Empty when the last round went well; otherwise what went wrong (etcd
  // unreachable, not eligible, leadership lost).
  std::string problem;

  bool LeaderAt(SteadyTime now) const { return role == Role::kLeader && now < valid_until; }
};

std::string LeaderKey(const std::string& group);
std::string SyncKey(const std::string& group);
std::string MemberKey(const std::string& group, const std::string& name);

class Leadership {
 public:
  Leadership(Etcd& etcd, const SteadyClock& clock, LeadershipOptions options);
  ~Leadership();
  Leadership(const Leadership&) = delete;
  Leadership& operator=(const Leadership&) = delete;

  // Takes a session lease and the member key. AlreadyExists: a broker of
  // this name holds it (another one configured with the same name, or this
  // one before a restart, until its old lease expires).
  Status Join();
  // One round: renews the session (joins first if needed); the leader checks
  // the key is still its own; any other broker reads the key and, when
  // there is none and the sync record allows it, tries to take it. Returns
  // the view after it.
  const LeadershipView& Step();
  // Leader only: records `standby` as the one in sync ("" for none) before
  // the caller relies on it. Fails when this broker does not lead (any more).
  Status SetSyncStandby(const std::string& standby);
  // Gives the leadership up (deletes the leader key, so the standby need
  // not wait for the TTL).
  Status Resign();
  // Leaves the group: revokes the session lease (its keys go with it).
  Status Leave();

  const LeadershipView& view() const { return view_; }
  const LeadershipOptions& options() const { return options_; }

 private:
  void CheckLeaderKey();
  void StepAsCandidate();
  Status ReadSync();
  void LoseLeadership(const std::string& why);
  SteadyTime LeaseEnd() const;

  Etcd& etcd_;
  const SteadyClock& clock_;
  const LeadershipOptions options_;
  const std::string leader_key_;
  const std::string sync_key_;
  const std::string member_key_;
  int64_t lease_ = 0;  // the session lease; 0 before Join
  std::chrono::seconds lease_ttl_{0};
  SteadyTime renewed_at_{};  // when the last successful grant or renewal was sent
  LeadershipView view_;
};

// The leader key's value for `options`, and its reading.
std::string LeaderValue(const LeadershipOptions& options);
Result<LeaderInfo> ParseLeaderValue(const std::string& value, int64_t epoch);
std::string SyncValue(const SyncRecord& record);
Result<SyncRecord> ParseSyncValue(const std::string& value);

}  // namespace flatcast::ha
