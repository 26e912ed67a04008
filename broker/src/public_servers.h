// The public servers connected to this broker (docs/PUBLIC.md): each is sent
// the public documents after the cursor it holds, one batch at a time (the
// next once it says the last is stored), and an empty batch every heartbeat
// interval, which it answers; one silent for three intervals is forgotten
// until it says hello again. Owned by the broker's event loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "connections.h"
#include "flatcast.pb.h"
#include "flatcast/broker/public_stream.h"
#include "flatcast/clock.h"
#include "flatcast/public_view.h"
#include "flatcast/registry.h"

namespace flatcast::broker {

struct PublicServersOptions {
  std::chrono::milliseconds heartbeat_interval{5000};
  size_t batch_documents = 64;
  size_t batch_bytes = 512 * 1024;  // at least one document goes
};

class PublicServers {
 public:
  // `signing` may be null: documents are then unsigned and no public server
  // is served. `sink` may be null.
  PublicServers(const Registry& registry, Connections& connections, const PublicSigning* signing,
                PublicSink* sink, const PublicServersOptions& options);

  // Forgets every document (before the records are recovered again).
  void Clear();
  // The documents of a public change, rendered and signed now (unsigned
  // without a release key).
  Result<v1::PublicDocument> Render(const PublicEntry& entry) const;
  // The directive's public documents changed: those its record keeps, or
  // rendered now for a record from before they were kept.
  void Update(const PublicEntry& entry);
  // Sends what changed since the last flush to the public servers and the sink.
  void Flush(TimePoint now);

  Status OnHello(const std::string& routing, uint64_t corr, const v1::PublicHello& hello,
                 TimePoint now);
  Status OnStored(const std::string& routing, const v1::PublicStored& stored, TimePoint now);
  void Tick(TimePoint now);
  // The key registry changed: each server is sent the release keys again.
  void KeysChanged(TimePoint now);
  // Forgets the servers `gone` says of (their key was revoked).
  void ForgetIf(const std::function<bool(const std::string& routing)>& gone);

  size_t connected() const { return servers_.size(); }
  // A valid release key signs what is rendered.
  bool signing() const;
  uint64_t head() const { return docs_.empty() ? 0 : docs_.rbegin()->first; }
  size_t documents() const { return docs_.size(); }

 private:
  struct Server {
    std::string name;
    uint64_t cursor = 0;  // stored there
    uint64_t sent = 0;    // sent up to
    TimePoint last_heard{};
    TimePoint last_sent{};
  };
  void Pump(const std::string& routing, Server& s, TimePoint now);
  // False when the server is gone (then forgotten) or its queue is full.
  bool Send(const std::string& routing, const v1::Envelope& env, TimePoint now);

  const Registry& registry_;
  Connections& connections_;
  const PublicSigning* signing_;
  PublicSink* sink_;
  const PublicServersOptions options_;
  std::map<uint64_t, v1::PublicDocument> docs_;                // by public_seq: each id's latest
  std::unordered_map<std::string, uint64_t> seq_of_;          // public id -> public_seq
  std::unordered_map<std::string, Server> servers_;           // by routing id
  bool changed_ = true;
  TimePoint next_heartbeat_{};
};

}  // namespace flatcast::broker
