#include "flatcast/directive.h"
#include "flatcast/attachment.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <toml++/toml.h>

#include <algorithm>
#include <set>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <tuple>

#include "flatcast/duration.h"
#include "flatcast/language.h"
#include "flatcast/signing.h"
#include "flatcast/return_form.h"

namespace flatcast {

namespace {

constexpr size_t kMaxDepartmentLength = 32;
constexpr std::string_view kAllowedTiers = "city, district, street or community";

// flatcast::Tier and v1::Tier share their numbering.
bool IsTargetableTier(int tier) {
  return tier == v1::CITY || tier == v1::DISTRICT || tier == v1::STREET || tier == v1::COMMUNITY;
}

std::string TierLabel(int tier) {
  if (tier >= v1::PROVINCE && tier <= v1::COMMUNITY) {
    return std::string(TierName(static_cast<Tier>(tier)));
  }
  if (tier == v1::TIER_UNSPECIFIED) return "unspecified";
  return fmt::format("#{}", tier);
}

bool IsDepartmentCode(std::string_view s) {
  if (s.empty() || s.size() > kMaxDepartmentLength) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool IsBlank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// Bit i set when tier i is targeted.
uint32_t TierMask(const v1::Directive& d) {
  uint32_t mask = 0;
  for (int tier : d.target_tiers()) {
    if (tier >= 0 && tier < 32) mask |= 1u << tier;
  }
  return mask;
}

Status CheckActions(const v1::Directive& d) {
  if (d.actions().empty()) return Status::InvalidArgument("no action item");
  if (static_cast<size_t>(d.actions_size()) > kMaxActions) {
    return Status::InvalidArgument(
        fmt::format("{} action items; the limit is {}", d.actions_size(), kMaxActions));
  }
  for (int i = 0; i < d.actions_size(); ++i) {
    const v1::ActionItem& action = d.actions(i);
    if (IsBlank(action.what())) {
      return Status::InvalidArgument(fmt::format("action item {}: what is empty", i + 1));
    }
    int tier = action.responsible_tier();
    if (tier == v1::TIER_UNSPECIFIED) {
      return Status::InvalidArgument(
          fmt::format("action item {}: responsible tier is not set ({})", i + 1, kAllowedTiers));
    }
    if (!IsTargetableTier(tier)) {
      return Status::InvalidArgument(
          fmt::format("action item {}: responsible tier {} is not "
                      "allowed ({})",
                      i + 1, TierLabel(tier), kAllowedTiers));
    }
  }
  return Status::Ok();
}

// The scope's shape: codes of the registry's form, inside the issuer's
// jurisdiction. Whether each is registered is ValidateDirective's to ask.
Status CheckScopeForm(const v1::Directive& d) {
  if (d.scope().empty()) return Status::InvalidArgument("scope is empty");
  if (static_cast<size_t>(d.scope_size()) > kMaxScopeCodes) {
    return Status::InvalidArgument(
        fmt::format("scope has {} codes; the limit is {}", d.scope_size(), kMaxScopeCodes));
  }
  for (const std::string& code : d.scope()) {
    if (!TierOfCode(code)) {
      return Status::InvalidArgument(
          fmt::format("scope code \"{}\" is not a division code (2, 4, 6, 9 or 12 digits)",
                      code.substr(0, 32)));
    }
    if (!Registry::IsWithin(code, d.issuer_unit())) {
      return Status::InvalidArgument(
          fmt::format("scope {} is outside the issuer's jurisdiction {}", code, d.issuer_unit()));
    }
  }
  return Status::Ok();
}

Status CheckTargetTiers(const v1::Directive& d) {
  if (d.target_tiers().empty()) {
    return Status::InvalidArgument(fmt::format("no target tier ({})", kAllowedTiers));
  }
  for (int tier : d.target_tiers()) {
    if (!IsTargetableTier(tier)) {
      return Status::InvalidArgument(
          fmt::format("target tier {} is not allowed ({})", TierLabel(tier), kAllowedTiers));
    }
  }
  return Status::Ok();
}

// ---- TOML directive files ----
//
// toml++'s json_formatter prints TOML's local dates and times as they are,
// which protobuf's Timestamp parser refuses, so the table is converted here
// node by node and every date-time becomes an RFC 3339 string.

Status TomlError(std::string_view path, const toml::node& node, std::string_view what) {
  return Status::InvalidArgument(fmt::format("{}:{}: {}", path, node.source().begin.line, what));
}

std::string FormatTomlDateTime(const toml::date_time& dt) {
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", dt.date.year, dt.date.month,
                                dt.date.day, dt.time.hour, dt.time.minute, dt.time.second);
  if (dt.time.nanosecond != 0) out += fmt::format(".{:09}", dt.time.nanosecond);
  int minutes = dt.offset->minutes;
  if (minutes == 0) return out + "Z";
  char sign = minutes < 0 ? '-' : '+';
  minutes = std::abs(minutes);
  return out + fmt::format("{}{:02}:{:02}", sign, minutes / 60, minutes % 60);
}

Status TomlToJson(const toml::node& node, const std::string& key, std::string_view path,
                  nlohmann::json* out) {
  switch (node.type()) {
    case toml::node_type::table: {
      *out = nlohmann::json::object();
      for (const auto& [k, child] : *node.as_table()) {
        std::string child_key =
            key.empty() ? std::string(k.str()) : key + "." + std::string(k.str());
        FLATCAST_RETURN_IF_ERROR(TomlToJson(child, child_key, path, &(*out)[std::string(k.str())]));
      }
      return Status::Ok();
    }
    case toml::node_type::array: {
      *out = nlohmann::json::array();
      const toml::array& array = *node.as_array();
      for (size_t i = 0; i < array.size(); ++i) {
        nlohmann::json element;
        FLATCAST_RETURN_IF_ERROR(
            TomlToJson(array[i], fmt::format("{}[{}]", key, i), path, &element));
        out->push_back(std::move(element));
      }
      return Status::Ok();
    }
    case toml::node_type::string:
      *out = node.as_string()->get();
      return Status::Ok();
    case toml::node_type::integer:
      *out = node.as_integer()->get();
      return Status::Ok();
    case toml::node_type::floating_point:
      *out = node.as_floating_point()->get();
      return Status::Ok();
    case toml::node_type::boolean:
      *out = node.as_boolean()->get();
      return Status::Ok();
    case toml::node_type::date_time: {
      const toml::date_time& dt = node.as_date_time()->get();
      // Reading a local time as UTC would shift a deadline by the writer's
      // offset (8 hours in China) without anyone noticing.
      if (!dt.offset) {
        std::string local =
            fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", dt.date.year, dt.date.month,
                        dt.date.day, dt.time.hour, dt.time.minute, dt.time.second);
        return TomlError(path, node,
                         fmt::format("{}: {} has no UTC offset; write {}Z for UTC or add one "
                                     "such as +08:00",
                                     key, local, local));
      }
      *out = FormatTomlDateTime(dt);
      return Status::Ok();
    }
    case toml::node_type::date: {
      const toml::date& date = node.as_date()->get();
      return TomlError(path, node,
                       fmt::format("{}: a date alone is not a time; write e.g. "
                                   "{:04}-{:02}-{:02}T00:00:00Z",
                                   key, date.year, date.month, date.day));
    }
    case toml::node_type::time:
      return TomlError(path, node,
                       fmt::format("{}: a time of day needs a date and a UTC offset, e.g. "
                                   "2026-11-28T09:30:00Z",
                                   key));
    case toml::node_type::none:
      break;
  }
  return TomlError(path, node, fmt::format("{}: unsupported TOML value", key));
}

Result<v1::Directive> DirectiveFromToml(const std::string& text, const std::string& path) {
  toml::table table;
  try {
    table = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument(fmt::format("{}:{}:{}: {}", path, e.source().begin.line,
                                               e.source().begin.column, e.description()));
  }
  nlohmann::json json;
  FLATCAST_RETURN_IF_ERROR(TomlToJson(table, "", path, &json));
  Result<v1::Directive> d = DirectiveFromJson(json.dump());
  if (!d.ok()) return d.status().WithContext(path);
  return d;
}

// protobuf reports a syntax error without saying where it is; nlohmann gives
// the line and column.
std::optional<std::string> JsonSyntaxError(std::string_view json) {
  try {
    nlohmann::json parsed = nlohmann::json::parse(json.begin(), json.end());
    (void)parsed;
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for a number too large for a double.
    std::string_view what = e.what();  // "[json.exception.parse_error.101] parse error at ..."
    if (size_t tag_end = what.find("] "); tag_end != std::string_view::npos) {
      what.remove_prefix(tag_end + 2);
    }
    return std::string(what);
  }
  return std::nullopt;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  std::string_view tail = s.substr(s.size() - suffix.size());
  return std::equal(tail.begin(), tail.end(), suffix.begin(),
                    [](char a, char b) { return std::tolower(a) == std::tolower(b); });
}

}  // namespace

