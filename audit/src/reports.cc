#include "flatcast/audit/reports.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "flatcast/signing.h"
#include "flatcast/report.h"

namespace flatcast::audit {

namespace {

using nlohmann::json;

std::string TierName(v1::Tier t) { return TierLabel(t, ""); }

std::string LevelName(v1::AckLevel l) {
  switch (l) {
    case v1::RECEIVED: return "received";
    case v1::CONFIRMED: return "confirmed";
    case v1::READY: return "ready";
    default: return "";
  }
}

double Percent(uint32_t part, uint32_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}
double Round1(double v) { return static_cast<double>(static_cast<int64_t>(v * 10.0 + 0.5)) / 10.0; }

std::string Time(const google::protobuf::Timestamp& t) {
  return FormatTimeSeconds(FromTimestamp(t));
}
std::string TimeOr(bool has, const google::protobuf::Timestamp& t) { return has ? Time(t) : ""; }

std::string Text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_number_float()) return fmt::format("{:.1f}", v.get<double>());
  return v.dump();
}

// Columns of a report; a cell is a JSON value, shown as text in tables and
// CSV. `about` is the report's header: lines above a table, fields beside
// "rows" in JSON.
struct Table {
  std::vector<std::string> columns;
  std::vector<bool> right;  // right-aligned (numbers) per column
  std::vector<std::vector<json>> rows;
  json about = json::object();
  std::vector<std::string> heading;  // table format only
  std::vector<std::string> footing;  // table format only

  void Column(std::string name, bool numeric = false) {
    columns.push_back(std::move(name));
    right.push_back(numeric);
  }

  std::string Render(OutputFormat format) const {
    if (format == OutputFormat::kJson) {
      json out = about;
      json list = json::array();
      for (const auto& row : rows) {
        json item = json::object();
        for (size_t i = 0; i < columns.size() && i < row.size(); ++i) item[columns[i]] = row[i];
        list.push_back(std::move(item));
      }
      out["rows"] = std::move(list);
      return out.dump(2) + "\n";
    }
    std::string out;
    if (format == OutputFormat::kCsv) {
      for (size_t i = 0; i < columns.size(); ++i) out += (i ? "," : "") + columns[i];
      out += "\n";
      for (const auto& row : rows) {
        for (size_t i = 0; i < row.size(); ++i) out += (i ? "," : "") + CsvField(Text(row[i]));
        out += "\n";
      }
      return out;
    }
    for (const std::string& line : heading) out += line + "\n";
    if (!heading.empty()) out += "\n";
    std::vector<size_t> width(columns.size());
    std::vector<std::vector<std::string>> cells;
    for (size_t i = 0; i < columns.size(); ++i) width[i] = columns[i].size();
    for (const auto& row : rows) {
      std::vector<std::string> line;
      for (size_t i = 0; i < row.size(); ++i) {
        line.push_back(Text(row[i]));
        // Wide characters (names) come last, so a byte count is good enough.
        if (i + 1 < columns.size()) width[i] = std::max(width[i], line.back().size());
      }
      cells.push_back(std::move(line));
    }
    auto emit = [&](const std::vector<std::string>& line) {
      std::string text;
      for (size_t i = 0; i < line.size(); ++i) {
        if (i > 0) text += "  ";
        if (i + 1 == line.size()) {
          text += line[i];
        } else if (right[i]) {
          text += fmt::format("{:>{}}", line[i], width[i]);
        } else {
          text += fmt::format("{:<{}}", line[i], width[i]);
        }
      }
      while (!text.empty() && text.back() == ' ') text.pop_back();
      out += text + "\n";
    };
    std::vector<std::string> header;
    for (const std::string& c : columns) {
      std::string upper = c;
      for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      header.push_back(upper);
    }
    emit(header);
    for (const auto& line : cells) emit(line);
    if (rows.empty()) out += "(none)\n";
    for (const std::string& line : footing) out += line + "\n";
    return out;
  }
};

json DirectiveAbout(const v1::StoredDirective& s) {
  const v1::Directive& d = s.directive();
  return {{"id", d.id()},       {"version", d.version()}, {"seq", s.seq()},
          {"title", d.title()}, {"sent", Time(d.sent())}, {"department", d.issuer_department()},
          {"addressed_units", s.addressed_units()}};
}

