// Who is connected: the routing id of each unit's connection (a unit's
// newest connection replaces its older one), when each unit was last sent
// something, and the sends themselves. A send to a peer that is gone
// forgets its unit, so the rest of the broker never sends to it again.
// Owned by the broker's event loop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "flatcast/broker/outbox.h"
#include "flatcast/clock.h"
#include "flatcast/registry.h"

namespace flatcast::broker {

class Connections {
 public:
  // `outbox` must outlive the object.
  Connections(const Registry& registry, Outbox& outbox);

  // Makes `routing` the connection of unit `unit`.
  void Bind(const std::string& routing, uint32_t unit);
  std::optional<uint32_t> UnitOf(const std::string& routing) const;
  bool Connected(uint32_t unit) const { return !routing_of_unit_[unit].empty(); }
  void Forget(uint32_t unit);
  void ForgetRouting(const std::string& routing);
  size_t connected() const { return unit_of_routing_.size(); }
  // fn(routing, unit) for every connected unit.
  template <typename Fn>
  void ForEachConnected(Fn&& fn) const {
    for (const auto& [routing, unit] : unit_of_routing_) fn(routing, unit);
  }

  // When the unit was last sent something that tells it the broker is alive.
  TimePoint last_sent(uint32_t unit) const { return last_sent_[unit]; }

  // Sends to a connected unit; not connected counts as kGone.
  SendOutcome SendToUnit(uint32_t unit, const Payload& bytes, TimePoint now);
  // Answers whoever `routing` is (a terminal, a publisher, an auditor).
  SendOutcome Reply(const std::string& routing, const Payload& bytes, TimePoint now);

 private:
  Outbox& outbox_;
  std::vector<std::string> routing_of_unit_;  // by registry index; empty: not connected
  std::vector<TimePoint> last_sent_;          // by registry index
  std::unordered_map<std::string, uint32_t> unit_of_routing_;
};

}  // namespace flatcast::broker