Status ValidateDirectiveContent(const v1::Directive& d) {
  if (d.format_version() != 0 && d.format_version() != kDirectiveFormatVersion) {
    return Status::InvalidArgument(fmt::format("format version {} is not supported (expected {})",
                                               d.format_version(), kDirectiveFormatVersion));
  }
  if (d.issuer_unit().empty()) return Status::InvalidArgument("issuer unit is empty");
  if (!TierOfCode(d.issuer_unit())) {
    return Status::InvalidArgument(
        fmt::format("issuer unit \"{}\" is not a division code (2, 4, 6, 9 or 12 digits)",
                    d.issuer_unit().substr(0, 32)));
  }
  if (!IsDepartmentCode(d.issuer_department())) {
    return Status::InvalidArgument(
        fmt::format("issuer department \"{}\" must be 1-{} characters of A-Z 0-9 _",
                    d.issuer_department().substr(0, 64), kMaxDepartmentLength));
  }
  if (IsBlank(d.title())) return Status::InvalidArgument("title is empty");
  if (d.title().size() > kMaxTitleBytes) {
    return Status::InvalidArgument(
        fmt::format("title is {} bytes; the limit is {}", d.title().size(), kMaxTitleBytes));
  }
  if (d.body().size() > kMaxBodyBytes) {
    return Status::InvalidArgument(
        fmt::format("body is {} bytes; the limit is {}", d.body().size(), kMaxBodyBytes));
  }
  FLATCAST_RETURN_IF_ERROR(CheckActions(d));
  FLATCAST_RETURN_IF_ERROR(CheckTranslations(d));
  FLATCAST_RETURN_IF_ERROR(CheckAttachments(d));
  FLATCAST_RETURN_IF_ERROR(CheckScopeForm(d));
  FLATCAST_RETURN_IF_ERROR(CheckTargetTiers(d));
  FLATCAST_RETURN_IF_ERROR(ValidateDeadlines(d));
  FLATCAST_RETURN_IF_ERROR(CheckDirectiveTimes(d));
  if (d.status() == v1::DIRECTIVE_STATUS_UNSPECIFIED) {
    return Status::InvalidArgument("status is not set (ACTUAL, EXERCISE or TEST)");
  }
  if (!v1::DirectiveStatus_IsValid(d.status())) {
    return Status::InvalidArgument(fmt::format("status #{} is unknown (ACTUAL, EXERCISE or TEST)",
                                               static_cast<int>(d.status())));
  }
  if (d.has_return_form()) FLATCAST_RETURN_IF_ERROR(ValidateReturnForm(d.return_form()));
  return Status::Ok();
}

