#include "flatcast/bench/mqtt/stats.h"

#include <algorithm>
#include <cmath>

namespace flatcast::bench::mqtt {

int64_t NearestRank(const std::vector<int64_t>& sorted, double percentile) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<size_t>(std::ceil(percentile / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

LatencySummary Summarize(std::vector<int64_t> micros) {
  LatencySummary summary;
  summary.count = micros.size();
  if (micros.empty()) return summary;
  std::sort(micros.begin(), micros.end());
  summary.p50_ms = static_cast<double>(NearestRank(micros, 50)) / 1000.0;
  summary.p99_ms = static_cast<double>(NearestRank(micros, 99)) / 1000.0;
  summary.max_ms = static_cast<double>(micros.back()) / 1000.0;
  return summary;
}

nlohmann::json ToJson(const LatencySummary& summary) {
  return {{"count", summary.count},
          {"p50", summary.p50_ms},
          {"p99", summary.p99_ms},
          {"max", summary.max_ms}};
}

}  // namespace flatcast::bench::mqtt
