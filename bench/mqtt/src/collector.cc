#include "flatcast/bench/mqtt/collector.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "flatcast/bench/mqtt/clock.h"
#include "flatcast/bench/mqtt/stats.h"

namespace flatcast::bench::mqtt {

namespace {

using Clock = std::chrono::steady_clock;

int64_t MicrosBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
}

}  // namespace

const char* ToString(CollectorExit exit) {
  switch (exit) {
    case CollectorExit::kComplete:
      return "complete";
    case CollectorExit::kTimeout:
      return "timeout";
    case CollectorExit::kStopped:
      return "stopped";
    case CollectorExit::kError:
      return "error";
  }
  return "unknown";
}

Result<std::unique_ptr<Collector>> Collector::Create(const CollectorOptions& options) {
  if (options.ack_file.empty()) return Status::Error("no ack file given");
  int fd = open(options.ack_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::Error("open " + options.ack_file + ": " + std::strerror(errno));
  }
  std::unique_ptr<Collector> collector(new Collector(options, fd));
  PoolOptions pool_options = options.pool;
  pool_options.max_packets_per_read = std::max<size_t>(options.max_batch, 1);
  auto pool = ClientPool::Create(pool_options, collector.get());
  if (!pool.ok()) return pool.status();
  collector->pool_ = std::move(pool.value());
  auto added = collector->pool_->Add(options.client_id);
  if (!added.ok()) return added.status();
  return collector;
}

Collector::Collector(const CollectorOptions& options, int fd) : options_(options), fd_(fd) {}

Collector::~Collector() {
  pool_.reset();
  close(fd_);
}

CollectorExit Collector::Run(const std::atomic<bool>& stop,
                             const std::function<void(const nlohmann::json&)>& progress) {
  start_us_ = RealtimeMicros();
  auto started = Clock::now();
  auto next_progress = started + options_.progress_interval;
  pool_->ConnectAll();
  CollectorExit exit = CollectorExit::kStopped;
  bool was_subscribed = false;
  while (true) {
    if (stop.load()) {
      exit = CollectorExit::kStopped;
      break;
    }
    // One loop pass: read what the socket holds, then one commit for it.
    Status status = pool_->Poll(std::chrono::milliseconds(50));
    if (status.ok()) status = Commit();
    if (!status.ok()) {
      error_ = status.message();
      exit = CollectorExit::kError;
      break;
    }
    if (options_.directives > 0 && Complete()) {
      exit = CollectorExit::kComplete;
      break;
    }
    auto now = Clock::now();
    if (options_.timeout.count() > 0 && now - started >= options_.timeout) {
      exit = CollectorExit::kTimeout;
      break;
    }
    if (now >= next_progress || subscribed_ != was_subscribed) {
      was_subscribed = subscribed_;
      progress(Progress());
      next_progress = now + options_.progress_interval;
    }
  }
  if (Status status = Commit(); !status.ok() && error_.empty()) error_ = status.message();
  end_us_ = RealtimeMicros();
  progress(Progress());
  pool_->DisconnectAll(std::chrono::milliseconds(2000));
  return exit;
}

void Collector::OnConnected(size_t client, bool session_present) {
  if (session_present) {
    subscribed_ = true;
    return;
  }
  int mid = 0;
  pool_->Subscribe(client, options_.topic, 1, &mid);
}

void Collector::OnSubscribed(size_t, int, int granted_qos) { subscribed_ = granted_qos == 1; }

void Collector::OnDisconnected(size_t, int) { subscribed_ = false; }

void Collector::OnMessage(size_t, const mosquitto_message& message) {
  ++received_;
  auto ack = DecodeAck(std::string_view(static_cast<const char*>(message.payload),
                                        static_cast<size_t>(std::max(message.payloadlen, 0))));
  if (!ack) {
    ++malformed_;
    return;
  }
  batch_bytes_.append(ack->directive_id).append("\t").append(ack->unit_code).append("\t");
  batch_bytes_.append(std::to_string(ack->received_us)).append("\t");
  batch_bytes_.append(std::to_string(RealtimeMicros())).append("\n");
  batch_.push_back(std::move(*ack));
}