std::string DirectiveLine(const v1::StoredDirective& s) {
  const v1::Directive& d = s.directive();
  return fmt::format("{} v{}  \"{}\"  (seq {}, {} {}, sent {})", d.id(), d.version(), d.title(),
                     s.seq(), d.issuer_unit(), d.issuer_department(), Time(d.sent()));
}

// Count and percent columns of the three levels.
void LevelColumns(Table& t) {
  t.Column("addressed", true);
  for (const char* level : {"received", "confirmed", "ready"}) {
    t.Column(level, true);
    t.Column(std::string(level) + "_pct", true);
  }
}
void LevelCells(std::vector<json>& row, const v1::LevelCounts& c) {
  row.push_back(c.addressed());
  for (uint32_t n : {c.received(), c.confirmed(), c.ready()}) {
    row.push_back(n);
    row.push_back(Round1(Percent(n, c.addressed())));
  }
}

}  // namespace

std::string RenderRollup(const v1::RollupReply& r, OutputFormat format) {
  Table t;
  t.about["directive"] = DirectiveAbout(r.directive());
  json deadlines = json::array();
  std::string deadline_text;
  for (const v1::ResolvedDeadline& d : r.deadlines()) {
    deadlines.push_back({{"level", LevelName(d.level())},
                         {"deadline", Time(d.deadline())},
                         {"passed", d.passed()}});
    deadline_text += fmt::format("{}{} by {}{}", deadline_text.empty() ? "" : ", ",
                                 LevelName(d.level()), Time(d.deadline()),
                                 d.passed() ? " (passed)" : "");
  }
  t.about["deadlines"] = deadlines;
  t.heading.push_back(DirectiveLine(r.directive()));
  if (!deadline_text.empty()) t.heading.push_back("deadlines: " + deadline_text);
  t.Column("code");
  t.Column("tier");
  LevelColumns(t);
  t.Column("name");
  // A reply is input from the network: a tier outside the enum indents nothing.
  auto depth_of = [](v1::Tier tier) { return v1::Tier_IsValid(tier) ? static_cast<int>(tier) : 0; };
  int top = r.rows_size() > 0 ? depth_of(r.rows(0).tier()) : 0;
  for (const v1::RollupRow& row : r.rows()) {
    std::vector<json> cells;
    // Indented by depth below the first row in the table; plain in JSON/CSV.
    std::string code = row.code();
    if (format == OutputFormat::kTable) {
      code = std::string(2 * static_cast<size_t>(std::max(0, depth_of(row.tier()) - top)), ' ') + code;
    }
    cells.push_back(code);
    cells.push_back(TierName(row.tier()));
    LevelCells(cells, row.counts());
    cells.push_back(row.name());
    t.rows.push_back(std::move(cells));
  }
  return t.Render(format);
}

std::string RenderMissing(const v1::MissingReply& r, OutputFormat format) {
  Table t;
  t.about["directive"] = DirectiveAbout(r.directive());
  t.about["level"] = LevelName(r.level());
  t.about["total"] = r.total();
  if (r.has_deadline()) {
    t.about["deadline"] = Time(r.deadline());
    t.about["overdue"] = r.overdue();
  }
  t.heading.push_back(DirectiveLine(r.directive()));
  t.heading.push_back(fmt::format(
      "{} units without {}{}", r.total(), LevelName(r.level()),
      r.has_deadline() ? fmt::format(" (due {}{})", Time(r.deadline()), r.overdue() ? ", overdue" : "")
                       : ""));
  t.Column("code");
  t.Column("tier");
  t.Column("name");
  for (const v1::UnitRef& u : r.units()) t.rows.push_back({u.code(), TierName(u.tier()), u.name()});
  if (static_cast<uint32_t>(r.units_size()) + r.offset() < r.total()) {
    t.footing.push_back(fmt::format("... {} more (--all lists every one)",
                                    r.total() - r.offset() - r.units_size()));
  }
  return t.Render(format);
}

