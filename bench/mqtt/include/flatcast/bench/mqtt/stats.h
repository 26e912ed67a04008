// Latency summaries (nearest-rank percentiles).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace flatcast::bench::mqtt {

struct LatencySummary {
  size_t count = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
};

// Nearest-rank percentile of sorted values: the value at rank ceil(p/100 * n).
int64_t NearestRank(const std::vector<int64_t>& sorted, double percentile);

// Summarises latencies given in microseconds (sorts its argument).
LatencySummary Summarize(std::vector<int64_t> micros);

nlohmann::json ToJson(const LatencySummary& summary);

}  // namespace flatcast::bench::mqtt
