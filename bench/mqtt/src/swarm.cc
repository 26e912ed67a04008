#include "flatcast/bench/mqtt/swarm.h"

#include <algorithm>
#include <string_view>

#include "flatcast/bench/mqtt/clock.h"
#include "flatcast/bench/mqtt/payload.h"
#include "flatcast/bench/mqtt/process.h"
#include "flatcast/bench/mqtt/stats.h"

namespace flatcast::bench::mqtt {

namespace {

using Clock = std::chrono::steady_clock;

// Descriptors a swarm process needs besides its clients: stdio, epoll,
// report files, libc.
constexpr size_t kDescriptorReserve = 64;
constexpr size_t kIncompleteListed = 20;

}  // namespace

const char* ToString(SwarmExit exit) {
  switch (exit) {
    case SwarmExit::kComplete:
      return "complete";
    case SwarmExit::kTimeout:
      return "timeout";
    case SwarmExit::kStopped:
      return "stopped";
    case SwarmExit::kError:
      return "error";
  }
  return "unknown";
}

Result<std::unique_ptr<Swarm>> Swarm::Create(std::vector<Unit> units,
                                             const SwarmOptions& options) {
  if (units.empty()) return Status::Error("no units selected");
  size_t needed = units.size() * kDescriptorsPerClient + kDescriptorReserve;
  size_t limit = DescriptorLimit();
  if (needed > limit) {
    return Status::Error(std::to_string(units.size()) + " units need about " +
                         std::to_string(needed) + " descriptors (" +
                         std::to_string(kDescriptorsPerClient) +
                         " per client: its TCP socket and libmosquitto's socketpair), but the "
                         "open-file limit is " +
                         std::to_string(limit) + "; split them with --shards");
  }
  std::unique_ptr<Swarm> swarm(new Swarm(std::move(units), options));
  auto pool = ClientPool::Create(options.pool, swarm.get());
  if (!pool.ok()) return pool.status();
  swarm->pool_ = std::move(pool.value());
  for (const UnitState& unit : swarm->units_) {
    auto added = swarm->pool_->Add(options.client_id_prefix + unit.code);
    if (!added.ok()) return added.status();
  }
  return swarm;
}

Swarm::Swarm(std::vector<Unit> units, const SwarmOptions& options) : options_(options) {
  units_.reserve(units.size());
  for (Unit& unit : units) {
    UnitState state;
    state.ack_topic = options.ack_topic_prefix + unit.code;
    state.code = std::move(unit.code);
    units_.push_back(std::move(state));
  }
}

SwarmExit Swarm::Run(const std::atomic<bool>& stop,
                     const std::function<void(const nlohmann::json&)>& progress) {
  start_us_ = RealtimeMicros();
  auto started = Clock::now();
  auto next_progress = started + options_.progress_interval;
  bool all_connected = false;
  pool_->ConnectAll();
  SwarmExit exit = SwarmExit::kStopped;
  while (true) {
    if (stop.load()) {
      exit = SwarmExit::kStopped;
      break;
    }
    Status polled = pool_->Poll(std::chrono::milliseconds(50));
    if (!polled.ok()) {
      error_ = polled.message();
      exit = SwarmExit::kError;
      break;
    }
    auto now = Clock::now();
    if (pool_->connected() == units_.size()) {
      if (!all_connected) {
        all_connected = true;
        last_all_connected_us_ = RealtimeMicros();
        if (first_all_connected_us_ == 0) first_all_connected_us_ = last_all_connected_us_;
        descriptors_peak_ = std::max(descriptors_peak_, CountOpenDescriptors());
        progress(Progress());
      }
    } else {
      all_connected = false;
    }
    if (options_.expect > 0 && complete_units_ == units_.size()) {
      exit = SwarmExit::kComplete;
      break;
    }
    if (options_.timeout.count() > 0 && now - started >= options_.timeout) {
      exit = SwarmExit::kTimeout;
      break;
    }
    if (now >= next_progress) {
      progress(Progress());
      next_progress = now + options_.progress_interval;
    }
  }
  end_us_ = RealtimeMicros();
  connected_at_end_ = pool_->connected();
  descriptors_peak_ = std::max(descriptors_peak_, CountOpenDescriptors());
  progress(Progress());
  pool_->DisconnectAll(std::chrono::milliseconds(2000));
  return exit;
}

void Swarm::OnConnected(size_t client, bool session_present) {
  UnitState& unit = units_[client];
  if (session_present) {
    // The broker kept the session, and the subscription with it.
    ++sessions_present_;
    if (!unit.subscribed) ++subscribed_;
    unit.subscribed = true;
    return;
  }
  ++sessions_absent_;
  int mid = 0;
  if (pool_->Subscribe(client, options_.topic, 1, &mid) != MOSQ_ERR_SUCCESS) {
    ++subscribe_failures_;
  }
}

void Swarm::OnSubscribed(size_t client, int, int granted_qos) {
  UnitState& unit = units_[client];
  if (granted_qos != 1) {
    ++subscribe_failures_;  // 128: refused; 0: downgraded
    return;
  }
  if (!unit.subscribed) ++subscribed_;
  unit.subscribed = true;
}

void Swarm::OnDisconnected(size_t client, int) {
  UnitState& unit = units_[client];
  if (unit.subscribed) --subscribed_;
  unit.subscribed = false;
}

uint32_t Swarm::DirectiveIndex(const std::string& id, int64_t publish_us) {
  auto [it, inserted] = directive_index_.try_emplace(id, static_cast<uint32_t>(directives_.size()));
  if (inserted) {
    DirectiveStats stats;
    stats.id = id;
    stats.publish_us = publish_us;
    stats.counted = std::string_view(id).starts_with(options_.directive_prefix);
    stats.latencies_us.reserve(units_.size());
    directives_.push_back(std::move(stats));
  }
  return it->second;
}

void Swarm::OnMessage(size_t client, const mosquitto_message& message) {
  int64_t received_us = RealtimeMicros();
  ++deliveries_;
  auto header = DecodeDirective(
      std::string_view(static_cast<const char*>(message.payload),
                       static_cast<size_t>(std::max(message.payloadlen, 0))));
  if (!header) {
    ++malformed_;
    return;
  }
  UnitState& unit = units_[client];
  uint32_t index = DirectiveIndex(header->id, header->publish_us);
  DirectiveStats& stats = directives_[index];
  if (std::find(unit.received.begin(), unit.received.end(), index) != unit.received.end()) {
    ++duplicates_;
    ++stats.duplicates;
  } else {
    unit.received.push_back(index);
    stats.latencies_us.push_back(received_us - header->publish_us);
    if (stats.first_receive_us == 0 || received_us < stats.first_receive_us) {
      stats.first_receive_us = received_us;
    }
    stats.last_receive_us = std::max(stats.last_receive_us, received_us);
    if (stats.counted) {
      ++unit.counted;
      ++received_distinct_;
    }
  }
  // Every copy is acknowledged: QoS 1 may redeliver, and the collector
  // counts each (directive, unit) pair once.
  int mid = 0;
  std::string ack = EncodeAck(Ack{header->id, unit.code, received_us});
  if (pool_->Publish(client, unit.ack_topic, ack, 1, &mid) == MOSQ_ERR_SUCCESS) {
    ++unit.acks_outstanding;
    ++acks_published_;
  } else {
    ++ack_publish_errors_;
  }
  UpdateCompletion(unit);
}

void Swarm::OnPublished(size_t client, int) {
  UnitState& unit = units_[client];
  if (unit.acks_outstanding > 0) --unit.acks_outstanding;
  ++acks_confirmed_;
  UpdateCompletion(unit);
}

void Swarm::UpdateCompletion(UnitState& unit) {
  bool complete =
      options_.expect > 0 && unit.counted >= options_.expect && unit.acks_outstanding == 0;
  if (complete == unit.complete) return;
  unit.complete = complete;
  if (complete) {
    ++complete_units_;
  } else {
    --complete_units_;
  }
}

nlohmann::json Swarm::Progress() const {
  return {{"t_us", RealtimeMicros()},
          {"units", units_.size()},
          {"connected", pool_->connected()},
          {"connecting", pool_->connecting()},
          {"subscribed", subscribed_},
          {"connects", pool_->connacks()},
          {"disconnects", pool_->disconnects()},
          {"deliveries", deliveries_},
          {"received", received_distinct_},
          {"duplicates", duplicates_},
          {"acks_outstanding", acks_published_ - std::min(acks_published_, acks_confirmed_)},
          {"complete", complete_units_}};
}

nlohmann::json Swarm::Report(SwarmExit exit) const {
  std::vector<int64_t> all;
  nlohmann::json directives = nlohmann::json::array();
  for (const DirectiveStats& stats : directives_) {
    if (stats.counted) all.insert(all.end(), stats.latencies_us.begin(), stats.latencies_us.end());
    directives.push_back({{"id", stats.id},
                          {"counted", stats.counted},
                          {"publish_us", stats.publish_us},
                          {"units", stats.latencies_us.size()},
                          {"duplicates", stats.duplicates},
                          {"first_receive_us", stats.first_receive_us},
                          {"last_receive_us", stats.last_receive_us},
                          {"latency_ms", ToJson(Summarize(stats.latencies_us))}});
  }
  nlohmann::json incomplete = nlohmann::json::array();
  size_t incomplete_count = 0;
  for (const UnitState& unit : units_) {
    if (unit.complete) continue;
    ++incomplete_count;
    if (incomplete.size() < kIncompleteListed) {
      incomplete.push_back({{"code", unit.code},
                            {"received", unit.counted},
                            {"acks_outstanding", unit.acks_outstanding}});
    }
  }
  nlohmann::json report = {{"exit", ToString(exit)},
                           {"units", units_.size()},
                           {"expect", options_.expect},
                           {"connected", connected_at_end_},
                           {"connects", pool_->connacks()},
                           {"disconnects", pool_->disconnects()},
                           {"connect_errors", pool_->connect_errors()},
                           {"deliveries", deliveries_},
                           {"duplicates", duplicates_},
                           {"malformed", malformed_},
                           {"received_distinct", received_distinct_},
                           {"units_complete", complete_units_},
                           {"acks_published", acks_published_},
                           {"acks_confirmed", acks_confirmed_},
                           {"ack_publish_errors", ack_publish_errors_},
                           {"subscribe_failures", subscribe_failures_},
                           {"sessions_present", sessions_present_},
                           {"sessions_absent", sessions_absent_},
                           {"latency_ms", ToJson(Summarize(std::move(all)))},
                           {"directives", directives},
                           {"start_us", start_us_},
                           {"first_all_connected_us", first_all_connected_us_},
                           {"last_all_connected_us", last_all_connected_us_},
                           {"end_us", end_us_},
                           {"descriptors_peak", descriptors_peak_},
                           {"incomplete_count", incomplete_count},
                           {"incomplete", incomplete}};
  if (!error_.empty()) report["error"] = error_;
  return report;
}

void Swarm::WriteLatencies(std::ostream& out) const {
  for (const DirectiveStats& stats : directives_) {
    out << "# directive " << stats.id << " publish_us " << stats.publish_us << "\n";
    for (int64_t latency : stats.latencies_us) out << latency << "\n";
  }
}

}  // namespace flatcast::bench::mqtt