std::string RenderLatency(const v1::LatencyReply& r, OutputFormat format) {
  Table t;
  t.about["directive"] = DirectiveAbout(r.directive());
  t.heading.push_back(DirectiveLine(r.directive()));
  t.heading.push_back("time from sending to each level's durable acknowledgement (broker clock)");
  t.Column("level");
  t.Column("units", true);
  t.Column("addressed", true);
  t.Column("p50_ms", true);
  t.Column("p90_ms", true);
  t.Column("p99_ms", true);
  t.Column("max_ms", true);
  for (const v1::LevelLatency& l : r.levels()) {
    t.rows.push_back({LevelName(l.level()), l.count(), l.addressed(), l.p50_ms(), l.p90_ms(),
                      l.p99_ms(), l.max_ms()});
  }
  return t.Render(format);
}

std::string RenderUnitHistory(const v1::UnitHistoryReply& r, OutputFormat format) {
  Table t;
  t.about["unit"] = {{"code", r.unit().code()},
                     {"name", r.unit().name()},
                     {"tier", TierName(r.unit().tier())}};
  t.heading.push_back(fmt::format("{} {} ({}): {} directive versions", r.unit().code(),
                                  r.unit().name(), TierName(r.unit().tier()), r.rows_size()));
  t.Column("seq", true);
  t.Column("id");
  t.Column("version", true);
  t.Column("sent");
  t.Column("received");
  t.Column("confirmed");
  t.Column("ready");
  t.Column("rating");
  t.Column("department");
  t.Column("title");
  for (const v1::UnitHistoryRow& row : r.rows()) {
    std::string rating = row.has_rating() ? fmt::format("{}/{}", row.rating().clarity(),
                                                        row.rating().feasibility())
                                          : "";
    t.rows.push_back({row.seq(), row.directive_id(), row.version(), Time(row.sent()),
                      TimeOr(row.has_received(), row.received()),
                      TimeOr(row.has_confirmed(), row.confirmed()),
                      TimeOr(row.has_ready(), row.ready()), rating, row.issuer_department(),
                      row.title() + (row.superseded() ? " (superseded)" : "")});
    if (!row.ready_note().empty()) t.footing.push_back(fmt::format("  seq {} ready: {}", row.seq(), row.ready_note()));
    if (row.has_rating() && !row.rating().comment().empty()) {
      t.footing.push_back(fmt::format("  seq {} comment: {}", row.seq(), row.rating().comment()));
    }
  }
  if (!t.footing.empty()) t.footing.insert(t.footing.begin(), "");
  return t.Render(format);
}

std::string RenderLog(const v1::LogReply& r, OutputFormat format) {
  Table t;
  t.about["head_log_seq"] = r.head_log_seq();
  t.about["more"] = r.more();
  t.Column("log_seq", true);
  t.Column("at");
  t.Column("kind");
  t.Column("directive");
  t.Column("unit");
  t.Column("detail");
  for (const v1::LogRecord& rec : r.records()) {
    std::vector<json> row{rec.log_seq(), FormatTime(FromTimestamp(rec.at()))};
    switch (rec.entry_case()) {
      case v1::LogRecord::kAck: {
        const auto& a = rec.ack();
        row.push_back("ack");
        row.push_back(fmt::format("seq {}", a.seq()));
        row.push_back(a.unit_code());
        std::string detail = fmt::format("{} v{}", LevelName(a.level()), a.record().version());
        if (!a.record().note().empty()) detail += ": " + a.record().note();
        row.push_back(detail);
        break;
      }
      case v1::LogRecord::kRating: {
        const auto& g = rec.rating();
        row.push_back("rating");
        row.push_back(fmt::format("seq {}", g.seq()));
        row.push_back(g.unit_code());
        std::string detail = fmt::format("clarity {} feasibility {}", g.record().clarity(),
                                         g.record().feasibility());
        if (!g.record().comment().empty()) detail += ": " + g.record().comment();
        row.push_back(detail);
        break;
      }
      case v1::LogRecord::kReturnAnswer: {
        const auto& a = rec.return_answer();
        row.push_back("return");
        row.push_back(fmt::format("seq {}", a.seq()));
        row.push_back(a.unit_code());
        std::vector<std::string> values;
        for (const v1::FieldValue& v : a.record().values()) {
          switch (v.value_case()) {
            case v1::FieldValue::kQuantity: values.push_back(fmt::format("{}={}", v.key(), v.quantity())); break;
            case v1::FieldValue::kChoice: values.push_back(fmt::format("{}={}", v.key(), v.choice())); break;
            case v1::FieldValue::kYes: values.push_back(fmt::format("{}={}", v.key(), v.yes() ? "yes" : "no")); break;
            case v1::FieldValue::kText: values.push_back(fmt::format("{}={}", v.key(), v.text())); break;
            default: break;
          }
        }
        row.push_back(fmt::format("v{} answer {}: {}", a.record().version(), a.record().revision(),
                                  fmt::join(values, " ")));
        break;
      }
      case v1::LogRecord::kEvent: {
        const auto& e = rec.event();
        row.push_back("event");
        row.push_back(fmt::format("{} v{}", e.directive_id(), e.version()));
        row.push_back("");
        std::string detail = v1::LifecycleEvent::Kind_Name(e.kind());
        if (!e.publisher().empty()) detail += " by " + e.publisher();
        if (e.kind() == v1::LifecycleEvent::DEADLINE_PASSED) {
          detail += fmt::format(" {}: {} units overdue", LevelName(e.level()), e.overdue_units());
        }
        if (e.kind() == v1::LifecycleEvent::STATUS_CHANGED) {
          detail += fmt::format(" {} -> {}", StatusName(e.status_from()), StatusName(e.status_to()));
        }
        if (!e.reason().empty()) detail += ": " + e.reason();
        row.push_back(detail);
        break;
      }
      default:
        row.insert(row.end(), {"", "", "", ""});
    }
    t.rows.push_back(std::move(row));
  }
  if (r.more()) t.footing.push_back("... more records follow (--all reads every page)");
  return t.Render(format);
}

