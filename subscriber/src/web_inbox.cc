#include "flatcast/language.h"
#include "flatcast/subscriber/web_inbox.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "flatcast/directive.h"
#include "flatcast/file_util.h"
#include "flatcast/signing.h"
#include "flatcast/duration.h"
#include "flatcast/return_form.h"
#include "flatcast/subscriber/directory_inbox.h"
#include "flatcast/subscriber/terminal_session.h"

namespace flatcast::subscriber {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kMinPassword = 8;
constexpr size_t kMaxPassword = 256;
constexpr int kFreeAttempts = 5;  // wrong passwords before each further one waits
constexpr auto kLockout = std::chrono::seconds(30);
constexpr char kCookie[] = "flatcast_session";

WebResponse Json(unsigned status, const json& body) {
  WebResponse r;
  r.status = status;
  // A request's bytes quoted in an error need not be UTF-8: replaced, not thrown.
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return r;
}
WebResponse Error(unsigned status, const std::string& message) {
  return Json(status, {{"error", message}});
}

std::optional<std::string> ReadWhole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

json ProtoJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(message, &text, options).ok()) return nullptr;
  return json::parse(text, nullptr, false);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// "a", "b", "" for "/api/directives/a/b" split after the prefix.
std::vector<std::string> PathParts(std::string_view path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    parts.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

// The cookie's value in a Cookie header, empty when absent.
std::string CookieValue(std::string_view header, std::string_view name) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string_view::npos) end = header.size();
    std::string_view pair = header.substr(pos, end - pos);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name && pair[name.size()] == '=') {
      return std::string(pair.substr(name.size() + 1));
    }
    pos = end + 1;
  }
  return "";
}

// The value a form field is typed as on the command line, from JSON.
std::optional<std::string> FieldText(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  if (value.is_number_integer()) return value.dump();
  return std::nullopt;
}

const char* AckText(const OperatorState& state, uint64_t seq, v1::AckLevel level) {
  if (state.acknowledged.contains({seq, level})) return "confirmed";
  if (state.pending_acks.contains({seq, level})) return "pending";
  return "";
}

json AnswerJson(const v1::ReturnForm& form, const v1::ReturnAnswer& answer) {
  json values = json::object();
  for (const v1::FieldValue& v : answer.values()) {
    if (const v1::FormField* f = FindFormField(form, v.key())) {
      values[v.key()] = FormatFieldValue(*f, v);
    }
  }
  return {{"answered", FormatTime(FromTimestamp(answer.answered()))}, {"values", values}};
}

}  // namespace

std::string WebPasswordPath(const std::string& state_dir) {
  return (fs::path(state_dir) / "web-password").string();
}

Status SetWebPassword(const std::string& state_dir, std::string_view password) {
  if (password.size() < kMinPassword) {
    return Status::InvalidArgument(
        fmt::format("the password is too short: at least {} characters", kMinPassword));
  }
  if (password.size() > kMaxPassword) {
    return Status::InvalidArgument(fmt::format("the password is longer than {} bytes", kMaxPassword));
  }
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  char hashed[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(hashed, password.data(), password.size(),
                        crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return Status::Internal("crypto_pwhash_str ran out of memory");
  }
  std::error_code ec;
  if (!fs::is_directory(state_dir, ec)) {
    return Status::NotFound(fmt::format("state directory {} does not exist", state_dir));
  }
  const std::string path = WebPasswordPath(state_dir);
  const std::string tmp = path + ".tmp";
  {
    const mode_t old = ::umask(077);
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    ::umask(old);
    out << hashed << "\n";
    out.flush();
    if (!out) return Status::IOError(fmt::format("cannot write {}", tmp));
  }
  fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write, ec);
  fs::rename(tmp, path, ec);
  if (ec) return Status::IOError(fmt::format("cannot replace {}: {}", path, ec.message()));
  return Status::Ok();
}

WebInbox::WebInbox(WebInboxOptions options, const Clock& clock, CallDaemonFn call_daemon)
    : options_(std::move(options)), clock_(clock), call_daemon_(std::move(call_daemon)) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
}

void WebInbox::set_self_hosts(std::vector<std::string> hosts) {
  std::lock_guard lock(mutex_);
  self_hosts_ = std::move(hosts);
}

std::string WebInbox::SessionToken(const std::string& cookie) const {
  return CookieValue(cookie, kCookie);
}

