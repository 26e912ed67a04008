#include "flatcast/key_registry.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/delimited_message_util.h>
#include <spdlog/spdlog.h>

#include "flatcast/file_util.h"
#include "flatcast/duration.h"

namespace flatcast {

namespace {

constexpr size_t kMaxNameLength = 64;

bool IsName(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameLength) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

Status CheckName(std::string_view name) {
  if (!IsName(name)) {
    return Status::InvalidArgument(fmt::format(
        "name \"{}\" must be 1-{} characters of A-Z a-z 0-9 . _ -", name, kMaxNameLength));
  }
  return Status::Ok();
}

Status CheckSubject(KeyRole role, std::string_view subject) {
  if (role == KeyRole::kUnit) {
    if (!TierOfCode(subject)) {
      return Status::InvalidArgument(fmt::format(
          "a unit's subject must be its GB/T 2260 code (2, 4, 6, 9 or 12 digits), not \"{}\"",
          subject));
    }
    return Status::Ok();
  }
  if (role == KeyRole::kRelay) {
    if (!TierOfCode(subject)) {
      return Status::InvalidArgument(fmt::format(
          "a relay's subject must be its region's GB/T 2260 code (2, 4, 6, 9 or 12 digits), not "
          "\"{}\"",
          subject));
    }
    return Status::Ok();
  }
  if (!IsName(subject)) {
    return Status::InvalidArgument(fmt::format(
        "subject \"{}\" must be 1-{} characters of A-Z a-z 0-9 . _ -", subject, kMaxNameLength));
  }
  return Status::Ok();
}

// Times are kept to the second: the file is read by people.
TimePoint WholeSeconds(TimePoint t) { return std::chrono::floor<std::chrono::seconds>(t); }

// A raw key as given, or decoded from Z85 text.
std::optional<std::string> RawKey(std::string_view key) {
  if (key.size() == kKeyBytes) return std::string(key);
  if (key.size() == kKeyZ85Chars) {
    Result<std::string> raw = Z85Decode(key);
    if (raw.ok()) return std::move(raw).value();
  }
  return std::nullopt;
}

std::string Z85OrHex(std::string_view raw) {
  Result<std::string> z85 = Z85Encode(raw);
  return z85.ok() ? *z85 : ToHex(raw);
}

KeyRecord MakeRecord(std::string_view name, KeyRole role, std::string_view subject, KeyKind kind,
                     std::string_view public_key, TimePoint now) {
  KeyRecord r;
  r.name = std::string(name);
  r.role = role;
  r.subject = std::string(subject);
  r.kind = kind;
  r.public_key = std::string(public_key);
  r.key_id = KeyId(public_key);
  r.added = WholeSeconds(now);
  return r;
}

Status CheckRawKey(std::string_view key, KeyKind kind) {
  if (key.size() != kKeyBytes) {
    return Status::InvalidArgument(fmt::format("a {} public key is {} bytes, not {}",
                                               KeyKindName(kind), kKeyBytes, key.size()));
  }
  return Status::Ok();
}

// The first line of the binary form.
constexpr std::string_view kBinaryMagic = "FLATCAST-KEYS-1\n";

}  // namespace

std::string_view KeyRoleName(KeyRole role) {
  switch (role) {
    case KeyRole::kUnit:
      return "unit";
    case KeyRole::kPublisher:
      return "publisher";
    case KeyRole::kAuditor:
      return "auditor";
    case KeyRole::kBroker:
      return "broker";
    case KeyRole::kRelay:
      return "relay";
    case KeyRole::kPublic:
      return "public";
  }
  return "unknown";
}

std::optional<KeyRole> KeyRoleFromName(std::string_view name) {
  if (name == "unit") return KeyRole::kUnit;
  if (name == "publisher") return KeyRole::kPublisher;
  if (name == "auditor") return KeyRole::kAuditor;
  if (name == "broker") return KeyRole::kBroker;
  if (name == "relay") return KeyRole::kRelay;
  if (name == "public") return KeyRole::kPublic;
  return std::nullopt;
}

Result<KeyRegistry> KeyRegistry::Parse(std::string_view text, std::string_view source_name) {
  const std::string source(source_name);
  if (text.starts_with(kBinaryMagic)) return ParseBinary(text.substr(kBinaryMagic.size()), source);
  toml::table table;
  try {
    table = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument(fmt::format("{}:{}:{}: {}", source, e.source().begin.line,
                                               e.source().begin.column, e.description()));
  }
  KeyRegistry registry;
  for (const auto& [key, value] : table) {
    if (key.str() != "key") {
      return Status::InvalidArgument(fmt::format(
          "{}: unknown key \"{}\" (the registry holds [[key]] tables)", source, key.str()));
    }
  }
  const toml::node* list_node = table.get("key");
  if (list_node == nullptr) return registry;  // an empty registry
  const toml::array* list = list_node->as_array();
  if (list == nullptr) return Status::InvalidArgument(source + ": key must be [[key]] tables");
  for (const toml::node& node : *list) {
    const toml::table* t = node.as_table();
    std::string where = fmt::format("{}:{}", source, node.source().begin.line);
    if (t == nullptr) return Status::InvalidArgument(where + ": key must be a table");
    for (const auto& [k, v] : *t) {
      std::string_view field = k.str();
      if (field.find("secret") != std::string_view::npos ||
          field.find("private") != std::string_view::npos) {
        return Status::InvalidArgument(fmt::format(
            "{}: \"{}\": a key registry holds public keys only; remove the secret and treat it as "
            "leaked",
            where, field));
      }
      static constexpr std::string_view kFields[] = {"name",   "role",   "subject", "kind",
                                                     "public", "key_id", "added",   "revoked_at"};
      if (std::find(std::begin(kFields), std::end(kFields), field) == std::end(kFields)) {
        return Status::InvalidArgument(fmt::format("{}: unknown field \"{}\"", where, field));
      }
      if (!v.is_string()) {
        return Status::InvalidArgument(fmt::format("{}: {} must be a string", where, field));
      }
    }
    auto get = [&](const char* field) -> Result<std::string> {
      std::optional<std::string> v = (*t)[field].value<std::string>();
      if (!v) return Status::InvalidArgument(fmt::format("{}: {} is missing", where, field));
      return *v;
    };
    KeyRecord r;
    Result<std::string> name = get("name");
    if (!name.ok()) return name.status();
    r.name = *name;
    Result<std::string> role = get("role");
    if (!role.ok()) return role.status();
    std::optional<KeyRole> role_value = KeyRoleFromName(*role);
    if (!role_value) {
      return Status::InvalidArgument(
          fmt::format("{}: unknown role \"{}\" (unit, publisher, auditor or broker)", where, *role));
    }
    r.role = *role_value;
    Result<std::string> subject = get("subject");
    if (!subject.ok()) return subject.status();
    r.subject = *subject;
    Result<std::string> kind = get("kind");
    if (!kind.ok()) return kind.status();
    std::optional<KeyKind> kind_value = KeyKindFromName(*kind);
    if (!kind_value) {
      return Status::InvalidArgument(
          fmt::format("{}: unknown kind \"{}\" (curve or signing)", where, *kind));
    }
    r.kind = *kind_value;
    Result<std::string> public_text = get("public");
    if (!public_text.ok()) return public_text.status();
    if (public_text->size() != kKeyZ85Chars) {
      return Status::InvalidArgument(fmt::format("{}: public must be {} Z85 characters, not {}",
                                                 where, kKeyZ85Chars, public_text->size()));
    }
    Result<std::string> public_key = Z85Decode(*public_text);
    if (!public_key.ok()) return public_key.status().WithContext(where + ": public");
    r.public_key = std::move(public_key).value();
    r.key_id = KeyId(r.public_key);
    if (std::optional<std::string> key_id = (*t)["key_id"].value<std::string>()) {
      if (*key_id != r.key_id) {
        return Status::InvalidArgument(
            fmt::format("{}: key_id {} does not match the public key (whose id is {})", where,
                        *key_id, r.key_id));
      }
    }
    Result<std::string> added = get("added");
    if (!added.ok()) return added.status();
    Result<TimePoint> added_time = ParseTime(*added);
    if (!added_time.ok()) return added_time.status().WithContext(where + ": added");
    r.added = *added_time;
    if (std::optional<std::string> revoked = (*t)["revoked_at"].value<std::string>()) {
      Result<TimePoint> revoked_time = ParseTime(*revoked);
      if (!revoked_time.ok()) return revoked_time.status().WithContext(where + ": revoked_at");
      if (*revoked_time < r.added) {
        return Status::InvalidArgument(where + ": revoked_at is before added");
      }
      r.revoked_at = *revoked_time;
    }
    FLATCAST_RETURN_IF_ERROR(registry.Add(std::move(r), where));
  }
  return registry;
}

Result<KeyRegistry> KeyRegistry::ParseBinary(std::string_view bytes, const std::string& source) {
  KeyRegistry registry;
  registry.format_ = KeyFileFormat::kBinary;
  google::protobuf::io::ArrayInputStream input(bytes.data(), static_cast<int>(std::min<size_t>(
                                                                 bytes.size(), INT32_MAX)));
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) {
    return Status::InvalidArgument(fmt::format("{}: a binary key registry of {} bytes is too large",
                                               source, bytes.size()));
  }
  google::protobuf::io::CodedInputStream coded(&input);
  // One entry at a time into one message, whose strings keep their
  // capacity: a country's 665,276 keys allocate no more than their records.
  v1::KeyRegistryEntry e;
  for (int i = 0;; ++i) {
    bool clean_eof = false;
    e.Clear();  // parsing a delimited message merges into it
    if (!google::protobuf::util::ParseDelimitedFromCodedStream(&e, &coded, &clean_eof)) {
      if (clean_eof) break;
      return Status::InvalidArgument(
          fmt::format("{}: key {} does not decode (not a binary key registry, or cut short)",
                      source, i + 1));
    }
    // Formatted only for an error: this loop runs once per key of a country.
    auto where_of = [&source, i] { return fmt::format("{}: key {}", source, i + 1); };
    KeyRecord r;
    r.name = e.name();
    std::optional<KeyRole> role = KeyRoleFromName(e.role());
    if (!role) {
      return Status::InvalidArgument(fmt::format(
          "{}: unknown role \"{}\" (unit, publisher, auditor, broker or relay)", where_of(),
          e.role().substr(0, 32)));
    }
    r.role = *role;
    r.subject = e.subject();
    std::optional<KeyKind> kind = KeyKindFromName(e.kind());
    if (!kind) {
      return Status::InvalidArgument(fmt::format("{}: unknown kind \"{}\" (curve or signing)",
                                                 where_of(), e.kind().substr(0, 32)));
    }
    r.kind = *kind;
    r.public_key = e.public_key();
    if (r.public_key.size() != kKeyBytes) {
      return Status::InvalidArgument(fmt::format("{}: a public key is {} bytes, not {}",
                                                 where_of(), kKeyBytes, r.public_key.size()));
    }
    r.key_id = KeyId(r.public_key);
    if (!e.has_added()) return Status::InvalidArgument(where_of() + ": added is missing");
    if (Status st = CheckStoredTime(e.added(), "added"); !st.ok()) {
      return Status::InvalidArgument(where_of() + ": " + st.message());
    }
    r.added = FromTimestamp(e.added());
    if (e.has_revoked_at()) {
      if (Status st = CheckStoredTime(e.revoked_at(), "revoked_at"); !st.ok()) {
        return Status::InvalidArgument(where_of() + ": " + st.message());
      }
      r.revoked_at = FromTimestamp(e.revoked_at());
      if (*r.revoked_at < r.added) {
        return Status::InvalidArgument(where_of() + ": revoked_at is before added");
      }
    }
    FLATCAST_RETURN_IF_ERROR(registry.Add(std::move(r), where_of));
  }
  return registry;
}

