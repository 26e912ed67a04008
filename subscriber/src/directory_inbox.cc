#include "flatcast/subscriber/directory_inbox.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <sstream>

#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "flatcast/file_util.h"

namespace flatcast::subscriber {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kJsonExt = ".json";
constexpr std::string_view kTextExt = ".txt";

std::string InboxDir(const std::string& state_dir) {
  return (fs::path(state_dir) / "inbox").string();
}
std::string StatePath(const std::string& state_dir) {
  return (fs::path(state_dir) / "state.json").string();
}
std::string Stem(std::string_view id, uint32_t version) {
  return fmt::format("{}.v{}", id, version);
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// "<id>.v<version>" -> (id, version); nullopt for any other name.
std::optional<std::pair<std::string, uint32_t>> ParseStem(std::string_view stem) {
  size_t dot = stem.rfind(".v");
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  std::string_view digits = stem.substr(dot + 2);
  if (digits.empty() || digits.size() > 9) return std::nullopt;
  uint32_t version = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    version = version * 10 + static_cast<uint32_t>(c - '0');
  }
  std::string id(stem.substr(0, dot));
  if (!IsStorableId(id)) return std::nullopt;
  return std::make_pair(std::move(id), version);
}

// "<id>.v<version>.json" -> (id, version); nullopt for any other name.
std::optional<std::pair<std::string, uint32_t>> ParseJsonName(std::string_view name) {
  if (!EndsWith(name, kJsonExt)) return std::nullopt;
  return ParseStem(name.substr(0, name.size() - kJsonExt.size()));
}

// The entries of the inbox directory of `state_dir`; none when it does not
// exist yet.
Result<std::vector<fs::path>> ListInboxDir(const std::string& state_dir) {
  std::vector<fs::path> paths;
  std::string dir = InboxDir(state_dir);
  std::error_code ec;
  if (!fs::exists(dir, ec)) return paths;
  fs::directory_iterator it(dir, ec);
  if (ec) return Status::IOError(fmt::format("cannot list {}: {}", dir, ec.message()));
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return Status::IOError(fmt::format("cannot list {}: {}", dir, ec.message()));
    paths.push_back(it->path());
  }
  return paths;
}

Result<v1::StoredDirective> ParseStoredJson(const std::string& json, const std::string& path) {
  v1::StoredDirective stored;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto status = google::protobuf::util::JsonStringToMessage(json, &stored, options);
  if (!status.ok()) {
    return Status::Corruption(
        fmt::format("stored directive {} does not parse: {}", path, std::string(status.message())));
  }
  return stored;
}

// Reads and checks one inbox/<id>.v<version>.json file.
Result<v1::StoredDirective> ReadStoredFile(const std::string& path, const std::string& id,
                                           uint32_t version) {
  Result<std::string> json = ReadWholeFile(path);
  if (!json.ok()) return json.status();
  Result<v1::StoredDirective> stored = ParseStoredJson(*json, path);
  if (!stored.ok()) return stored.status();
  if (stored->directive().id() != id || stored->directive().version() != version) {
    return Status::Corruption(
        fmt::format("stored directive {} holds {} v{}, not what its name says", path,
                    stored->directive().id(), stored->directive().version()));
  }
  return stored;
}

struct InboxScan {
  std::vector<std::pair<v1::StoredDirective, std::string>> stored;  // with json path
  std::set<std::string> text_stems;
  std::vector<std::string> leftovers;  // temporary files of interrupted writes
};

Result<InboxScan> ScanInbox(const std::string& state_dir) {
  Result<std::vector<fs::path>> paths = ListInboxDir(state_dir);
  if (!paths.ok()) return paths.status();
  InboxScan scan;
  for (const fs::path& path : *paths) {
    std::string name = path.filename().string();
    // A write cut short: "<name>.tmp.XXXXXX", or "<name>.tmp" in inboxes
    // written by earlier builds.
    if (IsAtomicWriteLeftover(name) || EndsWith(name, ".tmp")) {
      scan.leftovers.push_back(path.string());
      continue;
    }
    if (EndsWith(name, kTextExt)) {
      scan.text_stems.insert(name.substr(0, name.size() - kTextExt.size()));
      continue;
    }
    auto key = ParseJsonName(name);
    if (!key) continue;  // not ours
    Result<v1::StoredDirective> stored = ReadStoredFile(path.string(), key->first, key->second);
    if (!stored.ok()) return stored.status();
    scan.stored.emplace_back(std::move(stored).value(), path.string());
  }
  std::sort(scan.stored.begin(), scan.stored.end(),
            [](const auto& a, const auto& b) { return a.first.seq() < b.first.seq(); });
  return scan;
}

