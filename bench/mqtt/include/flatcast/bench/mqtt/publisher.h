// Publishes benchmark directives: K payloads of B bytes, QoS 1, to the
// directive topic, each beginning with its id and its publish wall-clock
// time (payload.h), back to back unless an interval is given; waits for the
// PUBACK of each.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "flatcast/bench/mqtt/client_pool.h"
#include "flatcast/bench/mqtt/status.h"

namespace flatcast::bench::mqtt {

struct PublishOptions {
  PoolOptions pool;  // clean_session is forced to true
  std::string client_id = "flatcast-publisher";
  std::string topic = "directive/52";
  std::string id_prefix = "d-";  // directive ids: <prefix><start>, <prefix><start+1>, ...
  int start = 1;
  int count = 1;
  size_t bytes = 4096;
  std::chrono::milliseconds interval{0};  // between publishes; 0: back to back
  std::chrono::seconds timeout{60};       // to connect and to have every PUBACK
};

class Publisher : private PoolEvents {
 public:
  static Result<std::unique_ptr<Publisher>> Create(const PublishOptions& options);

  // Connects (retrying until the timeout), publishes, waits for the PUBACKs.
  // The JSON lists each directive's id, publish_us and puback_us.
  Result<nlohmann::json> Run(const std::atomic<bool>& stop);

 private:
  struct Sent {
    std::string id;
    int64_t publish_us = 0;
    int64_t puback_us = 0;
  };

  explicit Publisher(const PublishOptions& options) : options_(options) {}

  void OnConnected(size_t, bool) override {}
  void OnDisconnected(size_t, int) override { ++disconnects_; }
  void OnMessage(size_t, const mosquitto_message&) override {}
  void OnPublished(size_t client, int mid) override;
  void OnSubscribed(size_t, int, int) override {}

  PublishOptions options_;
  std::unique_ptr<ClientPool> pool_;
  std::vector<Sent> sent_;
  std::unordered_map<int, size_t> by_mid_;
  size_t acked_ = 0;
  uint64_t disconnects_ = 0;
};

}  // namespace flatcast::bench::mqtt
