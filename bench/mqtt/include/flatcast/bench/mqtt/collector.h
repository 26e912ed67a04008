// The ack collector: one MQTT client (persistent session) subscribed QoS 1
// to "ack/#" that appends every ack to a file and makes it durable.
//
// Group commit: each loop pass reads every ack the socket holds (up to a cap),
// appends them with one write(), then calls fdatasync() once; the acks of
// the batch count as durable at the wall-clock time fdatasync returned.
// libmosquitto 2.0 sends the PUBACK for an incoming QoS 1 message before it
// calls the message callback, so the broker considers an ack delivered
// before the collector has synced it (see README.md, caveats).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "flatcast/bench/mqtt/client_pool.h"
#include "flatcast/bench/mqtt/payload.h"
#include "flatcast/bench/mqtt/status.h"

namespace flatcast::bench::mqtt {

struct CollectorOptions {
  PoolOptions pool;
  std::string client_id = "flatcast-collector";
  std::string topic = "ack/#";
  std::string ack_file;
  std::string directive_prefix;  // directives counted toward completion
  size_t expect_acks = 0;        // distinct units per directive
  size_t directives = 0;         // 0: serve until stopped
  size_t max_batch = 1024;       // acks read per pass before a commit at the latest
  std::chrono::seconds timeout{0};
  std::chrono::milliseconds progress_interval{1000};
};

enum class CollectorExit { kComplete, kTimeout, kStopped, kError };

const char* ToString(CollectorExit exit);

class Collector : private PoolEvents {
 public:
  // Opens (appends to) the ack file.
  static Result<std::unique_ptr<Collector>> Create(const CollectorOptions& options);
  ~Collector() override;

  // Serves until `directives` counted directives each have `expect_acks`
  // durable acks from distinct units, or the timeout or `stop`.
  CollectorExit Run(const std::atomic<bool>& stop,
                    const std::function<void(const nlohmann::json&)>& progress);

  nlohmann::json Progress() const;
  nlohmann::json Report(CollectorExit exit) const;

 private:
  struct DirectiveAcks {
    std::string id;
    bool counted = false;
    std::unordered_set<std::string> units;
    int64_t first_durable_us = 0;
    int64_t last_durable_us = 0;
  };

  Collector(const CollectorOptions& options, int fd);

  void OnConnected(size_t client, bool session_present) override;
  void OnDisconnected(size_t client, int reason) override;
  void OnMessage(size_t client, const mosquitto_message& message) override;
  void OnPublished(size_t, int) override {}
  void OnSubscribed(size_t client, int mid, int granted_qos) override;

  // Writes the batch, fdatasyncs once, and records its acks as durable.
  Status Commit();
  DirectiveAcks& Directive(const std::string& id);
  bool Complete() const;

  CollectorOptions options_;
  int fd_;
  std::unique_ptr<ClientPool> pool_;
  std::string batch_bytes_;
  std::vector<Ack> batch_;
  std::vector<DirectiveAcks> directives_;
  std::unordered_map<std::string, size_t> directive_index_;

  bool subscribed_ = false;
  uint64_t received_ = 0;
  uint64_t malformed_ = 0;
  uint64_t durable_ = 0;     // distinct (directive, unit) pairs synced
  uint64_t duplicates_ = 0;  // acks for a pair already synced
  uint64_t fsyncs_ = 0;
  uint64_t committed_ = 0;   // acks written and synced, duplicates included
  uint64_t bytes_written_ = 0;
  size_t batch_max_ = 0;
  std::vector<int64_t> fsync_us_;
  size_t directives_complete_ = 0;
  int64_t start_us_ = 0;
  int64_t end_us_ = 0;
  std::string error_;
};

}  // namespace flatcast::bench::mqtt
