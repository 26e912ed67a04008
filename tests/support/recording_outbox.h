// What the broker core sent, peer by peer, instead of a socket; a test
// decides which peers are gone and how many messages a peer's queue holds.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/broker/outbox.h"
#include "flatcast/broker/public_feed.h"

namespace flatcast::testing {

class RecordingOutbox final : public broker::Outbox {
 public:
  broker::SendOutcome Send(const std::string& routing, const broker::Payload& bytes) override;

  // The peer disconnected: sends to it are kGone until it is Reconnect()ed.
  void Disconnect(const std::string& routing) { gone_.insert(routing); }
  void Reconnect(const std::string& routing) { gone_.erase(routing); }
  // The peer's queue holds at most `messages` not yet taken; more are kFull.
  void LimitQueue(const std::string& routing, size_t messages) { limits_[routing] = messages; }

  // Everything sent to `routing` and not taken yet, decoded, oldest first.
  std::vector<v1::Envelope> TakeAll(const std::string& routing);
  // The oldest envelope sent to `routing` and not taken yet.
  std::optional<v1::Envelope> TakeNext(const std::string& routing);
  // The oldest not taken that `match`es; the others stay queued.
  std::optional<v1::Envelope> TakeFirst(const std::string& routing,
                                        const std::function<bool(const v1::Envelope&)>& match);
  std::optional<v1::Envelope> TakeFirst(const std::string& routing, v1::Envelope::BodyCase body) {
    return TakeFirst(routing, [body](const v1::Envelope& e) { return e.body_case() == body; });
  }
  size_t queued(const std::string& routing) const;
  // Sends that were kFull, all peers.
  size_t refused_full() const { return refused_full_; }
  // Messages queued, all peers.
  size_t sent_total() const { return sent_total_; }

 private:
  std::map<std::string, std::deque<broker::Payload>> queues_;
  std::set<std::string> gone_;
  std::map<std::string, size_t> limits_;
  size_t refused_full_ = 0;
  size_t sent_total_ = 0;
};

// The latest snapshot the core published.
class RecordingFeed final : public broker::FeedSink {
 public:
  void Publish(std::shared_ptr<const broker::FeedSnapshot> snapshot) override {
    latest_ = std::move(snapshot);
    ++published_;
  }
  const broker::FeedSnapshot& latest() const { return *latest_; }
  bool has_snapshot() const { return latest_ != nullptr; }
  int published() const { return published_; }

 private:
  std::shared_ptr<const broker::FeedSnapshot> latest_;
  int published_ = 0;
};

}  // namespace flatcast::testing