bool WebInbox::Authorized(const std::string& cookie) {
  const std::string token = SessionToken(cookie);
  if (token.empty()) return false;
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(token);
  if (it == sessions_.end()) return false;
  if (it->second <= clock_.Now()) {
    sessions_.erase(it);
    return false;
  }
  return true;
}

std::string WebInbox::Fingerprint() const {
  // state.json is replaced by a rename on every change (a new inode), and
  // every stored directive changes it too (its pending RECEIVED): with the
  // times, a change within one tick of the file system's clock still shows.
  // A document fetched whole is renamed into attachments/.
  std::string out;
  for (const fs::path& p : {fs::path(options_.state_dir) / "inbox",
                            fs::path(options_.state_dir) / "state.json",
                            fs::path(AttachmentsDir(options_.state_dir))}) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) {
      out += "-;";
      continue;
    }
    out += fmt::format("{}.{}:{}:{};", st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_ino, st.st_size);
  }
  return out;
}

WebResponse WebInbox::Answer(const WebRequest& request) {
  {
    std::lock_guard lock(mutex_);
    if (!self_hosts_.empty() &&
        std::find(self_hosts_.begin(), self_hosts_.end(), request.host) == self_hosts_.end()) {
      return Error(421, fmt::format("this listener does not answer for host \"{}\"", request.host));
    }
  }
  std::string path = request.target.substr(0, request.target.find('?'));
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool post = request.method == "POST";
  if (!get && !post) {
    WebResponse r = Error(405, "only GET, HEAD and POST");
    r.headers.emplace_back("Allow", "GET, HEAD, POST");
    return r;
  }
  // The page's files, from the directory the package ships.
  static const std::map<std::string, std::pair<std::string, std::string>> kFiles = {
      {"/", {"index.html", "text/html; charset=utf-8"}},
      {"/index.html", {"index.html", "text/html; charset=utf-8"}},
      {"/app.js", {"app.js", "text/javascript; charset=utf-8"}},
      {"/app.css", {"app.css", "text/css; charset=utf-8"}}};
  if (auto file = kFiles.find(path); file != kFiles.end()) {
    if (!get) return Error(405, "only GET for the page");
    std::optional<std::string> text = ReadWhole(fs::path(options_.web_root) / file->second.first);
    if (!text) {
      return Error(500, fmt::format("the page's file {} is missing from {} (web_root)",
                                    file->second.first, options_.web_root));
    }
    WebResponse r;
    r.content_type = file->second.second;
    r.body = std::move(*text);
    return r;
  }
  if (path.rfind("/api/", 0) != 0) return Error(404, fmt::format("no such page: {}", path));

  if (post) {
    // Cross-site requests: a browser names the page's origin on every POST a
    // script makes; another site's form or script cannot claim ours, and a
    // JSON body cannot be sent cross-site without a preflight we never allow.
    if (request.origin != "http://" + request.host) {
      return Error(403, request.origin.empty()
                            ? std::string("refused: a POST must come from the inbox page (no Origin)")
                            : fmt::format("refused: a request from another origin ({})",
                                          request.origin));
    }
    if (request.content_type.rfind("application/json", 0) != 0) {
      return Error(415, "refused: the body must be application/json");
    }
  }

  if (path == "/api/session" && get) {
    std::error_code ec;
    return Json(200, {{"logged_in", Authorized(request.cookie)},
                      {"unit", options_.unit},
                      {"password_set", fs::exists(WebPasswordPath(options_.state_dir), ec)}});
  }
  if (path == "/api/login" && post) return Login(request);
  if (path == "/api/logout" && post) {
    const std::string token = SessionToken(request.cookie);
    {
      std::lock_guard lock(mutex_);
      sessions_.erase(token);
    }
    WebResponse r = Json(200, {{"logged_in", false}});
    r.headers.emplace_back("Set-Cookie", fmt::format("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0", kCookie));
    return r;
  }
  if (!Authorized(request.cookie)) return Error(401, "log in first");
  if (path == "/api/inbox" && get) return Inbox();
  if (path == "/api/events" && request.method == "GET") {
    WebResponse r;
    r.content_type = "text/event-stream";
    r.event_stream = true;
    return r;
  }
  std::vector<std::string> parts = PathParts(path);  // "", "api", "directives", ID, ACTION
  if (parts.size() == 5 && parts[2] == "directives" && post) {
    return Act(parts[3], parts[4], request.body);
  }
  if (parts.size() == 4 && parts[2] == "attachments" && get) return Document(parts[3]);
  return Error(404, fmt::format("no such request: {} {}", request.method, path));
}

