// The broker's one commit path: everything that must be durable before the
// broker answers (a directive version, a lifecycle change, a release, a
// batch of acknowledgements or ratings with their log records, counters)
// goes through CommitPath::Commit as one StoreWrite, and whoever asked is
// called back once it is durable, or once it is certain it is not stored.
//
// The callback never runs inside Commit: it runs from RunCompletions(),
// which the broker's loop calls after each pass. So a durability that
// completes later (a standby's fsync, an upstream relay's acknowledgement)
// fits behind the same interface without changing the callers.
//
// Threads: the broker's event loop only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <utility>

#include "flatcast/broker/disk_space.h"
#include "flatcast/broker/metrics.h"
#include "flatcast/broker/store.h"
#include "flatcast/clock.h"
#include "flatcast/status.h"

namespace flatcast::broker {

// Ok: the batch is durable. Unavailable: the write failed and the store
// has not recovered, so whether the batch was applied is not known yet (see
// TakeLateApplied). Any other error: it is certainly not stored; the message
// says why.
using CommitDone = std::function<void(const Status&)>;

class CommitPath {
 public:
  virtual ~CommitPath() = default;
  virtual void Commit(StoreWrite batch, CommitDone done) = 0;
  // Calls back every commit whose outcome is known, in the order they
  // became known. A callback may Commit again; its own callback then runs in
  // the same call if its outcome is known by then (always for the local
  // store; with a standby, once it has answered: the loop calls again when
  // it does).
  virtual void RunCompletions() = 0;
  // Retries what waits on the store (its recovery after a failed write);
  // the loop calls it from its timers.
  virtual void Tick(TimePoint now) = 0;
  // True once after the store recovered holding a batch whose commit was
  // called back as not known: the owner reloads its view from the store.
  virtual bool TakeLateApplied() = 0;
  // Ok while writes are accepted; otherwise why not (Unavailable: the store
  // failed and has not recovered; NoSpace: the disk is within its reserve).
  virtual Status health() const = 0;
};

// The commit path over the local store: each batch is one synced
// Store::Write. When a write fails, the store is recovered at once
// (Store::Recover) and its commit sequence tells whether the batch was
// applied after all (it completes as durable) or not (it fails with the
// write's error). When the store cannot be recovered, the batch completes as
// not known, every later batch fails at once with the reason, and recovery
// is tried again every `retry`.
//
// With a SpaceReserve, a batch the disk has no room for by the reserve's
// rule (disk_space.h) is refused before it is written: it completes with
// NoSpace, certainly not stored. Tick() logs each change of the free space's
// level.
class StoreCommitPath final : public CommitPath {
 public:
  // `metrics` (may be null) counts each write's entries and sync time.
  explicit StoreCommitPath(Store& store, std::chrono::milliseconds retry = std::chrono::seconds(1),
                           const SpaceReserve* space = nullptr, BrokerMetrics* metrics = nullptr)
      : store_(store), retry_(retry), space_(space), metrics_(metrics) {}

  void Commit(StoreWrite batch, CommitDone done) override;
  void RunCompletions() override;
  void Tick(TimePoint now) override;
  bool TakeLateApplied() override { return std::exchange(late_applied_, false); }
  Status health() const override;

 private:
  // Recovers the store after a failed write; Ok when it accepts writes again.
  Status Recover();

  Store& store_;
  std::chrono::milliseconds retry_;
  const SpaceReserve* space_;
  BrokerMetrics* metrics_;
  SpaceReserve::Level space_level_ = SpaceReserve::Level::kAmple;
  std::string space_why_;
  TimePoint next_space_check_{};
  std::deque<std::pair<CommitDone, Status>> completed_;
  std::string failure_;  // the failed write's error while the store has not recovered
  std::optional<uint64_t> unknown_;  // commit seq of a write whose outcome is not known
  bool late_applied_ = false;
  Status recovery_error_;
  TimePoint next_retry_{};
};

}  // namespace flatcast::broker