std::string KeyRegistry::SerializeBinary() const {
  std::string out(kBinaryMagic);
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    v1::KeyRegistryEntry e;
    for (const KeyRecord& r : records_) {
      e.Clear();
      e.set_name(r.name);
      e.set_role(std::string(KeyRoleName(r.role)));
      e.set_subject(r.subject);
      e.set_kind(std::string(KeyKindName(r.kind)));
      e.set_public_key(r.public_key);
      *e.mutable_added() = ToTimestamp(r.added);
      if (r.revoked_at) *e.mutable_revoked_at() = ToTimestamp(*r.revoked_at);
      google::protobuf::util::SerializeDelimitedToCodedStream(e, &coded);
    }
  }
  return out;
}

Result<KeyRegistry> KeyRegistry::Load(const std::string& path) {
  // Mapped, not copied: a country's registry is 60 MB read once.
  Result<MappedFile> file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  return Parse(file->data(), path);
}

std::string KeyRegistry::Serialize(KeyFileFormat format) const {
  if (format == KeyFileFormat::kBinary) return SerializeBinary();
  std::string out =
      "# flatcast key registry: public keys only (docs/SECURITY.md, \"Key registry\").\n"
      "# Maintained with flatcast-keys register / revoke / rotate; revoked keys stay listed.\n";
  for (const KeyRecord& r : records_) {
    // Names, subjects, Z85 and times use no character TOML would need escaped.
    out += "\n[[key]]\n";
    out += fmt::format("name = \"{}\"\n", r.name);
    out += fmt::format("role = \"{}\"\n", KeyRoleName(r.role));
    out += fmt::format("subject = \"{}\"\n", r.subject);
    out += fmt::format("kind = \"{}\"\n", KeyKindName(r.kind));
    out += fmt::format("public = \"{}\"\n", Z85Encode(r.public_key).value());
    out += fmt::format("key_id = \"{}\"\n", r.key_id);
    out += fmt::format("added = \"{}\"\n", FormatTime(r.added));
    if (r.revoked_at) out += fmt::format("revoked_at = \"{}\"\n", FormatTime(*r.revoked_at));
  }
  return out;
}