WebResponse WebInbox::Login(const WebRequest& request) {
  json body = json::parse(request.body, nullptr, false);
  if (!body.is_object() || !body.contains("password") || !body["password"].is_string()) {
    return Error(400, "the body must be {\"password\": \"...\"}");
  }
  const std::string password = body["password"].get<std::string>();
  const TimePoint now = clock_.Now();
  {
    std::lock_guard lock(mutex_);
    if (locked_until_ > now) {
      auto wait = std::chrono::ceil<std::chrono::seconds>(locked_until_ - now).count();
      WebResponse r = Error(429, fmt::format("too many wrong passwords: try again in {} s", wait));
      r.headers.emplace_back("Retry-After", std::to_string(wait));
      return r;
    }
  }
  std::optional<std::string> stored = ReadWhole(WebPasswordPath(options_.state_dir));
  if (!stored) {
    return Error(403, "no password is set for this terminal: set one with `flatcast-subscriber "
                      "web-password`");
  }
  while (!stored->empty() && (stored->back() == '\n' || stored->back() == '\r')) stored->pop_back();
  bool ok = password.size() <= kMaxPassword &&
            stored->size() < crypto_pwhash_STRBYTES &&
            crypto_pwhash_str_verify(stored->c_str(), password.data(), password.size()) == 0;
  std::lock_guard lock(mutex_);
  if (!ok) {
    if (++failed_logins_ >= kFreeAttempts) locked_until_ = now + kLockout;
    return Error(401, "wrong password");
  }
  failed_logins_ = 0;
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  std::string token;
  for (unsigned char c : raw) token += fmt::format("{:02x}", c);
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    it = it->second <= now ? sessions_.erase(it) : std::next(it);
  }
  sessions_[token] = now + options_.session_lifetime;
  WebResponse r = Json(200, {{"logged_in", true}, {"unit", options_.unit}});
  r.headers.emplace_back(
      "Set-Cookie",
      fmt::format("{}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}", kCookie, token,
                  std::chrono::duration_cast<std::chrono::seconds>(options_.session_lifetime).count()));
  return r;
}

WebResponse WebInbox::Document(const std::string& hex) {
  if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Error(400, "an attached document is named by its SHA-256: 64 lowercase hex digits");
  }
  // Served only as a directive of this inbox names it: its name and type.
  Result<std::vector<v1::StoredDirective>> stored = ReadInbox(options_.state_dir);
  if (!stored.ok()) return Error(500, stored.status().message());
  const v1::Attachment* named = nullptr;
  for (const v1::StoredDirective& s : *stored) {
    for (const v1::Attachment& a : s.directive().attachments()) {
      if (ToHex(a.sha256()) == hex) named = &a;
    }
  }
  if (named == nullptr) return Error(404, "no directive in this inbox has that document attached");
  Result<std::string> content = ReadWholeFile((fs::path(AttachmentsDir(options_.state_dir)) / hex).string());
  if (!content.ok()) {
    return Error(404, fmt::format("\"{}\" is not fetched yet: the terminal fetches it from the broker", named->name()));
  }
  WebResponse r;
  r.content_type = named->media_type();
  r.body = std::move(*content);
  // The name as given, percent-encoded (RFC 6266, RFC 8187), and an ASCII
  // fallback; the browser saves it rather than showing it in the page.
  std::string encoded;
  for (unsigned char c : named->name()) {
    if (std::isalnum(c) || c == '.' || c == '-' || c == '_') {
      encoded += static_cast<char>(c);
    } else {
      encoded += fmt::format("%{:02X}", c);
    }
  }
  r.headers.emplace_back("Content-Disposition",
                         fmt::format("attachment; filename=\"{}\"; filename*=UTF-8''{}", hex.substr(0, 16) +
                                     (named->media_type() == "application/pdf" ? ".pdf" :
                                      named->media_type() == "image/png" ? ".png" : ".jpg"), encoded));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return r;
}

