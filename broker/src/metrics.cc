#include "flatcast/broker/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>

#include "flatcast/registry.h"

namespace flatcast::broker {

namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Seconds from sending to a durable acknowledgement: a terminal acknowledges
// RECEIVED within a second, people CONFIRMED and READY within hours.
const Histogram::BucketBoundaries kAckBuckets = {0.05, 0.1,  0.25, 0.5,  1,    2.5,  5,    10,
                                                 30,   60,   300,  900,  3600, 4 * 3600, 12 * 3600,
                                                 24 * 3600};
const Histogram::BucketBoundaries kSyncBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                  0.05,   0.1,   0.25,   0.5,   1,    2.5};
const Histogram::BucketBoundaries kRecordBuckets = {1, 4, 16, 64, 256, 1024, 4096, 16384, 65536};

}  // namespace

struct BrokerMetrics::Families {
  explicit Families(prometheus::Registry& r)
      : published(prometheus::BuildCounter()
                      .Name("flatcast_directives_published_total")
                      .Help("Directives published here (first versions stored)")
                      .Register(r)
                      .Add({})),
        lifecycle(prometheus::BuildCounter()
                      .Name("flatcast_lifecycle_changes_total")
                      .Help("Amendments, cancellations, extended holds and early releases stored")
                      .Register(r)),
        released(prometheus::BuildCounter()
                     .Name("flatcast_public_releases_total")
                     .Help("Directives released to the public by this broker")
                     .Register(r)
                     .Add({})),
        sends(prometheus::BuildCounter()
                  .Name("flatcast_deliveries_total")
                  .Help("Directive versions sent to terminals, by kind (first: fan-out and "
                        "catch-up; redelivery)")
                  .Register(r)),
        dropped(prometheus::BuildCounter()
                    .Name("flatcast_dropped_sends_total")
                    .Help("Sends refused by a terminal's full send queue (repaired by "
                          "redelivery and heartbeats)")
                    .Register(r)
                    .Add({})),
        acks(prometheus::BuildCounter()
                 .Name("flatcast_acknowledgements_total")
                 .Help("Acknowledgements made durable, by level")
                 .Register(r)),
        ack_latency(prometheus::BuildHistogram()
                        .Name("flatcast_ack_latency_seconds")
                        .Help("From a directive's sending to an acknowledgement made durable, by "
                              "level")
                        .Register(r)),
        ratings(prometheus::BuildCounter()
                    .Name("flatcast_ratings_total")
                    .Help("Ratings made durable")
                    .Register(r)
                    .Add({})),
        returns(prometheus::BuildCounter()
                    .Name("flatcast_returns_total")
                    .Help("Answers to return forms made durable (corrections included)")
                    .Register(r)
                    .Add({})),
        commit_records(prometheus::BuildHistogram()
                           .Name("flatcast_commit_records")
                           .Help("Entries (acknowledgements, ratings, versions, events) per store "
                                 "write")
                           .Register(r)
                           .Add({}, kRecordBuckets)),
        commit_seconds(prometheus::BuildHistogram()
                           .Name("flatcast_commit_sync_seconds")
                           .Help("Time of one synced store write")
                           .Register(r)
                           .Add({}, kSyncBuckets)),
        commit_failures(prometheus::BuildCounter()
                            .Name("flatcast_commit_failures_total")
                            .Help("Store writes that failed")
                            .Register(r)
                            .Add({})),
        handshakes_refused(prometheus::BuildCounter()
                               .Name("flatcast_handshakes_refused_total")
                               .Help("Connections the ZAP handler refused, by reason")
                               .Register(r)),
        requests_refused(prometheus::BuildCounter()
                             .Name("flatcast_requests_refused_total")
                             .Help("Requests answered with an error, by code")
                             .Register(r)),
        connected(prometheus::BuildGauge()
                      .Name("flatcast_terminals_connected")
                      .Help("Terminals connected and welcomed, by tier")
                      .Register(r)),
        peers(prometheus::BuildGauge()
                  .Name("flatcast_peers_connected")
                  .Help("Other connections known to the broker (publishers, auditors, relays)")
                  .Register(r)
                  .Add({})),
        open_files(prometheus::BuildGauge()
                       .Name("flatcast_open_files")
                       .Help("Descriptors the process holds")
                       .Register(r)
                       .Add({})),
        open_files_limit(prometheus::BuildGauge()
                             .Name("flatcast_open_files_limit")
                             .Help("The process's open-file limit")
                             .Register(r)
                             .Add({})),
        open_files_budget(prometheus::BuildGauge()
                              .Name("flatcast_open_files_budget")
                              .Help("Descriptors the broker planned for at start (terminals, "
                                    "RocksDB, its own)")
                              .Register(r)
                              .Add({})),
        versions(prometheus::BuildGauge()
                     .Name("flatcast_directive_versions")
                     .Help("Directive versions in the index")
                     .Register(r)
                     .Add({})),
        held(prometheus::BuildGauge()
                 .Name("flatcast_directives_held")
                 .Help("Public directives whose release is still ahead")
                 .Register(r)
                 .Add({})),
        overdue(prometheus::BuildGauge()
                    .Name("flatcast_overdue_units")
                    .Help("Units past a deadline without the acknowledgement it asks, by level")
                    .Register(r)),
        query_queue(prometheus::BuildGauge()
                        .Name("flatcast_query_queue_depth")
                        .Help("Audit queries waiting for the query worker")
                        .Register(r)
                        .Add({})),
        store_bytes(prometheus::BuildGauge()
                        .Name("flatcast_store_bytes")
                        .Help("Size of the store's files on disk")
                        .Register(r)
                        .Add({})),
        store_writable(prometheus::BuildGauge()
                           .Name("flatcast_store_writable")
                           .Help("1 while the store accepts writes")
                           .Register(r)
                           .Add({})),
        ready(prometheus::BuildGauge()
                  .Name("flatcast_ready")
                  .Help("1 while the broker accepts publishes (/readyz)")
                  .Register(r)
                  .Add({})),
        leader(prometheus::BuildGauge()
                   .Name("flatcast_pair_leader")
                   .Help("A pair's broker: 1 while it leads")
                   .Register(r)),
        epoch(prometheus::BuildGauge()
                  .Name("flatcast_pair_epoch")
                  .Help("A pair's broker: the epoch it leads or follows")
                  .Register(r)),
        in_sync(prometheus::BuildGauge()
                    .Name("flatcast_pair_standby_in_sync")
                    .Help("A pair's leader: 1 while its standby is in sync")
                    .Register(r)),
        lag(prometheus::BuildGauge()
                .Name("flatcast_pair_replication_lag_commits")
                .Help("A pair's leader: commits its standby has not stored")
                .Register(r)),
        upstream_welcomed(prometheus::BuildGauge()
                              .Name("flatcast_relay_upstream_welcomed")
                              .Help("A relay: 1 while its upstream has welcomed it")
                              .Register(r)),
        upstream_behind(prometheus::BuildGauge()
                            .Name("flatcast_relay_upstream_versions_behind")
                            .Help("A relay: upstream versions not yet stored here")
                            .Register(r)),
        relays(prometheus::BuildGauge()
                   .Name("flatcast_relays_connected")
                   .Help("Relays connected below this broker")
                   .Register(r)
                   .Add({})) {
    first_sends = &sends.Add({{"kind", "first"}});
    redeliveries = &sends.Add({{"kind", "redelivery"}});
    for (v1::AckLevel level : {v1::RECEIVED, v1::CONFIRMED, v1::READY}) {
      const std::string name = Lower(v1::AckLevel_Name(level));
      ack_by_level[level] = &acks.Add({{"level", name}});
      latency_by_level[level] = &ack_latency.Add({{"level", name}}, kAckBuckets);
      overdue_by_level[level] = &overdue.Add({{"level", name}});
    }
    for (Tier tier : kAllTiers) {
      connected_by_tier[static_cast<int>(tier)] =
          &connected.Add({{"tier", std::string(TierName(tier))}});
    }
  }