Status Collector::Commit() {
  if (batch_.empty()) return Status::Ok();
  size_t offset = 0;
  while (offset < batch_bytes_.size()) {
    ssize_t written = write(fd_, batch_bytes_.data() + offset, batch_bytes_.size() - offset);
    if (written < 0) {
      if (errno == EINTR) continue;
      return Status::Error("write " + options_.ack_file + ": " + std::strerror(errno));
    }
    offset += static_cast<size_t>(written);
  }
  auto before = Clock::now();
  while (fdatasync(fd_) != 0) {
    if (errno != EINTR) {
      return Status::Error("fdatasync " + options_.ack_file + ": " + std::strerror(errno));
    }
  }
  int64_t durable_us = RealtimeMicros();
  fsync_us_.push_back(MicrosBetween(before, Clock::now()));
  ++fsyncs_;
  bytes_written_ += batch_bytes_.size();
  batch_max_ = std::max(batch_max_, batch_.size());
  committed_ += batch_.size();
  for (Ack& ack : batch_) {
    DirectiveAcks& directive = Directive(ack.directive_id);
    if (!directive.units.insert(std::move(ack.unit_code)).second) {
      ++duplicates_;
      continue;
    }
    ++durable_;
    if (directive.first_durable_us == 0) directive.first_durable_us = durable_us;
    directive.last_durable_us = durable_us;
    if (directive.counted && directive.units.size() == options_.expect_acks) {
      ++directives_complete_;
    }
  }
  batch_.clear();
  batch_bytes_.clear();
  return Status::Ok();
}

Collector::DirectiveAcks& Collector::Directive(const std::string& id) {
  auto [it, inserted] = directive_index_.try_emplace(id, directives_.size());
  if (inserted) {
    DirectiveAcks acks;
    acks.id = id;
    acks.counted = std::string_view(id).starts_with(options_.directive_prefix);
    directives_.push_back(std::move(acks));
  }
  return directives_[it->second];
}

bool Collector::Complete() const {
  return options_.expect_acks > 0 && directives_complete_ >= options_.directives;
}

nlohmann::json Collector::Progress() const {
  return {{"t_us", RealtimeMicros()},
          {"connected", pool_->connected() == 1},
          {"subscribed", subscribed_},
          {"connects", pool_->connacks()},
          {"received", received_},
          {"durable", durable_},
          {"duplicates", duplicates_},
          {"fsyncs", fsyncs_},
          {"directives_complete", directives_complete_}};
}

nlohmann::json Collector::Report(CollectorExit exit) const {
  nlohmann::json directives = nlohmann::json::array();
  int64_t first = 0, last = 0;
  uint64_t counted_acks = 0;
  for (const DirectiveAcks& acks : directives_) {
    double window_s = static_cast<double>(acks.last_durable_us - acks.first_durable_us) / 1e6;
    directives.push_back({{"id", acks.id},
                          {"counted", acks.counted},
                          {"acks", acks.units.size()},
                          {"first_durable_us", acks.first_durable_us},
                          {"last_durable_us", acks.last_durable_us},
                          {"acks_per_s", window_s > 0 ? acks.units.size() / window_s : 0.0}});
    if (!acks.counted) continue;
    counted_acks += acks.units.size();
    if (first == 0 || acks.first_durable_us < first) first = acks.first_durable_us;
    last = std::max(last, acks.last_durable_us);
  }
  double window_s = static_cast<double>(last - first) / 1e6;
  nlohmann::json report = {
      {"exit", ToString(exit)},
      {"client_id", options_.client_id},
      {"file", options_.ack_file},
      {"fsync_policy", "one write() and one fdatasync() per loop pass (all acks read in it)"},
      {"acks_received", received_},
      {"acks_durable", durable_},
      {"duplicates", duplicates_},
      {"malformed", malformed_},
      {"fsyncs", fsyncs_},
      {"batch_mean", fsyncs_ > 0 ? static_cast<double>(committed_) / fsyncs_ : 0.0},
      {"batch_max", batch_max_},
      {"fdatasync_ms", ToJson(Summarize(fsync_us_))},
      {"bytes_written", bytes_written_},
      {"connects", pool_->connacks()},
      {"counted_acks", counted_acks},
      {"first_durable_us", first},
      {"last_durable_us", last},
      {"acks_per_s", window_s > 0 ? counted_acks / window_s : 0.0},
      {"directives", directives},
      {"start_us", start_us_},
      {"end_us", end_us_}};
  if (!error_.empty()) report["error"] = error_;
  return report;
}

}  // namespace flatcast::bench::mqtt