Status ValidateDirective(const v1::Directive& d, const Registry& registry) {
  if (!d.issuer_unit().empty() && !registry.Addressable(d.issuer_unit())) {
    return Status::InvalidArgument(
        fmt::format("issuer unit {} is not in the registry", d.issuer_unit().substr(0, 32)));
  }
  FLATCAST_RETURN_IF_ERROR(ValidateDirectiveContent(d));
  for (const std::string& code : d.scope()) {
    if (!registry.Addressable(code)) {
      return Status::InvalidArgument(fmt::format("scope code {} is not in the registry", code));
    }
  }
  return Status::Ok();
}

Status ValidateDeadlines(const v1::Directive& d) {
  std::set<int> levels;
  for (const v1::AckDeadline& deadline : d.deadlines()) {
    if (deadline.level() < v1::RECEIVED || deadline.level() > v1::READY) {
      return Status::InvalidArgument(
          "deadlines: level must be received, confirmed or ready");
    }
    std::string level = v1::AckLevel_Name(deadline.level());
    int kinds = (deadline.within_ms() != 0) + deadline.has_at() + deadline.before_public_release();
    if (kinds != 1) {
      return Status::InvalidArgument(fmt::format(
          "deadlines: the {} deadline must set exactly one of within, at and before public "
          "release",
          level));
    }
    if (deadline.within_ms() < 0) {
      return Status::InvalidArgument(fmt::format("deadlines: {} within must be positive", level));
    }
    if (deadline.before_public_release() && !d.is_public()) {
      return Status::InvalidArgument(fmt::format(
          "deadlines: {} before public release, but the directive is not public", level));
    }
    if (!levels.insert(deadline.level()).second) {
      return Status::InvalidArgument(fmt::format("deadlines: two deadlines for {}", level));
    }
  }
  return Status::Ok();
}

