#include "flatcast/report.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "flatcast/directive.h"
#include "flatcast/duration.h"

namespace flatcast {

namespace {

double Percent(uint32_t part, uint32_t whole) { return whole == 0 ? 0.0 : 100.0 * part / whole; }

}  // namespace

std::string TierLabel(v1::Tier t, std::string_view unknown) {
  switch (t) {
    case v1::PROVINCE: return "province";
    case v1::CITY: return "city";
    case v1::DISTRICT: return "district";
    case v1::STREET: return "street";
    case v1::COMMUNITY: return "community";
    default: return std::string(unknown);
  }
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string ReceiptToJson(const v1::PublishReceipt& r) {
  nlohmann::json j = {{"id", r.id()},
                      {"seq", r.seq()},
                      {"addressed_units", r.addressed_units()},
                      {"duplicate", r.duplicate()},
                      {"sent", FormatTime(FromTimestamp(r.sent()))}};
  return j.dump(2);
}

std::string ReceiptToText(const v1::PublishReceipt& r) {
  return fmt::format("published {} (seq {}, sent {}) to {} units{}\n", r.id(), r.seq(),
                     FormatTime(FromTimestamp(r.sent())), r.addressed_units(),
                     r.duplicate() ? " [already published: same idempotency key]" : "");
}

namespace {

nlohmann::json PublicRecordJson(const v1::PublicRecord& r) {
  nlohmann::json j = {{"state", v1::PublicRecord::State_Name(r.state())}};
  if (r.has_release_at()) j["release_at"] = FormatTime(FromTimestamp(r.release_at()));
  if (r.has_released_at()) {
    j["released_at"] = FormatTime(FromTimestamp(r.released_at()));
    j["late_by_ms"] = r.late_by_ms();
    j["public_id"] = r.public_id();
  }
  if (r.has_cancelled_at()) j["cancelled_at"] = FormatTime(FromTimestamp(r.cancelled_at()));
  return j;
}

std::string OptionalTime(bool has, const google::protobuf::Timestamp& t) {
  return has ? FormatTime(FromTimestamp(t)) : "";
}

}  // namespace

std::string LifecycleReplyToJson(const v1::LifecycleReply& r) {
  nlohmann::json j = {{"id", r.directive_id()},
                      {"version", r.version()},
                      {"seq", r.seq()},
                      {"public", PublicRecordJson(r.public_record())}};
  return j.dump(2) + "\n";
}

std::string LifecycleReplyToText(const v1::LifecycleReply& r) {
  const auto& p = r.public_record();
  std::string out = fmt::format("{} is now version {} (seq {}), {}", r.directive_id(), r.version(),
                                r.seq(), v1::PublicRecord::State_Name(p.state()));
  if (p.state() == v1::PublicRecord::HELD) {
    out += ", public at " + FormatTime(FromTimestamp(p.release_at()));
  }
  return out + "\n";
}

std::string RenderEvents(const v1::EventsReply& r, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& e : r.events()) {
      list.push_back({{"event_seq", e.event_seq()},
                      {"kind", v1::LifecycleEvent::Kind_Name(e.kind())},
                      {"directive_id", e.directive_id()},
                      {"version", e.version()},
                      {"at", FormatTime(FromTimestamp(e.at()))},
                      {"publisher", e.publisher()},
                      {"reason", e.reason()},
                      {"release_at", OptionalTime(e.has_release_at(), e.release_at())},
                      {"late_by_ms", e.late_by_ms()},
                      {"lead_ms", e.lead_ms()}});
      if (e.kind() == v1::LifecycleEvent::STATUS_CHANGED) {
        list.back()["status_from"] = std::string(StatusName(e.status_from()));
        list.back()["status_to"] = std::string(StatusName(e.status_to()));
      }
    }
    return nlohmann::json{{"events", list}}.dump(2) + "\n";
  }
  std::string out;
  if (format == OutputFormat::kCsv) {
    out = "event_seq,kind,directive_id,version,at,publisher,release_at,late_by_ms,lead_ms,reason\n";
    for (const auto& e : r.events()) {
      out += fmt::format("{},{},{},{},{},{},{},{},{},{}\n", e.event_seq(),
                         v1::LifecycleEvent::Kind_Name(e.kind()), e.directive_id(), e.version(),
                         FormatTime(FromTimestamp(e.at())), CsvField(e.publisher()),
                         OptionalTime(e.has_release_at(), e.release_at()), e.late_by_ms(),
                         e.lead_ms(), CsvField(e.reason()));
    }
    return out;
  }
  for (const auto& e : r.events()) {
    out += fmt::format("{:>5}  {}  {:<20} {} v{}", e.event_seq(), FormatTime(FromTimestamp(e.at())),
                       v1::LifecycleEvent::Kind_Name(e.kind()), e.directive_id(), e.version());
    if (!e.publisher().empty()) out += "  by " + e.publisher();
    if (e.has_release_at()) out += "  release " + FormatTime(FromTimestamp(e.release_at()));
    if (e.late_by_ms() > 0) out += fmt::format("  late by {} ms", e.late_by_ms());
    if (e.lead_ms() > 0) out += "  lead " + FormatDuration(std::chrono::milliseconds(e.lead_ms()));
    if (e.kind() == v1::LifecycleEvent::STATUS_CHANGED) {
      out += fmt::format("  {} -> {}", StatusName(e.status_from()), StatusName(e.status_to()));
    }
    if (!e.reason().empty()) out += "  reason: " + e.reason();
    out += "\n";
  }
  return out;
}

