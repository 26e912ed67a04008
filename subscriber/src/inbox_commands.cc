#include "flatcast/subscriber/inbox_commands.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include <filesystem>
#include <map>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "flatcast/return_form.h"
#include "flatcast/signing.h"
#include "flatcast/subscriber/directory_inbox.h"

namespace flatcast::subscriber {

namespace {

std::optional<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return buffer.str();
}

Status CheckStateDir(const std::string& state_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(state_dir, ec)) {
    return Status::NotFound(fmt::format("state directory {} does not exist", state_dir));
  }
  return Status::Ok();
}

}  // namespace

Status ListInboxCommand(const std::string& state_dir, bool json, std::ostream& out,
                        TimePoint now) {
  FLATCAST_RETURN_IF_ERROR(CheckStateDir(state_dir));
  Result<std::vector<v1::StoredDirective>> stored = ReadInbox(state_dir);
  if (!stored.ok()) return stored.status();
  const std::vector<const v1::StoredDirective*> shown = LatestVersions(*stored);
  auto public_text = [&](const v1::Directive& d) {
    return d.msg_type() == v1::CANCEL ? std::string("cancelled") : PublicReleaseText(d, now);
  };
  auto public_of = [&](const v1::StoredDirective& s) {
    return s.withdrawn() ? std::string("withdrawn from this unit") : public_text(s.directive());
  };
  Result<OperatorState> state = ReadOperatorState(state_dir);
  if (!state.ok()) return state.status();
  // The highest level acknowledged, confirmed by the broker or still pending.
  auto acknowledged = [&](uint64_t seq) {
    std::string text = "received";
    for (v1::AckLevel level : {v1::CONFIRMED, v1::READY}) {
      if (state->acknowledged.contains({seq, level})) {
        text = level == v1::READY ? "ready" : "confirmed";
      } else if (state->pending_acks.contains({seq, level})) {
        text = std::string(level == v1::READY ? "ready" : "confirmed") + " (pending)";
      }
    }
    if (state->pending_acks.contains({seq, v1::RECEIVED}) && text == "received") {
      text = "received (pending)";
    }
    return text;
  };
  if (json) {
    nlohmann::json list = nlohmann::json::array();
    for (const v1::StoredDirective* s : shown) {
      const v1::Directive& d = s->directive();
      nlohmann::json item = {{"seq", s->seq()},
                             {"id", d.id()},
                             {"version", d.version()},
                             {"title", d.title()},
                             {"issuer_unit", d.issuer_unit()},
                             {"status", std::string(StatusName(d.status()))},
                             {"sent", FormatTime(FromTimestamp(d.sent()))},
                             {"cancelled", d.msg_type() == v1::CANCEL},
                             {"withdrawn", s->withdrawn()},
                             {"changes", std::vector<std::string>(d.changes().begin(), d.changes().end())},
                             {"public", public_of(*s)},
                             {"acknowledged", acknowledged(s->seq())}};
      if (d.is_public() && d.has_public_release()) {
        item["public_release"] = FormatTime(FromTimestamp(d.public_release()));
      }
      list.push_back(item);
    }
    out << list.dump(2) << "\n";
    return Status::Ok();
  }
  if (shown.empty()) {
    out << "inbox is empty\n";
    return Status::Ok();
  }
  out << fmt::format("{:>6}  {:<32} {:>3}  {:<20}  {:<20}  {:<40}  {}\n", "SEQ", "ID", "VER",
                     "SENT", "ACKNOWLEDGED", "PUBLIC", "TITLE");
  for (const v1::StoredDirective* s : shown) {
    const v1::Directive& d = s->directive();
    out << fmt::format("{:>6}  {:<32} {:>3}  {:<20}  {:<20}  {:<40}  {}\n", s->seq(), d.id(),
                       d.version(), FormatTimeSeconds(FromTimestamp(d.sent())),
                       acknowledged(s->seq()), public_of(*s), d.title());
  }
  return Status::Ok();
}

