#include "flatcast/public_view.h"

#include <libxml/xmlwriter.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "flatcast/directive.h"
#include "flatcast/duration.h"

namespace flatcast {

namespace {

bool Cancelled(const PublicEntry& e) {
  return e.record.state() == v1::PublicRecord::CANCELLED_AFTER_RELEASE;
}

// The internal version the release made public.
uint32_t ReleasedVersion(const PublicEntry& e) {
  return std::max<uint32_t>(1, e.record.released_version());
}


const char* MsgTypeName(const PublicEntry& e) {
  if (Cancelled(e)) return "Cancel";
  return PublicVersion(e) > 1 ? "Update" : "Alert";
}

// The CAP identifier of the message that first made the directive public.
std::string FirstPublicIdentifier(const PublicEntry& e) { return e.record.public_id() + ".v1"; }

const char* CapStatus(v1::DirectiveStatus s) {
  switch (s) {
    case v1::EXERCISE: return "Exercise";
    case v1::TEST: return "Test";
    default: return "Actual";
  }
}

const char* TierWord(v1::Tier t) {
  switch (t) {
    case v1::CITY: return "city";
    case v1::DISTRICT: return "district";
    case v1::STREET: return "street";
    case v1::COMMUNITY: return "community";
    default: return "province";
  }
}

TimePoint ReleasedAt(const PublicEntry& e) { return FromTimestamp(e.record.released_at()); }

nlohmann::json PublicJson(const PublicEntry& e, bool with_body) {
  const auto& d = e.latest.directive();
  nlohmann::json actions = nlohmann::json::array();
  for (const auto& a : d.actions()) {
    if (a.internal()) continue;
    nlohmann::json item = {{"what", a.what()}, {"tier", TierWord(a.responsible_tier())}};
    if (a.has_due()) item["due"] = FormatTime(FromTimestamp(a.due()));
    actions.push_back(item);
  }
  nlohmann::json j = {{"id", e.record.public_id()},
                      {"version", PublicVersion(e)},
                      {"msg_type", MsgTypeName(e)},
                      {"status", CapStatus(d.status())},
                      {"issuer", d.issuer_unit()},
                      {"department", d.issuer_department()},
                      {"title", d.title()},
                      {"released", FormatTime(ReleasedAt(e))},
                      {"scope", d.scope()}};
  if (with_body) {
    j["body"] = d.body();
    j["actions"] = actions;
  }
  // An update or a cancellation refers to the public message it follows,
  // never to the internal id (whose daily number counts held directives).
  if (Cancelled(e) || PublicVersion(e) > 1) j["references"] = {FirstPublicIdentifier(e)};
  if (d.has_expires()) j["expires"] = FormatTime(FromTimestamp(d.expires()));
  if (Cancelled(e)) {
    j["cancelled"] = FormatTime(FromTimestamp(e.record.cancelled_at()));
  }
  return j;
}

std::vector<const PublicEntry*> NewestFirst(const std::vector<PublicEntry>& entries) {
  std::vector<const PublicEntry*> sorted;
  for (const auto& e : entries) sorted.push_back(&e);
  std::stable_sort(sorted.begin(), sorted.end(), [](const PublicEntry* a, const PublicEntry* b) {
    return ReleasedAt(*a) > ReleasedAt(*b);
  });
  return sorted;
}

// A thin RAII wrapper over libxml2's text writer.
class XmlOut {
 public:
  XmlOut() : buf_(xmlBufferCreate()), w_(xmlNewTextWriterMemory(buf_, 0)) {
    xmlTextWriterSetIndent(w_, 1);
    xmlTextWriterSetIndentString(w_, BAD_CAST "  ");
    xmlTextWriterStartDocument(w_, nullptr, "UTF-8", nullptr);
  }
  ~XmlOut() {
    if (w_ != nullptr) xmlFreeTextWriter(w_);
    xmlBufferFree(buf_);
  }
  void Start(const char* name, const char* ns = nullptr) {
    if (ns != nullptr) {
      xmlTextWriterStartElementNS(w_, nullptr, BAD_CAST name, BAD_CAST ns);
    } else {
      xmlTextWriterStartElement(w_, BAD_CAST name);
    }
  }
  void End() { xmlTextWriterEndElement(w_); }
  void Attr(const char* name, const std::string& value) {
    xmlTextWriterWriteAttribute(w_, BAD_CAST name, BAD_CAST value.c_str());
  }
  void Text(const char* name, const std::string& value) {
    xmlTextWriterWriteElement(w_, BAD_CAST name, BAD_CAST value.c_str());
  }
  std::string Finish() {
    xmlTextWriterEndDocument(w_);
    xmlFreeTextWriter(w_);
    w_ = nullptr;
    return std::string(reinterpret_cast<const char*>(xmlBufferContent(buf_)),
                       static_cast<size_t>(xmlBufferLength(buf_)));
  }

