// The leader's commit path in a broker pair (docs/HA.md): nothing is
// confirmed that only one disk holds.
//
// Each batch is written to the local store first (the commit path below,
// synced), then its commit (Store::last_batch) goes to the standby with the
// leader's epoch; the caller is called back Ok only once the standby has
// stored it too (StandbyLink::acked), and only while this broker's lease is
// current (LeaderState::EpochNow). Batches are pipelined: the next one is
// written and sent while the standby stores the previous one, and they are
// confirmed in order.
//
// Without a standby in sync:
//   sync            every batch is refused before it is written
//                   (Unavailable, "no standby in sync: ..."), so a publisher
//                   retries with the same idempotency key and a terminal
//                   sends its acknowledgement again; batches written while
//                   the standby was still in sync wait for it to come back.
//   allow-degraded  the leader first has the sync record in etcd name no
//                   standby (so the standby, which lacks what follows, may no
//                   longer take over), then confirms alone; the owner is told
//                   (DEGRADED) and again when the standby is back in sync and
//                   recorded (RESYNCED).
// In both modes the standby counts as in sync only once the sync record
// names it: only then may it take the leader key.
//
// Threads: the broker's event loop only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "flatcast/broker/commit_path.h"
#include "flatcast/broker/store.h"

namespace flatcast::broker {

enum class ReplicationMode { kSync, kAllowDegraded };
// "sync" or "allow-degraded".
Result<ReplicationMode> ParseReplicationMode(std::string_view text);
const char* ReplicationModeName(ReplicationMode mode);

// The leader's end of the link to its standby.
class StandbyLink {
 public:
  virtual ~StandbyLink() = default;
  // Sends one commit; the link sends what the standby lacks again after a
  // reconnect or a gap (from the store's kept batches).
  virtual void Send(int64_t epoch, const ReplicaBatch& batch) = 0;
  // The highest commit the standby has stored, synced, in this epoch.
  virtual uint64_t acked() const = 0;
  // The standby answers and lacks nothing but the commits in flight.
  virtual bool caught_up() const = 0;
  // The standby's broker name (empty: none connected).
  virtual std::string standby() const = 0;
  // Why it is not caught up, for messages.
  virtual std::string why_not() const = 0;
};

// The leadership as the loop sees it (ha/leadership.h, through the
// broker's leadership thread).
class LeaderState {
 public:
  virtual ~LeaderState() = default;
  // This broker's epoch while its lease is current; 0 otherwise.
  virtual int64_t EpochNow() const = 0;
  // The standby the sync record in etcd names ("" for none).
  virtual std::string recorded_standby() const = 0;
  // Asks for the sync record to name `standby` ("" for none); done when
  // recorded_standby() says so.
  virtual void RecordStandby(const std::string& standby) = 0;
};

class ReplicatedCommitPath final : public CommitPath {
 public:
  // degraded(true, why) once the leader confirms alone, degraded(false,
  // why) once the standby is back in sync; the owner records each in the log.
  using ModeChanged = std::function<void(bool degraded, const std::string& why)>;

  ReplicatedCommitPath(CommitPath& local, const Store& store, StandbyLink& link,
                       LeaderState& leader, ReplicationMode mode, ModeChanged changed);

  void Commit(StoreWrite batch, CommitDone done) override;
  void RunCompletions() override;
  void Tick(TimePoint now) override;
  // Also true once after a commit written here was answered as not
  // confirmed (the lease ran out first): the store holds it, the owner's
  // view does not, so it reloads.
  bool TakeLateApplied() override {
    bool local = local_.TakeLateApplied();
    return std::exchange(written_unconfirmed_, false) || local;
  }
  Status health() const override;

  // The standby is caught up and recorded in etcd.
  bool in_sync() const;
  bool degraded() const { return degraded_ || resyncing_; }
  // Written locally, not yet confirmed.
  size_t in_flight() const { return pending_.size(); }

 private:
  struct Pending {
    uint64_t id;
    uint64_t commit_seq;  // 0: not written
    CommitDone done;
    std::optional<Status> local;
  };
  // Brings the sync record and the degraded state in line with the link.
  void FollowStandby();

  CommitPath& local_;
  const Store& store_;
  StandbyLink& link_;
  LeaderState& leader_;
  const ReplicationMode mode_;
  ModeChanged changed_;
  std::deque<Pending> pending_;
  uint64_t next_id_ = 1;
  bool degraded_ = false;
  // allow-degraded, the standby back: no longer confirming alone, waiting
  // for it to hold every commit up to resync_floor_ and be recorded.
  bool resyncing_ = false;
  bool written_unconfirmed_ = false;
  uint64_t resync_floor_ = 0;
};

}  // namespace flatcast::broker
