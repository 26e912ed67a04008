// Relays, seen from their upstream (docs/RELAY.md): the relay brokers
// connected to this one, each sent in sequence order every version that
// reaches a unit of its region (a window at a time, from the cursor it says
// it holds), and their acknowledgement batches, stored with the relay's
// log position in one synced write before they are confirmed, so a batch
// sent again after a lost answer is not stored twice; batches that arrive
// while one is being stored wait behind it, in order. A relay may speak
// only for its region: every unit of a batch lies in it, or nothing of the
// batch is stored. Owned by the broker's event loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "connections.h"
#include "directive_index.h"
#include "flatcast.pb.h"
#include "flatcast/broker/commit_path.h"
#include "flatcast/broker/metrics.h"
#include "flatcast/broker/store.h"
#include "flatcast/clock.h"
#include "flatcast/registry.h"

namespace flatcast::broker {

struct RelaysOptions {
  // Versions sent to a relay and not yet stored there, at most.
  size_t window = 64;
  // Acknowledgement batches a relay may have waiting behind the one being
  // stored; more are answered with the cursor (docs/PROTOCOL.md, "Relays").
  size_t queued_batches = 8;
  // How often each relay is sent a Heartbeat; versions it has not said it
  // stored within 3 intervals are sent again.
  std::chrono::milliseconds heartbeat_interval{5000};
};

// One relay as the upstream sees it, for views (flatcast-audit cluster).
struct RelayView {
  std::string region;
  std::string name;
  bool connected = false;
  uint64_t cursor = 0;      // every version up to it that reaches the region is stored there
  uint64_t log_cursor = 0;  // its acknowledgements stored here up to this log position
  TimePoint last_heard{};
};

class Relays {
 public:
  Relays(const Registry& registry, const Clock& clock, DirectiveIndex& index,
         Connections& connections, CommitPath& commits, const RelaysOptions& options,
         BrokerMetrics& metrics);

  // Reads each relay's log cursor from the store.
  Status Recover(const Store& store);

  // A relay says which region it is for and what it holds (its region is
  // its key's subject; the authorizer checked it). Refused: a region this
  // registry lacks, a registry that differs for it, a cursor beyond this
  // broker's head.
  Status OnHello(const std::string& routing, uint64_t corr, const v1::RelayHello& hello);
  // Every version up to `stored.seq` is stored at the relay.
  Status OnStored(const std::string& routing, const v1::RelayStored& stored);
  // A batch of the relay's acknowledgements and ratings: checked whole,
  // stored with its log cursor, then confirmed (RelayAcksStored).
  Status OnAckBatch(const std::string& routing, uint64_t corr, const v1::RelayAckBatch& batch);

  // A version became durable here: sent to each relay it reaches, as its
  // window allows.
  void FanOut(const DirectiveState& state, TimePoint now);
  // Heartbeats; versions not stored within three intervals are sent again.
  void Tick(TimePoint now);

  std::vector<RelayView> Views() const;

 private:
  struct Relay {
    std::string region;
    std::string name;
    std::string routing;  // empty: not connected
    uint32_t first = 0, last = 0;  // the region's registry range
    uint64_t stored = 0;           // the relay's cursor
    uint64_t sent = 0;             // the last version sent
    uint64_t scanned = 0;          // versions up to this one were looked at
    std::deque<uint64_t> in_flight;
    TimePoint last_progress{};
    TimePoint last_heard{};
    uint64_t log_cursor = 0;  // durable here
    // The batch being stored (its log position once durable), and those
    // that arrived behind it, stored one after the other in order: a batch
    // is written only once the one before it is durable, so a failed one
    // takes those behind it down with it and none is stored past a gap.
    bool batch_in_flight = false;
    uint64_t batch_last = 0;
    std::deque<std::pair<uint64_t, v1::RelayAckBatch>> queued;  // (correlation id, batch)
  };

  Relay* ByRouting(const std::string& routing);
  // Batches of one relay going into one write (one sync), in order.
  struct Pending {
    struct Marked {
      uint64_t seq;
      uint32_t unit;
      v1::AckLevel level;
    };
    StoreWrite write;
    std::vector<Marked> marks;
    std::set<std::tuple<uint64_t, uint32_t, int>> seen;
    std::vector<std::pair<uint64_t, uint64_t>> answers;  // (correlation id, last log seq)
  };
  // Checks a batch whole and adds it to `pending`; on a refusal nothing of
  // it is added.
  Status AddBatch(Relay& relay, uint64_t corr, const v1::RelayAckBatch& batch, Pending& pending);
  // Hands the batches to the commit path; once durable (or not) each is
  // answered and the batches queued meanwhile are stored together.
  void CommitPending(Relay& relay, Pending pending);
  // After a stored write: every batch queued meanwhile, in one write.
  void StoreNextQueued(Relay& relay);
  // Answers every queued batch with the durable cursor (the relay goes on
  // from there) and forgets them.
  void DropQueued(Relay& relay);
  // True when `state` is sent to some unit of [first, last).
  bool Reaches(const DirectiveState& state, uint32_t first, uint32_t last) const;
  void Pump(Relay& relay, TimePoint now);
  void Send(Relay& relay, const Payload& bytes, TimePoint now);
  const std::string& DigestOf(const std::string& region);

  const Registry& registry_;
  const Clock& clock_;
  DirectiveIndex& index_;
  Connections& connections_;
  CommitPath& commits_;
  const RelaysOptions options_;
  BrokerMetrics& metrics_;
  std::map<std::string, Relay> relays_;  // by region
  std::unordered_map<std::string, std::string> region_of_routing_;
  std::unordered_map<std::string, std::string> digests_;  // by region
  TimePoint next_heartbeat_{};
};

}  // namespace flatcast::broker