 private:
  xmlBufferPtr buf_;
  xmlTextWriterPtr w_;
};

std::string Sender(const v1::Directive& d) {
  return d.issuer_unit() + "." + d.issuer_department() + "@flatcast";
}

}  // namespace

uint32_t PublicVersion(const PublicEntry& e) {
  const uint32_t v = e.latest.directive().version();
  return v >= ReleasedVersion(e) ? v - ReleasedVersion(e) + 1 : 1;
}

std::string CapTime(TimePoint t) {
  std::string s = FormatTimeSeconds(t);  // ...T09:30:00Z
  if (!s.empty() && s.back() == 'Z') s.pop_back();
  return s + "-00:00";
}

std::string PublicDirectiveJson(const PublicEntry& e) { return PublicJson(e, true).dump(2) + "\n"; }

std::string PublicListJson(const std::vector<PublicEntry>& entries) {
  nlohmann::json list = nlohmann::json::array();
  for (const PublicEntry* e : NewestFirst(entries)) list.push_back(PublicJson(*e, false));
  return nlohmann::json{{"directives", list}}.dump(2) + "\n";
}

std::string CapAlertXml(const PublicEntry& e, const Registry* registry) {
  const auto& d = e.latest.directive();
  bool cancelled = e.record.state() == v1::PublicRecord::CANCELLED_AFTER_RELEASE;
  TimePoint sent = cancelled ? FromTimestamp(e.record.cancelled_at()) : ReleasedAt(e);
  XmlOut x;
  x.Start("alert", "urn:oasis:names:tc:emergency:cap:1.2");
  x.Text("identifier",
         e.record.public_id() + (cancelled ? ".cancel" : ".v" + std::to_string(PublicVersion(e))));
  x.Text("sender", Sender(d));
  x.Text("sent", CapTime(sent));
  x.Text("status", CapStatus(d.status()));
  x.Text("msgType", MsgTypeName(e));
  x.Text("scope", "Public");
  if (cancelled) {
    x.Text("note", "This directive has been cancelled.");
  } else if (PublicVersion(e) > 1) {
    // What changed from the previous public version (amendments while held
    // are not told: the public never saw what they changed).
    std::vector<std::string> shown;
    for (const std::string& change : d.changes()) {
      if (!IsInternalChange(change)) shown.push_back(change);
    }
    std::string note = fmt::format("Version {} of this directive", PublicVersion(e));
    if (!shown.empty()) {
      note += fmt::format(". Changes from version {}: {}", PublicVersion(e) - 1, fmt::join(shown, "; "));
    }
    x.Text("note", note);
  }
  if (cancelled || PublicVersion(e) > 1) {
    x.Text("references",
           Sender(d) + "," + FirstPublicIdentifier(e) + "," + CapTime(ReleasedAt(e)));
  }
  x.Start("info");
  x.Text("language", "zh-CN");
  x.Text("category", d.issuer_department().find("HEALTH") != std::string::npos ? "Health" : "Other");
  x.Text("event", d.title());
  x.Text("urgency", "Unknown");
  x.Text("severity", "Unknown");
  x.Text("certainty", "Unknown");
  x.Text("effective", CapTime(ReleasedAt(e)));
  if (d.has_expires()) x.Text("expires", CapTime(FromTimestamp(d.expires())));
  std::string sender_name = d.issuer_unit();
  if (registry != nullptr) {
    if (auto i = registry->Find(d.issuer_unit())) sender_name = registry->unit(*i).name;
  }
  x.Text("senderName", sender_name + " " + d.issuer_department());
  x.Text("headline", d.title());
  x.Text("description", d.body());
  std::string instruction;
  int n = 0;
  for (const auto& a : d.actions()) {
    if (a.internal()) continue;
    instruction += std::to_string(++n) + ". " + a.what() + "\n";
  }
  if (!instruction.empty()) x.Text("instruction", instruction);
  x.Start("area");
  std::string desc;
  for (const auto& code : d.scope()) {
    std::string name = code == kNationCode ? std::string(kNationName) : code;
    if (registry != nullptr) {
      if (auto i = registry->Find(code)) name = registry->unit(*i).name;
    }
    desc += (desc.empty() ? "" : ", ") + name;
  }
  x.Text("areaDesc", desc);
  for (const auto& code : d.scope()) {
    x.Start("geocode");
    x.Text("valueName", "GB/T 2260");
    x.Text("value", code);
    x.End();
  }
  x.End();  // area
  x.End();  // info
  x.End();  // alert
  return x.Finish();
}

std::string AtomFeed(const std::vector<PublicEntry>& entries) {
  auto sorted = NewestFirst(entries);
  XmlOut x;
  x.Start("feed", "http://www.w3.org/2005/Atom");
  x.Text("id", "urn:flatcast:public");
  x.Text("title", "flatcast public directives");
  TimePoint updated{};
  for (const auto& e : entries) {
    updated = std::max({updated, ReleasedAt(e), FromTimestamp(e.record.cancelled_at())});
  }
  x.Text("updated", FormatTime(updated));
  x.Start("link");
  x.Attr("rel", "self");
  x.Attr("href", "/public/feed.atom");
  x.End();
  for (const PublicEntry* e : sorted) {
    const auto& d = e->latest.directive();
    bool cancelled = e->record.state() == v1::PublicRecord::CANCELLED_AFTER_RELEASE;
    x.Start("entry");
    x.Text("id", "urn:flatcast:" + e->record.public_id());
    x.Text("title", cancelled ? "[Cancelled] " + d.title() : d.title());
    x.Text("published", FormatTime(ReleasedAt(*e)));
    x.Text("updated", FormatTime(cancelled ? FromTimestamp(e->record.cancelled_at()) : ReleasedAt(*e)));
    x.Start("author");
    x.Text("name", d.issuer_unit() + " " + d.issuer_department());
    x.End();
    x.Start("link");
    x.Attr("href", "/public/directives/" + e->record.public_id());
    x.End();
    x.Start("link");
    x.Attr("rel", "alternate");
    x.Attr("type", "application/cap+xml");
    x.Attr("href", "/public/directives/" + e->record.public_id() + "/cap.xml");
    x.End();
    x.Text("summary", d.body());
    x.End();
  }
  x.End();
  return x.Finish();
}

}  // namespace flatcast