Status KeyRegistry::Save(const std::string& path, KeyFileFormat format) const {
  return WriteFileAtomically(path, Serialize(format));
}

const KeyRecord* KeyRegistry::FindCurveKey(std::string_view public_key) const {
  std::optional<std::string> raw = RawKey(public_key);
  if (!raw) return nullptr;
  auto it = by_public_key_.find(*raw);
  if (it == by_public_key_.end() || records_[it->second].kind != KeyKind::kCurve) return nullptr;
  return &records_[it->second];
}

const KeyRecord* KeyRegistry::FindSigningKey(std::string_view key_id) const {
  auto it = by_signing_id_.find(key_id);
  return it == by_signing_id_.end() ? nullptr : &records_[it->second];
}

const KeyRecord* KeyRegistry::FindActive(std::string_view name, KeyKind kind) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return nullptr;
  for (size_t i : it->second) {
    if (records_[i].kind == kind && !records_[i].revoked()) return &records_[i];
  }
  return nullptr;
}

std::vector<const KeyRecord*> KeyRegistry::FindAll(std::string_view name) const {
  std::vector<const KeyRecord*> out;
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    for (size_t i : it->second) out.push_back(&records_[i]);
  }
  return out;
}

Result<KeyRecord> KeyRegistry::AdmitCurveKey(std::string_view public_key) const {
  const KeyRecord* r = FindCurveKey(public_key);
  if (r == nullptr) {
    std::optional<std::string> raw = RawKey(public_key);
    return Status::PermissionDenied(
        fmt::format("unknown CURVE key {}", raw ? Z85OrHex(*raw) : ToHex(public_key)));
  }
  if (r->revoked()) {
    return Status::PermissionDenied(fmt::format("CURVE key {} of {} was revoked at {}", r->key_id,
                                                r->name, FormatTime(*r->revoked_at)));
  }
  return *r;
}