using StateFile = TerminalState;

std::string StateToJson(uint64_t last_seq, const OperatorState& state) {
  nlohmann::json acks = nlohmann::json::array();
  for (const auto& [key, ack] : state.pending_acks) {
    nlohmann::json a = {{"seq", ack.seq},
                        {"directive_id", ack.directive_id},
                        {"version", ack.version},
                        {"level", v1::AckLevel_Name(ack.level)},
                        {"acked", FormatTime(ack.acked)}};
    if (!ack.note.empty()) a["note"] = ack.note;
    acks.push_back(std::move(a));
  }
  nlohmann::json ratings = nlohmann::json::array();
  for (const auto& [key, r] : state.pending_ratings) {
    ratings.push_back({{"seq", r.seq},
                       {"directive_id", r.directive_id},
                       {"version", r.version},
                       {"clarity", r.clarity},
                       {"feasibility", r.feasibility},
                       {"comment", r.comment},
                       {"rated", FormatTime(r.rated)}});
  }
  nlohmann::json acknowledged = nlohmann::json::array();
  for (const auto& [key, at] : state.acknowledged) {
    acknowledged.push_back({{"seq", key.first},
                            {"level", v1::AckLevel_Name(static_cast<v1::AckLevel>(key.second))},
                            {"acked", FormatTime(at)}});
  }
  nlohmann::json rated = nlohmann::json::array();
  for (const auto& [seq, at] : state.rated) rated.push_back({{"seq", seq}, {"rated", FormatTime(at)}});
  google::protobuf::util::JsonPrintOptions proto_json;
  proto_json.preserve_proto_field_names = true;
  auto answer_json = [&](const v1::ReturnAnswer& answer) {
    std::string text;
    (void)google::protobuf::util::MessageToJsonString(answer, &text, proto_json);
    return nlohmann::json::parse(text, nullptr, false);
  };
  nlohmann::json pending_returns = nlohmann::json::array();
  for (const auto& [key, answer] : state.pending_returns) pending_returns.push_back(answer_json(answer));
  nlohmann::json returned = nlohmann::json::array();
  for (const auto& [seq, confirmed] : state.returned) {
    returned.push_back({{"revision", confirmed.revision}, {"answer", answer_json(confirmed.answer)}});
  }
  nlohmann::json doc = {{"last_seq", last_seq},
                        {"pending_acks", std::move(acks)},
                        {"pending_ratings", std::move(ratings)},
                        {"acknowledged", std::move(acknowledged)},
                        {"rated", std::move(rated)},
                        {"pending_returns", std::move(pending_returns)},
                        {"returned", std::move(returned)}};
  if (state.overdue.own_size() > 0 || state.overdue.children_size() > 0) {
    std::string overdue;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(state.overdue, &overdue, options);
    doc["overdue"] = nlohmann::json::parse(overdue, nullptr, false);
  }
  return doc.dump(2) + "\n";
}

}  // namespace

