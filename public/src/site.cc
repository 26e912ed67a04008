#include "flatcast/feed/site.h"

#include <sodium.h>

#include <algorithm>
#include <sstream>

#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "flatcast/duration.h"
#include "flatcast/file_util.h"
#include "flatcast/http_request.h"
#include "flatcast/signing.h"
#include "flatcast/xml_out.h"

namespace flatcast::feed {

namespace {

namespace http = boost::beast::http;

constexpr char kNotFound[] = "{\"error\": \"not found\"}\n";
constexpr char kKeysPath[] = "/.well-known/flatcast/keys.json";
constexpr char kAttachmentsPrefix[] = "/public/attachments/";
// Requests have no business carrying bodies.
constexpr size_t kMaxRequestBody = 16 * 1024;
// Per-region answers kept at most, and their bytes; beyond, the cache
// starts again.
constexpr size_t kMaxCachedViews = 4096;
constexpr size_t kMaxCachedBytes = size_t{64} << 20;
// A reader's catch-up after Last-Event-ID comes in pages of about this
// much: the stream ends after one, and the reader (an EventSource
// reconnects by itself) asks again from the last id it got.
constexpr size_t kCatchUpPageBytes = 128 * 1024;

std::string Base64(std::string_view bytes) {
  if (sodium_init() < 0) return "";
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::string EscapeHtml(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// JSON text of `j`; bytes that are not UTF-8 (a client's query or header
// echoed in an error) are replaced, never thrown on.
std::string Dump(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string JsonError(std::string_view message) {
  return Dump(nlohmann::json{{"error", message}}) + "\n";
}

FeedResponse Error(int status, std::string_view message) {
  FeedResponse r;
  r.status = status;
  r.body = JsonError(message);
  return r;
}

// The value of `name` in a query string ("a=1&b=2"); nullopt when absent.
std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return std::string(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string StringOr(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<std::shared_ptr<const SiteEntry>> MakeEntry(const v1::PublicDocument& doc) {
  auto j = nlohmann::json::parse(doc.json(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("public document " + doc.public_id() + " is not a JSON object");
  }
  auto e = std::make_shared<SiteEntry>();
  e->doc = doc;
  e->title = StringOr(j, "title");
  e->body = StringOr(j, "body");
  e->status = StringOr(j, "status");
  e->msg_type = StringOr(j, "msg_type");
  e->issuer = StringOr(j, "issuer");
  e->department = StringOr(j, "department");
  e->released = StringOr(j, "released");
  e->expires = StringOr(j, "expires");
  if (auto a = j.find("actions"); a != j.end() && a->is_array()) {
    for (const auto& item : *a) e->actions.push_back(StringOr(item, "what"));
  }
  e->language = StringOr(j, "language");
  if (auto t = j.find("translations"); t != j.end() && t->is_array()) {
    for (const auto& item : *t) {
      if (!item.is_object()) continue;
      SiteEntry::Translation tr{StringOr(item, "language"), StringOr(item, "title"),
                                StringOr(item, "body"), {}};
      if (auto a = item.find("actions"); a != item.end() && a->is_array()) {
        for (const auto& what : *a) {
          if (what.is_string()) tr.actions.push_back(what.get<std::string>());
        }
      }
      e->translations.push_back(std::move(tr));
    }
  }
  std::string kind = doc.cancelled() ? "cancel" : (doc.version() > 1 ? "update" : "alert");
  e->event = fmt::format("id: {}\nevent: {}\ndata: {}\n\n", doc.public_seq(), kind, Dump(j));
  j.erase("body");
  j.erase("actions");
  if (auto t = j.find("translations"); t != j.end() && t->is_array()) {
    for (auto& item : *t) {
      if (!item.is_object()) continue;
      item.erase("body");
      item.erase("actions");
    }
  }
  e->summary = Dump(j);
  return std::shared_ptr<const SiteEntry>(std::move(e));
}

// Newest release first; among equal times, the later public change first.
bool NewerFirst(const SiteEntry* a, const SiteEntry* b) {
  auto ta = FromTimestamp(a->doc.released()), tb = FromTimestamp(b->doc.released());
  if (ta != tb) return ta > tb;
  return a->doc.public_seq() > b->doc.public_seq();
}

std::string Quoted(std::string s) { return "\"" + s + "\""; }

// A time as people in China read it: "2026-11-28 21:30 北京时间" (UTC+8).
std::string BeijingTime(const std::string& iso) {
  auto t = ParseTime(iso);
  if (!t.ok()) return iso;
  std::string s = FormatTimeSeconds(*t + std::chrono::hours(8));  // 2026-11-28T21:30:00Z
  return s.substr(0, 10) + " " + s.substr(11, 5) + " 北京时间";
}

}  // namespace

bool Site::Reaches(const v1::PublicDocument& doc, std::string_view region) {
  if (region.empty()) return true;
  for (const auto& code : doc.scope()) {
    if (Registry::IsWithin(region, code)) return true;
  }
  return false;
}

bool Site::Concerns(const v1::PublicDocument& doc, std::string_view region) {
  if (Reaches(doc, region)) return true;
  for (const auto& code : doc.withdrawn_from()) {
    if (Registry::IsWithin(region, code)) return true;
  }
  return false;
}

std::string Ed25519PublicKeyPem(std::string_view raw) {
  // SubjectPublicKeyInfo (RFC 8410): the algorithm id 1.3.101.112, then the key.
  static const std::string kPrefix("\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00", 12);
  return "-----BEGIN PUBLIC KEY-----\n" + Base64(kPrefix + std::string(raw)) +
         "\n-----END PUBLIC KEY-----\n";
}

Result<uint64_t> ParseLastEventId(std::string_view text) {
  if (text.empty() || text.size() > 20 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Status::InvalidArgument(
        fmt::format("Last-Event-ID \"{}\" is not an event id of this feed (1-20 digits)",
                    text.substr(0, 64)));
  }
  uint64_t v = 0;
  for (char c : text) {
    uint64_t next = v * 10 + static_cast<uint64_t>(c - '0');
    if (next / 10 != v) {
      return Status::InvalidArgument(fmt::format("Last-Event-ID \"{}\" is too large", text));
    }
    v = next;
  }
  return v;
}

Result<std::shared_ptr<const Site>> Site::Build(const std::vector<v1::PublicDocument>& docs,
                                                std::vector<v1::ReleaseKey> keys,
                                                std::shared_ptr<const Registry> registry,
                                                const Site* previous, std::string documents_dir) {
  std::shared_ptr<Site> site(new Site());
  site->registry_ = std::move(registry);
  site->documents_dir_ = std::move(documents_dir);
  for (const auto& doc : docs) {
    std::shared_ptr<const SiteEntry> entry;
    if (previous != nullptr) {
      auto it = previous->by_seq_.find(doc.public_seq());
      if (it != previous->by_seq_.end() && it->second->doc.public_id() == doc.public_id()) {
        entry = it->second;
      }
    }
    if (!entry) {
      auto made = MakeEntry(doc);
      if (!made.ok()) {
        // Not served, and nothing else held up by it.
        spdlog::warn("public document {} (event {}) not served: {}", doc.public_id().substr(0, 64),
                     doc.public_seq(), made.status().message());
        continue;
      }
      entry = std::move(made).value();
    }
    auto [at, inserted] = site->by_id_.emplace(doc.public_id(), entry);
    if (!inserted) {
      if (at->second->doc.public_seq() >= doc.public_seq()) continue;  // the later one counts
      site->by_seq_.erase(at->second->doc.public_seq());
      at->second = entry;
    }
    if (site->by_seq_.contains(doc.public_seq())) {
      spdlog::warn("public document {} has the event id {} of another; not served",
                   doc.public_id().substr(0, 64), doc.public_seq());
      site->by_id_.erase(doc.public_id());
      continue;
    }
    site->by_seq_[doc.public_seq()] = entry;
  }
  for (const auto& [seq, entry] : site->by_seq_) {
    for (const v1::Attachment& a : entry->doc.attachments()) site->documents_[ToHex(a.sha256())] = a;
  }
  nlohmann::json list = nlohmann::json::array();
  for (const auto& k : keys) {
    nlohmann::json j = {{"key_id", k.key_id()},
                        {"algorithm", "Ed25519"},
                        {"holder", k.holder()},
                        {"public_key", Base64(k.public_key())},
                        {"pem", Ed25519PublicKeyPem(k.public_key())}};
    j["valid_from"] = k.has_valid_from() ? nlohmann::json(FormatTime(FromTimestamp(k.valid_from())))
                                         : nlohmann::json(nullptr);
    j["valid_until"] = k.has_valid_until()
                           ? nlohmann::json(FormatTime(FromTimestamp(k.valid_until())))
                           : nlohmann::json(nullptr);
    list.push_back(std::move(j));
  }
  site->keys_json_ = Dump(nlohmann::json{{"keys", list}}, 2) + "\n";
  site->keys_ = std::move(keys);
  return std::shared_ptr<const Site>(std::move(site));
}

std::string Site::EventsAfter(const std::string& region, uint64_t after, size_t max_bytes,
                              uint64_t* last) const {
  std::string out;
  if (last != nullptr) *last = 0;
  for (auto it = by_seq_.upper_bound(after); it != by_seq_.end(); ++it) {
    if (!Concerns(it->second->doc, region)) continue;
    if (!out.empty() && out.size() + it->second->event.size() > max_bytes) break;
    out += it->second->event;
    if (last != nullptr) *last = it->first;
  }
  return out;
}

const Site::RegionView& Site::View(const std::string& region) const {
  {
    std::lock_guard lock(mu_);
    if (auto it = views_.find(region); it != views_.end()) return *it->second;
  }
  std::vector<const SiteEntry*> entries;
  uint64_t top = 0;
  for (const auto& [seq, e] : by_seq_) {
    if (!Reaches(e->doc, region)) continue;
    entries.push_back(e.get());
    top = std::max(top, seq);
  }
  std::sort(entries.begin(), entries.end(), NewerFirst);
  auto view = std::make_shared<RegionView>();
  // The highest event id and the count: a document that enters the region
  // raises the first, one that leaves it lowers the second.
  view->etag = "g" + std::to_string(top) + "-" + std::to_string(entries.size());
  std::string list = "{\n  \"directives\": [";
  for (size_t i = 0; i < entries.size(); ++i) {
    list += (i == 0 ? "\n    " : ",\n    ") + entries[i]->summary;
  }
  list += entries.empty() ? "]\n}\n" : "\n  ]\n}\n";
  view->list_json = std::move(list);

  std::string region_name = region.empty() ? "" : region;
  if (!region.empty()) {
    if (auto i = registry_->Find(region)) region_name = registry_->unit(*i).name;
  }
  XmlOut x;
  x.Start("feed", "http://www.w3.org/2005/Atom");
  x.Text("id", "urn:flatcast:public" + (region.empty() ? "" : ":" + region));
  x.Text("title", "flatcast public directives" + (region.empty() ? "" : " for " + region_name));
  TimePoint updated{};
  for (const SiteEntry* e : entries) updated = std::max(updated, FromTimestamp(e->doc.updated()));
  x.Text("updated", FormatTime(updated));
  x.Start("link");
  x.Attr("rel", "self");
  x.Attr("href", "/public/feed.atom" + (region.empty() ? "" : "?region=" + region));
  x.End();
  for (const SiteEntry* e : entries) {
    const std::string& id = e->doc.public_id();
    x.Start("entry");
    x.Text("id", "urn:flatcast:" + id);
    x.Text("title", e->doc.cancelled() ? "[Cancelled] " + e->title : e->title);
    x.Text("published", FormatTime(FromTimestamp(e->doc.released())));
    x.Text("updated", FormatTime(FromTimestamp(e->doc.updated())));
    x.Start("author");
    x.Text("name", e->issuer + " " + e->department);
    x.End();
    x.Start("link");
    x.Attr("href", "/public/directives/" + id);
    x.End();
    x.Start("link");
    x.Attr("rel", "alternate");
    x.Attr("type", "application/cap+xml");
    x.Attr("href", "/public/directives/" + id + "/cap.xml");
    x.End();
    x.Text("summary", e->body);
    x.End();
  }
  x.End();
  view->atom = x.Finish();
  view->html = Html(region, entries);

  const size_t bytes = view->list_json.size() + view->atom.size() + view->html.size();
  std::lock_guard lock(mu_);
  if (views_.size() >= kMaxCachedViews || views_bytes_ + bytes > kMaxCachedBytes) {
    views_.clear();
    views_bytes_ = 0;
  }
  auto [it, inserted] = views_.emplace(region, std::move(view));
  if (inserted) views_bytes_ += bytes;
  return *it->second;
}

std::string Site::Html(const std::string& region, const std::vector<const SiteEntry*>& entries) const {
  auto name_of = [&](const std::string& code) {
    if (code == kNationCode) return std::string(kNationName);
    if (auto i = registry_->Find(code)) return registry_->unit(*i).name;
    return code;
  };
  std::string where = region.empty() ? "全部地区 All regions" : name_of(region) + " " + region;
  std::string q = region.empty() ? "" : "?region=" + region;
  std::string out = fmt::format(R"(<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>公开发布 Public directives · {0}</title>
<link rel="alternate" type="application/atom+xml" href="/public/feed.atom{1}">
<style>
body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:0 auto;max-width:46rem;padding:0 1rem 3rem;line-height:1.55;color:#111;background:#fff}}
header{{border-bottom:2px solid #8b0000;margin-bottom:1rem}}
h1{{font-size:1.35rem;margin:1rem 0 .3rem}}
article{{border:1px solid #ccc;border-radius:6px;padding:.8rem 1rem;margin:1rem 0}}
article h2{{font-size:1.15rem;margin:.2rem 0}}
.meta{{color:#444;font-size:.9rem}}
.badge{{display:inline-block;font-size:.8rem;font-weight:bold;padding:0 .4rem;border-radius:3px;margin-right:.4rem}}
.Actual{{background:#b00000;color:#fff}} .Exercise{{background:#f2c200;color:#000}} .Test{{background:#888;color:#fff}}
.cancelled{{background:#333;color:#fff}}
article.is-cancelled h2{{text-decoration:line-through}}
.links a{{margin-right:1rem;font-size:.9rem}}
.attachments{{font-size:.9rem}} .attachments code{{word-break:break-all;font-size:.75rem;color:#555}}
form{{margin:.5rem 0}}
.translation{{border-top:1px dashed #bbb;margin-top:.6rem}}
.translation h3{{font-size:1.05rem;margin:.2rem 0}}
</style>
</head>
<body>
<header>
<h1>公开发布 Public directives</h1>
<p class="meta">{0} · <a href="/public/feed.atom{1}">Atom</a> · <a href="/public/directives{1}">JSON</a> · <a href="/.well-known/flatcast/keys.json">签名公钥 Release keys</a></p>
<form action="/public/page" method="get"><label>地区代码 Region code <input name="region" inputmode="numeric" pattern="[0-9]{{2,12}}" value="{2}"></label> <button>查看 Show</button></form>
</header>
<main>
)",
                                EscapeHtml(where), EscapeHtml(q), EscapeHtml(region));
  if (entries.empty()) out += "<p>暂无公开发布的指令。 Nothing has been released for this region.</p>\n";
  for (const SiteEntry* e : entries) {
    const std::string& id = e->doc.public_id();
    const std::string status_word = e->status == "Exercise" ? "演练 Exercise"
                                    : e->status == "Test"   ? "测试 Test"
                                                            : "正式 Actual";
    out += fmt::format("<article id=\"{}\"{}>\n<p>", EscapeHtml(id),
                       e->doc.cancelled() ? " class=\"is-cancelled\"" : "");
    out += fmt::format("<span class=\"badge {}\">{}</span>", EscapeHtml(e->status),
                       EscapeHtml(status_word));
    if (e->doc.cancelled()) out += "<span class=\"badge cancelled\">已撤销 Cancelled</span>";
    if (e->doc.version() > 1 && !e->doc.cancelled()) {
      out += fmt::format("<span class=\"badge Test\">第 {} 版 Version {}</span>", e->doc.version(),
                         e->doc.version());
    }
    out += "</p>\n";
    const std::string lang = e->language.empty() ? "zh-CN" : e->language;
    out += fmt::format("<h2 lang=\"{}\">{}</h2>\n", EscapeHtml(lang), EscapeHtml(e->title));
    std::string updated = FormatTime(FromTimestamp(e->doc.updated()));
    out += fmt::format("<p class=\"meta\">{} {} · 发布 released {}{}{}</p>\n",
                       EscapeHtml(name_of(e->issuer)), EscapeHtml(e->department),
                       EscapeHtml(BeijingTime(e->released)),
                       e->doc.cancelled()        ? " · 撤销 cancelled " + EscapeHtml(BeijingTime(updated))
                       : e->doc.version() > 1    ? " · 更新 updated " + EscapeHtml(BeijingTime(updated))
                                                 : "",
                       e->expires.empty() ? "" : " · 有效至 expires " + EscapeHtml(BeijingTime(e->expires)));
    auto text = [](const std::string& body, const std::vector<std::string>& actions) {
      std::string html = EscapeHtml(body);
      for (size_t p = 0; (p = html.find('\n', p)) != std::string::npos; p += 5) html.replace(p, 1, "<br>");
      html = "<p>" + html + "</p>\n";
      if (!actions.empty()) {
        html += "<ol>\n";
        for (const auto& a : actions) html += "<li>" + EscapeHtml(a) + "</li>\n";
        html += "</ol>\n";
      }
      return html;
    };
    out += fmt::format("<div lang=\"{}\">\n{}</div>\n", EscapeHtml(lang), text(e->body, e->actions));
    // Each other language in full, marked with its tag so that a reader's
    // browser, font and screen reader take it as that language.
    for (const auto& t : e->translations) {
      out += fmt::format("<section class=\"translation\" lang=\"{0}\"><p class=\"meta\">{0}</p>\n<h3>{1}</h3>\n{2}</section>\n",
                         EscapeHtml(t.language), EscapeHtml(t.title), text(t.body, t.actions));
    }
    // Attached documents, by name, with their size and SHA-256 to check a copy by.
    if (e->doc.attachments_size() > 0) {
      out += "<ul class=\"attachments\">\n";
      for (const v1::Attachment& doc : e->doc.attachments()) {
        out += fmt::format("<li>附件 Attachment: <a href=\"/public/attachments/{0}\">{1}</a> ({2} KB, SHA-256 <code>{0}</code>)</li>\n",
                           ToHex(doc.sha256()), EscapeHtml(doc.name()), (doc.size() + 1023) / 1024);
      }
      out += "</ul>\n";
    }
    out += fmt::format(
        "<p class=\"links\"><a href=\"/public/directives/{0}/cap.xml\">CAP</a><a "
        "href=\"/public/directives/{0}\">JSON</a><a "
        "href=\"/public/directives/{0}/signature\">签名 Signature</a></p>\n</article>\n",
        EscapeHtml(id));
  }
  out += "</main>\n</body>\n</html>\n";
  return out;
}

FeedResponse Site::Document(std::string_view hex, const FeedRequest& req) const {
  if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return Error(400, "an attached document is named by its SHA-256: 64 lowercase hex digits");
  }
  auto it = documents_.find(std::string(hex));
  if (it == documents_.end()) return Error(404, "no released directive has that document attached");
  const v1::Attachment& a = it->second;
  FeedResponse r;
  r.content_type = a.media_type();
  r.etag = Quoted(std::string(hex));  // the content's own digest: it never changes
  r.headers.emplace_back("Cache-Control", "public, max-age=31536000, immutable");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  if (!req.if_none_match.empty() && req.if_none_match == r.etag) {
    r.status = 304;
    return r;
  }
  Result<std::string> content =
      documents_dir_.empty() ? Result<std::string>(Status::NotFound("none kept"))
                             : ReadWholeFile(documents_dir_ + "/" + std::string(hex));
  if (!content.ok() || content->size() != a.size()) {
    FeedResponse later = Error(503, fmt::format("\"{}\" is not fetched from the broker yet; try again shortly",
                                                a.name()));
    later.headers.emplace_back("Retry-After", "10");
    return later;
  }
  r.body = std::move(*content);
  return r;
}

FeedResponse Site::Answer(const FeedRequest& req) const {
  if (req.method != "GET" && req.method != "HEAD") {
    FeedResponse r = Error(405, "read-only: GET or HEAD");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  std::string_view target = req.target;
  std::string_view path = target.substr(0, target.find('?'));
  std::string_view query =
      target.find('?') == std::string_view::npos ? "" : target.substr(target.find('?') + 1);
  std::string region;
  if (auto r = QueryParam(query, "region")) {
    region = *r;
    if (region.empty() || region.size() > 12 ||
        !std::all_of(region.begin(), region.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        !(region == kNationCode || registry_->Find(region))) {
      FeedResponse bad = Error(400, fmt::format("unknown region \"{}\": give a code of the registry "
                                                "(GB/T 2260, 2 to 12 digits, e.g. 520102)",
                                                std::string(r->substr(0, 64))));
      if (path == "/public/page" || path == "/public" || path == "/public/" || path == "/") {
        // For a person: a page that says so and leads back.
        bad.content_type = "text/html; charset=utf-8";
        bad.body = fmt::format(
            "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta "
            "name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>unknown "
            "region</title></head>\n<body><h1>没有这个地区代码 Unknown region</h1>\n<p>unknown "
            "region \"{}\": give a code of the registry (GB/T 2260, e.g. 520102).</p>\n<p><a "
            "href=\"/public/page\">全部地区 All regions</a></p></body></html>\n",
            EscapeHtml(r->substr(0, 64)));
      }
      return bad;
    }
  }
  auto with_etag = [&](std::string body, std::string type, std::string etag) {
    FeedResponse r;
    r.content_type = std::move(type);
    r.etag = Quoted(std::move(etag));
    if (!req.if_none_match.empty() && req.if_none_match == r.etag) {
      r.status = 304;
      return r;
    }
    r.body = std::move(body);
    return r;
  };
  if (path == "/public/directives" || path == "/public/directives/") {
    const RegionView& v = View(region);
    return with_etag(v.list_json, "application/json; charset=utf-8", "l" + v.etag);
  }
  if (path == "/public/feed.atom") {
    const RegionView& v = View(region);
    return with_etag(v.atom, "application/atom+xml; charset=utf-8", "a" + v.etag);
  }
  if (path == "/public/page" || path == "/public" || path == "/public/" || path == "/") {
    const RegionView& v = View(region);
    return with_etag(v.html, "text/html; charset=utf-8", "h" + v.etag);
  }
  if (path.starts_with(kAttachmentsPrefix)) return Document(path.substr(std::size(kAttachmentsPrefix) - 1), req);
  if (path == kKeysPath) {
    return with_etag(keys_json_, "application/json; charset=utf-8",
                     "k" + std::to_string(keys_.size()) + "-" + std::to_string(keys_json_.size()));
  }
  if (path == "/public/events") {
    FeedResponse r;
    r.event_stream = true;
    r.region = region;
    r.after = head();
    if (req.has_last_event_id) {
      auto id = ParseLastEventId(req.last_event_id);
      if (!id.ok()) return Error(400, id.status().message());
      uint64_t last = 0;
      r.body = EventsAfter(region, *id, kCatchUpPageBytes, &last);
      const uint64_t reached = last != 0 ? last : *id;
      // More than a page waits: the stream ends after this one and the
      // reader asks again from its last event.
      r.close_after = !EventsAfter(region, reached, 1).empty();
      r.after = r.close_after ? reached : std::max(*id, head());
      return r;
    }
    return r;
  }
  const std::string_view prefix = "/public/directives/";
  if (path.substr(0, prefix.size()) == prefix) {
    std::string_view rest = path.substr(prefix.size());
    enum { kJson, kCap, kSignature } what = kJson;
    if (rest.ends_with("/cap.xml")) {
      what = kCap;
      rest.remove_suffix(8);
    } else if (rest.ends_with("/signature")) {
      what = kSignature;
      rest.remove_suffix(10);
    }
    auto it = by_id_.find(std::string(rest));
    if (it != by_id_.end()) {
      const v1::PublicDocument& d = it->second->doc;
      const std::string seq = std::to_string(d.public_seq());
      switch (what) {
        case kJson:
          return with_etag(d.json(), "application/json; charset=utf-8", "d" + seq);
        case kCap:
          return with_etag(d.cap(), "application/cap+xml; charset=utf-8", "c" + seq);
        case kSignature:
          if (d.key_id().empty()) return Error(404, "this document is not signed");
          return with_etag(Dump(nlohmann::json{{"id", d.public_id()},
                                          {"algorithm", "Ed25519"},
                                          {"key_id", d.key_id()},
                                          {"json", "/public/directives/" + d.public_id()},
                                          {"json_signature", Base64(d.json_signature())},
                                          {"cap", "/public/directives/" + d.public_id() + "/cap.xml"},
                                          {"cap_signature", Base64(d.cap_signature())},
                                          {"keys", kKeysPath}},
                                 2) + "\n",
                           "application/json; charset=utf-8", "s" + seq);
      }
    }
  }
  FeedResponse r;
  r.status = 404;
  r.body = kNotFound;
  return r;
}

std::string AnswerHttpRequest(std::string_view raw, const Site& site) {
  std::ostringstream out;
  auto request = ParseRawHttpRequest(raw, kMaxRequestBody);
  http::response<http::string_body> res;
  if (!request) {
    res = {http::status::bad_request, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = JsonError("not an HTTP/1.1 request within 8 KiB of header");
    res.prepare_payload();
    out << res;
    return out.str();
  }
  FeedRequest req;
  req.method = std::string(request->method_string());
  req.target = std::string(request->target());
  req.if_none_match = std::string((*request)[http::field::if_none_match]);
  if (auto it = request->find("Last-Event-ID"); it != request->end()) {
    req.has_last_event_id = true;
    req.last_event_id = std::string(it->value());
  }
  FeedResponse answer = site.Answer(req);
  if (answer.event_stream) return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + answer.body;
  res = {static_cast<http::status>(answer.status), request->version()};
  res.set(http::field::content_type, answer.content_type);
  if (!answer.etag.empty()) res.set(http::field::etag, answer.etag);
  for (const auto& [k, v] : answer.headers) res.set(k, v);
  res.body() = request->method() == http::verb::head ? "" : answer.body;
  res.prepare_payload();
  out << res;
  return out.str();
}

}  // namespace flatcast::feed
