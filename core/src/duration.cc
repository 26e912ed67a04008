#include "flatcast/duration.h"

#include <fmt/format.h>
#include <google/protobuf/util/time_util.h>

#include <charconv>
#include <cstdint>

namespace flatcast {

namespace {

using std::chrono::milliseconds;

struct UnitSpec {
  std::string_view suffix;
  int64_t millis;
};

// "ms" comes before "m" so that the longer suffix wins.
constexpr UnitSpec kUnits[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000},
};

// Durations are added to system_clock time points, which count nanoseconds in
// an int64; anything longer (about 292 years) would overflow there.
constexpr int64_t kMaxMillis =
    std::chrono::duration_cast<milliseconds>(std::chrono::nanoseconds::max()).count();

// Timestamps span years 1 to 9999; system_clock time points only about 1678
// to 2262.
constexpr int64_t kMinSeconds =
    std::chrono::duration_cast<std::chrono::seconds>(TimePoint::duration::min()).count() + 1;
constexpr int64_t kMaxSeconds =
    std::chrono::duration_cast<std::chrono::seconds>(TimePoint::duration::max()).count() - 1;

constexpr int64_t kNanosPerSecond = 1'000'000'000;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

}  // namespace

Result<milliseconds> ParseDuration(std::string_view text) {
  auto fail = [&](std::string_view why) {
    return Status::InvalidArgument(fmt::format("invalid duration \"{}\": {}", text, why));
  };
  if (text.empty()) return Status::InvalidArgument("empty duration (write e.g. 90s, 15m or 12h)");
  if (text.front() == '-') return fail("durations cannot be negative");
  if (text.front() == '+') return fail("write the duration without a sign");

  int64_t total = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t digits_end = pos;
    while (digits_end < text.size() && IsDigit(text[digits_end])) ++digits_end;
    if (digits_end == pos) {
      return fail(fmt::format("expected a number at \"{}\"", text.substr(pos)));
    }
    if (digits_end < text.size() && (text[digits_end] == '.' || text[digits_end] == ',')) {
      return fail("fractions are not supported (write 1h30m rather than 1.5h)");
    }
    size_t unit_end = digits_end;
    while (unit_end < text.size() && IsLetter(text[unit_end])) ++unit_end;
    std::string_view number = text.substr(pos, digits_end - pos);
    std::string_view suffix = text.substr(digits_end, unit_end - digits_end);
    if (suffix.empty()) {
      if (digits_end == text.size()) {
        return fail(fmt::format("{} has no unit (use ms, s, m, h or d, e.g. {}s)", number, number));
      }
      return fail(fmt::format("unexpected \"{}\" after {}", text.substr(digits_end, 1), number));
    }
    const UnitSpec* unit = nullptr;
    for (const UnitSpec& candidate : kUnits) {
      if (candidate.suffix == suffix) unit = &candidate;
    }
    if (unit == nullptr) {
      return fail(fmt::format("unknown unit \"{}\" (use ms, s, m, h or d)", suffix));
    }
    int64_t value = 0;
    auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
    int64_t part = 0;
    if (error == std::errc::result_out_of_range ||
        __builtin_mul_overflow(value, unit->millis, &part) ||
        __builtin_add_overflow(total, part, &total) || total > kMaxMillis) {
      return fail("too large (the limit is about 292 years)");
    }
    pos = unit_end;
  }
  return milliseconds(total);
}