  Counter& published;
  Family<Counter>& lifecycle;
  Counter& released;
  Family<Counter>& sends;
  Counter* first_sends;
  Counter* redeliveries;
  Counter& dropped;
  Family<Counter>& acks;
  Family<Histogram>& ack_latency;
  std::array<Counter*, 4> ack_by_level{};
  std::array<Histogram*, 4> latency_by_level{};
  Counter& ratings;
  Counter& returns;
  Histogram& commit_records;
  Histogram& commit_seconds;
  Counter& commit_failures;
  Family<Counter>& handshakes_refused;
  Family<Counter>& requests_refused;
  Family<Gauge>& connected;
  std::array<Gauge*, 6> connected_by_tier{};
  Gauge& peers;
  Gauge& open_files;
  Gauge& open_files_limit;
  Gauge& open_files_budget;
  Gauge& versions;
  Gauge& held;
  Family<Gauge>& overdue;
  std::array<Gauge*, 4> overdue_by_level{};
  Gauge& query_queue;
  Gauge& store_bytes;
  Gauge& store_writable;
  Gauge& ready;
  Family<Gauge>& leader;
  Family<Gauge>& epoch;
  Family<Gauge>& in_sync;
  Family<Gauge>& lag;
  Family<Gauge>& upstream_welcomed;
  Family<Gauge>& upstream_behind;
  Gauge& relays;

  // Label values come from short fixed sets; Family::Add is thread-safe, the
  // lookups here spare it the label map on every event.
  std::mutex mutex;
  std::map<std::string, Counter*, std::less<>> handshakes_by_reason;
  std::map<int, Counter*> requests_by_code;
  std::map<int, Counter*> lifecycle_by_action;
};

