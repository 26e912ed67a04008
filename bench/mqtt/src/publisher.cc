#include "flatcast/bench/mqtt/publisher.h"

#include "flatcast/bench/mqtt/clock.h"
#include "flatcast/bench/mqtt/payload.h"

namespace flatcast::bench::mqtt {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

}  // namespace

Result<std::unique_ptr<Publisher>> Publisher::Create(const PublishOptions& options) {
  if (options.count < 1) return Status::Error("count must be at least 1");
  for (int i = 0; i < options.count; ++i) {
    if (!ValidDirectiveId(options.id_prefix + std::to_string(options.start + i))) {
      return Status::Error("directive ids must be 1-64 characters without whitespace");
    }
  }
  std::unique_ptr<Publisher> publisher(new Publisher(options));
  PoolOptions pool_options = options.pool;
  pool_options.clean_session = true;
  pool_options.max_inflight = 0;  // no client-side limit: a burst goes out at once
  auto pool = ClientPool::Create(pool_options, publisher.get());
  if (!pool.ok()) return pool.status();
  publisher->pool_ = std::move(pool.value());
  auto added = publisher->pool_->Add(options.client_id);
  if (!added.ok()) return added.status();
  return publisher;
}

void Publisher::OnPublished(size_t, int mid) {
  auto it = by_mid_.find(mid);
  if (it == by_mid_.end() || sent_[it->second].puback_us != 0) return;
  sent_[it->second].puback_us = RealtimeMicros();
  ++acked_;
}

Result<nlohmann::json> Publisher::Run(const std::atomic<bool>& stop) {
  auto deadline = Clock::now() + options_.timeout;
  pool_->ConnectAll();
  while (!pool_->is_connected(0)) {
    if (stop.load()) return Status::Error("stopped before connecting");
    if (Clock::now() >= deadline) return Status::Error("no CONNACK from the broker in time");
    if (Status status = pool_->Poll(milliseconds(10)); !status.ok()) return status;
  }
  int64_t connected_us = RealtimeMicros();
  for (int i = 0; i < options_.count; ++i) {
    if (i > 0 && options_.interval.count() > 0) {
      auto next = Clock::now() + options_.interval;
      while (Clock::now() < next) {
        if (Status status = pool_->Poll(milliseconds(1)); !status.ok()) return status;
      }
    }
    Sent sent;
    sent.id = options_.id_prefix + std::to_string(options_.start + i);
    sent.publish_us = RealtimeMicros();
    std::string payload = EncodeDirective(DirectiveHeader{sent.id, sent.publish_us}, options_.bytes);
    int mid = 0;
    int rc = pool_->Publish(0, options_.topic, payload, 1, &mid);
    if (rc != MOSQ_ERR_SUCCESS) {
      return Status::Error("publish " + sent.id + ": " + mosquitto_strerror(rc));
    }
    by_mid_[mid] = sent_.size();
    sent_.push_back(std::move(sent));
  }
  while (acked_ < sent_.size()) {
    if (stop.load() || Clock::now() >= deadline) break;
    if (Status status = pool_->Poll(milliseconds(10)); !status.ok()) return status;
  }
  nlohmann::json directives = nlohmann::json::array();
  for (const Sent& sent : sent_) {
    directives.push_back(
        {{"id", sent.id}, {"publish_us", sent.publish_us}, {"puback_us", sent.puback_us}});
  }
  nlohmann::json result = {{"topic", options_.topic},
                           {"bytes", options_.bytes},
                           {"qos", 1},
                           {"connected_us", connected_us},
                           {"disconnects", disconnects_},
                           {"all_acked", acked_ == sent_.size()},
                           {"directives", directives}};
  pool_->DisconnectAll(milliseconds(1000));
  return result;
}

}  // namespace flatcast::bench::mqtt
