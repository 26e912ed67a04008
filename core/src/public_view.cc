#include "flatcast/public_view.h"


#include <algorithm>
#include <nlohmann/json.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "flatcast/attachment.h"
#include "flatcast/language.h"
#include "flatcast/signing.h"
#include "flatcast/xml_out.h"

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

uint32_t PublicVersionOf(const PublicEntry& e);

// When the public got what the document says: the release, the amendment
// made after it, or the cancellation.
TimePoint UpdatedAt(const PublicEntry& e) {
  if (Cancelled(e)) return FromTimestamp(e.record.cancelled_at());
  if (PublicVersionOf(e) > 1) return FromTimestamp(e.latest.directive().sent());
  return ReleasedAt(e);
}

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
                      {"updated", FormatTime(UpdatedAt(e))},
                      {"scope", d.scope()}};
  if (with_body) {
    j["body"] = d.body();
    j["actions"] = actions;
  }
  // Attached documents, fetched from the public server by their SHA-256.
  if (d.attachments_size() > 0) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& a : d.attachments()) {
      list.push_back({{"name", a.name()},
                      {"media_type", a.media_type()},
                      {"size", a.size()},
                      {"sha256", ToHex(a.sha256())},
                      {"url", AttachmentPath(a)}});
    }
    j["attachments"] = std::move(list);
  }
  // The other languages: title, body and the public action items' text.
  const std::vector<DirectiveText> texts = DirectiveTexts(d);
  j["language"] = texts[0].language;
  if (texts.size() > 1) {
    nlohmann::json translations = nlohmann::json::array();
    for (size_t i = 1; i < texts.size(); ++i) {
      nlohmann::json t = {{"language", texts[i].language}, {"title", texts[i].title}};
      if (with_body) {
        t["body"] = texts[i].body;
        nlohmann::json what = nlohmann::json::array();
        for (int a = 0; a < d.actions_size(); ++a) {
          if (!d.actions(a).internal()) what.push_back(texts[i].actions[a]);
        }
        t["actions"] = what;
      }
      translations.push_back(std::move(t));
    }
    j["translations"] = std::move(translations);
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

}  // namespace

std::string AttachmentPath(const v1::Attachment& a) { return "/public/attachments/" + ToHex(a.sha256()); }

namespace {

std::string Sender(const v1::Directive& d) {
  return d.issuer_unit() + "." + d.issuer_department() + "@flatcast";
}

}  // namespace

namespace {
uint32_t PublicVersionOf(const PublicEntry& e) {
  const uint32_t v = e.latest.directive().version();
  return v >= ReleasedVersion(e) ? v - ReleasedVersion(e) + 1 : 1;
}
}  // namespace

uint32_t PublicVersion(const PublicEntry& e) { return PublicVersionOf(e); }

std::string CapTime(TimePoint t) {
  std::string s = FormatTimeSeconds(t);  // ...T09:30:00Z
  if (!s.empty() && s.back() == 'Z') s.pop_back();
  return s + "-00:00";
}

std::string PublicDirectiveJson(const PublicEntry& e) {
  // Stored text is UTF-8 (protobuf checks string fields); replace rather than throw regardless.
  return PublicJson(e, true).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string CapAlertXml(const PublicEntry& e, const Registry* registry) {
  const auto& d = e.latest.directive();
  bool cancelled = e.record.state() == v1::PublicRecord::CANCELLED_AFTER_RELEASE;
  // This message's time: the release, the amendment after it, or the cancellation.
  TimePoint sent = UpdatedAt(e);
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
  // One <info> per language, the directive's own first (CAP 1.2 3.2.2).
  std::string sender_name = d.issuer_unit();
  if (registry != nullptr) {
    if (auto i = registry->Find(d.issuer_unit())) sender_name = registry->unit(*i).name;
  }
  std::string desc;
  for (const auto& code : d.scope()) {
    std::string name = code == kNationCode ? std::string(kNationName) : code;
    if (registry != nullptr) {
      if (auto i = registry->Find(code)) name = registry->unit(*i).name;
    }
    desc += (desc.empty() ? "" : ", ") + name;
  }
  for (const DirectiveText& text : DirectiveTexts(d)) {
    x.Start("info");
    x.Text("language", text.language);
    x.Text("category", d.issuer_department().find("HEALTH") != std::string::npos ? "Health" : "Other");
    x.Text("event", text.title);
    x.Text("urgency", "Unknown");
    x.Text("severity", "Unknown");
    x.Text("certainty", "Unknown");
    x.Text("effective", CapTime(ReleasedAt(e)));
    if (d.has_expires()) x.Text("expires", CapTime(FromTimestamp(d.expires())));
    x.Text("senderName", sender_name + " " + d.issuer_department());
    x.Text("headline", text.title);
    x.Text("description", text.body);
    std::string instruction;
    int n = 0;
    for (int a = 0; a < d.actions_size(); ++a) {
      if (d.actions(a).internal()) continue;
      instruction += std::to_string(++n) + ". " + text.actions[a] + "\n";
    }
    if (!instruction.empty()) x.Text("instruction", instruction);
    for (const auto& a : d.attachments()) {
      x.Start("resource");
      x.Text("resourceDesc", a.name());
      x.Text("mimeType", a.media_type());
      x.Text("size", std::to_string(a.size()));
      x.Text("uri", AttachmentPath(a));
      x.Text("digest", ToHex(a.sha1()));  // CAP 1.2: SHA-1
      x.End();
    }
    x.Start("area");
    x.Text("areaDesc", desc);
    for (const auto& code : d.scope()) {
      x.Start("geocode");
      x.Text("valueName", "GB/T 2260");
      x.Text("value", code);
      x.End();
    }
    x.End();  // area
    x.End();  // info
  }
  x.End();  // alert
  return x.Finish();
}

Result<v1::PublicDocument> RenderPublicDocument(const PublicEntry& e, const Registry* registry,
                                                const KeyPair* release_key) {
  v1::PublicDocument doc;
  const auto& d = e.latest.directive();
  doc.set_public_seq(e.record.public_seq());
  doc.set_public_id(e.record.public_id());
  doc.set_version(PublicVersion(e));
  doc.set_cancelled(Cancelled(e));
  for (const auto& code : d.scope()) doc.add_scope(code);
  *doc.mutable_released() = e.record.released_at();
  *doc.mutable_updated() = ToTimestamp(UpdatedAt(e));
  doc.set_json(PublicDirectiveJson(e));
  doc.set_cap(CapAlertXml(e, registry));
  *doc.mutable_attachments() = d.attachments();
  if (release_key != nullptr) {
    auto json_sig = Sign(doc.json(), *release_key);
    if (!json_sig.ok()) return json_sig.status();
    auto cap_sig = Sign(doc.cap(), *release_key);
    if (!cap_sig.ok()) return cap_sig.status();
    doc.set_key_id(KeyId(release_key->public_key));
    doc.set_json_signature(*json_sig);
    doc.set_cap_signature(*cap_sig);
  }
  return doc;
}

}  // namespace flatcast