std::string FormatDuration(milliseconds d) {
  int64_t ms = d.count();
  if (ms < 0) {
    // -(INT64_MIN) does not exist; such a value is no duration anyone wrote.
    if (ms == INT64_MIN) return fmt::format("{}ms", ms);
    return "-" + FormatDuration(milliseconds(-ms));
  }
  if (ms == 0) return "0s";
  // Whole minutes read best split into days, hours and minutes ("1h30m");
  // anything finer is given in a single unit ("90s", "1500ms"), which is how
  // people write short timeouts.
  if (ms % 60'000 == 0) {
    std::string out;
    int64_t rest = ms;
    for (auto [suffix, unit] :
         {std::pair{"d", 86'400'000LL}, std::pair{"h", 3'600'000LL}, std::pair{"m", 60'000LL}}) {
      if (rest >= unit) {
        out += fmt::format("{}{}", rest / unit, suffix);
        rest %= unit;
      }
    }
    return out;
  }
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

Result<TimePoint> ParseTime(std::string_view text) {
  google::protobuf::Timestamp ts;
  if (!google::protobuf::util::TimeUtil::FromString(std::string(text), &ts)) {
    return Status::InvalidArgument(
        fmt::format("invalid time \"{}\" (expected RFC 3339, e.g. 2026-11-28T09:30:00Z or "
                    "2026-11-28T17:30:00+08:00)",
                    text));
  }
  if (ts.seconds() < kEarliestInputSeconds || ts.seconds() > kMaxSeconds) {
    return Status::InvalidArgument(fmt::format(
        "time \"{}\" is out of range (from 1970-01-01T00:00:00Z to 2262-04-11T23:47:16Z)", text));
  }
  return FromTimestamp(ts);
}

std::string FormatTime(TimePoint t) {
  return google::protobuf::util::TimeUtil::ToString(ToTimestamp(t));
}

std::string FormatTimeSeconds(TimePoint t) {
  google::protobuf::Timestamp ts = ToTimestamp(t);  // seconds floored, nanos in [0, 1e9)
  ts.set_nanos(0);
  return google::protobuf::util::TimeUtil::ToString(ts);
}

Status CheckInputTime(const google::protobuf::Timestamp& ts, std::string_view field) {
  if (ts.nanos() < 0 || ts.nanos() >= kNanosPerSecond) {
    return Status::InvalidArgument(
        fmt::format("{}: nanos {} is outside 0 to 999999999", field, ts.nanos()));
  }
  if (ts.seconds() < kEarliestInputSeconds || ts.seconds() > kLatestInputSeconds) {
    return Status::InvalidArgument(fmt::format(
        "{}: {} seconds since 1970 is outside 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z", field,
        ts.seconds()));
  }
  return Status::Ok();
}

TimePoint AddSaturating(TimePoint t, milliseconds d) {
  using Nanos = TimePoint::duration;
  int64_t add = 0;
  if (__builtin_mul_overflow(d.count(), int64_t{1'000'000}, &add)) {
    return d.count() > 0 ? TimePoint::max() : TimePoint::min();
  }
  int64_t sum = 0;
  if (__builtin_add_overflow(std::chrono::duration_cast<Nanos>(t.time_since_epoch()).count(), add,
                             &sum)) {
    return add > 0 ? TimePoint::max() : TimePoint::min();
  }
  return TimePoint(Nanos(sum));
}

std::chrono::nanoseconds DifferenceSaturating(TimePoint a, TimePoint b) {
  using Nanos = std::chrono::nanoseconds;
  int64_t diff = 0;
  const int64_t x = std::chrono::duration_cast<Nanos>(a.time_since_epoch()).count();
  const int64_t y = std::chrono::duration_cast<Nanos>(b.time_since_epoch()).count();
  if (__builtin_sub_overflow(x, y, &diff)) return x > y ? Nanos::max() : Nanos::min();
  return Nanos(diff);
}

google::protobuf::Timestamp ToTimestamp(TimePoint t) {
  // Split in integers, not chrono: converting the floored seconds back to
  // nanoseconds overflows for times near TimePoint::min().
  const int64_t since_epoch =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  int64_t seconds = since_epoch / kNanosPerSecond;
  int64_t nanos = since_epoch % kNanosPerSecond;
  // Floored, not truncated: nanos must be in [0, 1e9) also before 1970.
  if (nanos < 0) {
    nanos += kNanosPerSecond;
    seconds -= 1;
  }
  google::protobuf::Timestamp ts;
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(nanos));
  return ts;
}

Status CheckStoredTime(const google::protobuf::Timestamp& ts, std::string_view field) {
  if (ts.seconds() < kEarliestInputSeconds || ts.seconds() > kMaxSeconds || ts.nanos() < 0 ||
      ts.nanos() >= kNanosPerSecond) {
    return Status::InvalidArgument(
        fmt::format("{} is out of range (from 1970-01-01T00:00:00Z to 2262-04-11T23:47:16Z)",
                    field));
  }
  return Status::Ok();
}

TimePoint FromTimestamp(const google::protobuf::Timestamp& ts) {
  // Bytes from the wire may hold any seconds and nanos values; saturate rather than overflow.
  int64_t seconds = ts.seconds();
  if (seconds < kMinSeconds) return TimePoint::min();
  if (seconds > kMaxSeconds) return TimePoint::max();
  // A valid Timestamp has nanos in [0, 1e9); carry anything else into the seconds.
  int64_t nanos = ts.nanos();
  seconds += nanos / kNanosPerSecond;
  nanos %= kNanosPerSecond;
  if (nanos < 0) {
    nanos += kNanosPerSecond;
    seconds -= 1;
  }
  if (seconds < kMinSeconds) return TimePoint::min();
  if (seconds > kMaxSeconds) return TimePoint::max();
  auto since_epoch = std::chrono::seconds(seconds) + std::chrono::nanoseconds(nanos);
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(since_epoch));
}

}  // namespace flatcast
