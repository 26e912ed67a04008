// The public feed: a read-only HTTP endpoint (Boost.Beast over Asio, one
// thread of its own) serving what has been released. It only ever holds a
// snapshot of released directives, so a held directive cannot leak: a held
// or unknown id gets the same 404, and lists and counts never include it.
//
//   GET /public/directives                 JSON list, newest release first
//   GET /public/directives/<id>            one directive, JSON
//   GET /public/directives/<id>/cap.xml    CAP 1.2
//   GET /public/feed.atom                  Atom 1.0
// Every answer carries an ETag; If-None-Match with it gets 304.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "flatcast/status.h"

namespace flatcast::broker {

struct FeedSnapshot {
  struct Document {
    std::string json;
    std::string cap;
    std::string etag;
  };
  uint64_t generation = 0;  // changes only when something public changes
  std::string list_json = "{\n  \"directives\": []\n}\n";
  std::string atom;
  std::map<std::string, Document> by_public_id;
};

// The bytes of the response the feed gives to one raw HTTP/1.1 request
// (start line, headers, any body), as the listener would; 400 for one that
// does not parse. For tests and the fuzz target.
std::string AnswerHttpRequest(std::string_view raw, const FeedSnapshot& snapshot);

// Where the broker puts what is public each time it changes.
class FeedSink {
 public:
  virtual ~FeedSink() = default;
  // Replaces what is served. Thread-safe.
  virtual void Publish(std::shared_ptr<const FeedSnapshot> snapshot) = 0;
};

class PublicFeed : public FeedSink {
 public:
  // Listens on host:port (port 0: the kernel picks one) and serves until destroyed.
  static Result<std::unique_ptr<PublicFeed>> Start(const std::string& host, uint16_t port);
  virtual ~PublicFeed() = default;
  virtual uint16_t port() const = 0;
};

}  // namespace flatcast::broker