Status CheckDirectiveTimes(const v1::Directive& d) {
  for (auto [field, has, ts] :
       {std::tuple{"created", d.has_created(), &d.created()},
        std::tuple{"sent", d.has_sent(), &d.sent()},
        std::tuple{"expires", d.has_expires(), &d.expires()},
        std::tuple{"public_release", d.has_public_release(), &d.public_release()}}) {
    if (has) FLATCAST_RETURN_IF_ERROR(CheckInputTime(*ts, field));
  }
  for (int i = 0; i < d.actions_size(); ++i) {
    if (d.actions(i).has_due()) {
      FLATCAST_RETURN_IF_ERROR(CheckInputTime(d.actions(i).due(), fmt::format("actions[{}].due", i)));
    }
  }
  for (int i = 0; i < d.deadlines_size(); ++i) {
    const v1::AckDeadline& deadline = d.deadlines(i);
    if (deadline.has_at()) {
      FLATCAST_RETURN_IF_ERROR(CheckInputTime(deadline.at(), fmt::format("deadlines[{}].at", i)));
    }
    if (deadline.within_ms() > kMaxAheadOfNow.count()) {
      return Status::InvalidArgument(fmt::format(
          "deadlines[{}].within_ms: {} ms is more than the limit of {} (a deadline falls at most "
          "a year after sending)",
          i, deadline.within_ms(), FormatDuration(kMaxAheadOfNow)));
    }
  }
  return Status::Ok();
}

Status CheckTimesAhead(const v1::Directive& d, TimePoint now) {
  const TimePoint latest = AddSaturating(now, kMaxAheadOfNow);
  auto check = [&](const google::protobuf::Timestamp& ts, const std::string& field) {
    if (FromTimestamp(ts) <= latest) return Status::Ok();
    return Status::InvalidArgument(fmt::format(
        "{}: {} is more than {} from now (the limit is {})", field,
        FormatTimeSeconds(FromTimestamp(ts)), FormatDuration(kMaxAheadOfNow),
        FormatTimeSeconds(latest)));
  };
  if (d.has_public_release()) FLATCAST_RETURN_IF_ERROR(check(d.public_release(), "public_release"));
  for (int i = 0; i < d.deadlines_size(); ++i) {
    if (d.deadlines(i).has_at()) {
      FLATCAST_RETURN_IF_ERROR(check(d.deadlines(i).at(), fmt::format("deadlines[{}].at", i)));
    }
  }
  return Status::Ok();
}

std::vector<Deadline> ResolveDeadlines(const v1::Directive& d, const v1::PublicRecord* record) {
  std::vector<Deadline> out;
  for (const v1::AckDeadline& deadline : d.deadlines()) {
    if (deadline.within_ms() > 0) {
      out.push_back({deadline.level(), AddSaturating(FromTimestamp(d.sent()),
                                                     std::chrono::milliseconds(deadline.within_ms()))});
    } else if (deadline.has_at()) {
      out.push_back({deadline.level(), FromTimestamp(deadline.at())});
    } else if (deadline.before_public_release() && record != nullptr) {
      if (record->state() == v1::PublicRecord::HELD) {
        out.push_back({deadline.level(), FromTimestamp(record->release_at())});
      } else if (record->state() == v1::PublicRecord::RELEASED) {
        out.push_back({deadline.level(), FromTimestamp(record->released_at())});
      }
    }
  }
  return out;
}

std::vector<uint32_t> AddressedUnits(const v1::Directive& d, const Registry& registry) {
  // Sorted, a code's descendants follow it directly, so a code within the one
  // kept last is covered by it and dropped; the kept codes then have disjoint
  // subtrees in ascending order and the result needs no sort or dedup.
  std::vector<std::string_view> scope(d.scope().begin(), d.scope().end());
  std::sort(scope.begin(), scope.end());
  const uint32_t mask = TierMask(d);
  std::vector<uint32_t> units;
  std::string_view kept;
  bool have_kept = false;
  for (std::string_view code : scope) {
    if (have_kept && Registry::IsWithin(code, kept)) continue;
    kept = code;
    have_kept = true;
    auto [first, last] = registry.SubtreeRange(code);
    for (uint32_t i = first; i < last; ++i) {
      if (mask & (1u << static_cast<int>(registry.unit(i).tier))) units.push_back(i);
    }
  }
  return units;
}

