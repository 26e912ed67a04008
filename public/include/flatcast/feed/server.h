// The public server's HTTP listener: Boost.Beast over Asio on a thread of
// its own, answering from the current Site (site.h). An accepted
// /public/events request turns its connection into a Server-Sent Events
// stream: each new Site's events for the stream's region are pushed to it.
// Bounded: at most `max_connections` open (more are closed at once), at most
// `max_subscribers` streams (more get 503), a stream whose reader lets more
// than `max_backlog_bytes` pile up is closed (a catch-up comes in pages well
// below it); a request must arrive whole
// within 15 s, a connection idle for 30 s is closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "flatcast/feed/site.h"
#include "flatcast/status.h"

namespace flatcast::feed {

struct FeedServerOptions {
  std::string endpoint = "127.0.0.1:7780";  // HOST:PORT; port 0 picks one
  size_t max_connections = 10000;
  size_t max_subscribers = 5000;
  size_t max_backlog_bytes = 256 * 1024;
};

struct FeedServerStats {
  size_t connections = 0;
  size_t subscribers = 0;
  uint64_t refused_subscribers = 0;  // 503: at max_subscribers
  uint64_t dropped_slow = 0;         // streams closed for their backlog
  uint64_t refused_connections = 0;  // closed at max_connections
};

class FeedServer {
 public:
  static Result<std::unique_ptr<FeedServer>> Start(const FeedServerOptions& options,
                                                   std::shared_ptr<const Site> site);
  virtual ~FeedServer() = default;
  // "http://host:port".
  virtual std::string url() const = 0;
  // Serves `site` from now on; every stream gets its events after the last it had.
  virtual void Publish(std::shared_ptr<const Site> site) = 0;
  virtual FeedServerStats stats() const = 0;
};

}  // namespace flatcast::feed