Result<TerminalState> ParseTerminalState(const std::string& text, const std::string& path) {
  auto corrupt = [&](std::string_view why) {
    return Status::Corruption(fmt::format(
        "state file {} is corrupt: {} (the inbox/ files are intact; move the state file aside "
        "to rebuild it from them)",
        path, why));
  };
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return corrupt("not valid JSON");
  if (!doc.is_object()) return corrupt("not a JSON object");
  StateFile file;
  auto last_seq = doc.find("last_seq");
  if (last_seq == doc.end() || !last_seq->is_number_unsigned()) {
    return corrupt("\"last_seq\" missing or not a non-negative integer");
  }
  file.last_seq = last_seq->get<uint64_t>();

  // Each list is optional; an entry must have every field it names.
  auto each = [&](const char* list, auto&& parse) -> Status {
    auto it = doc.find(list);
    if (it == doc.end()) return Status::Ok();
    if (!it->is_array()) return corrupt(fmt::format("\"{}\" is not an array", list));
    for (size_t i = 0; i < it->size(); ++i) {
      const nlohmann::json& e = (*it)[i];
      std::string where = fmt::format("{}[{}]", list, i);
      if (!e.is_object()) return corrupt(where + " is not an object");
      FLATCAST_RETURN_IF_ERROR(parse(e, where));
    }
    return Status::Ok();
  };
  auto number = [&](const nlohmann::json& e, const std::string& where, const char* name,
                    uint64_t max, uint64_t& out) -> Status {
    auto f = e.find(name);
    if (f == e.end() || !f->is_number_unsigned() || f->get<uint64_t>() > max) {
      return corrupt(fmt::format("{}.{} is missing or invalid", where, name));
    }
    out = f->get<uint64_t>();
    return Status::Ok();
  };
  auto text_field = [&](const nlohmann::json& e, const std::string& where, const char* name,
                        bool required, std::string& out) -> Status {
    auto f = e.find(name);
    if (f == e.end() && !required) return Status::Ok();
    if (f == e.end() || !f->is_string()) {
      return corrupt(fmt::format("{}.{} is missing or invalid", where, name));
    }
    out = f->get<std::string>();
    return Status::Ok();
  };
  auto time = [&](const nlohmann::json& e, const std::string& where, const char* name,
                  TimePoint& out) -> Status {
    std::string value;
    FLATCAST_RETURN_IF_ERROR(text_field(e, where, name, true, value));
    Result<TimePoint> t = ParseTime(value);
    if (!t.ok()) return corrupt(fmt::format("{}.{}: {}", where, name, t.status().message()));
    out = *t;
    return Status::Ok();
  };
  auto level = [&](const nlohmann::json& e, const std::string& where, v1::AckLevel& out) -> Status {
    std::string name;
    FLATCAST_RETURN_IF_ERROR(text_field(e, where, "level", true, name));
    if (!v1::AckLevel_Parse(name, &out) || out == v1::ACK_LEVEL_UNSPECIFIED) {
      return corrupt(where + ".level is not RECEIVED, CONFIRMED or READY");
    }
    return Status::Ok();
  };
  OperatorState& state = file.state;
  FLATCAST_RETURN_IF_ERROR(each("pending_acks", [&](const nlohmann::json& e, const std::string& w) {
    PendingAck ack;
    uint64_t version = 0;
    FLATCAST_RETURN_IF_ERROR(number(e, w, "seq", UINT64_MAX, ack.seq));
    FLATCAST_RETURN_IF_ERROR(text_field(e, w, "directive_id", true, ack.directive_id));
    FLATCAST_RETURN_IF_ERROR(number(e, w, "version", UINT32_MAX, version));
    ack.version = static_cast<uint32_t>(version);
    FLATCAST_RETURN_IF_ERROR(level(e, w, ack.level));
    FLATCAST_RETURN_IF_ERROR(time(e, w, "acked", ack.acked));
    FLATCAST_RETURN_IF_ERROR(text_field(e, w, "note", false, ack.note));
    state.pending_acks[{ack.seq, ack.level}] = std::move(ack);
    return Status::Ok();
  }));
  FLATCAST_RETURN_IF_ERROR(each("pending_ratings", [&](const nlohmann::json& e,
                                                       const std::string& w) {
    PendingRating r;
    uint64_t version = 0, clarity = 0, feasibility = 0;
    FLATCAST_RETURN_IF_ERROR(number(e, w, "seq", UINT64_MAX, r.seq));
    FLATCAST_RETURN_IF_ERROR(text_field(e, w, "directive_id", true, r.directive_id));
    FLATCAST_RETURN_IF_ERROR(number(e, w, "version", UINT32_MAX, version));
    FLATCAST_RETURN_IF_ERROR(number(e, w, "clarity", 5, clarity));
    FLATCAST_RETURN_IF_ERROR(number(e, w, "feasibility", 5, feasibility));
    FLATCAST_RETURN_IF_ERROR(text_field(e, w, "comment", false, r.comment));
    FLATCAST_RETURN_IF_ERROR(time(e, w, "rated", r.rated));
    r.version = static_cast<uint32_t>(version);
    r.clarity = static_cast<uint32_t>(clarity);
    r.feasibility = static_cast<uint32_t>(feasibility);
    state.pending_ratings[{r.seq, r.rated}] = std::move(r);
    return Status::Ok();
  }));
  FLATCAST_RETURN_IF_ERROR(each("acknowledged", [&](const nlohmann::json& e, const std::string& w) {
    uint64_t seq = 0;
    v1::AckLevel l;
    TimePoint at;
    FLATCAST_RETURN_IF_ERROR(number(e, w, "seq", UINT64_MAX, seq));
    FLATCAST_RETURN_IF_ERROR(level(e, w, l));
    FLATCAST_RETURN_IF_ERROR(time(e, w, "acked", at));
    state.acknowledged[{seq, l}] = at;
    return Status::Ok();
  }));
  FLATCAST_RETURN_IF_ERROR(each("rated", [&](const nlohmann::json& e, const std::string& w) {
    uint64_t seq = 0;
    TimePoint at;
    FLATCAST_RETURN_IF_ERROR(number(e, w, "seq", UINT64_MAX, seq));
    FLATCAST_RETURN_IF_ERROR(time(e, w, "rated", at));
    state.rated[seq] = at;
    return Status::Ok();
  }));
  auto answer = [&](const nlohmann::json& j, const std::string& w,
                    v1::ReturnAnswer& out) -> Status {
    if (!j.is_object() ||
        !google::protobuf::util::JsonStringToMessage(j.dump(), &out,
                                                     google::protobuf::util::JsonParseOptions())
             .ok()) {
      return corrupt(w + " is not an answer to a return form");
    }
    if (out.seq() == 0 || !out.has_answered() || !CheckStoredTime(out.answered(), "answered").ok()) {
      return corrupt(w + " has no seq or no valid answered time");
    }
    return Status::Ok();
  };
  FLATCAST_RETURN_IF_ERROR(each("pending_returns", [&](const nlohmann::json& e,
                                                       const std::string& w) {
    v1::ReturnAnswer a;
    FLATCAST_RETURN_IF_ERROR(answer(e, w, a));
    TimePoint answered = FromTimestamp(a.answered());
    state.pending_returns[{a.seq(), answered}] = std::move(a);
    return Status::Ok();
  }));
  FLATCAST_RETURN_IF_ERROR(each("returned", [&](const nlohmann::json& e, const std::string& w) {
    ConfirmedReturn r;
    uint64_t revision = 0;
    FLATCAST_RETURN_IF_ERROR(number(e, w, "revision", UINT32_MAX, revision));
    auto a = e.find("answer");
    if (a == e.end()) return corrupt(w + ".answer is missing");
    FLATCAST_RETURN_IF_ERROR(answer(*a, w + ".answer", r.answer));
    r.revision = static_cast<uint32_t>(revision);
    const uint64_t seq = r.answer.seq();
    state.returned[seq] = std::move(r);
    return Status::Ok();
  }));
  if (auto overdue = doc.find("overdue"); overdue != doc.end()) {
    google::protobuf::util::JsonParseOptions options;
    if (!google::protobuf::util::JsonStringToMessage(overdue->dump(), &state.overdue, options).ok()) {
      return corrupt("\"overdue\" is not an overdue report");
    }
  }
  return file;
}