bool IsAddressedTo(const v1::Directive& d, std::string_view unit_code, Tier unit_tier) {
  if (!(TierMask(d) & (1u << static_cast<int>(unit_tier)))) return false;
  return std::any_of(d.scope().begin(), d.scope().end(), [&](const std::string& scope) {
    return Registry::IsWithin(unit_code, scope);
  });
}

std::string MakeDirectiveId(std::string_view issuer_unit, std::string_view department,
                            TimePoint sent, uint32_t daily_sequence) {
  const std::chrono::year_month_day date{std::chrono::floor<std::chrono::days>(sent)};
  return fmt::format("{}-{}-{:04}{:02}{:02}-{:04}", issuer_unit, department,
                     static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                     static_cast<unsigned>(date.day()), daily_sequence);
}

std::string DirectiveToJson(const v1::StoredDirective& d) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(d, &out, options);
  if (!status.ok()) {
    // Only out-of-range timestamps get here; say so rather than print half a document.
    return nlohmann::json{{"error", std::string(status.message())}}.dump(2);
  }
  return out;
}

Result<v1::Directive> DirectiveFromJson(std::string_view json) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  // Lets files say status = "actual" and target_tiers = ["district"].
  options.case_insensitive_enum_parsing = true;
  v1::Directive d;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &d, options);
  if (status.ok()) {
    FLATCAST_RETURN_IF_ERROR(CheckDirectiveTimes(d));
    return d;
  }
  if (std::optional<std::string> syntax_error = JsonSyntaxError(json)) {
    return Status::InvalidArgument(fmt::format("not valid JSON: {}", *syntax_error));
  }
  return Status::InvalidArgument(
      fmt::format("not a valid directive: {}", status.message().as_string()));
}