Result<KeyRecord> KeyRegistry::SigningKeyValidAt(std::string_view key_id,
                                                 std::optional<TimePoint> at) const {
  const KeyRecord* r = FindSigningKey(key_id);
  if (r == nullptr) return Status::NotFound(fmt::format("unknown signing key {}", key_id));
  if (!at) {
    if (r->revoked()) {
      return Status::PermissionDenied(fmt::format("signing key {} of {} was revoked at {}", key_id,
                                                  r->name, FormatTime(*r->revoked_at)));
    }
    return *r;
  }
  if (!r->ActiveAt(*at)) {
    if (*at < r->added) {
      return Status::PermissionDenied(fmt::format("signing key {} of {} was added at {}, after {}",
                                                  key_id, r->name, FormatTime(r->added),
                                                  FormatTime(*at)));
    }
    return Status::PermissionDenied(fmt::format("signing key {} of {} was revoked at {}, before {}",
                                                key_id, r->name, FormatTime(*r->revoked_at),
                                                FormatTime(*at)));
  }
  return *r;
}

Result<KeyRecord> VerifyDirectiveSignature(const v1::Directive& directive, const KeyRegistry& keys,
                                           std::optional<TimePoint> at) {
  if (!directive.has_signature() || directive.signature().key_id().empty()) {
    return Status::InvalidArgument("the directive is not signed");
  }
  const v1::DirectiveSignature& sig = directive.signature();
  Result<KeyRecord> record = keys.SigningKeyValidAt(sig.key_id(), at);
  if (!record.ok()) return record.status();
  if (record->role != KeyRole::kPublisher) {
    return Status::PermissionDenied(
        fmt::format("signing key {} belongs to {} \"{}\", not to a publisher", sig.key_id(),
                    KeyRoleName(record->role), record->name));
  }
  FLATCAST_RETURN_IF_ERROR(VerifyDirective(
      directive, DirectiveSignature{sig.key_id(), sig.signature()}, record->public_key));
  return record;
}