namespace {

TimePoint ModificationTime(const std::string& path) {
  std::error_code ec;
  auto ftime = fs::last_write_time(path, ec);
  if (ec) return std::chrono::system_clock::now();
  return std::chrono::time_point_cast<TimePoint::duration>(std::chrono::file_clock::to_sys(ftime));
}

}  // namespace

bool IsStorableId(std::string_view id) {
  if (id.empty() || id.size() > 200 || id.front() == '.') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

Result<std::unique_ptr<DirectoryInbox>> DirectoryInbox::Open(const std::string& state_dir,
                                                             std::vector<std::string> languages) {
  std::error_code ec;
  fs::create_directories(InboxDir(state_dir), ec);
  if (ec) {
    return Status::IOError(
        fmt::format("cannot create state directory {}: {}", InboxDir(state_dir), ec.message()));
  }
  std::string lock_path = (fs::path(state_dir) / "lock").string();
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) return ErrnoStatus("open", lock_path, errno);
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(lock_fd);
    if (err == EWOULDBLOCK) {
      return Status::Unavailable(
          fmt::format("state directory {} is in use by another terminal process", state_dir));
    }
    return ErrnoStatus("lock", lock_path, err);
  }
  std::unique_ptr<DirectoryInbox> inbox(new DirectoryInbox(state_dir, lock_fd, std::move(languages)));
  FLATCAST_RETURN_IF_ERROR(inbox->Load());
  return inbox;
}

