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

// RFC 3339 UTC, e.g. "2026-11-28T09:30:00Z" (fractions and offsets accepted),
// from 1970 to 2262-04-11 (what a TimePoint holds).
Result<TimePoint> ParseTime(std::string_view text);
std::string FormatTime(TimePoint t);
// As FormatTime, rounded down to the whole second ("2026-11-28T09:30:00Z").
// Safe for every TimePoint, including the saturated min() and max().
std::string FormatTimeSeconds(TimePoint t);

// ---- limits on what comes from input (docs/PROTOCOL.md, "Limits") ----

// A time from input lies from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z
// (RFC 3339's range). The broker computes with times to 2262-04-11 (what a
// nanosecond TimePoint holds); later ones saturate there.
inline constexpr int64_t kEarliestInputSeconds = 0;
inline constexpr int64_t kLatestInputSeconds = 253'402'300'799;
// A deadline falls at most this long after the directive is sent, and a
// public release or a deadline's time at most this long after now.
inline constexpr std::chrono::milliseconds kMaxAheadOfNow{366LL * 24 * 3600 * 1000};

// InvalidArgument naming `field` ("deadlines[0].at") when `ts` lies outside
// the input range or its nanos outside [0, 1e9).
Status CheckInputTime(const google::protobuf::Timestamp& ts, std::string_view field);

// InvalidArgument naming `field` when `ts` lies outside what ParseTime
// accepts (1970-01-01T00:00:00Z to 2262-04-11T23:47:16Z, what a TimePoint
// holds) or its nanos outside [0, 1e9): for times a file stores in binary
// form that must mean the same as in its text form.
Status CheckStoredTime(const google::protobuf::Timestamp& ts, std::string_view field);

// t + d and a - b without overflow: they saturate at the ends of the
// range. Every sum or difference of a time that came from input goes
// through one of these.
TimePoint AddSaturating(TimePoint t, std::chrono::milliseconds d);
std::chrono::nanoseconds DifferenceSaturating(TimePoint a, TimePoint b);

google::protobuf::Timestamp ToTimestamp(TimePoint t);
// Saturates at TimePoint::min()/max() for timestamps beyond what a TimePoint holds.
TimePoint FromTimestamp(const google::protobuf::Timestamp& ts);

}  // namespace flatcast
