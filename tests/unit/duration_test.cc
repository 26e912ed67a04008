#include "flatcast/duration.h"

#include "flatcast/directive.h"
#include "flatcast/public_view.h"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

namespace flatcast {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

milliseconds ParseOk(std::string_view text) {
  Result<milliseconds> d = ParseDuration(text);
  EXPECT_TRUE(d.ok()) << text << ": " << d.status().ToString();
  return d.ok() ? *d : milliseconds(-1);
}

std::string ParseError(std::string_view text) {
  Result<milliseconds> d = ParseDuration(text);
  EXPECT_FALSE(d.ok()) << text << " parsed as " << (d.ok() ? d->count() : 0) << " ms";
  EXPECT_EQ(d.status().code(), Status::Code::kInvalidArgument);
  return d.status().message();
}

TEST(ParseDuration, ReadsEachUnit) {
  EXPECT_EQ(ParseOk("500ms"), milliseconds(500));
  EXPECT_EQ(ParseOk("90s"), seconds(90));
  EXPECT_EQ(ParseOk("15m"), minutes(15));
  EXPECT_EQ(ParseOk("12h"), hours(12));
  EXPECT_EQ(ParseOk("2d"), hours(48));
  EXPECT_EQ(ParseOk("0s"), milliseconds(0));
}

TEST(ParseDuration, AddsUpSums) {
  EXPECT_EQ(ParseOk("1h30m"), minutes(90));
  EXPECT_EQ(ParseOk("1d2h3m4s5ms"), hours(26) + minutes(3) + seconds(4) + milliseconds(5));
  EXPECT_EQ(ParseOk("1m1ms"), milliseconds(60'001));
}

TEST(ParseDuration, RefusesEmptyText) {
  EXPECT_NE(ParseError("").find("empty"), std::string::npos);
}

TEST(ParseDuration, RefusesBareNumbers) {
  EXPECT_NE(ParseError("90").find("no unit"), std::string::npos);
  EXPECT_NE(ParseError("0").find("no unit"), std::string::npos);
  EXPECT_NE(ParseError("1h30").find("30 has no unit"), std::string::npos);
}

TEST(ParseDuration, RefusesNegatives) {
  EXPECT_NE(ParseError("-5s").find("negative"), std::string::npos);
}

TEST(ParseDuration, RefusesUnknownUnits) {
  std::string message = ParseError("5x");
  EXPECT_NE(message.find("unknown unit \"x\""), std::string::npos) << message;
  EXPECT_NE(ParseError("3 weeks").find("unexpected"), std::string::npos);
  EXPECT_NE(ParseError("10sec").find("unknown unit \"sec\""), std::string::npos);
}

TEST(ParseDuration, RefusesMissingNumbers) {
  EXPECT_NE(ParseError("h").find("expected a number"), std::string::npos);
  EXPECT_NE(ParseError("1h m").find("expected a number"), std::string::npos);
}

TEST(ParseDuration, RefusesFractions) {
  EXPECT_NE(ParseError("1.5h").find("fractions"), std::string::npos);
}

TEST(ParseDuration, RefusesOverflow) {
  EXPECT_NE(ParseError("99999999999999999999s").find("too large"), std::string::npos);
  EXPECT_NE(ParseError("9223372036854775807d").find("too large"), std::string::npos);
  EXPECT_NE(ParseError("200000d").find("too large"), std::string::npos);
  EXPECT_EQ(ParseOk("100000d"), hours(24 * 100000));
}

TEST(ParseDuration, NamesTheTextInItsMessage) {
  EXPECT_NE(ParseError("7y").find("\"7y\""), std::string::npos);
}

TEST(FormatDuration, SplitsWholeMinutesIntoDaysHoursAndMinutes) {
  EXPECT_EQ(FormatDuration(hours(12)), "12h");
  EXPECT_EQ(FormatDuration(minutes(90)), "1h30m");
  EXPECT_EQ(FormatDuration(hours(48)), "2d");
  EXPECT_EQ(FormatDuration(hours(26) + minutes(1)), "1d2h1m");
}

TEST(FormatDuration, GivesFinerValuesInOneUnit) {
  EXPECT_EQ(FormatDuration(seconds(90)), "90s");
  EXPECT_EQ(FormatDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(seconds(-5)), "-5s");
}

TEST(FormatDuration, ParsesBackToTheSameValue) {
  for (milliseconds d :
       std::vector<milliseconds>{milliseconds(1), milliseconds(999), milliseconds(61'001),
                                 minutes(61), hours(24 * 365), seconds(86'399)}) {
    EXPECT_EQ(ParseOk(FormatDuration(d)), d) << FormatDuration(d);
  }
}

TEST(ParseTime, ReadsUtcAndOffsets) {
  Result<TimePoint> utc = ParseTime("2026-11-28T09:30:00Z");
  ASSERT_TRUE(utc.ok()) << utc.status().ToString();
  Result<TimePoint> beijing = ParseTime("2026-11-28T17:30:00+08:00");
  ASSERT_TRUE(beijing.ok()) << beijing.status().ToString();
  EXPECT_EQ(*utc, *beijing);
  EXPECT_EQ(FormatTime(*beijing), "2026-11-28T09:30:00Z");
}

TEST(ParseTime, KeepsFractions) {
  Result<TimePoint> t = ParseTime("2026-11-28T09:30:00.250Z");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(FormatTime(*t), "2026-11-28T09:30:00.250Z");
}

TEST(ParseTime, RefusesOtherFormats) {
  for (std::string_view text : {"", "2026-11-28", "2026-11-28 09:30:00", "2026-11-28T09:30:00",
                                "yesterday", "2026-13-01T00:00:00Z"}) {
    Result<TimePoint> t = ParseTime(text);
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_NE(t.status().message().find("RFC 3339"), std::string::npos);
  }
}

TEST(ParseTime, RefusesTimesBeyondTheClockRangeAndBefore1970) {
  for (std::string_view text : {"9999-01-01T00:00:00Z", "1969-12-31T23:59:59Z"}) {
    Result<TimePoint> t = ParseTime(text);
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_NE(t.status().message().find("out of range (from 1970"), std::string::npos);
  }
  EXPECT_TRUE(ParseTime("1970-01-01T00:00:00Z").ok());
}

TEST(SaturatingTime, SumsAndDifferencesStopAtTheEndsInsteadOfOverflowing) {
  const TimePoint t = ParseTime("2026-11-28T09:30:00Z").value();
  EXPECT_EQ(AddSaturating(t, std::chrono::milliseconds::max()), TimePoint::max());
  EXPECT_EQ(AddSaturating(TimePoint::max(), std::chrono::milliseconds(1'000'000)), TimePoint::max());
  EXPECT_EQ(AddSaturating(TimePoint::min(), std::chrono::milliseconds(-1)), TimePoint::min());
  EXPECT_EQ(AddSaturating(t, std::chrono::hours(2)), t + std::chrono::hours(2));
  EXPECT_EQ(DifferenceSaturating(t, TimePoint::min()), std::chrono::nanoseconds::max());
  EXPECT_EQ(DifferenceSaturating(TimePoint::min(), t), std::chrono::nanoseconds::min());
  EXPECT_EQ(DifferenceSaturating(t + std::chrono::seconds(3), t), std::chrono::seconds(3));
}

TEST(CheckInputTime, RefusesTimesOutside1970To9999AndBadNanosNamingTheField) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(-1);
  Status st = CheckInputTime(ts, "deadlines[0].at");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("deadlines[0].at"), std::string::npos);
  EXPECT_NE(st.message().find("9999-12-31T23:59:59Z"), std::string::npos);
  ts.set_seconds(kLatestInputSeconds + 1);
  EXPECT_FALSE(CheckInputTime(ts, "x").ok());
  ts.set_seconds(kLatestInputSeconds);
  EXPECT_TRUE(CheckInputTime(ts, "x").ok());
  ts.set_nanos(1'000'000'000);
  EXPECT_NE(CheckInputTime(ts, "x").message().find("nanos"), std::string::npos);
}

TEST(Timestamp, RoundTripsAcrossTheEpoch) {
  for (auto since_epoch :
       {std::chrono::nanoseconds(0), std::chrono::nanoseconds(1'500'000'001),
        std::chrono::nanoseconds(-1), std::chrono::nanoseconds(-2'500'000'000)}) {
    TimePoint t(std::chrono::duration_cast<TimePoint::duration>(since_epoch));
    google::protobuf::Timestamp ts = ToTimestamp(t);
    EXPECT_GE(ts.nanos(), 0);
    EXPECT_LT(ts.nanos(), 1'000'000'000);
    EXPECT_EQ(FromTimestamp(ts), t);
  }
}

TEST(Timestamp, SaturatesOutOfRangeValues) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(253402300799);  // 9999-12-31T23:59:59Z
  EXPECT_EQ(FromTimestamp(ts), TimePoint::max());
  ts.set_seconds(-62135596800);  // 0001-01-01T00:00:00Z
  EXPECT_EQ(FromTimestamp(ts), TimePoint::min());
}

}  // namespace
TEST(Times, SaturatedTimesFormatWithoutOverflow) {
  google::protobuf::Timestamp year_1000;
  year_1000.set_seconds(-30610224000);
  google::protobuf::Timestamp year_9000;
  year_9000.set_seconds(221845392000);
  EXPECT_EQ(FormatTimeSeconds(FromTimestamp(year_1000)), "1677-09-21T00:12:43Z");
  EXPECT_EQ(FormatTimeSeconds(FromTimestamp(year_9000)), "2262-04-11T23:47:16Z");
  EXPECT_EQ(ToTimestamp(TimePoint::min()).seconds(), -9223372037);
  EXPECT_EQ(ToTimestamp(TimePoint::min()).nanos(), 145224192);
  EXPECT_EQ(CapTime(FromTimestamp(year_1000)), "1677-09-21T00:12:43-00:00");
}

TEST(Times, OutOfRangeNanosCarryWithoutOverflow) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(9223372035);
  ts.set_nanos(2147483647);
  EXPECT_EQ(FromTimestamp(ts), TimePoint::max());
  ts.set_seconds(100);
  ts.set_nanos(-1);
  EXPECT_EQ(FromTimestamp(ts).time_since_epoch(), std::chrono::nanoseconds(99'999'999'999));
}

TEST(Times, DirectiveWithAPublicReleaseBefore1678RendersAsText) {
  v1::StoredDirective stored;
  stored.mutable_directive()->set_is_public(true);
  stored.mutable_directive()->mutable_public_release()->set_seconds(-30610224000);
  EXPECT_NE(RenderDirectiveText(stored).find("1677-09-21T00:12:43Z"), std::string::npos);
}

}  // namespace flatcast
