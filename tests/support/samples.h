// What many tests need: a small registry, a publish request, a stored
// directive, acknowledgements and ratings of one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/clock.h"
#include "flatcast/registry.h"

namespace flatcast::testing {

// Guizhou in miniature: the province, two cities; in 南明区 two streets
// with three communities; 云岩区 with none; one street in 钟山区.
//   52 > 5201 > 520102 > 520102001 > 520102001001, 520102001002
//                      > 520102002 > 520102002001
//             > 520103
//      > 5202 > 520201 > 520201001
extern const char kTestRegistryText[];
Registry TestRegistry();

// Registered publishers (TOML): "province" (52 HEALTH, with the emergency
// right), "province-duty" (52 HEALTH, no rights), "city" (5201 CITY_HEALTH).
extern const char kTestPublishers[];

// The time the sample directives are sent at: 2026-11-28T09:30:00Z.
TimePoint SampleTime();

// A publish request of an unsigned ACTUAL directive by issuer 52 HEALTH with
// one action item for communities, to `scope` at `tiers`.
v1::Envelope SamplePublish(const std::vector<std::string>& scope, const std::vector<v1::Tier>& tiers,
                           const std::string& idempotency_key = "");

// A stored version as a terminal receives it: issuer 52 HEALTH, to `scope`
// at `tiers`, sent at SampleTime().
v1::StoredDirective SampleStored(uint64_t seq, const std::string& id, uint32_t version = 1,
                                 std::vector<std::string> scope = {"5201"},
                                 std::vector<v1::Tier> tiers = {v1::COMMUNITY});

v1::Envelope HelloFrom(const std::string& unit);
v1::Envelope AckOf(const v1::PublishReceipt& receipt, v1::AckLevel level,
                   const std::string& note = "");
v1::Envelope RatingOf(const v1::PublishReceipt& receipt, uint32_t clarity, uint32_t feasibility,
                      int64_t rated_seconds);
v1::Envelope AuditOf(v1::AuditRequest request);
v1::Envelope CoverageOf(const std::string& directive_id, uint32_t max_missing = 0);

}  // namespace flatcast::testing
