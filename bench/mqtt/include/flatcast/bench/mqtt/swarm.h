// Many units' terminals in one process, over MQTT: one libmosquitto client
// per unit (client id "<prefix><code>", persistent session), all driven by one
// ClientPool loop. Each unit subscribes QoS 1 to the directive topic when the
// broker has no session for it, and answers every directive it receives
// (duplicates too) with a QoS 1 ack on "ack/<code>".
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "flatcast/bench/mqtt/client_pool.h"
#include "flatcast/bench/mqtt/status.h"
#include "flatcast/bench/mqtt/units.h"

namespace flatcast::bench::mqtt {

struct SwarmOptions {
  PoolOptions pool;
  std::string client_id_prefix = "unit-";
  std::string topic = "directive/52";
  std::string ack_topic_prefix = "ack/";
  // Directives whose id starts with this count toward `expect`; others are
  // acknowledged and reported but not counted.
  std::string directive_prefix;
  size_t expect = 0;                 // 0: serve until stopped
  std::chrono::seconds timeout{0};   // 0: no limit
  std::chrono::milliseconds progress_interval{1000};
};

enum class SwarmExit { kComplete, kTimeout, kStopped, kError };

const char* ToString(SwarmExit exit);

class Swarm : private PoolEvents {
 public:
  static Result<std::unique_ptr<Swarm>> Create(std::vector<Unit> units,
                                               const SwarmOptions& options);

  // Connects every unit and serves until every unit has received `expect`
  // distinct counted directives and has had each of its acks confirmed by
  // PUBACK, or until the timeout or `stop`. `progress` gets a JSON object
  // every progress interval, when all units are connected, and at the end.
  SwarmExit Run(const std::atomic<bool>& stop,
                const std::function<void(const nlohmann::json&)>& progress);

  nlohmann::json Progress() const;
  nlohmann::json Report(SwarmExit exit) const;

  // One latency (receive minus publish time, microseconds) a line for every
  // first delivery, grouped under "# directive <id> publish_us <t>" lines.
  void WriteLatencies(std::ostream& out) const;

 private:
  struct UnitState {
    std::string code;
    std::string ack_topic;
    std::vector<uint32_t> received;  // distinct directives (indices into directives_)
    size_t counted = 0;              // ... of which count toward `expect`
    uint32_t acks_outstanding = 0;   // ack publishes not yet PUBACKed
    bool subscribed = false;         // in the current connection
    bool complete = false;
  };

  struct DirectiveStats {
    std::string id;
    int64_t publish_us = 0;
    bool counted = false;
    std::vector<int64_t> latencies_us;  // first deliveries only
    int64_t first_receive_us = 0;
    int64_t last_receive_us = 0;
    uint64_t duplicates = 0;
  };

  Swarm(std::vector<Unit> units, const SwarmOptions& options);

  void OnConnected(size_t client, bool session_present) override;
  void OnDisconnected(size_t client, int reason) override;
  void OnMessage(size_t client, const mosquitto_message& message) override;
  void OnPublished(size_t client, int mid) override;
  void OnSubscribed(size_t client, int mid, int granted_qos) override;

  uint32_t DirectiveIndex(const std::string& id, int64_t publish_us);
  void UpdateCompletion(UnitState& unit);

  SwarmOptions options_;
  std::vector<UnitState> units_;
  std::unique_ptr<ClientPool> pool_;
  std::vector<DirectiveStats> directives_;
  std::unordered_map<std::string, uint32_t> directive_index_;

  uint64_t deliveries_ = 0;
  uint64_t duplicates_ = 0;
  uint64_t malformed_ = 0;
  uint64_t received_distinct_ = 0;  // counted directives, summed over units
  uint64_t acks_published_ = 0;
  uint64_t acks_confirmed_ = 0;
  uint64_t ack_publish_errors_ = 0;
  uint64_t subscribe_failures_ = 0;
  uint64_t sessions_present_ = 0;  // CONNACKs with the session-present flag
  uint64_t sessions_absent_ = 0;   // ... without (the unit then subscribes)
  size_t subscribed_ = 0;
  size_t complete_units_ = 0;
  int64_t start_us_ = 0;
  int64_t first_all_connected_us_ = 0;
  int64_t last_all_connected_us_ = 0;  // the latest time the last unit (re)connected
  int64_t end_us_ = 0;
  size_t connected_at_end_ = 0;
  size_t descriptors_peak_ = 0;
  std::string error_;
};

}  // namespace flatcast::bench::mqtt
