// Delivery: a durable version to every connected unit it addresses
// (fan-out), what a unit that says hello has not acknowledged (catch-up),
// rounds of redelivery to connected units that have not acknowledged, and
// heartbeats that tell each terminal how many directives it still lacks.
// A full send queue drops a send; redelivery and heartbeats repair it.
// Owned by the broker's event loop.
#pragma once

#include <chrono>
#include <cstdint>

#include "connections.h"
#include "directive_index.h"
#include "flatcast/broker/metrics.h"
#include "flatcast/clock.h"
#include "flatcast/registry.h"

namespace flatcast::broker {

struct DeliveryOptions {
  std::chrono::milliseconds heartbeat_interval{5000};
  std::chrono::milliseconds redelivery_initial{2000};
  std::chrono::milliseconds redelivery_max{60000};
};

class Relays;

class Delivery {
 public:
  // `relays`: the relays below this broker, sent each version too.
  Delivery(const Registry& registry, const DeliveryOptions& options, DirectiveIndex& index,
           Connections& connections, Relays& relays, BrokerMetrics& metrics)
      : registry_(registry),
        options_(options),
        index_(index),
        connections_(connections),
        relays_(relays),
        metrics_(metrics) {}

  // Sends a version that just became durable to its connected units and to
  // the relays below whose region it reaches, and schedules its first
  // redelivery round.
  void FanOut(DirectiveState& state, TimePoint now);
  // Sends `unit` every addressed version it has not acknowledged, until its
  // send queue is full (heartbeats and redelivery bring the rest).
  void CatchUp(uint32_t unit, TimePoint now);
  // Runs the redelivery rounds that are due; each round doubles the wait
  // before the next, up to redelivery_max.
  void Redeliver(TimePoint now);
  // A heartbeat to every connected terminal that lacks something or was sent
  // nothing within the interval.
  void SendHeartbeats(TimePoint now);
  // Schedules the first redelivery round of every stored version (after a restart).
  void ScheduleAll(TimePoint now);

 private:
  static bool Expired(const DirectiveState& state, TimePoint now);

  const Registry& registry_;
  DeliveryOptions options_;
  DirectiveIndex& index_;
  Connections& connections_;
  Relays& relays_;
  BrokerMetrics& metrics_;
};

}  // namespace flatcast::broker
