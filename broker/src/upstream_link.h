// A relay's link to its upstream (docs/RELAY.md; messages in
// docs/PROTOCOL.md, "Relays"): a DEALER to the upstream's client endpoint
// (the leader of an upstream pair: a NOT_LEADER answer names it), with the
// relay's key. It says what the relay holds (RelayHello: region, registry
// digest, the last upstream version stored), hands each version the
// upstream sends to the broker's loop in order (a gap makes it say hello
// again, so the upstream resends from what is stored), tells the upstream
// once the loop has stored it (RelayStored), and sends the relay's
// acknowledgement log upward in batches (RelayAckBatch) after what the
// upstream says it has stored, up to four batches in flight (each starts
// where the one before ends; the upstream stores them in order).
//
// Runs on a thread of its own and owns its socket (in a ZeroMQ context of
// its own) there; it reads the
// store (the log, directives) and never writes it: the loop stores.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "flatcast.pb.h"
#include "flatcast/broker/store.h"
#include "flatcast/broker/upstream.h"
#include "flatcast/curve.h"
#include "flatcast/registry.h"
#include "flatcast/status.h"

namespace flatcast::broker {

struct UpstreamLinkOptions {
  std::string region;
  std::string name;                    // this broker's name, for the upstream's logs
  std::vector<std::string> endpoints;  // the upstream's (a pair's two)
  std::optional<CurveClientKeys> curve;
  uint32_t ack_batch = 20000;          // acknowledgements at most per batch
  size_t max_message_bytes = size_t{1} << 20;
  // Until the upstream's welcome says otherwise.
  std::chrono::milliseconds heartbeat_interval{5000};
  // A batch holds about this many bytes at most besides `ack_batch` entries
  // (READY notes, ratings' comments and answers to return forms weigh more
  // than an ack): well within the upstream's message limit (1 MiB by
  // default). At least one entry goes.
  size_t ack_batch_bytes = 256 * 1024;
};

// What the link has seen, for logs, tests and `flatcast-audit cluster`.
struct UpstreamState {
  std::string endpoint;
  bool welcomed = false;
  uint64_t cursor = 0;         // the last upstream version stored here
  uint64_t log_cursor = 0;     // this relay's log stored upstream up to here
  uint64_t upstream_head = 0;  // the upstream's last version, from its welcome or heartbeat
  std::string problem;         // why it is not welcomed, when the upstream said
};

class UpstreamLink final : public UpstreamSink {
 public:
  // `registry` is the relay's (its region); `cursor`: the last upstream
  // version the store holds.
  static Result<std::unique_ptr<UpstreamLink>> Start(const Store& store,
                                                     const Registry& registry,
                                                     UpstreamLinkOptions options, uint64_t cursor);
  ~UpstreamLink() override;
  UpstreamLink(const UpstreamLink&) = delete;
  UpstreamLink& operator=(const UpstreamLink&) = delete;

  // Readable when versions wait for the loop (an eventfd); Take() resets it.
  int wake_fd() const { return wake_fd_; }
  std::vector<v1::StoredDirective> Take();

  void Stored(uint64_t upstream_seq) override;
  void NotStored(uint64_t upstream_seq, const Status& why) override;
  // The loop stored log records (acknowledgements, ratings): the next batch
  // is looked for now rather than at the next poll.
  void LogAdvanced();
  bool Welcomed() const override;
  void SendDocumentRequest(std::string request) override;
  // Replies to document requests, for the loop (the wake fd tells).
  std::vector<v1::Envelope> TakeDocumentReplies();

  UpstreamState state() const;

 private:
  UpstreamLink(const Store& store, const Registry& registry,
               UpstreamLinkOptions options, uint64_t cursor);
  void Serve();
  // The next batch of the log after `log_cursor`, if the log holds more.
  std::optional<v1::RelayAckBatch> NextBatch(uint64_t log_cursor);
  // The upstream seq of local version `seq` (0: published here).
  uint64_t UpstreamSeqOf(uint64_t seq);

  // A context of its own, with one I/O thread: the link's messages do not
  // queue behind the terminals' traffic in the broker's I/O threads (a
  // relay with 19,571 CURVE terminals keeps those busy in a burst).
  zmq::context_t context_{1};
  const Store& store_;
  const Registry& registry_;
  const UpstreamLinkOptions options_;
  const std::string digest_;
  int wake_fd_ = -1;    // the loop's: versions waiting
  int notify_fd_ = -1;  // the link's: the loop stored something
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::unordered_map<uint64_t, uint64_t> upstream_seq_of_;  // the link thread's cache

  mutable std::mutex mutex_;  // guards what follows
  std::vector<v1::StoredDirective> waiting_;
  std::vector<std::string> document_requests_;   // to send
  std::vector<v1::Envelope> document_replies_;   // for the loop
  uint64_t cursor_ = 0;        // durable here
  bool cursor_moved_ = false;  // tell the upstream
  bool not_stored_ = false;    // say hello again
  bool log_moved_ = false;     // look for a batch now
  UpstreamState state_;
};

}  // namespace flatcast::broker