DirectoryInbox::DirectoryInbox(std::string state_dir, int lock_fd, std::vector<std::string> languages)
    : state_dir_(std::move(state_dir)), lock_fd_(lock_fd), languages_(std::move(languages)) {}

DirectoryInbox::~DirectoryInbox() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

Status DirectoryInbox::Load() {
  std::string state_path = StatePath(state_dir_);
  StateFile state;
  bool have_state = false;
  std::error_code ec;
  if (fs::exists(state_path, ec)) {
    Result<std::string> text = ReadWholeFile(state_path);
    if (!text.ok()) return text.status();
    Result<StateFile> parsed = ParseTerminalState(*text, state_path);
    if (!parsed.ok()) return parsed.status();
    state = std::move(parsed).value();
    have_state = true;
  }

  Result<InboxScan> scan = ScanInbox(state_dir_);
  if (!scan.ok()) return scan.status();
  for (const std::string& leftover : scan->leftovers) fs::remove(leftover, ec);

  std::set<std::string> json_stems;
  RaiseLastSeq(state.last_seq);
  RestoreState(std::move(state.state));
  bool state_changed = !have_state;
  for (auto& [stored, json_path] : scan->stored) {
    const v1::Directive& d = stored.directive();
    std::string stem = Stem(d.id(), d.version());
    json_stems.insert(stem);
    // The text is written first; its absence means it was lost or removed by
    // hand, and it can always be rendered again.
    if (!scan->text_stems.count(stem)) {
      std::string text_path =
          (fs::path(InboxDir(state_dir_)) / (stem + std::string(kTextExt))).string();
      FLATCAST_RETURN_IF_ERROR(WriteFileAtomically(text_path, RenderDirectiveText(stored, std::nullopt, languages_)));
    }
    // Stored after the last state write: the process stopped before its
    // acknowledgement was recorded, so it was never sent. Record it now; the
    // broker still waits for it.
    if (stored.seq() > state.last_seq && !FindPendingAck(stored.seq(), v1::RECEIVED)) {
      mutable_state().pending_acks[{stored.seq(), v1::RECEIVED}] =
          PendingAck{stored.seq(), d.id(), d.version(), v1::RECEIVED, ModificationTime(json_path), ""};
      state_changed = true;
    }
    if (stored.seq() > last_seq()) state_changed = true;
    AddEntry(EntryOf(stored));
  }
  // A text file without its JSON is the first half of an interrupted Put.
  for (const std::string& stem : scan->text_stems) {
    if (!json_stems.count(stem) && ParseStem(stem)) {
      fs::remove(fs::path(InboxDir(state_dir_)) / (stem + std::string(kTextExt)), ec);
    }
  }
  if (state_changed) FLATCAST_RETURN_IF_ERROR(WriteState());
  return Status::Ok();
}

