#include "flatcast/subscriber/inbox_commands.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include "flatcast/directive.h"
#include "flatcast/duration.h"
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

Status ListInboxCommand(const std::string& state_dir, bool json, std::ostream& out) {
  FLATCAST_RETURN_IF_ERROR(CheckStateDir(state_dir));
  Result<std::vector<v1::StoredDirective>> stored = ReadInbox(state_dir);
  if (!stored.ok()) return stored.status();
  if (json) {
    nlohmann::json list = nlohmann::json::array();
    for (const v1::StoredDirective& s : *stored) {
      const v1::Directive& d = s.directive();
      list.push_back({{"seq", s.seq()},
                      {"id", d.id()},
                      {"version", d.version()},
                      {"title", d.title()},
                      {"issuer_unit", d.issuer_unit()},
                      {"status", std::string(StatusName(d.status()))},
                      {"sent", FormatTime(FromTimestamp(d.sent()))}});
    }
    out << list.dump(2) << "\n";
    return Status::Ok();
  }
  if (stored->empty()) {
    out << "inbox is empty\n";
    return Status::Ok();
  }
  out << fmt::format("{:>6}  {:<32} {:>3}  {:<20}  {}\n", "SEQ", "ID", "VER", "SENT", "TITLE");
  for (const v1::StoredDirective& s : *stored) {
    const v1::Directive& d = s.directive();
    auto sent = std::chrono::floor<std::chrono::seconds>(FromTimestamp(d.sent()));
    out << fmt::format("{:>6}  {:<32} {:>3}  {:<20}  {}\n", s.seq(), d.id(), d.version(),
                       FormatTime(sent), d.title());
  }
  return Status::Ok();
}

Status ShowDirectiveCommand(const std::string& state_dir, const std::string& id,
                            std::optional<uint32_t> version, bool json, std::ostream& out) {
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
  std::optional<std::string> text = ReadText(files->text_path);
  if (!text) {
    // The rendering can be lost (removed by hand, or a crash the daemon has
    // not yet repaired); the JSON holds everything needed to make it again.
    Result<v1::StoredDirective> stored = ReadStored(*files);
    if (!stored.ok()) return stored.status();
    text = RenderDirectiveText(*stored);
  }
  out << *text;
  if (!text->empty() && text->back() != '\n') out << "\n";
  return Status::Ok();
}

}  // namespace flatcast::subscriber
