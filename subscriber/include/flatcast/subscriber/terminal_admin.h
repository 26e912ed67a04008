// The terminal daemon's operator surface (docs/OPERATIONS.md): Prometheus
// metrics, /healthz and /readyz on an admin listener of its own
// (admin_endpoint in its config; loopback by default), never a directive's
// content. One daemon is one unit, so no metric carries a unit code:
// Prometheus' target labels say which terminal it is.
//
//   GET /metrics   inbox size, pending acknowledgements, whether the broker
//                  welcomed it, the last contact, counts of deliveries,
//                  confirmations, refused signatures, storage failures
//   GET /healthz   200 while the loop runs and the state directory takes writes
//   GET /readyz    200 while the broker has welcomed it
//
// Threads: the daemon's loop updates, the listener's thread reads.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "flatcast/admin_http.h"
#include "flatcast/clock.h"
#include "flatcast/status.h"
#include "flatcast/subscriber/terminal_session.h"

namespace flatcast::subscriber {

class TerminalAdmin {
 public:
  // Listens on `endpoint` ("HOST:PORT").
  static Result<std::unique_ptr<TerminalAdmin>> Start(const std::string& endpoint);
  ~TerminalAdmin();
  std::string url() const;

  struct Snapshot {
    uint64_t inbox = 0;
    uint64_t pending_acks = 0;
    bool welcomed = false;
    std::optional<TimePoint> last_contact;  // a message from the broker
    SessionCounters counters;
    std::string storage_error;  // empty: the state directory takes writes
  };
  // The loop's state, about once a second.
  void Update(const Snapshot& snapshot);

  // What GET `target` answers (tests use it without a listener).
  AdminResponse Answer(std::string_view target) const;

  TerminalAdmin();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flatcast::subscriber