std::string RenderReadiness(const v1::ReadinessReply& r, OutputFormat format) {
  Table t;
  t.about["directive"] = DirectiveAbout(r.directive());
  t.about["released"] = r.released();
  t.about["as_of"] = Time(r.as_of());
  t.about["public_state"] = v1::PublicRecord::State_Name(r.public_record().state());
  t.heading.push_back(DirectiveLine(r.directive()));
  t.heading.push_back(r.released()
                          ? fmt::format("acknowledged when it became public, {}", Time(r.as_of()))
                          : fmt::format("not public ({}); acknowledged as of now, {}",
                                        v1::PublicRecord::State_Name(r.public_record().state()),
                                        Time(r.as_of())));
  t.Column("tier");
  LevelColumns(t);
  for (const v1::TierReadiness& row : r.tiers()) {
    std::vector<json> cells{TierName(row.tier())};
    LevelCells(cells, row.counts());
    t.rows.push_back(std::move(cells));
  }
  std::vector<json> total{"total"};
  LevelCells(total, r.total());
  t.rows.push_back(std::move(total));
  return t.Render(format);
}

std::string RenderRatings(const v1::RatingsReply& r, bool by_directive, OutputFormat format) {
  Table t;
  t.Column(by_directive ? "directive" : "department");
  t.Column("ratings", true);
  if (!by_directive) t.Column("directives", true);
  t.Column("clarity", true);
  t.Column("feasibility", true);
  t.Column("clarity_1_to_5");
  t.Column("feasibility_1_to_5");
  if (by_directive) {
    t.Column("department");
    t.Column("title");
  }
  auto hist = [](const google::protobuf::RepeatedField<uint32_t>& h) {
    std::string out;
    for (int i = 0; i < h.size(); ++i) out += fmt::format("{}{}", i ? " " : "", h.Get(i));
    return out;
  };
  for (const v1::RatingsRow& row : r.rows()) {
    std::vector<json> cells{row.key(), row.ratings()};
    if (!by_directive) cells.push_back(row.directives());
    cells.push_back(std::round(row.clarity_mean() * 100) / 100);
    cells.push_back(std::round(row.feasibility_mean() * 100) / 100);
    cells.push_back(hist(row.clarity_histogram()));
    cells.push_back(hist(row.feasibility_histogram()));
    if (by_directive) {
      cells.push_back(row.issuer_department());
      cells.push_back(row.title());
      for (const std::string& c : row.comments()) t.footing.push_back(fmt::format("  {}: {}", row.key(), c));
    }
    t.rows.push_back(std::move(cells));
  }
  if (!t.footing.empty()) t.footing.insert(t.footing.begin(), "\ncomments (newest first):");
  t.heading.push_back("means of 1 (poor) to 5 (good), with the count of each score");
  std::string out = t.Render(format);
  if (format == OutputFormat::kJson && by_directive) {
    // The comments belong to their rows.
    json doc = json::parse(out);
    for (size_t i = 0; i < doc["rows"].size(); ++i) {
      json comments = json::array();
      for (const std::string& c : r.rows(static_cast<int>(i)).comments()) comments.push_back(c);
      doc["rows"][i]["comments"] = comments;
    }
    out = doc.dump(2) + "\n";
  }
  return out;
}

