// Durations and times as people write them in configs and on command lines.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <google/protobuf/timestamp.pb.h>

#include "flatcast/clock.h"
#include "flatcast/status.h"

namespace flatcast {

// "90s", "15m", "12h", "2d", "500ms", or a sum such as "1h30m". A bare number
// is refused: the unit must be stated.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);
// "12h", "1h30m", "2d", "90s", "250ms": whole minutes are split into d, h
// and m; anything finer is given in seconds or milliseconds alone. The result
// parses back to the same value with ParseDuration.
std::string FormatDuration(std::chrono::milliseconds d);

// RFC 3339 UTC, e.g. "2026-11-28T09:30:00Z" (fractions and offsets accepted).
Result<TimePoint> ParseTime(std::string_view text);
std::string FormatTime(TimePoint t);
// As FormatTime, rounded down to the whole second ("2026-11-28T09:30:00Z").
// Safe for every TimePoint, including the saturated min() and max().
std::string FormatTimeSeconds(TimePoint t);

google::protobuf::Timestamp ToTimestamp(TimePoint t);
// Saturates at TimePoint::min()/max() for timestamps beyond what a TimePoint holds.
TimePoint FromTimestamp(const google::protobuf::Timestamp& ts);

}  // namespace flatcast
