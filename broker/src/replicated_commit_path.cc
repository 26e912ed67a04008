#include "flatcast/broker/replicated_commit_path.h"

#include <spdlog/spdlog.h>

namespace flatcast::broker {

Result<ReplicationMode> ParseReplicationMode(std::string_view text) {
  if (text == "sync") return ReplicationMode::kSync;
  if (text == "allow-degraded") return ReplicationMode::kAllowDegraded;
  return Status::InvalidArgument("replication must be \"sync\" or \"allow-degraded\", not \"" +
                                 std::string(text) + "\"");
}

const char* ReplicationModeName(ReplicationMode mode) {
  return mode == ReplicationMode::kSync ? "sync" : "allow-degraded";
}

ReplicatedCommitPath::ReplicatedCommitPath(CommitPath& local, const Store& store,
                                           StandbyLink& link, LeaderState& leader,
                                           ReplicationMode mode, ModeChanged changed)
    : local_(local), store_(store), link_(link), leader_(leader), mode_(mode),
      changed_(std::move(changed)) {}

bool ReplicatedCommitPath::in_sync() const {
  std::string standby = link_.standby();
  return link_.caught_up() && !standby.empty() && leader_.recorded_standby() == standby;
}

void ReplicatedCommitPath::Commit(StoreWrite batch, CommitDone done) {
  const uint64_t id = next_id_++;
  const int64_t epoch = leader_.EpochNow();
  if (epoch == 0) {
    pending_.push_back({id, 0, std::move(done),
                        Status::Unavailable("this broker is not the leader now (its lease is not "
                                            "current): nothing was stored")});
    return;
  }
  if (mode_ == ReplicationMode::kSync && !in_sync()) {
    // health() says why (no standby in sync, or the local store's trouble).
    pending_.push_back(
        {id, 0, std::move(done), Status::Unavailable(health().message() + ": nothing was stored")});
    return;
  }
  const uint64_t before = store_.heads().commit_seq;
  pending_.push_back({id, 0, std::move(done), std::nullopt});
  local_.Commit(std::move(batch), [this, id](const Status& s) {
    for (Pending& p : pending_) {
      if (p.id == id) {
        p.local = s;
        return;
      }
    }
  });
  if (store_.heads().commit_seq == before + 1) {
    pending_.back().commit_seq = before + 1;
    link_.Send(epoch, store_.last_batch());
  }
}

void ReplicatedCommitPath::RunCompletions() {
  bool progress = true;
  while (progress) {
    progress = false;
    local_.RunCompletions();
    FollowStandby();
    while (!pending_.empty()) {
      Pending& p = pending_.front();
      if (!p.local) break;
      Status outcome;
      if (!p.local->ok() || p.commit_seq == 0) {
        outcome = *p.local;
      } else if (leader_.EpochNow() == 0) {
        written_unconfirmed_ = true;
        outcome = Status::Unavailable(
            "this broker's leader lease ran out before the commit was confirmed: not confirmed "
            "(the standby may hold it; a retry reaches whichever broker leads)");
      } else if (link_.acked() >= p.commit_seq || degraded_) {
        outcome = Status::Ok();
      } else {
        break;  // waits for the standby
      }
      CommitDone done = std::move(p.done);
      pending_.pop_front();
      done(outcome);
      progress = true;
    }
  }
}

void ReplicatedCommitPath::FollowStandby() {
  if (leader_.EpochNow() == 0) return;
  const std::string standby = link_.standby();
  const std::string recorded = leader_.recorded_standby();
  if (link_.caught_up() && !standby.empty()) {
    if (degraded_) {
      // Stop confirming alone first: from here on every commit waits for the
      // standby, and etcd names it only once it holds every commit confirmed
      // alone (everything written up to now).
      degraded_ = false;
      resync_floor_ = store_.heads().commit_seq;
      resyncing_ = true;
    }
    if (resyncing_ && link_.acked() < resync_floor_) return;
    if (recorded != standby) {
      leader_.RecordStandby(standby);
    } else if (resyncing_) {
      resyncing_ = false;
      spdlog::info("replication: standby {} is back in sync; confirming with it again", standby);
      if (changed_) changed_(false, "standby " + standby + " is back in sync");
    }
    return;
  }
  if (mode_ != ReplicationMode::kAllowDegraded) return;
  resyncing_ = false;
  if (!recorded.empty()) {
    // The standby, which will lack what is confirmed alone, must first lose
    // its right to take over; while etcd names it, nothing is confirmed alone
    // (also when a request to name it completed after the leader degraded).
    degraded_ = false;
    leader_.RecordStandby("");
    return;
  }
  if (degraded_) return;
  degraded_ = true;
  std::string why = "no standby in sync (" + link_.why_not() + "): confirming alone";
  spdlog::warn("replication: {}", why);
  if (changed_) changed_(true, why);
}

void ReplicatedCommitPath::Tick(TimePoint now) {
  local_.Tick(now);
  FollowStandby();
}

Status ReplicatedCommitPath::health() const {
  FLATCAST_RETURN_IF_ERROR(local_.health());
  if (leader_.EpochNow() == 0) return Status::Unavailable("this broker is not the leader now");
  if (mode_ == ReplicationMode::kSync && !in_sync()) {
    std::string standby = link_.standby();
    if (link_.caught_up() && !standby.empty()) {
      return Status::Unavailable("no standby in sync: standby " + standby +
                                 " is caught up but not yet recorded in etcd");
    }
    return Status::Unavailable("no standby in sync: " + link_.why_not());
  }
  return Status::Ok();
}

}  // namespace flatcast::broker