std::string RenderReturns(const v1::ReturnsReply& r, OutputFormat format) {
  Table t;
  t.heading.push_back(fmt::format("return form of {} version {}: each unit's latest answer",
                                  r.directive_id(), r.version()));
  for (const v1::FormField& f : r.form().fields()) {
    std::string line = fmt::format("  {}: {}", f.key(), f.label());
    if (f.kind() == v1::FormField::QUANTITY && !f.unit().empty()) line += fmt::format(" ({})", f.unit());
    t.heading.push_back(line);
  }
  t.Column("region");
  t.Column("name");
  t.Column("addressed", true);
  t.Column("answered", true);
  t.Column("answered_pct", true);
  t.Column("corrected", true);
  const v1::ReturnForm& form = r.form();
  for (int i = 0; i < form.fields_size(); ++i) {
    const v1::FormField& f = form.fields(i);
    switch (f.kind()) {
      case v1::FormField::QUANTITY:
        t.Column(f.key() + "_sum", true);
        t.Column(f.key() + "_min", true);
        t.Column(f.key() + "_max", true);
        t.Column(f.key() + "_below", true);
        break;
      case v1::FormField::CHOICE:
        for (const std::string& c : f.choices()) t.Column(f.key() + ":" + c, true);
        break;
      case v1::FormField::YES_NO:
        t.Column(f.key() + "_yes", true);
        t.Column(f.key() + "_no", true);
        break;
      default:
        t.Column(f.key() + "_answered", true);
        break;
    }
  }
  auto cells_of = [&](const v1::ReturnsRow& row, const std::string& region) {
    std::vector<json> cells{region, row.region_name(), row.addressed(), row.answered(),
                            row.addressed() == 0
                                ? 0.0
                                : std::round(1000.0 * row.answered() / row.addressed()) / 10,
                            row.corrected()};
    for (int i = 0; i < form.fields_size() && i < row.fields_size(); ++i) {
      const v1::FormField& f = form.fields(i);
      const v1::FieldAggregate& a = row.fields(i);
      switch (f.kind()) {
        case v1::FormField::QUANTITY:
          cells.push_back(a.sum());
          cells.push_back(a.answered() ? json(a.min()) : json(""));
          cells.push_back(a.answered() ? json(a.max()) : json(""));
          cells.push_back(a.has_threshold() ? json(a.below_count()) : json(""));
          break;
        case v1::FormField::CHOICE:
        case v1::FormField::YES_NO:
          for (uint32_t n : a.counts()) cells.push_back(n);
          break;
        default:
          cells.push_back(a.answered());
          break;
      }
    }
    return cells;
  };
  auto refs = [](const google::protobuf::RepeatedPtrField<v1::UnitRef>& units) {
    std::vector<std::string> out;
    for (const v1::UnitRef& u : units) out.push_back(fmt::format("{} {}", u.code(), u.name()));
    return out;
  };
  for (const v1::ReturnsRow& row : r.rows()) {
    t.rows.push_back(cells_of(row, row.region().empty() ? std::string("all") : row.region()));
    std::string where = row.region().empty() ? std::string("all") : row.region();
    if (row.missing_size() > 0) {
      t.footing.push_back(fmt::format("{}: not answered ({} of {}, first {}): {}", where,
                                      row.addressed() - row.answered(), row.addressed(),
                                      row.missing_size(), fmt::join(refs(row.missing()), ", ")));
    }
    for (int i = 0; i < row.fields_size() && i < form.fields_size(); ++i) {
      const v1::FieldAggregate& a = row.fields(i);
      if (a.below_size() == 0) continue;
      t.footing.push_back(fmt::format("{}: {} below {} ({}, first {}): {}", where, a.key(),
                                      a.threshold(), a.below_count(), a.below_size(),
                                      fmt::join(refs(a.below()), ", ")));
    }
  }
  if (r.rows_size() > 1) t.rows.push_back(cells_of(r.total(), "total"));
  if (!t.footing.empty()) t.footing.insert(t.footing.begin(), "");
  std::string out = t.Render(format);
  if (format == OutputFormat::kJson) {
    // The lists belong to their rows.
    json doc = json::parse(out);
    for (size_t i = 0; i < doc["rows"].size() && i < static_cast<size_t>(r.rows_size()); ++i) {
      const v1::ReturnsRow& row = r.rows(static_cast<int>(i));
      json missing = json::array();
      for (const v1::UnitRef& u : row.missing()) missing.push_back({{"code", u.code()}, {"name", u.name()}});
      doc["rows"][i]["missing"] = missing;
      json below = json::object();
      for (const v1::FieldAggregate& a : row.fields()) {
        if (!a.has_threshold()) continue;
        json units = json::array();
        for (const v1::UnitRef& u : a.below()) units.push_back({{"code", u.code()}, {"name", u.name()}});
        below[a.key()] = {{"threshold", a.threshold()}, {"count", a.below_count()}, {"units", units}};
      }
      doc["rows"][i]["below"] = below;
    }
    out = doc.dump(2) + "\n";
  }
  return out;
}

