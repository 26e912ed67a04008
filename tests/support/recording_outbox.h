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
#include "flatcast/broker/public_stream.h"
#include "flatcast/feed/site.h"
#include "flatcast/registry.h"

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

// What a public server would serve after the core's latest public change:
// the documents as a Site (flatcast/feed/site.h).
class RecordingFeed final : public broker::PublicSink {
 public:
  explicit RecordingFeed(std::shared_ptr<const Registry> registry) : registry_(std::move(registry)) {}
  void Publish(const std::vector<v1::PublicDocument>& documents) override;
  // The site built from the last documents (an empty one before any).
  const feed::Site& latest() const;
  std::shared_ptr<const feed::Site> shared() const { return latest_; }
  const std::vector<v1::PublicDocument>& documents() const { return documents_; }
  void set_keys(std::vector<v1::ReleaseKey> keys) { keys_ = std::move(keys); }
  int published() const { return published_; }

 private:
  std::shared_ptr<const Registry> registry_;
  std::vector<v1::ReleaseKey> keys_;
  std::vector<v1::PublicDocument> documents_;
  std::shared_ptr<const feed::Site> latest_;
  int published_ = 0;
};

}  // namespace flatcast::testing