Status KeyRegistry::Register(std::string_view name, KeyRole role, std::string_view subject,
                             std::string_view curve_public,
                             std::optional<std::string_view> signing_public, TimePoint now) {
  FLATCAST_RETURN_IF_ERROR(CheckName(name));
  FLATCAST_RETURN_IF_ERROR(CheckSubject(role, subject));
  FLATCAST_RETURN_IF_ERROR(CheckHolder(name, role, subject));
  FLATCAST_RETURN_IF_ERROR(CheckRawKey(curve_public, KeyKind::kCurve));
  if (signing_public) FLATCAST_RETURN_IF_ERROR(CheckRawKey(*signing_public, KeyKind::kSigning));
  if (FindActive(name, KeyKind::kCurve) != nullptr ||
      (signing_public && FindActive(name, KeyKind::kSigning) != nullptr)) {
    return Status::AlreadyExists(fmt::format(
        "{} already has an active key; use rotate to replace it or revoke to end it", name));
  }
  std::vector<KeyRecord> added = {
      MakeRecord(name, role, subject, KeyKind::kCurve, curve_public, now)};
  if (signing_public) {
    added.push_back(MakeRecord(name, role, subject, KeyKind::kSigning, *signing_public, now));
  }
  return Apply({}, std::move(added), now, "register");
}

