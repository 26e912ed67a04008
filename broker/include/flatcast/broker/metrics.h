// The broker's Prometheus metrics (docs/OPERATIONS.md, "Metrics"), with
// prometheus-cpp's registry and text serializer. Counters and histograms
// are updated where things happen (the loop's capabilities, the commit
// path, the ZAP handler); gauges describe state and are set by the loop
// once a second (SetState). Names follow Prometheus' conventions: the
// flatcast_ prefix, _total counters, seconds and bytes, labels with a few
// values each (tier, level, action, reason, code), never a unit code.
//
// Threads: any thread may update; Text() serializes from another (the
// admin listener's).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "flatcast.pb.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace flatcast::broker {

class BrokerMetrics {
 public:
  BrokerMetrics();
  ~BrokerMetrics();
  BrokerMetrics(const BrokerMetrics&) = delete;
  BrokerMetrics& operator=(const BrokerMetrics&) = delete;

  // The Prometheus text format (version 0.0.4) of every metric.
  std::string Text() const;

  // -- events --
  void Published();                           // a new directive (version 1) stored
  void Lifecycle(v1::LifecycleRequest::Action action);  // amend, cancel, extend, release
  void Released();                            // a directive became public
  void Delivered(uint64_t sends);             // first sends of a version and catch-up
  void Redelivered(uint64_t sends);           // redelivery rounds
  void Dropped(uint64_t sends);               // sends refused by a full queue
  // An acknowledgement made durable, `seconds` after its directive was sent.
  void Acknowledged(v1::AckLevel level, double seconds);
  void Rated();
  void Returned();  // an answer to a return form made durable
  // One store write of `records` entries, synced in `seconds`; or failed.
  void Committed(uint64_t records, double seconds);
  void CommitFailed();
  // A connection the ZAP handler refused: "mechanism", "malformed",
  // "unknown_key", "revoked_key", "wrong_role".
  void HandshakeRefused(std::string_view reason);
  void RequestRefused(v1::ErrorCode code);

  // -- state, set by the loop once a second --
  struct State {
    std::array<uint64_t, 6> connected_by_tier{};  // by flatcast::Tier (index 0 unused)
    uint64_t connected_other = 0;                 // publishers, auditors, relays
    uint64_t open_files = 0;
    uint64_t open_files_limit = 0;
    uint64_t open_files_budget = 0;  // what the broker planned for (fd_budget.h)
    uint64_t directive_versions = 0;
    uint64_t held = 0;               // public directives not yet released
    std::array<uint64_t, 4> overdue_by_level{};  // by v1::AckLevel (index 0 unused)
    uint64_t query_queue = 0;
    uint64_t store_bytes = 0;
    bool store_writable = true;
    bool accepting_publishes = true;
    // A pair's broker (docs/HA.md): is_leader, epoch, standby in sync, lag.
    bool pair = false;
    bool leader = false;
    uint64_t epoch = 0;
    bool standby_in_sync = false;
    uint64_t replication_lag = 0;
    // A relay (docs/RELAY.md): its link upstream.
    bool relay = false;
    bool upstream_welcomed = false;
    uint64_t upstream_behind = 0;  // upstream versions not yet stored here
    // Relays below this broker.
    uint64_t relays_connected = 0;
  };
  void SetState(const State& state);

 private:
  struct Families;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> f_;
};

}  // namespace flatcast::broker
