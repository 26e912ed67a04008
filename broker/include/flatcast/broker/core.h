// The broker without its socket: it takes each message a peer sent
// (Inbound) and the time, and writes replies and deliveries to an Outbox.
// Everything that must be durable goes through one CommitPath, store scans
// through a QueryPort, what is public to a FeedSink. The program wires it
// to the ROUTER transport, the store and the query worker (broker.h); a
// test wires it to a recording outbox, a fake clock and a store that fails
// on demand, and needs no TCP and no sleeps.
//
// Inside, by capability (docs/ARCHITECTURE.md): recovery, the directive
// index, connections, peer authorization, publishing (publish and every
// lifecycle change, decided one at a time), feedback (acknowledgements,
// ratings, group commit, confirmations), delivery (fan-out, catch-up,
// redelivery, heartbeats), escalation (deadlines), public release.
//
// Threads: one, the broker's event loop.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "flatcast/broker/commit_path.h"
#include "flatcast/broker/config.h"
#include "flatcast/broker/metrics.h"
#include "flatcast/broker/outbox.h"
#include "flatcast/broker/public_stream.h"
#include "flatcast/broker/publishers.h"
#include "flatcast/broker/query_port.h"
#include "flatcast/broker/store.h"
#include "flatcast/broker/upstream.h"
#include "flatcast/clock.h"
#include "flatcast/key_registry.h"
#include "flatcast/registry.h"

namespace flatcast::broker {

// What the core works with; each must outlive it.
struct CoreDeps {
  const Registry& registry;
  const Clock& clock;
  Outbox& outbox;
  CommitPath& commits;
  QueryPort& queries;
  const PublisherDirectory& publishers;
  // The key registry, when configured (it is replaced in place on reload):
  // every directive must then be signed. nullptr: open mode.
  const KeyRegistry* keys = nullptr;
  // Connections are CURVE-authenticated (needs `keys`): each message is
  // attributed to the holder of its connection's key.
  bool authenticate = false;
  // The release key that signs public documents (docs/PUBLIC.md); null:
  // documents go unsigned and no public server is served.
  const PublicSigning* public_signing = nullptr;
  // Told what is public each time it changes; may be null.
  PublicSink* public_sink = nullptr;
  // A broker pair's state, for ClusterQuery (empty: a single broker, which
  // answers as its own leader).
  std::function<v1::ClusterReply()> cluster;
  // Set at a relay (docs/RELAY.md): told when each version from the upstream
  // is stored. The registry is then the relay's region only.
  UpstreamSink* upstream = nullptr;
  // At a relay: the state of its link, for ClusterQuery.
  std::function<v1::RelayStatus()> upstream_status;
  // Where events are counted (admin.h); null: a private set nobody reads.
  BrokerMetrics* metrics = nullptr;
};

class BrokerCore {
 public:
  BrokerCore(const BrokerConfig& config, const CoreDeps& deps);
  ~BrokerCore();
  BrokerCore(const BrokerCore&) = delete;
  BrokerCore& operator=(const BrokerCore&) = delete;

  // Rebuilds the in-memory state from `store`, the store the commit path
  // writes. Called once, before anything else.
  Status Recover(const Store& store);
  // One message from a peer: refused with an Error saying why, answered, or
  // taken into the pass (acknowledgements, ratings) or the change queue.
  void OnMessage(const Inbound& in);
  // Ends a pass of the loop (`input_seen`: messages came in it): commits the
  // pass's feedback, runs commit callbacks, sends confirmations and query
  // answers, and runs what is due (releases, heartbeats, deadlines,
  // redelivery).
  void EndPass(bool input_seen);
  // The key registry was reloaded: connections whose key is no longer
  // active are served no more.
  void KeysChanged();
  // At a relay: one version as the upstream stored it, handed on by the
  // link in the upstream's order; stored, fanned out, then reported to
  // CoreDeps::upstream.
  void OnUpstreamVersion(v1::StoredDirective version);
  // At a relay: a reply from the upstream to a request for a chunk of an
  // attached document.
  void OnUpstreamDocumentReply(const v1::Envelope& reply);
  // At a relay: the last upstream version stored (0: none).
  uint64_t upstream_cursor() const;
  // How long the loop may wait for input before the next EndPass, at most `most`.
  std::chrono::milliseconds PollTimeout(std::chrono::milliseconds most) const;

  size_t connected_units() const;
  uint64_t head_seq() const;
  // The core's part of the metrics' state (terminals by tier, versions,
  // held directives, overdue units, relays below).
  void FillState(BrokerMetrics::State& state) const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flatcast::broker