Status KeyRegistry::Revoke(std::string_view name, std::optional<KeyKind> kind, TimePoint now) {
  bool any = false;
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    for (size_t i : it->second) {
      const KeyRecord& r = records_[i];
      if (!r.revoked() && (!kind || r.kind == *kind)) {
        RevokeAt(i, now);
        any = true;
      }
    }
  }
  if (!any) {
    return Status::NotFound(
        fmt::format("{} has no active {}key to revoke", name,
                    kind ? std::string(KeyKindName(*kind)) + " " : std::string()));
  }
  return Status::Ok();
}

Status KeyRegistry::Rotate(std::string_view name, std::string_view curve_public,
                           std::optional<std::string_view> signing_public, TimePoint now) {
  const KeyRecord* current = FindActive(name, KeyKind::kCurve);
  if (current == nullptr) {
    return Status::NotFound(
        fmt::format("{} has no active CURVE key to rotate; register it instead", name));
  }
  FLATCAST_RETURN_IF_ERROR(CheckRawKey(curve_public, KeyKind::kCurve));
  if (signing_public) FLATCAST_RETURN_IF_ERROR(CheckRawKey(*signing_public, KeyKind::kSigning));
  std::vector<size_t> revoked;
  for (size_t i : by_name_.find(name)->second) {
    const KeyRecord& r = records_[i];
    if (!r.revoked() &&
        (r.kind == KeyKind::kCurve || (signing_public && r.kind == KeyKind::kSigning))) {
      revoked.push_back(i);
    }
  }
  std::vector<KeyRecord> added = {
      MakeRecord(name, current->role, current->subject, KeyKind::kCurve, curve_public, now)};
  if (signing_public) {
    added.push_back(
        MakeRecord(name, current->role, current->subject, KeyKind::kSigning, *signing_public, now));
  }
  return Apply(std::move(revoked), std::move(added), now, "rotate");
}

KeyRegistry KeyRegistry::Cut(std::string_view region) const {
  KeyRegistry cut;
  cut.format_ = format_;
  for (const KeyRecord& r : records_) {
    const bool keep = r.role == KeyRole::kPublisher || r.role == KeyRole::kAuditor ||
                      ((r.role == KeyRole::kUnit || r.role == KeyRole::kRelay) &&
                       Registry::IsWithin(r.subject, region));
    if (!keep) continue;
    // A subset of a registry that holds together holds together.
    Status added = cut.Add(r, "cut");
    (void)added;
  }
  return cut;
}

Status KeyRegistry::CheckSubjects(const Registry& units) const {
  for (const KeyRecord& r : records_) {
    if (r.role == KeyRole::kUnit && !units.Find(r.subject)) {
      return Status::InvalidArgument(
          fmt::format("key {} of {}: unit {} is not in the registry", r.key_id, r.name, r.subject));
    }
  }
  return Status::Ok();
}

Status KeyRegistry::Add(KeyRecord record, std::string_view where) {
  return Add(std::move(record), [where] { return std::string(where); });
}