Status DirectoryInbox::WriteState() {
  return WriteFileAtomically(StatePath(state_dir_), StateToJson(last_seq(), operator_state()));
}

Status DirectoryInbox::Flush() { return WriteState(); }

Status DirectoryInbox::Put(const v1::StoredDirective& stored) {
  const v1::Directive& d = stored.directive();
  if (!IsStorableId(d.id())) {
    return Status::InvalidArgument(fmt::format(
        "directive id \"{}\" cannot name an inbox file (letters, digits, '-', '_', '.')", d.id()));
  }
  FLATCAST_RETURN_IF_ERROR(CheckNotStored(d));
  fs::path base = fs::path(InboxDir(state_dir_)) / Stem(d.id(), d.version());
  // Text before JSON: the JSON file is the mark of a stored directive, so it
  // must come last.
  FLATCAST_RETURN_IF_ERROR(
      WriteFileAtomically(base.string() + std::string(kTextExt),
                          RenderDirectiveText(stored, std::nullopt, languages_)));
  FLATCAST_RETURN_IF_ERROR(
      WriteFileAtomically(base.string() + std::string(kJsonExt), DirectiveToJson(stored)));
  // From here the directive is stored whatever happens to state.json: Open()
  // rebuilds last_seq from the inbox.
  AddEntry(EntryOf(stored));
  return WriteState();
}

Result<OperatorState> ReadOperatorState(const std::string& state_dir) {
  std::string path = StatePath(state_dir);
  std::error_code ec;
  if (!fs::exists(path, ec)) return OperatorState();
  Result<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  Result<StateFile> parsed = ParseTerminalState(*text, path);
  if (!parsed.ok()) return parsed.status();
  return std::move(parsed->state);
}

std::vector<const v1::StoredDirective*> LatestVersions(const std::vector<v1::StoredDirective>& stored) {
  std::map<std::string, const v1::StoredDirective*> latest;
  for (const v1::StoredDirective& s : stored) {
    auto& slot = latest[s.directive().id()];
    if (slot == nullptr || slot->directive().version() < s.directive().version()) slot = &s;
  }
  std::vector<const v1::StoredDirective*> shown;
  for (const v1::StoredDirective& s : stored) {
    if (latest[s.directive().id()] == &s) shown.push_back(&s);
  }
  return shown;
}

Result<std::vector<v1::StoredDirective>> ReadInbox(const std::string& state_dir) {
  Result<InboxScan> scan = ScanInbox(state_dir);
  if (!scan.ok()) return scan.status();
  std::vector<v1::StoredDirective> out;
  out.reserve(scan->stored.size());
  for (auto& [stored, path] : scan->stored) out.push_back(std::move(stored));
  return out;
}

Result<InboxFiles> FindInInbox(const std::string& state_dir, const std::string& id,
                               std::optional<uint32_t> version) {
  std::string dir = InboxDir(state_dir);
  std::optional<uint32_t> best;
  if (IsStorableId(id)) {
    Result<std::vector<fs::path>> paths = ListInboxDir(state_dir);
    if (!paths.ok()) return paths.status();
    for (const fs::path& path : *paths) {
      auto key = ParseJsonName(path.filename().string());
      if (!key || key->first != id) continue;
      if (version && key->second != *version) continue;
      if (!best || key->second > *best) best = key->second;
    }
  }
  if (!best) {
    if (version) {
      return Status::NotFound(
          fmt::format("no directive {} v{} in the inbox at {}", id, *version, dir));
    }
    return Status::NotFound(fmt::format("no directive {} in the inbox at {}", id, dir));
  }
  InboxFiles files;
  files.id = id;
  files.version = *best;
  fs::path base = fs::path(dir) / Stem(id, *best);
  files.json_path = base.string() + std::string(kJsonExt);
  files.text_path = base.string() + std::string(kTextExt);
  return files;
}

Result<v1::StoredDirective> ReadStored(const InboxFiles& files) {
  return ReadStoredFile(files.json_path, files.id, files.version);
}

std::string AttachmentsDir(const std::string& state_dir) { return state_dir + "/attachments"; }

}  // namespace flatcast::subscriber
