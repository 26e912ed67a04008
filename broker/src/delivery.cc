#include "delivery.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_map>

#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "relays.h"
#include "replies.h"

namespace flatcast::broker {

bool Delivery::Expired(const DirectiveState& state, TimePoint now) {
  const auto& d = state.stored.directive();
  return d.has_expires() && FromTimestamp(d.expires()) <= now;
}

void Delivery::ScheduleAll(TimePoint now) {
  for (auto& [seq, state] : index_.versions()) state.next_redelivery = now + options_.redelivery_initial;
}

void Delivery::FanOut(DirectiveState& state, TimePoint now) {
  state.next_redelivery = now + options_.redelivery_initial;
  size_t sent = 0, offline = 0, dropped = 0;
  state.ForEachRecipient(registry_, [&](uint32_t i) {
    switch (connections_.SendToUnit(i, state.deliver, now)) {
      case SendOutcome::kSent: ++sent; break;
      case SendOutcome::kGone: ++offline; break;
      case SendOutcome::kFull: ++dropped; break;
    }
  });
  metrics_.Delivered(sent);
  metrics_.Dropped(dropped);
  spdlog::info("fan-out of {}: sent to {} connected units, {} offline, {} dropped (queue full)",
               state.stored.directive().id(), sent, offline, dropped);
  relays_.FanOut(state, now);
}

void Delivery::CatchUp(uint32_t unit_index, TimePoint now) {
  const Unit& unit = registry_.unit(unit_index);
  size_t sent = 0, deferred = 0;
  bool stopped = false;
  for (auto& [seq, state] : index_.versions()) {
    if (state.superseded || !state.Reaches(unit_index, unit.tier) || state.Received(unit_index)) {
      continue;
    }
    if (stopped) {
      ++deferred;
      continue;
    }
    switch (connections_.SendToUnit(unit_index, state.deliver, now)) {
      case SendOutcome::kSent: ++sent; break;
      case SendOutcome::kFull: ++deferred; stopped = true; break;
      case SendOutcome::kGone:
        metrics_.Delivered(sent);
        return;
    }
  }
  metrics_.Delivered(sent);
  if (stopped) metrics_.Dropped(1);  // the send the full queue refused; the rest wait
  if (deferred > 0) {
    spdlog::info("catch-up of {}: {} sent, {} deferred (send queue full)", unit.code, sent,
                 deferred);
  }
}

void Delivery::Redeliver(TimePoint now) {
  for (auto& entry : index_.versions()) {
    DirectiveState& state = entry.second;  // a plain reference: the lambda captures it
    if (state.Settled() || Expired(state, now) || now < state.next_redelivery) continue;
    size_t sent = 0, full = 0;
    state.ForEachRecipient(registry_, [&](uint32_t i) {
      if (state.Received(i) || !connections_.Connected(i)) return;
      switch (connections_.SendToUnit(i, state.deliver, now)) {
        case SendOutcome::kSent: ++sent; break;
        case SendOutcome::kGone: break;
        case SendOutcome::kFull: ++full; break;
      }
    });
    metrics_.Redelivered(sent);
    metrics_.Dropped(full);
    ++state.redelivery_round;
    auto interval = options_.redelivery_initial * (int64_t{1} << std::min(state.redelivery_round, 20));
    state.next_redelivery =
        now + std::min<std::chrono::milliseconds>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(interval),
                  options_.redelivery_max);
    if (sent + full > 0) {
      spdlog::info("redelivery round {} of {}: sent to {} units, {} queues full",
                   state.redelivery_round, state.stored.directive().id(), sent, full);
    }
  }
}

void Delivery::SendHeartbeats(TimePoint now) {
  if (connections_.connected() == 0) return;
  std::vector<uint32_t> unacknowledged(registry_.size(), 0);
  for (const auto& entry : index_.versions()) {
    const DirectiveState& state = entry.second;  // a plain reference: the lambda captures it
    if (state.Settled() || Expired(state, now)) continue;
    state.ForEachRecipient(registry_, [&](uint32_t i) {
      if (!state.Received(i)) ++unacknowledged[i];
    });
  }
  // Most terminals lack nothing: one encoding per count, not per terminal.
  std::unordered_map<uint32_t, Payload> by_count;
  std::vector<uint32_t> due;
  connections_.ForEachConnected([&](const std::string&, uint32_t unit) {
    // A terminal sent something within the interval knows the broker is
    // alive; unless a heartbeat has a repair to ask for, it can wait.
    if (unacknowledged[unit] == 0 && now - connections_.last_sent(unit) < options_.heartbeat_interval) {
      return;
    }
    due.push_back(unit);
  });
  for (uint32_t unit : due) {
    Payload& hb = by_count[unacknowledged[unit]];
    if (!hb) hb = HeartbeatMessage(index_.head_seq(), unacknowledged[unit]);
    (void)connections_.SendToUnit(unit, hb, now);
  }
}

}  // namespace flatcast::broker