Status KeyRegistry::Add(KeyRecord record, const std::function<std::string()>& where_of) {
  auto refuse = [&](const std::string& why) {
    return Status::InvalidArgument(fmt::format("{}: {}", where_of(), why));
  };
  if (Status st = CheckName(record.name); !st.ok()) return refuse(st.message());
  if (Status st = CheckSubject(record.role, record.subject); !st.ok()) return refuse(st.message());
  if (record.public_key.size() != kKeyBytes) return refuse("a public key must be 32 bytes");
  // The record goes in first, so the indices take views of its strings; it
  // and what was indexed come out again if it is refused. One lookup per
  // index: a country's registry adds 665,276 records at load.
  const size_t index = records_.size();
  const KeyRecord& r = records_.emplace_back(std::move(record));
  auto [name_it, new_name] = by_name_.try_emplace(r.name);
  auto [key_it, new_key] = by_public_key_.try_emplace(r.public_key, index);
  auto take_back = [&, name_it = name_it, new_name = new_name, key_it = key_it,
                    new_key = new_key] {
    if (new_key) by_public_key_.erase(key_it);
    if (new_name) by_name_.erase(name_it);
    records_.pop_back();
  };
  if (!new_name) {
    // Every record of a name has the same role and subject.
    const KeyRecord& first = records_[name_it->second.front()];
    if (first.role != r.role || first.subject != r.subject) {
      Status refused = refuse(
          fmt::format("{} is registered as {} {}; a name keeps its role and subject", r.name,
                      KeyRoleName(first.role), first.subject));
      take_back();
      return refused;
    }
  }
  // Whatever its kind, a public key appears once: a key is never reused, and
  // a signing key is never also registered as a CURVE key.
  const KeyRecord* other = nullptr;
  if (!new_key) {
    other = &records_[key_it->second];
  } else if (r.kind == KeyKind::kSigning) {
    other = FindSigningKey(r.key_id);
  }
  if (other != nullptr) {
    Status refused = Status::AlreadyExists(
        fmt::format("{}: key {} is already registered to {}{}; a key is never reused", where_of(),
                    r.key_id, other->name, other->revoked() ? " (revoked)" : ""));
    take_back();
    return refused;
  }
  if (!r.revoked() && !new_name) {
    for (size_t i : name_it->second) {
      if (records_[i].kind == r.kind && !records_[i].revoked()) {
        Status refused =
            refuse(fmt::format("{} has two active {} keys", r.name, KeyKindName(r.kind)));
        take_back();
        return refused;
      }
    }
  }
  if (r.kind == KeyKind::kSigning) by_signing_id_.emplace(r.key_id, index);
  name_it->second.push_back(index);
  return Status::Ok();
}

KeyRegistry::KeyRegistry(const KeyRegistry& other)
    : format_(other.format_), records_(other.records_) {
  Reindex();
}

KeyRegistry& KeyRegistry::operator=(const KeyRegistry& other) {
  if (this != &other) {
    format_ = other.format_;
    records_ = other.records_;
    Reindex();
  }
  return *this;
}

void KeyRegistry::Reindex() {
  by_public_key_.clear();
  by_signing_id_.clear();
  by_name_.clear();
  for (size_t i = 0; i < records_.size(); ++i) {
    const KeyRecord& r = records_[i];
    by_public_key_.emplace(r.public_key, i);
    if (r.kind == KeyKind::kSigning) by_signing_id_.emplace(r.key_id, i);
    by_name_[r.name].push_back(i);
  }
}

Status KeyRegistry::CheckHolder(std::string_view name, KeyRole role,
                                std::string_view subject) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return Status::Ok();
  // Every record of a name has the same role and subject (Add keeps it so).
  const KeyRecord& first = records_[it->second.front()];
  if (first.role != role || first.subject != subject) {
    return Status::InvalidArgument(
        fmt::format("{} is registered as {} {}; a name keeps its role and subject", name,
                    KeyRoleName(first.role), first.subject));
  }
  return Status::Ok();
}

void KeyRegistry::RevokeAt(size_t index, TimePoint now) {
  KeyRecord& r = records_[index];
  // Revocation never predates the key, or the record would not load again.
  r.revoked_at = std::max(WholeSeconds(now), r.added);
}

Status KeyRegistry::Apply(std::vector<size_t> revoked, std::vector<KeyRecord> added, TimePoint now,
                          std::string_view where) {
  // All or nothing, without copying the registry: undo what was done if a
  // later step is refused.
  std::vector<std::optional<TimePoint>> before;
  for (size_t i : revoked) {
    before.push_back(records_[i].revoked_at);
    RevokeAt(i, now);
  }
  size_t count = 0;
  for (KeyRecord& record : added) {
    if (Status st = Add(std::move(record), where); !st.ok()) {
      for (; count > 0; --count) RemoveLast();
      for (size_t k = 0; k < revoked.size(); ++k) records_[revoked[k]].revoked_at = before[k];
      return st;
    }
    ++count;
  }
  return Status::Ok();
}

