// The broker's operator surface (docs/OPERATIONS.md): its metrics and what
// /healthz and /readyz answer, served on the admin listener (admin_http.h),
// never on the public feed's. It outlives a broker that starts again inside
// the process (a pair's broker changing role), so the counters run on and
// the listener stays up while it does.
//
//   GET /metrics   the Prometheus text format
//   GET /healthz   200 "ok" while the broker's loop runs and its store
//                  accepts writes; 503 with the reason otherwise
//   GET /readyz    200 "ready" while it accepts publishes (for a pair: the
//                  leader with its standby in sync, or alone in
//                  allow-degraded); 503 with the reason otherwise
//
// Threads: the broker's loop reports (Report), the listener's thread reads.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "flatcast/admin_http.h"
#include "flatcast/broker/metrics.h"
#include "flatcast/status.h"

namespace flatcast::broker {

class AdminSurface {
 public:
  AdminSurface() = default;
  AdminSurface(const AdminSurface&) = delete;
  AdminSurface& operator=(const AdminSurface&) = delete;

  // Serves on `endpoint` ("HOST:PORT"); the bound address then in url().
  Status Listen(const std::string& endpoint);
  std::string url() const { return server_ ? server_->url() : std::string(); }

  BrokerMetrics& metrics() { return metrics_; }

  // The loop's report, about once a second: whether it is healthy (Ok, or
  // why not) and whether it accepts publishes.
  void Report(const Status& live, const Status& ready);

  // The answer to GET `target` (also used by tests without a listener).
  AdminResponse Answer(std::string_view target) const;

  // A loop that has not reported for this long counts as stuck.
  static constexpr std::chrono::seconds kStuckAfter{10};

 private:
  BrokerMetrics metrics_;
  mutable std::mutex mutex_;
  Status live_ = Status::Unavailable("starting");
  Status ready_ = Status::Unavailable("starting");
  std::chrono::steady_clock::time_point reported_{};
  std::unique_ptr<AdminServer> server_;  // last: stopped before what it reads
};

}  // namespace flatcast::broker
