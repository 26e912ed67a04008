// A swarm of terminals in one process, for load and end-to-end tests: many
// units, each with its own DEALER connection, MemoryInbox and the same
// TerminalSession the daemon uses, driven by one epoll loop. Like the daemon,
// a terminal whose session finds its connection dead gets a new socket (a
// new TCP connection) and says Hello again.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/registry.h"
#include "flatcast/status.h"

namespace flatcast::subscriber {

struct SwarmOptions {
  std::string endpoint;  // the broker's ROUTER endpoint
  // Connect from this local (loopback) address: a swarm of tens of thousands
  // of connections leaves as many in TIME_WAIT, and connections from a fresh
  // source address never meet them. Empty: the kernel's choice.
  std::string source_address;
  std::string region;    // units at or below this code; empty: the whole registry
  std::vector<Tier> tiers = {Tier::kDistrict, Tier::kStreet, Tier::kCommunity};
  uint32_t shard = 0;             // this process plays the selected units whose registry
  uint32_t shards = 1;            // index modulo `shards` is `shard`
  std::set<std::string> exclude;  // unit codes left out
  // With a value: finish once every unit has stored this many distinct
  // directives and has no unconfirmed ack; fail when `timeout` passes first.
  std::optional<uint32_t> expect;
  // Zero: no limit. Without `expect`, reaching it ends the run normally.
  std::chrono::seconds timeout{0};
  // Sockets connected per loop turn (about a millisecond), and at most this
  // many connecting at once (connection opened, handshake not done), so the
  // broker's accept queue (somaxconn, 4096 here) is not flooded: a connection
  // the kernel drops from a full queue waits out SYN-ACK retries and can
  // miss the 60 s handshake limit.
  size_t connect_batch = 200;
  size_t connect_window = 1000;
  std::chrono::milliseconds progress_interval{1000};
  // ZMQ_RCVHWM of each terminal socket; zero keeps ZeroMQ's default (1000).
  // Fault tests set it tiny so that deliveries back up and the broker drops
  // them.
  int rcvhwm = 0;
  // For a broker with CURVE: the seed every unit's key derives from
  // (DeriveUnitCurveKey, raw 32 bytes) and the broker's public key. Both or
  // neither.
  std::string key_seed;
  std::string broker_public_key;
  // Levels every unit acknowledges right after RECEIVED (CONFIRMED, READY),
  // as if an operator did at once; `expect` then waits for those too.
  std::vector<v1::AckLevel> auto_levels;
  // Every unit answers each return form right after RECEIVED with
  // SampleReturnValues; `expect` then waits for the answers' confirmations.
  bool answer_forms = false;
  // Every unit fetches the documents attached to what it stores, checks
  // each against its SHA-256 and keeps only the digest (HashingShelf);
  // `expect` then waits for those too.
  bool fetch_documents = false;
  // With a pair's two endpoints: every terminal also keeps an authenticated
  // connection to the other broker (docs/HA.md, "Warm standby connections").
  // When its broker is lost or answers NOT_LEADER and names the other, the
  // terminal switches to that connection and says Hello there: a failover
  // costs a Hello per terminal, not a CURVE handshake. Twice the file
  // descriptors and broker connections.
  bool warm_standby = true;
};

// A made-up answer to `form` for `unit_code`, the same every time: each
// quantity spread over its range with about one unit in ten below the
// field's threshold, a choice and yes/no by turns, a short text; optional
// fields left out for one unit in five.
google::protobuf::RepeatedPtrField<v1::FieldValue> SampleReturnValues(const v1::ReturnForm& form,
                                                                    const std::string& unit_code);

// The units the swarm plays, as registry indices in registry order.
// InvalidArgument for a bad shard, an unknown region, or an empty selection.
Result<std::vector<uint32_t>> SelectSwarmUnits(const Registry& registry,
                                               const SwarmOptions& options);

// Each unit costs about two file descriptors per socket (its TCP connection
// and the socket's signalling fd; `sockets_per_unit` is 2 with warm standby
// connections); 64 more are kept for the rest. Raises the soft RLIMIT_NOFILE
// towards the hard one when that is enough; otherwise fails with a message
// saying how many units fit.
Status ReserveFileDescriptors(size_t units, size_t sockets_per_unit = 1);

struct SwarmSummary {
  uint32_t shard = 0;
  uint32_t shards = 1;
  size_t units = 0;
  size_t connected = 0;        // units whose connection is up
  size_t welcomed = 0;         // units currently welcomed
  uint64_t received = 0;       // directives stored, over all units
  uint64_t deliveries = 0;     // Deliver messages received, repeats included
  uint64_t duplicates = 0;     // repeated deliveries, acknowledged again and not stored again
  uint64_t stored = 0;         // distinct (directive, version) pairs held, over all units
  uint64_t confirmed = 0;      // acks confirmed
  uint64_t heartbeats = 0;     // Heartbeat messages received
  uint64_t resyncs = 0;        // Hellos sent because a Heartbeat showed something missing
  uint64_t acks_resent = 0;    // pending acks sent again on a Heartbeat
  uint64_t documents_kept = 0;     // attached documents fetched whole and checked, over all units
  uint64_t documents_refused = 0;  // attached documents whose content did not match
  uint64_t document_bytes = 0;     // bytes of attached documents received
  uint64_t reconnects = 0;     // sockets replaced because the connection looked dead
  size_t warm = 0;             // units whose warm connection to the other broker is up
  uint64_t switches = 0;       // units that moved to their warm connection
  uint64_t errors = 0;         // broker errors and bad or misaddressed messages
  uint64_t dropped_sends = 0;  // messages that could not be queued (resent by the protocol)
  size_t complete_units = 0;   // units that met `expect` (at least that many, acks confirmed)
  size_t units_exact = 0;      // units holding exactly `expect` distinct directives
  std::optional<uint32_t> expect;
  bool complete = false;     // `expect` met by every unit
  bool interrupted = false;  // stopped by `stop`
  bool timed_out = false;
  double elapsed_s = 0;
  size_t latency_count = 0;
  double latency_p50_ms = 0, latency_p99_ms = 0, latency_max_ms = 0;
  std::vector<std::string> incomplete_sample;  // a few units that did not meet `expect`

  // One line of JSON. Besides the fields above under their own names, it
  // carries the reconciliation counts under fixed names: "units_complete"
  // (units_exact), "acks_confirmed" (confirmed), "deliveries", "duplicates",
  // "stored".
  std::string ToJson() const;
  // The progress line: {"shard","units","connected","welcomed","received",
  // "confirmed","reconnects","warm","switches","errors"}.
  std::string ProgressJson() const;
};

// Nearest-rank percentile (0 < q <= 1) of `values`, which it reorders; 0 for
// none.
int64_t Percentile(std::vector<int64_t>& values, double q);

// Runs the swarm until `stop`, the timeout, or (with `expect`) completion.
// Writes a progress line to `progress` every progress_interval. With
// `inboxes`, writes every unit's inbox there at the end, one line per unit in
// registry order: "<unit code>\t<id>.v<version>,<id>.v<version>..." ordered by
// seq (nothing after the tab when the inbox is empty). Fails at start when
// the units do not fit the descriptor limit or the endpoint is refused.
// With `latencies`, writes every first delivery at the end, one line each:
// "<seq>\t<microseconds from the directive's sent time to its receipt>".
Result<SwarmSummary> RunSwarm(const Registry& registry, const SwarmOptions& options,
                              const std::atomic<bool>& stop, std::ostream& progress,
                              std::ostream* inboxes = nullptr, std::ostream* latencies = nullptr);

}  // namespace flatcast::subscriber