BrokerMetrics::BrokerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      f_(std::make_unique<Families>(*registry_)) {}

BrokerMetrics::~BrokerMetrics() = default;

std::string BrokerMetrics::Text() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

void BrokerMetrics::Published() { f_->published.Increment(); }

void BrokerMetrics::Lifecycle(v1::LifecycleRequest::Action action) {
  Counter* c;
  {
    std::lock_guard<std::mutex> lock(f_->mutex);
    Counter*& slot = f_->lifecycle_by_action[action];
    if (slot == nullptr) {
      slot = &f_->lifecycle.Add({{"action", Lower(v1::LifecycleRequest::Action_Name(action))}});
    }
    c = slot;
  }
  c->Increment();
}

void BrokerMetrics::Released() { f_->released.Increment(); }
void BrokerMetrics::Delivered(uint64_t sends) { f_->first_sends->Increment(static_cast<double>(sends)); }
void BrokerMetrics::Redelivered(uint64_t sends) {
  f_->redeliveries->Increment(static_cast<double>(sends));
}
void BrokerMetrics::Dropped(uint64_t sends) { f_->dropped.Increment(static_cast<double>(sends)); }

void BrokerMetrics::Acknowledged(v1::AckLevel level, double seconds) {
  if (level < v1::RECEIVED || level > v1::READY) return;
  f_->ack_by_level[level]->Increment();
  f_->latency_by_level[level]->Observe(std::max(seconds, 0.0));
}

void BrokerMetrics::Rated() { f_->ratings.Increment(); }
void BrokerMetrics::Returned() { f_->returns.Increment(); }

void BrokerMetrics::Committed(uint64_t records, double seconds) {
  f_->commit_records.Observe(static_cast<double>(records));
  f_->commit_seconds.Observe(seconds);
}

void BrokerMetrics::CommitFailed() { f_->commit_failures.Increment(); }

void BrokerMetrics::HandshakeRefused(std::string_view reason) {
  Counter* c;
  {
    std::lock_guard<std::mutex> lock(f_->mutex);
    auto it = f_->handshakes_by_reason.find(reason);
    if (it == f_->handshakes_by_reason.end()) {
      it = f_->handshakes_by_reason
               .emplace(std::string(reason),
                        &f_->handshakes_refused.Add({{"reason", std::string(reason)}}))
               .first;
    }
    c = it->second;
  }
  c->Increment();
}

void BrokerMetrics::RequestRefused(v1::ErrorCode code) {
  Counter* c;
  {
    std::lock_guard<std::mutex> lock(f_->mutex);
    Counter*& slot = f_->requests_by_code[code];
    if (slot == nullptr) {
      const std::string name = v1::ErrorCode_IsValid(code) ? v1::ErrorCode_Name(code) : "unknown";
      slot = &f_->requests_refused.Add({{"code", Lower(name)}});
    }
    c = slot;
  }
  c->Increment();
}

void BrokerMetrics::SetState(const State& s) {
  for (Tier tier : kAllTiers) {
    const int t = static_cast<int>(tier);
    f_->connected_by_tier[t]->Set(static_cast<double>(s.connected_by_tier[t]));
  }
  f_->peers.Set(static_cast<double>(s.connected_other));
  f_->open_files.Set(static_cast<double>(s.open_files));
  f_->open_files_limit.Set(static_cast<double>(s.open_files_limit));
  f_->open_files_budget.Set(static_cast<double>(s.open_files_budget));
  f_->versions.Set(static_cast<double>(s.directive_versions));
  f_->held.Set(static_cast<double>(s.held));
  for (v1::AckLevel level : {v1::RECEIVED, v1::CONFIRMED, v1::READY}) {
    f_->overdue_by_level[level]->Set(static_cast<double>(s.overdue_by_level[level]));
  }
  f_->query_queue.Set(static_cast<double>(s.query_queue));
  f_->store_bytes.Set(static_cast<double>(s.store_bytes));
  f_->store_writable.Set(s.store_writable ? 1 : 0);
  f_->ready.Set(s.accepting_publishes ? 1 : 0);
  // A pair's and a relay's gauges exist only on such a broker.
  if (s.pair) {
    f_->leader.Add({}).Set(s.leader ? 1 : 0);
    f_->epoch.Add({}).Set(static_cast<double>(s.epoch));
    f_->in_sync.Add({}).Set(s.standby_in_sync ? 1 : 0);
    f_->lag.Add({}).Set(static_cast<double>(s.replication_lag));
  }
  if (s.relay) {
    f_->upstream_welcomed.Add({}).Set(s.upstream_welcomed ? 1 : 0);
    f_->upstream_behind.Add({}).Set(static_cast<double>(s.upstream_behind));
  }
  f_->relays.Set(static_cast<double>(s.relays_connected));
}

}  // namespace flatcast::broker
