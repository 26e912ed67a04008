// What the broker keeps in memory of each stored directive version: enough
// to address it, to count its acknowledgements and to send it again without
// reading the store. Owned by the broker's event loop.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/broker/outbox.h"
#include "flatcast/clock.h"
#include "flatcast/registry.h"

namespace flatcast::broker {

namespace v1 = ::flatcast::v1;

// Index of an acknowledgement level in DirectiveState::acked: RECEIVED 0,
// CONFIRMED 1, READY 2.
inline constexpr size_t kLevels = 3;
inline size_t LevelIndex(v1::AckLevel level) { return static_cast<size_t>(level) - 1; }
inline v1::AckLevel LevelAt(size_t index) { return static_cast<v1::AckLevel>(index + 1); }

struct DirectiveState {
  v1::StoredDirective stored;
  // Disjoint registry index ranges of the scope's subtrees.
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  uint8_t tier_mask = 0;  // bit (1 << tier) for each targeted tier
  // Per level, indexed by registry index: the unit's ack at that level is durable.
  std::array<std::vector<bool>, kLevels> acked;
  std::array<uint32_t, kLevels> acked_count{};
  TimePoint last_ack_stored{};  // latest durable RECEIVED ack
  TimePoint next_redelivery{};  // when the next redelivery round is due
  int redelivery_round = 0;
  bool superseded = false;  // a later version of the same id exists
  // Units an earlier version of the same id addressed and this one does not
  // (its scope or tiers shrank), sorted registry indices: they are sent this
  // version too, as the withdrawal of the directive for them, and settle it
  // with a RECEIVED acknowledgement.
  std::vector<uint32_t> withdrawn;
  Payload deliver;  // the encoded Deliver envelope, shared by every send

  bool Received(uint32_t index) const { return acked[0][index]; }
  uint32_t received_count() const { return acked_count[0]; }
  bool Has(v1::AckLevel level, uint32_t index) const { return acked[LevelIndex(level)][index]; }
  // Nothing more to deliver: every addressed or withdrawn unit has it, or a
  // later version replaced it.
  bool Settled() const {
    return superseded || received_count() >= stored.addressed_units() + withdrawn.size();
  }
  bool Targets(Tier tier) const { return (tier_mask & (1u << static_cast<int>(tier))) != 0; }
  // True when the unit at `index` (of `tier`) is addressed.
  bool Addresses(uint32_t index, Tier tier) const {
    if (!Targets(tier)) return false;
    for (auto [first, last] : ranges) {
      if (index >= first && index < last) return true;
    }
    return false;
  }
  // True when this version withdraws the directive from the unit at `index`.
  bool Withdraws(uint32_t index) const {
    return std::binary_search(withdrawn.begin(), withdrawn.end(), index);
  }
  // True when this version is sent to the unit: addressed, or withdrawn from it.
  bool Reaches(uint32_t index, Tier tier) const { return Addresses(index, tier) || Withdraws(index); }
  // Records a durable ack; false when it was recorded already.
  bool Mark(v1::AckLevel level, uint32_t index) {
    std::vector<bool>::reference bit = acked[LevelIndex(level)][index];
    if (bit) return false;
    bit = true;
    ++acked_count[LevelIndex(level)];
    return true;
  }

  // Calls fn(index) for every addressed unit, in registry order.
  template <typename Fn>
  void ForEachAddressed(const Registry& registry, Fn&& fn) const {
    for (auto [first, last] : ranges) {
      for (uint32_t i = first; i < last; ++i) {
        if (Targets(registry.unit(i).tier)) fn(i);
      }
    }
  }
  // Calls fn(index) for every unit this version is sent to: the addressed
  // ones, then the withdrawn ones.
  template <typename Fn>
  void ForEachRecipient(const Registry& registry, Fn&& fn) const {
    ForEachAddressed(registry, fn);
    for (uint32_t i : withdrawn) fn(i);
  }
};

}  // namespace flatcast::broker