std::string RenderBurden(const v1::BurdenReply& r, bool by_tier, OutputFormat format) {
  Table t;
  t.heading.push_back(by_tier ? "directives, action items and return forms received per tier, week and "
                                "department"
                              : "directives, action items and return forms each unit received, per "
                                "week and department");
  if (!by_tier) {
    t.Column("unit");
    t.Column("tier");
    t.Column("week");
    t.Column("department");
    t.Column("directives", true);
    t.Column("action_items", true);
    t.Column("forms", true);
    t.Column("name");
    for (const v1::BurdenRow& row : r.rows()) {
      t.rows.push_back({row.unit_code(), TierName(row.tier()), row.week(), row.department(),
                        row.directives(), row.action_items(), row.forms(), row.unit_name()});
    }
    return t.Render(format);
  }
  t.Column("tier");
  t.Column("week");
  t.Column("department");
  t.Column("units", true);
  t.Column("directives", true);
  t.Column("action_items", true);
  t.Column("forms", true);
  t.Column("directives_per_unit", true);
  t.Column("action_items_per_unit", true);
  t.Column("forms_per_unit", true);
  for (const v1::BurdenRow& row : r.rows()) {
    double units = row.units() == 0 ? 1.0 : static_cast<double>(row.units());
    t.rows.push_back({TierName(row.tier()), row.week(), row.department(), row.units(),
                      row.directives(), row.action_items(), row.forms(),
                      std::round(row.directives() / units * 100) / 100,
                      std::round(row.action_items() / units * 100) / 100,
                      std::round(row.forms() / units * 100) / 100});
  }
  return t.Render(format);
}

std::string RenderVerify(const v1::VerifyReply& r, OutputFormat format) {
  std::string head = fmt::format("{}:{}", r.head_log_seq(), ToHex(r.head_hash()));
  if (format != OutputFormat::kTable) {
    Table t;
    t.about = {{"ok", r.ok()},
               {"records", r.records()},
               {"head_log_seq", r.head_log_seq()},
               {"head_hash", ToHex(r.head_hash())},
               {"anchor", head},
               {"first_bad_log_seq", r.first_bad_log_seq()},
               {"problem", r.problem()},
               {"problems", r.problems()}};
    if (format == OutputFormat::kJson) {
      return t.about.dump(2) + "\n";
    }
    return "ok,records,head_log_seq,head_hash,first_bad_log_seq,problems,problem\n" +
           fmt::format("{},{},{},{},{},{},{}\n", r.ok(), r.records(), r.head_log_seq(),
                       ToHex(r.head_hash()), r.first_bad_log_seq(), r.problems(),
                       CsvField(r.problem()));
  }
  if (r.ok()) {
    return fmt::format(
        "log verified: {} records, the chain is whole and every stored acknowledgement, rating "
        "and event matches it\nhead {} (note it: `verify --anchor {}` later proves nothing up "
        "to here was rewritten)\n",
        r.records(), head, head);
  }
  return fmt::format("LOG TAMPERED: {} problem{} in {} records; the first, at record {}:\n  {}\n",
                     r.problems(), r.problems() == 1 ? "" : "s", r.records(),
                     r.first_bad_log_seq(), r.problem());
}

