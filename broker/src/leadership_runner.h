// The broker's leadership thread (docs/HA.md): runs ha::Leadership's rounds
// against etcd every `period`, publishes the view to the loop, and carries
// out the replicated commit path's requests to change the sync record. It
// is the loop's LeaderState: the epoch while the lease is current, on the
// monotonic clock, read without waiting for etcd.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "flatcast/broker/replicated_commit_path.h"
#include "flatcast/ha/etcd.h"
#include "flatcast/ha/leadership.h"
#include "flatcast/status.h"
#include "flatcast/steady_clock.h"

namespace flatcast::broker {

class LeadershipRunner final : public LeaderState {
 public:
  // Joins the group (retrying while etcd does not answer or the name is
  // still held, for at most `join_for`), then starts the thread.
  static Result<std::unique_ptr<LeadershipRunner>> Start(std::unique_ptr<ha::Etcd> etcd,
                                                         ha::LeadershipOptions options,
                                                         std::chrono::milliseconds period,
                                                         std::chrono::milliseconds join_for);
  // Stops the thread; a leader resigns first (the standby need not wait
  // for the lease), then the broker leaves the group.
  ~LeadershipRunner() override;
  LeadershipRunner(const LeadershipRunner&) = delete;
  LeadershipRunner& operator=(const LeadershipRunner&) = delete;

  // The view after the last round.
  ha::LeadershipView view() const;
  // Counts each published view: the loop re-reads view() when it changed.
  uint64_t generation() const { return generation_.load(); }
  bool LeaderNow() const { return EpochNow() != 0; }
  const ha::LeadershipOptions& options() const { return options_; }

  int64_t EpochNow() const override;
  std::string recorded_standby() const override;
  void RecordStandby(const std::string& standby) override;

 private:
  LeadershipRunner(std::unique_ptr<ha::Etcd> etcd, ha::LeadershipOptions options,
                   std::chrono::milliseconds period);
  void Run();
  void Publish(const ha::LeadershipView& view);

  std::unique_ptr<ha::Etcd> etcd_;
  const ha::LeadershipOptions options_;
  ha::Leadership leadership_;
  const std::chrono::milliseconds period_;
  std::thread thread_;
  std::atomic<int64_t> epoch_{0};
  std::atomic<int64_t> valid_until_ns_{0};  // steady clock, since its epoch
  std::atomic<uint64_t> generation_{0};

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  ha::LeadershipView view_;
  std::optional<std::string> wanted_standby_;
};

}  // namespace flatcast::broker