void KeyRegistry::RemoveLast() {
  const size_t index = records_.size() - 1;
  const KeyRecord& r = records_[index];
  by_public_key_.erase(r.public_key);
  if (r.kind == KeyKind::kSigning) by_signing_id_.erase(r.key_id);
  auto it = by_name_.find(r.name);
  it->second.pop_back();
  if (it->second.empty()) by_name_.erase(it);
  records_.pop_back();
}

Status UpdateKeyRegistryFile(const std::string& path, bool create,
                             const std::function<Status(KeyRegistry&)>& change) {
  const std::string lock_path = path + ".lock";
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) {
    return Status::IOError(fmt::format("{}: {}", lock_path, std::strerror(errno)));
  }
  struct Unlock {
    int fd;
    ~Unlock() { ::close(fd); }  // closing releases the flock
  } unlock{lock_fd};
  while (::flock(lock_fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      return Status::IOError(fmt::format("{}: lock: {}", lock_path, std::strerror(errno)));
    }
  }
  Result<KeyRegistry> registry = KeyRegistry::Load(path);
  if (!registry.ok()) {
    if (registry.status().code() != Status::Code::kNotFound || !create) return registry.status();
    registry = KeyRegistry();
  }
  FLATCAST_RETURN_IF_ERROR(change(*registry));
  return registry->Save(path, registry->format());
}

bool KeyRegistryWatcher::Stamp::operator==(const Stamp& o) const {
  return device == o.device && inode == o.inode && size == o.size &&
         modified.tv_sec == o.modified.tv_sec && modified.tv_nsec == o.modified.tv_nsec;
}

Result<KeyRegistryWatcher::Stamp> KeyRegistryWatcher::StampOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    std::string message = fmt::format("{}: {}", path, std::strerror(err));
    if (err == ENOENT) return Status::NotFound(message);
    return Status::IOError(message);
  }
  Stamp s;
  s.device = st.st_dev;
  s.inode = st.st_ino;
  s.size = st.st_size;
  s.modified = st.st_mtim;
  return s;
}

Result<KeyRegistryWatcher> KeyRegistryWatcher::Open(const std::string& path) {
  KeyRegistryWatcher watcher;
  watcher.path_ = path;
  // The stamp is taken before reading: a change during the read shows as a
  // new stamp on the next check.
  Result<Stamp> stamp = StampOf(path);
  if (!stamp.ok()) return stamp.status();
  Result<KeyRegistry> registry = KeyRegistry::Load(path);
  if (!registry.ok()) return registry.status();
  watcher.stamp_ = *stamp;
  watcher.registry_ = std::move(registry).value();
  return watcher;
}

Result<bool> KeyRegistryWatcher::ReloadIfChanged() {
  Result<Stamp> stamp = StampOf(path_);
  if (!stamp.ok()) return stamp.status();
  if (*stamp == stamp_) return false;
  Result<KeyRegistry> registry = KeyRegistry::Load(path_);
  if (!registry.ok()) return registry.status();
  stamp_ = *stamp;
  registry_ = std::move(registry).value();
  return true;
}

bool KeyRegistryReloader::Poll(TimePoint now) {
  if (now < next_check_) return false;
  next_check_ = now + period_;
  Result<bool> reloaded = watcher_.ReloadIfChanged();
  if (!reloaded.ok()) {
    if (reloaded.status().message() != last_error_) {
      last_error_ = reloaded.status().message();
      spdlog::error("key registry {} not reloaded, the previous one stays in force: {}",
                    watcher_.path(), last_error_);
    }
    return false;
  }
  last_error_.clear();
  if (*reloaded) {
    spdlog::info("key registry {} reloaded ({} keys)", watcher_.path(),
                 watcher_.registry().records().size());
  }
  return *reloaded;
}

}  // namespace flatcast