WebResponse WebInbox::Inbox() {
  Result<std::vector<v1::StoredDirective>> stored = ReadInbox(options_.state_dir);
  if (!stored.ok()) return Error(500, stored.status().message());
  Result<OperatorState> state = ReadOperatorState(options_.state_dir);
  if (!state.ok()) return Error(500, state.status().message());
  Result<Tier> tier = ParseUnitCode(options_.unit);
  const std::string my_tier = tier.ok() ? Lower(TierName(*tier)) : "";

  std::vector<const v1::StoredDirective*> shown = LatestVersions(*stored);
  std::reverse(shown.begin(), shown.end());  // newest first

  const TimePoint now = clock_.Now();
  json items = json::array();
  for (const v1::StoredDirective* s : shown) {
    const v1::Directive& d = s->directive();
    // In the language the unit prefers; the others listed after.
    const std::vector<DirectiveText> texts = DirectiveTexts(d);
    const size_t shown = PreferredText(texts, options_.languages);
    const DirectiveText& text = texts[shown];
    json others = json::array();
    for (size_t i = 0; i < texts.size(); ++i) {
      if (i == shown) continue;
      others.push_back({{"language", texts[i].language}, {"title", texts[i].title},
                        {"body", texts[i].body}, {"actions", texts[i].actions}});
    }
    json actions = json::array();
    for (int ai = 0; ai < d.actions_size(); ++ai) {
      const v1::ActionItem& a = d.actions(ai);
      json item = {{"what", text.actions[ai]},
                   {"tier", Lower(v1::Tier_Name(a.responsible_tier()))},
                   {"internal", a.internal()}};
      if (a.has_due()) item["due"] = FormatTime(FromTimestamp(a.due()));
      item["mine"] = item["tier"] == my_tier;
      actions.push_back(item);
    }
    v1::PublicRecord record;
    if (d.is_public() && d.has_public_release()) {
      record.set_state(v1::PublicRecord::HELD);
      *record.mutable_release_at() = d.public_release();
    }
    json deadlines = json::array();
    for (const Deadline& dl : ResolveDeadlines(d, d.is_public() ? &record : nullptr)) {
      deadlines.push_back({{"level", Lower(v1::AckLevel_Name(dl.level))},
                           {"at", FormatTime(dl.at)}});
    }
    const uint64_t seq = s->seq();
    json acks = {{"received", state->pending_acks.contains({seq, v1::RECEIVED}) ? "pending" : "confirmed"},
                 {"confirmed", AckText(*state, seq, v1::CONFIRMED)},
                 {"ready", AckText(*state, seq, v1::READY)}};
    const bool read = std::string(acks["confirmed"]) != "" || std::string(acks["ready"]) != "";
    json item = {{"seq", seq},
                 {"id", d.id()},
                 {"version", d.version()},
                 {"language", text.language},
                 {"title", text.title},
                 {"body", text.body},
                 {"other_languages", others},
                 {"status", Lower(StatusName(d.status()))},
                 {"issuer_unit", d.issuer_unit()},
                 {"issuer_department", d.issuer_department()},
                 {"sent", FormatTime(FromTimestamp(d.sent()))},
                 {"cancelled", d.msg_type() == v1::CANCEL},
                 {"withdrawn", s->withdrawn()},
                 {"changes", std::vector<std::string>(d.changes().begin(), d.changes().end())},
                 {"is_public", d.is_public()},
                 {"actions", actions},
                 {"deadlines", deadlines},
                 {"signature_key", d.has_signature() ? d.signature().key_id() : ""},
                 {"acks", acks},
                 {"unread", !read}};
    if (d.is_public() && d.has_public_release()) {
      item["public_release"] = FormatTime(FromTimestamp(d.public_release()));
    }
    // Attached documents: a link once fetched whole and checked.
    json documents = json::array();
    for (const v1::Attachment& a : d.attachments()) {
      const std::string hex = ToHex(a.sha256());
      std::error_code ec;
      const bool held = fs::exists(fs::path(AttachmentsDir(options_.state_dir)) / hex, ec);
      json doc = {{"name", a.name()}, {"media_type", a.media_type()}, {"size", a.size()},
                  {"sha256", hex}, {"held", held}};
      if (held) doc["url"] = "/api/attachments/" + hex;
      documents.push_back(std::move(doc));
    }
    item["attachments"] = std::move(documents);
    // The rating: confirmed, or the latest still pending.
    for (const auto& [key, rating] : state->pending_ratings) {
      if (key.first == seq) item["rating"] = {{"state", "pending"}, {"at", FormatTime(key.second)}};
    }
    if (!item.contains("rating")) {
      if (auto it = state->rated.find(seq); it != state->rated.end()) {
        item["rating"] = {{"state", "confirmed"}, {"at", FormatTime(it->second)}};
      }
    }
    if (d.has_return_form()) {
      item["form"] = ProtoJson(d.return_form());
      json answer = nullptr;
      if (auto it = state->returned.find(seq); it != state->returned.end()) {
        answer = AnswerJson(d.return_form(), it->second.answer);
        answer["state"] = "confirmed";
        answer["revision"] = it->second.revision;
      }
      for (const auto& [key, pending] : state->pending_returns) {
        if (key.first != seq) continue;
        answer = AnswerJson(d.return_form(), pending);  // the latest pending, in time order
        answer["state"] = "pending";
      }
      item["answer"] = answer;
    }
    items.push_back(item);
  }
  json daemon = {{"running", false}};
  v1::OperatorRequest status_request;
  status_request.set_action(v1::OperatorRequest::STATUS);
  if (Result<v1::OperatorReply> reply = call_daemon_(status_request); reply.ok()) {
    daemon = {{"running", true},
              {"connected", reply->connected()},
              {"pending", reply->pending()},
              {"storage_error", reply->storage_error()}};
  } else {
    daemon["error"] = reply.status().message();
  }
  return Json(200, {{"unit", options_.unit},
                    {"tier", my_tier},
                    {"now", FormatTime(now)},
                    {"signatures_checked", options_.signatures_checked},
                    {"daemon", daemon},
                    {"directives", items},
                    {"overdue", ProtoJson(state->overdue)}});
}

