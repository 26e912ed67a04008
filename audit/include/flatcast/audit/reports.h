// What flatcast-audit prints: each audit reply as a readable table, JSON or
// CSV. JSON holds the same rows as the table, with numbers as numbers and
// percentages beside their counts; CSV has one header line.
#pragma once

#include <string>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/report.h"
#include "flatcast/status.h"

namespace flatcast::audit {

std::string RenderRollup(const v1::RollupReply& r, OutputFormat format);
std::string RenderMissing(const v1::MissingReply& r, OutputFormat format);
std::string RenderLatency(const v1::LatencyReply& r, OutputFormat format);
std::string RenderUnitHistory(const v1::UnitHistoryReply& r, OutputFormat format);
std::string RenderLog(const v1::LogReply& r, OutputFormat format);
std::string RenderReadiness(const v1::ReadinessReply& r, OutputFormat format);
std::string RenderRatings(const v1::RatingsReply& r, bool by_directive, OutputFormat format);
std::string RenderBurden(const v1::BurdenReply& r, bool by_tier, OutputFormat format);
std::string RenderVerify(const v1::VerifyReply& r, OutputFormat format);
// Per region: units answered of addressed, corrections, and per field the
// sum, min, max and count below the threshold (a quantity), the count of
// each choice, yes and no; the units listed below a threshold and missing.
std::string RenderReturns(const v1::ReturnsReply& r, OutputFormat format);
// Each broker of a pair as it answered (its endpoint, and its state or why
// it did not answer).
struct ClusterMember {
  std::string endpoint;
  Result<v1::ClusterReply> state;
};
std::string RenderCluster(const std::vector<ClusterMember>& members, OutputFormat format);

}  // namespace flatcast::audit