Status OverdueCommand(const std::string& state_dir, bool json, std::ostream& out) {
  FLATCAST_RETURN_IF_ERROR(CheckStateDir(state_dir));
  Result<OperatorState> state = ReadOperatorState(state_dir);
  if (!state.ok()) return state.status();
  const v1::OverdueReport& report = state->overdue;
  if (json) {
    std::string text;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    (void)google::protobuf::util::MessageToJsonString(report, &text, options);
    out << text << "\n";
    return Status::Ok();
  }
  if (report.own_size() == 0 && report.children_size() == 0) {
    out << "nothing overdue\n";
    return Status::Ok();
  }
  auto due = [](const v1::OverdueItem& item) {
    return FormatTimeSeconds(FromTimestamp(item.deadline()));
  };
  if (report.own_size() > 0) {
    out << "This unit is overdue:\n";
    out << fmt::format("  {:<32} {:>3}  {:<10} {:<20}  {}\n", "ID", "VER", "LEVEL", "DUE", "TITLE");
    for (const v1::OverdueItem& item : report.own()) {
      out << fmt::format("  {:<32} {:>3}  {:<10} {:<20}  {}\n", item.directive_id(), item.version(),
                         v1::AckLevel_Name(item.level()), due(item), item.title());
    }
  }
  if (report.children_size() > 0) {
    out << "Overdue units below this unit:\n";
    for (const v1::OverdueItem& item : report.children()) {
      out << fmt::format("  {} v{} {} due {} ({}): {} units\n", item.directive_id(), item.version(),
                         v1::AckLevel_Name(item.level()), due(item), item.title(), item.units_size());
      for (int i = 0; i < item.units_size(); ++i) {
        out << fmt::format("    {:<14} {}\n", item.units(i),
                           i < item.unit_names_size() ? item.unit_names(i) : "");
      }
    }
  }
  out << "as of " << FormatTimeSeconds(FromTimestamp(report.as_of())) << "\n";
  return Status::Ok();
}

Status ShowDirectiveCommand(const std::string& state_dir, const std::string& id,
                            std::optional<uint32_t> version, bool json, std::ostream& out,
                            TimePoint now, const std::vector<std::string>& languages) {
  FLATCAST_RETURN_IF_ERROR(CheckStateDir(state_dir));
  Result<InboxFiles> files = FindInInbox(state_dir, id, version);
  if (!files.ok()) return files.status();
  if (json) {
    std::optional<std::string> json_text = ReadText(files->json_path);
    if (!json_text) return Status::IOError(fmt::format("cannot read {}", files->json_path));
    out << *json_text;
    if (!json_text->empty() && json_text->back() != '\n') out << "\n";
    return Status::Ok();
  }
  // Rendered now rather than read from the .txt file, so that the time left
  // before public release is current; the .txt file is for people browsing
  // the directory.
  Result<v1::StoredDirective> stored = ReadStored(*files);
  if (!stored.ok()) return stored.status();
  std::optional<std::string> text = RenderDirectiveText(*stored, now, languages);
  out << *text;
  if (!text->empty() && text->back() != '\n') out << "\n";
  // Where each attached document is, once fetched and checked.
  for (const v1::Attachment& a : stored->directive().attachments()) {
    const std::string path = AttachmentsDir(state_dir) + "/" + ToHex(a.sha256());
    std::error_code ec;
    out << fmt::format("Document {}: {}\n", a.name(),
                       std::filesystem::exists(path, ec) ? path : "not fetched yet (the daemon fetches it)");
  }
  if (stored->directive().has_return_form()) {
    // This unit's answer, as the daemon recorded it.
    Result<OperatorState> state = ReadOperatorState(state_dir);
    if (!state.ok()) return state.status();
    const v1::ReturnForm& form = stored->directive().return_form();
    auto values = [&](const v1::ReturnAnswer& answer) {
      for (const v1::FieldValue& v : answer.values()) {
        if (const v1::FormField* f = FindFormField(form, v.key())) {
          out << fmt::format("  {} = {}\n", v.key(), FormatFieldValue(*f, v));
        }
      }
    };
    bool any = false;
    for (const auto& [key, answer] : state->pending_returns) {
      if (key.first != stored->seq()) continue;
      out << fmt::format("\nYour answer of {} (not yet confirmed by the broker):\n",
                         FormatTimeSeconds(key.second));
      values(answer);
      any = true;
    }
    if (auto it = state->returned.find(stored->seq()); it != state->returned.end()) {
      out << fmt::format("\nYour answer of {} (stored by the broker{}):\n",
                         FormatTimeSeconds(FromTimestamp(it->second.answer.answered())),
                         it->second.revision > 1
                             ? fmt::format(", correction {}", it->second.revision - 1)
                             : "");
      values(it->second.answer);
      any = true;
    }
    if (!any) out << "\nNot answered yet.\n";
  }
  return Status::Ok();
}

}  // namespace flatcast::subscriber