std::string RenderCoverage(const v1::CoverageReply& r, OutputFormat format) {
  const auto& d = r.directive().directive();
  std::string region = r.region().empty() ? "all" : r.region();
  if (format == OutputFormat::kJson) {
    nlohmann::json tiers = nlohmann::json::array();
    for (const auto& t : r.tiers()) {
      tiers.push_back({{"tier", TierLabel(t.tier())},
                       {"addressed", t.addressed()},
                       {"acknowledged", t.acknowledged()},
                       {"percent", Percent(t.acknowledged(), t.addressed())}});
    }
    nlohmann::json missing = nlohmann::json::array();
    for (int i = 0; i < r.missing_size(); ++i) {
      missing.push_back({{"code", r.missing(i)},
                         {"name", i < r.missing_names_size() ? r.missing_names(i) : ""}});
    }
    // In milliseconds before subtracting: times from the wire may be as far
    // apart as TimePoint::min() and max(), whose difference overflows.
    auto millis = [](const google::protobuf::Timestamp& t) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          FromTimestamp(t).time_since_epoch());
    };
    const int64_t last_ack_after_ms =
        r.has_last_ack_stored() ? (millis(r.last_ack_stored()) - millis(d.sent())).count() : 0;
    nlohmann::json j = {{"id", d.id()},
                        {"version", d.version()},
                        {"seq", r.directive().seq()},
                        {"title", d.title()},
                        {"sent", FormatTime(FromTimestamp(d.sent()))},
                        {"region", region},
                        {"addressed", r.addressed()},
                        {"acknowledged", r.acknowledged()},
                        {"percent", Percent(r.acknowledged(), r.addressed())},
                        {"connected_now", r.connected_now()},
                        {"last_ack_stored", r.has_last_ack_stored()
                                                ? FormatTime(FromTimestamp(r.last_ack_stored()))
                                                : ""},
                        {"last_ack_after_ms", last_ack_after_ms},
                        {"tiers", tiers},
                        {"missing_total", r.missing_total()},
                        {"missing", missing}};
    return j.dump(2) + "\n";
  }
  if (format == OutputFormat::kCsv) {
    std::string out = "directive,region,tier,addressed,acknowledged,percent\n";
    for (const auto& t : r.tiers()) {
      out += fmt::format("{},{},{},{},{},{:.1f}\n", d.id(), region, TierLabel(t.tier()),
                         t.addressed(), t.acknowledged(), Percent(t.acknowledged(), t.addressed()));
    }
    out += fmt::format("{},{},total,{},{},{:.1f}\n", d.id(), region, r.addressed(),
                       r.acknowledged(), Percent(r.acknowledged(), r.addressed()));
    if (r.missing_size() > 0) {
      out += "\nmissing_code,missing_name\n";
      for (int i = 0; i < r.missing_size(); ++i) {
        out += r.missing(i) + "," +
               CsvField(i < r.missing_names_size() ? r.missing_names(i) : "") + "\n";
      }
    }
    return out;
  }
  std::string out = fmt::format("{} v{}  \"{}\"\nseq {}, sent {}, region {}\n\n", d.id(),
                                d.version(), d.title(), r.directive().seq(),
                                FormatTime(FromTimestamp(d.sent())), region);
  out += fmt::format("{:<10} {:>10} {:>13} {:>8}\n", "tier", "addressed", "acknowledged", "percent");
  for (const auto& t : r.tiers()) {
    out += fmt::format("{:<10} {:>10} {:>13} {:>7.1f}%\n", TierLabel(t.tier()), t.addressed(),
                       t.acknowledged(), Percent(t.acknowledged(), t.addressed()));
  }
  out += fmt::format("{:<10} {:>10} {:>13} {:>7.1f}%\n", "total", r.addressed(), r.acknowledged(),
                     Percent(r.acknowledged(), r.addressed()));
  out += fmt::format("\nconnected now: {} of {}\n", r.connected_now(), r.addressed());
  out += fmt::format("not acknowledged: {}\n", r.missing_total());
  for (int i = 0; i < r.missing_size(); ++i) {
    out += fmt::format("  {}  {}\n", r.missing(i),
                       i < r.missing_names_size() ? r.missing_names(i) : "");
  }
  if (static_cast<uint32_t>(r.missing_size()) < r.missing_total()) {
    out += fmt::format("  ... and {} more (raise --missing-limit)\n",
                       r.missing_total() - r.missing_size());
  }
  return out;
}

}  // namespace flatcast