namespace {

// The text of a .toml or .json file, TOML read as JSON (`what` names the
// kind of file in messages).
Result<std::string> ReadTomlOrJsonFile(const std::string& path, std::string_view what,
                                       bool* was_toml) {
  const bool is_json = EndsWith(path, ".json");
  const bool is_toml = EndsWith(path, ".toml");
  if (!is_json && !is_toml) {
    return Status::InvalidArgument(
        fmt::format("{}: unknown {} file type (name it .toml or .json)", path, what));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError(fmt::format("{}: {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::IOError(fmt::format("{}: read failed", path));
  if (was_toml != nullptr) *was_toml = is_toml;
  return text.str();
}

}  // namespace

Result<v1::ReturnForm> LoadReturnFormFile(const std::string& path) {
  bool toml_file = false;
  Result<std::string> text = ReadTomlOrJsonFile(path, "return form", &toml_file);
  if (!text.ok()) return text.status();
  std::string json = std::move(text).value();
  if (toml_file) {
    toml::table table;
    try {
      table = toml::parse(json, path);
    } catch (const toml::parse_error& e) {
      return Status::InvalidArgument(fmt::format("{}:{}:{}: {}", path, e.source().begin.line,
                                                 e.source().begin.column, e.description()));
    }
    nlohmann::json parsed;
    FLATCAST_RETURN_IF_ERROR(TomlToJson(table, "", path, &parsed));
    json = parsed.dump();
  }
  google::protobuf::util::JsonParseOptions options;
  options.case_insensitive_enum_parsing = true;
  v1::ReturnForm form;
  auto status = google::protobuf::util::JsonStringToMessage(json, &form, options);
  if (!status.ok()) {
    if (std::optional<std::string> syntax_error = JsonSyntaxError(json)) {
      return Status::InvalidArgument(fmt::format("{}: not valid JSON: {}", path, *syntax_error));
    }
    return Status::InvalidArgument(
        fmt::format("{}: not a valid return form: {}", path, status.message().as_string()));
  }
  Status valid = ValidateReturnForm(form);
  if (!valid.ok()) return valid.WithContext(path);
  return form;
}

Result<v1::Directive> LoadDirectiveFile(const std::string& path) {
  bool toml_file = false;
  Result<std::string> text = ReadTomlOrJsonFile(path, "directive", &toml_file);
  if (!text.ok()) return text.status();
  if (toml_file) return DirectiveFromToml(*text, path);
  Result<v1::Directive> d = DirectiveFromJson(*text);
  if (!d.ok()) return d.status().WithContext(path);
  return d;
}

std::string PublicReleaseText(const v1::Directive& d, std::optional<TimePoint> now) {
  if (!d.is_public()) return "internal only (never public)";
  if (!d.has_public_release()) return "on sending";
  TimePoint at = FromTimestamp(d.public_release());
  std::string text = FormatTimeSeconds(at);
  if (!now) return text;
  if (at <= *now) return text + " (public now)";
  auto left = std::chrono::duration_cast<std::chrono::minutes>(DifferenceSaturating(at, *now));
  if (left.count() == 0) return text + " (in under a minute)";
  return text + " (in " + FormatDuration(left) + ")";
}

std::string RenderDirectiveText(const v1::StoredDirective& stored, std::optional<TimePoint> now,
                                const std::vector<std::string>& languages) {
  const v1::Directive& d = stored.directive();
  const std::vector<DirectiveText> texts = DirectiveTexts(d);
  const size_t shown = PreferredText(texts, languages);
  const DirectiveText& text = texts[shown];
  std::string out;
  auto line = [&out](std::string_view label, std::string_view value) {
    out += fmt::format("{:<16}{}\n", label, value);
  };
  line("Directive:", fmt::format("{} (version {})", d.id(), d.version()));
  line("Status:", StatusName(d.status()));
  line("Issuer:", fmt::format("{} {}", d.issuer_unit(), d.issuer_department()));
  if (d.has_sent()) line("Sent:", FormatTime(FromTimestamp(d.sent())));
  if (d.msg_type() == v1::CANCEL) line("CANCELLED:", "this directive has been cancelled");
  line("Public release:", PublicReleaseText(d, now));
  if (d.has_expires()) line("Expires:", FormatTime(FromTimestamp(d.expires())));
  for (const v1::AckDeadline& deadline : d.deadlines()) {
    std::string level = deadline.level() == v1::READY       ? "ready"
                        : deadline.level() == v1::CONFIRMED ? "confirmed"
                                                            : "received";
    std::string when;
    if (deadline.within_ms() > 0) {
      when = "within " + FormatDuration(std::chrono::milliseconds(deadline.within_ms()));
      if (d.has_sent()) {
        when += " (by " +
                FormatTimeSeconds(AddSaturating(FromTimestamp(d.sent()),
                                                std::chrono::milliseconds(deadline.within_ms()))) +
                ")";
      }
    } else if (deadline.has_at()) {
      when = "by " + FormatTimeSeconds(FromTimestamp(deadline.at()));
    } else {
      when = "before the public release";
    }
    line("Deadline:", level + " " + when);
  }

  if (stored.withdrawn()) {
    line("Withdrawn:", "this version no longer addresses this unit; nothing more to do for it");
  }
  if (d.changes_size() > 0) {
    line("Changed:", fmt::format("from version {}:", d.version() > 1 ? d.version() - 1 : 0));
    for (const std::string& change : d.changes()) line("", change);
  }

  if (texts.size() > 1) {
    std::vector<std::string> tags;
    for (const auto& t : texts) tags.push_back(t.language);
    line("Languages:", fmt::format("{} (shown: {})", fmt::join(tags, ", "), text.language));
  }

  out += "\n" + text.title + "\n";
  if (!text.body.empty()) {
    out += "\n" + text.body;
    if (text.body.back() != '\n') out += "\n";
  }

  out += "\nAction items:\n";
  for (int i = 0; i < d.actions_size(); ++i) {
    const v1::ActionItem& action = d.actions(i);
    out += fmt::format("  {}. [{}] {}", i + 1, TierLabel(action.responsible_tier()), text.actions[i]);
    if (action.has_due()) out += fmt::format(" (due {})", FormatTime(FromTimestamp(action.due())));
    if (action.internal()) out += " (internal)";
    out += "\n";
  }
  out += "\n";

  std::vector<std::string> tiers;
  for (int tier : d.target_tiers()) tiers.push_back(TierLabel(tier));
  line("Scope:", fmt::format("{} ({})", fmt::join(d.scope(), ", "), fmt::join(tiers, ", ")));
  if (!d.references().empty())
    line("References:", fmt::format("{}", fmt::join(d.references(), ", ")));
  if (!d.internal_note().empty()) line("Internal note:", d.internal_note());
  for (const v1::Attachment& a : d.attachments()) {
    line("Attachment:", fmt::format("{} ({}, {} bytes, SHA-256 {})", a.name(), a.media_type(), a.size(),
                                    ToHex(a.sha256())));
  }
  if (d.has_return_form()) {
    out += "\nReturn form (flatcast-subscriber return ID --field key=value ...):\n";
    for (const v1::FormField& f : d.return_form().fields()) {
      out += fmt::format("  {}  {}{}", f.key(), f.label(), f.required() ? " (required)" : "");
      switch (f.kind()) {
        case v1::FormField::QUANTITY:
          out += fmt::format(": a whole number from {} to {}{}", f.min(), f.max(),
                             f.unit().empty() ? "" : " " + f.unit());
          break;
        case v1::FormField::CHOICE:
          out += fmt::format(": one of {}", fmt::join(f.choices(), " | "));
          break;
        case v1::FormField::YES_NO: out += ": yes or no"; break;
        case v1::FormField::TEXT: out += fmt::format(": text, at most {} bytes", f.max_length()); break;
        default: break;
      }
      out += "\n";
    }
  }
  for (size_t i = 0; i < texts.size(); ++i) {
    if (i == shown) continue;
    const DirectiveText& other = texts[i];
    out += fmt::format("\n--- {} ---\n{}\n", other.language, other.title);
    if (!other.body.empty()) {
      out += "\n" + other.body;
      if (other.body.back() != '\n') out += "\n";
    }
    for (size_t a = 0; a < other.actions.size(); ++a) {
      out += fmt::format("  {}. {}\n", a + 1, other.actions[a]);
    }
  }
  return out;
}

namespace {

// The action items of `d` that are (or are not) internal, each as one line.
std::vector<std::string> ActionLines(const v1::Directive& d, bool internal) {
  std::vector<std::string> out;
  for (const v1::ActionItem& a : d.actions()) {
    if (a.internal() != internal) continue;
    std::string line = fmt::format("{} ({})", a.what(), TierLabel(a.responsible_tier()));
    if (a.has_due()) line += " by " + FormatTimeSeconds(FromTimestamp(a.due()));
    out.push_back(std::move(line));
  }
  return out;
}

std::string DeadlineLine(const v1::AckDeadline& d) {
  std::string level = v1::AckLevel_Name(d.level());
  if (d.within_ms() > 0) return level + " within " + FormatDuration(std::chrono::milliseconds(d.within_ms()));
  if (d.has_at()) return level + " by " + FormatTimeSeconds(FromTimestamp(d.at()));
  return level + " before the public release";
}

std::string Joined(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out.empty() ? "none" : out;
}

std::string ListChange(std::string_view what, const std::vector<std::string>& before,
                       const std::vector<std::string>& after) {
  return fmt::format("{}: {} -> {}", what, Joined(before, "; "), Joined(after, "; "));
}

}  // namespace

std::vector<std::string> DescribeChanges(const v1::Directive& before, const v1::Directive& after) {
  std::vector<std::string> out;
  if (before.title() != after.title()) {
    out.push_back(fmt::format("title: \"{}\" -> \"{}\"", before.title(), after.title()));
  }
  if (before.body() != after.body()) {
    out.push_back(fmt::format("body: changed ({} -> {} bytes)", before.body().size(),
                              after.body().size()));
  }
  if (ActionLines(before, false) != ActionLines(after, false)) {
    out.push_back(ListChange("action items", ActionLines(before, false), ActionLines(after, false)));
  }
  std::set<std::string> scope_before(before.scope().begin(), before.scope().end());
  std::set<std::string> scope_after(after.scope().begin(), after.scope().end());
  if (scope_before != scope_after) {
    std::string line = "scope:";
    for (const auto& code : scope_after) {
      if (!scope_before.contains(code)) line += " +" + code;
    }
    for (const auto& code : scope_before) {
      if (!scope_after.contains(code)) line += " -" + code;
    }
    out.push_back(line);
  }
  auto tiers = [](const v1::Directive& d) {
    std::set<int> set(d.target_tiers().begin(), d.target_tiers().end());
    std::vector<std::string> names;
    for (int t : set) names.push_back(TierLabel(t));
    return names;
  };
  if (tiers(before) != tiers(after)) {
    out.push_back(fmt::format("tiers: {} -> {}", Joined(tiers(before), ","), Joined(tiers(after), ",")));
  }
  if (before.status() != after.status()) {
    out.push_back(fmt::format("status: {} -> {}", StatusName(before.status()), StatusName(after.status())));
  }
  auto expires = [](const v1::Directive& d) {
    return d.has_expires() ? FormatTimeSeconds(FromTimestamp(d.expires())) : std::string("none");
  };
  if (expires(before) != expires(after)) {
    out.push_back(fmt::format("expires: {} -> {}", expires(before), expires(after)));
  }
  auto deadlines = [](const v1::Directive& d) {
    std::vector<std::string> lines;
    for (const auto& deadline : d.deadlines()) lines.push_back(DeadlineLine(deadline));
    return lines;
  };
  if (deadlines(before) != deadlines(after)) {
    out.push_back(ListChange("deadlines", deadlines(before), deadlines(after)));
  }
  if (ActionLines(before, true) != ActionLines(after, true)) {
    out.push_back(
        ListChange("internal action items", ActionLines(before, true), ActionLines(after, true)));
  }
  if (before.internal_note() != after.internal_note()) out.push_back("internal note: changed");
  // Translations: each language added, removed or changed (title, body, or
  // the text of an action item the public sees).
  auto own = [](const v1::Directive& d) {
    return d.language().empty() ? std::string(kDefaultLanguage) : d.language();
  };
  if (own(before) != own(after)) out.push_back(fmt::format("language: {} -> {}", own(before), own(after)));
  auto translations = [](const v1::Directive& d) {
    std::vector<std::pair<std::string, std::string>> list;  // tag, what the public sees of it
    for (const auto& t : d.translations()) {
      std::string seen = t.title() + '\0' + t.body();
      for (int i = 0; i < t.actions_size() && i < d.actions_size(); ++i) {
        if (!d.actions(i).internal()) seen += '\0' + t.actions(i);
      }
      list.emplace_back(t.language(), std::move(seen));
    }
    return list;
  };
  {
    const auto was = translations(before), now = translations(after);
    std::vector<std::string> added, removed, changed;
    auto find = [](const auto& list, const std::string& tag) {
      return std::find_if(list.begin(), list.end(), [&tag](const auto& p) { return SameLanguage(p.first, tag); });
    };
    for (const auto& entry : now) {
      auto it = find(was, entry.first);
      if (it == was.end()) added.push_back(entry.first);
      else if (it->second != entry.second) changed.push_back(entry.first);
    }
    for (const auto& entry : was) {
      if (find(now, entry.first) == now.end()) removed.push_back(entry.first);
    }
    if (!added.empty() || !removed.empty() || !changed.empty()) {
      std::string line = "translations:";
      for (const auto& tag : added) line += " +" + tag;
      for (const auto& tag : removed) line += " -" + tag;
      for (const auto& tag : changed) line += " ~" + tag;
      out.push_back(line);
    }
  }
  auto attachments = [](const v1::Directive& d) {
    std::vector<std::string> names;
    for (const auto& a : d.attachments()) names.push_back(a.name() + " " + ToHex(a.sha256()).substr(0, 12));
    return names;
  };
  if (attachments(before) != attachments(after)) {
    out.push_back(ListChange("attachments", attachments(before), attachments(after)));
  }
  if (before.return_form().SerializeAsString() != after.return_form().SerializeAsString()) {
    out.push_back(!after.has_return_form() ? "return form: removed"
                  : !before.has_return_form() ? "return form: added"
                                               : "return form: changed");
  }
  return out;
}

bool IsInternalChange(std::string_view line) {
  return line.starts_with("internal") || line.starts_with("deadlines:") ||
         line.starts_with("return form:");
}

std::string_view StatusName(v1::DirectiveStatus s) {
  switch (s) {
    case v1::ACTUAL:
      return "ACTUAL";
    case v1::EXERCISE:
      return "EXERCISE";
    case v1::TEST:
      return "TEST";
    case v1::DIRECTIVE_STATUS_UNSPECIFIED:
      return "UNSPECIFIED";
    default:
      return "UNKNOWN";
  }
}

}  // namespace flatcast
