#include "connections.h"

namespace flatcast::broker {

Connections::Connections(const Registry& registry, Outbox& outbox)
    : outbox_(outbox), routing_of_unit_(registry.size()), last_sent_(registry.size()) {}

void Connections::Bind(const std::string& routing, uint32_t unit) {
  if (auto it = unit_of_routing_.find(routing); it != unit_of_routing_.end() && it->second != unit) {
    routing_of_unit_[it->second].clear();
  }
  if (!routing_of_unit_[unit].empty() && routing_of_unit_[unit] != routing) {
    unit_of_routing_.erase(routing_of_unit_[unit]);
  }
  routing_of_unit_[unit] = routing;
  unit_of_routing_[routing] = unit;
}

std::optional<uint32_t> Connections::UnitOf(const std::string& routing) const {
  auto it = unit_of_routing_.find(routing);
  if (it == unit_of_routing_.end()) return std::nullopt;
  return it->second;
}

void Connections::Forget(uint32_t unit) {
  if (routing_of_unit_[unit].empty()) return;
  unit_of_routing_.erase(routing_of_unit_[unit]);
  routing_of_unit_[unit].clear();
}

void Connections::ForgetRouting(const std::string& routing) {
  if (auto unit = UnitOf(routing)) Forget(*unit);
}

SendOutcome Connections::SendToUnit(uint32_t unit, const Payload& bytes, TimePoint now) {
  if (routing_of_unit_[unit].empty()) return SendOutcome::kGone;
  SendOutcome outcome = outbox_.Send(routing_of_unit_[unit], bytes);
  if (outcome == SendOutcome::kSent) last_sent_[unit] = now;
  if (outcome == SendOutcome::kGone) Forget(unit);
  return outcome;
}

SendOutcome Connections::Reply(const std::string& routing, const Payload& bytes, TimePoint now) {
  SendOutcome outcome = outbox_.Send(routing, bytes);
  if (outcome == SendOutcome::kFull) return outcome;
  if (auto it = unit_of_routing_.find(routing); it != unit_of_routing_.end()) {
    if (outcome == SendOutcome::kGone) {
      Forget(it->second);
    } else {
      last_sent_[it->second] = now;
    }
  }
  return outcome;
}

}  // namespace flatcast::broker