std::string RenderCluster(const std::vector<ClusterMember>& members, OutputFormat format) {
  json rows = json::array();
  for (const ClusterMember& m : members) {
    json row{{"endpoint", m.endpoint}};
    if (!m.state.ok()) {
      row["role"] = "unreachable";
      row["problem"] = m.state.status().message();
    } else {
      const v1::ClusterReply& r = *m.state;
      row.update({{"broker", r.broker()},
                  {"group", r.group()},
                  {"role", r.role()},
                  {"epoch", r.epoch()},
                  {"leader", r.leader()},
                  {"leader_endpoint", r.leader_endpoint()},
                  {"standby", r.standby()},
                  {"in_sync", r.in_sync()},
                  {"degraded", r.degraded()},
                  {"replication", r.replication()},
                  {"commit_seq", r.commit_seq()},
                  {"standby_commit_seq", r.standby_commit_seq()},
                  {"lag", r.standby().empty() || r.standby_commit_seq() > r.commit_seq()
                              ? json(nullptr)
                              : json(r.commit_seq() - r.standby_commit_seq())},
                  {"sync_standby", r.sync_standby()},
                  {"problem", r.problem()}});
      json relays = json::array();
      for (const v1::RelayStatus& s : r.relays()) {
        relays.push_back({{"region", s.region()},
                          {"name", s.name()},
                          {"connected", s.connected()},
                          {"cursor", s.cursor()},
                          {"log_cursor", s.log_cursor()},
                          {"last_heard", s.has_last_heard()
                                             ? json(FormatTime(FromTimestamp(s.last_heard())))
                                             : json(nullptr)}});
      }
      row["relays"] = relays;
      if (!r.upstream().region().empty()) {
        const v1::RelayStatus& u = r.upstream();
        row["upstream"] = {{"region", u.region()},
                           {"endpoint", u.endpoint()},
                           {"welcomed", u.connected()},
                           {"cursor", u.cursor()},
                           {"upstream_head", u.upstream_head()},
                           {"log_cursor", u.log_cursor()},
                           {"problem", u.problem()}};
      }
    }
    rows.push_back(row);
  }
  if (format == OutputFormat::kJson) return rows.dump(2) + "\n";
  const char* columns[] = {"endpoint", "broker", "role", "epoch", "commit_seq", "standby",
                           "in_sync", "lag", "degraded", "problem"};
  std::string out;
  if (format == OutputFormat::kCsv) {
    for (size_t i = 0; i < std::size(columns); ++i) out += (i ? "," : "") + std::string(columns[i]);
    out += "\n";
  }
  for (const json& row : rows) {
    std::string line;
    for (size_t i = 0; i < std::size(columns); ++i) {
      const json& v = row.contains(columns[i]) ? row[columns[i]] : json("");
      std::string text = v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump();
      if (format == OutputFormat::kCsv) {
        line += (i ? "," : "") + text;
      } else {
        line += (i ? "  " : "") + std::string(columns[i]) + "=" + text;
      }
    }
    out += line + "\n";
    if (format == OutputFormat::kCsv) continue;
    // Relays below the broker, and a relay's own link, one line each.
    if (row.contains("upstream")) {
      const json& u = row["upstream"];
      out += fmt::format("  upstream {} welcomed={} cursor={} upstream_head={} log_cursor={}{}\n",
                         u["endpoint"].get<std::string>(), u["welcomed"].get<bool>(),
                         u["cursor"].get<uint64_t>(), u["upstream_head"].get<uint64_t>(),
                         u["log_cursor"].get<uint64_t>(),
                         u["problem"].get<std::string>().empty()
                             ? ""
                             : " problem=" + u["problem"].get<std::string>());
    }
    if (row.contains("relays")) {
      for (const json& rl : row["relays"]) {
        out += fmt::format("  relay {} {} connected={} cursor={} log_cursor={} last_heard={}\n",
                           rl["region"].get<std::string>(), rl["name"].get<std::string>(),
                           rl["connected"].get<bool>(), rl["cursor"].get<uint64_t>(),
                           rl["log_cursor"].get<uint64_t>(),
                           rl["last_heard"].is_null() ? "never"
                                                      : rl["last_heard"].get<std::string>());
      }
    }
  }
  return out;
}

}  // namespace flatcast::audit