WebResponse WebInbox::Act(const std::string& id, const std::string& action,
                          const std::string& body_text) {
  json body = body_text.empty() ? json::object() : json::parse(body_text, nullptr, false);
  if (!body.is_object()) return Error(400, "the body must be a JSON object");
  v1::OperatorRequest request;
  request.set_directive_id(id);
  auto text = [&](const char* key, size_t max) -> std::optional<std::string> {
    if (!body.contains(key)) return std::string();
    if (!body[key].is_string()) return std::nullopt;
    std::string value = body[key].get<std::string>();
    if (value.size() > max) return std::nullopt;
    return value;
  };
  if (action == "confirm") {
    request.set_action(v1::OperatorRequest::CONFIRM);
  } else if (action == "ready") {
    request.set_action(v1::OperatorRequest::READY);
    std::optional<std::string> note = text("note", 4096);
    if (!note) return Error(400, "note must be a string of at most 4096 bytes");
    request.set_note(*note);
  } else if (action == "rate") {
    request.set_action(v1::OperatorRequest::RATE);
    for (const char* key : {"clarity", "feasibility"}) {
      if (!body.contains(key) || !body[key].is_number_integer() || body[key].get<int64_t>() < 1 ||
          body[key].get<int64_t>() > 5) {
        return Error(400, fmt::format("{} must be a whole number from 1 to 5", key));
      }
    }
    request.set_clarity(body["clarity"].get<uint32_t>());
    request.set_feasibility(body["feasibility"].get<uint32_t>());
    std::optional<std::string> comment = text("comment", 4096);
    if (!comment) return Error(400, "comment must be a string of at most 4096 bytes");
    request.set_comment(*comment);
  } else if (action == "return") {
    request.set_action(v1::OperatorRequest::RETURN);
    if (!body.contains("fields") || !body["fields"].is_object()) {
      return Error(400, "the body must be {\"fields\": {\"key\": value, ...}}");
    }
    for (const auto& [key, value] : body["fields"].items()) {
      std::optional<std::string> typed = FieldText(value);
      if (!typed) {
        return Error(400, fmt::format("{}: a value must be a string, a whole number or true/false", key));
      }
      if (typed->empty()) continue;  // left blank on the page: not answered
      request.add_fields(key + "=" + *typed);
    }
  } else {
    return Error(404, fmt::format("no such action \"{}\" (confirm, ready, rate, return)", action));
  }
  Result<v1::OperatorReply> reply = call_daemon_(request);
  if (!reply.ok()) {
    const bool down = reply.status().code() == Status::Code::kUnavailable;
    return Error(down ? 503 : 400, reply.status().message());
  }
  return Json(200, {{"message", reply->message()},
                    {"connected", reply->connected()},
                    {"version", reply->version()}});
}

}  // namespace flatcast::subscriber
