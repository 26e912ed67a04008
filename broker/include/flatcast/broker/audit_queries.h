// The queries answered from the store and the registry alone: the
// auditors' (AuditRequest in flatcast.proto: coverage as a tree, missing
// units, latency per level, one unit's history, the log in a time range,
// readiness at release, ratings and burden reports, return forms' answers
// by region, the log's verification) and the publishers' (coverage, lifecycle events).
//
// Reads only, and only through the Store's const methods, so it runs on the
// broker's query worker thread while the event loop writes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/broker/store.h"
#include "flatcast/clock.h"
#include "flatcast/registry.h"
#include "flatcast/status.h"

namespace flatcast::broker {

inline constexpr uint32_t kDefaultPageSize = 1000;
inline constexpr uint32_t kMaxPageSize = 50000;

class AuditQueries {
 public:
  // All three must outlive the object.
  AuditQueries(const Store& store, const Registry& registry, const Clock& clock)
      : store_(store), registry_(registry), clock_(clock) {}

  // NotFound for an unknown directive or unit, InvalidArgument for a bad
  // query (the message says which field), Corruption or IOError when the
  // store fails.
  Result<v1::AuditReply> Run(const v1::AuditRequest& request) const;

  Result<v1::RollupReply> Rollup(const v1::RollupQuery& q) const;
  Result<v1::MissingReply> Missing(const v1::MissingQuery& q) const;
  Result<v1::LatencyReply> Latency(const v1::LatencyQuery& q) const;
  Result<v1::UnitHistoryReply> UnitHistory(const v1::UnitHistoryQuery& q) const;
  Result<v1::LogReply> Log(const v1::LogQuery& q) const;
  Result<v1::ReadinessReply> Readiness(const v1::ReadinessQuery& q) const;
  Result<v1::RatingsReply> Ratings(const v1::RatingsQuery& q) const;
  Result<v1::BurdenReply> Burden(const v1::BurdenQuery& q) const;
  Result<v1::VerifyReply> Verify(const v1::VerifyQuery& q) const;
  // The answers to a version's return form by region: each unit's latest
  // answer (its highest revision), summed, ranged and counted per field.
  Result<v1::ReturnsReply> Returns(const v1::ReturnsQuery& q) const;
  // The publisher's live view: addressed and acknowledged (RECEIVED) per
  // tier below the region, the first units missing, the latest durable
  // acknowledgement; `connected_now` is the loop's count of connected units.
  Result<v1::CoverageReply> Coverage(const v1::CoverageQuery& q, uint32_t connected_now) const;
  // Lifecycle events in order, of one directive or (empty id) of all.
  Result<v1::EventsReply> Events(const v1::EventsQuery& q) const;
  // One version of a directive as stored (the latest when q.version is 0)
  // and the list of its versions, found through its lifecycle events.
  Result<v1::DirectiveReply> Directive(const v1::DirectiveQuery& q) const;

 private:
  // A directive's latest version and the units it addresses below a region.
  struct Target {
    v1::StoredDirective stored;
    std::vector<uint32_t> units;  // registry indices, in code order
    // Per unit (parallel to `units`): the durable ack time of each level, or
    // TimePoint::min() when there is none.
    std::vector<std::array<TimePoint, 3>> acked;
    std::vector<std::string> notes;  // READY notes, parallel (filled on request)
  };
  Result<Target> Load(const std::string& directive_id, const std::string& region,
                      bool with_notes = false) const;
  Status CheckRegion(const std::string& region) const;

  const Store& store_;
  const Registry& registry_;
  const Clock& clock_;
};

// "2026-W49": the ISO 8601 week of `t` (UTC).
std::string IsoWeek(TimePoint t);

// Nearest-rank percentile (0 < q <= 1) of sorted `values`; 0 for none.
int64_t SortedPercentile(const std::vector<int64_t>& values, double q);

}  // namespace flatcast::broker
