// The key registry: which public keys belong to whom. The broker admits a
// CURVE connection only with an active key listed here (ZAP) and takes the
// sender's identity from that key's holder; a directive's signature is
// checked against the signing key listed under its key id.
//
// Each record is one public key (CURVE or signing) of one holder. A holder is
// a name with a role and a subject:
//   unit       subject = the unit's GB/T 2260 code (the terminal's identity)
//   publisher  subject = the publisher's name in the publishers file
//   auditor    subject = a name; read-only access
//   broker     subject = the broker group; the CURVE key a broker pair
//              shares, the only key its replication endpoint admits; its
//              signing key is the release key that signs public documents
//   relay      subject = the relay's region code
//   public     subject = a name; a public server, which only receives
//              what is released
// A holder has at most one active key of each kind. Revoked records stay in
// the registry, so a signature can be checked against the key that was valid
// when it was made.
//
// File format (TOML; docs/SECURITY.md, "Key registry"), one table per key in
// the order they were added:
//
//   [[key]]
//   name = "guiyang-health"        # 1-64 of A-Z a-z 0-9 . _ -
//   role = "publisher"             # unit, publisher, auditor or broker
//   subject = "guiyang-health"
//   kind = "curve"                 # or "signing"
//   public = "<40 Z85 chars>"
//   key_id = "<16 hex digits>"     # KeyId(public); checked when read
//   added = "2026-11-28T08:00:00Z"
//   revoked_at = "2026-12-01T00:00:00Z"   # only when revoked
//
// Only public keys are ever in it: a field naming a secret is refused.
//
// The same records may be kept in a binary form instead (length-delimited
// KeyRegistryEntry messages of flatcast.proto after a 16-byte magic line),
// which loads a country's 665,276 unit keys in about 0.9 s; every reader takes either form
// (`flatcast-keys convert` turns one into the other), and an update keeps
// the file in the form it had.
//
// A KeyRegistry is a plain value: not synchronised; share it between threads
// only read-only.
#pragma once

#include <sys/types.h>

#include <absl/container/flat_hash_map.h>
#include <absl/hash/hash.h>
#include <absl/strings/string_view.h>

#include <boost/container/small_vector.hpp>

#include <ctime>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flatcast/clock.h"
#include "flatcast/registry.h"
#include "flatcast/signing.h"
#include "flatcast/status.h"

namespace flatcast {

// kRelay: a relay broker's key toward its upstream; its subject is the
// relay's region code (docs/RELAY.md).
// kPublic: a public server (flatcast-public, docs/PUBLIC.md); it may only
// receive what is public.
enum class KeyRole { kUnit, kPublisher, kAuditor, kBroker, kRelay, kPublic };

// "unit", "publisher", "auditor".
std::string_view KeyRoleName(KeyRole role);
std::optional<KeyRole> KeyRoleFromName(std::string_view name);

struct KeyRecord {
  std::string name;
  KeyRole role = KeyRole::kUnit;
  std::string subject;
  KeyKind kind = KeyKind::kCurve;
  std::string public_key;  // raw, kKeyBytes
  std::string key_id;      // KeyId(public_key)
  TimePoint added;
  std::optional<TimePoint> revoked_at;

  bool revoked() const { return revoked_at.has_value(); }
  // True when the key was registered and not yet revoked at `t`.
  bool ActiveAt(TimePoint t) const { return added <= t && (!revoked_at || t < *revoked_at); }
  bool operator==(const KeyRecord&) const = default;
};

enum class KeyFileFormat { kToml, kBinary };

class KeyRegistry {
 public:
  KeyRegistry() = default;
  // The indices point into the records: a copy builds its own.
  KeyRegistry(const KeyRegistry& other);
  KeyRegistry& operator=(const KeyRegistry& other);
  KeyRegistry(KeyRegistry&&) noexcept = default;
  KeyRegistry& operator=(KeyRegistry&&) noexcept = default;

  // Parses registry text; `source_name` and the line of the offending table
  // prefix error messages. Refuses unknown or secret fields, malformed names,
  // subjects, keys and times, a key id that does not match its key, a key
  // listed twice, a holder with two active keys of one kind, and one name
  // with two roles or subjects.
  // Text that starts with the binary form's magic line is read as the
  // binary form, with the same checks.
  static Result<KeyRegistry> Parse(std::string_view text, std::string_view source_name);
  // Reads and parses a registry file; NotFound when it does not exist.
  static Result<KeyRegistry> Load(const std::string& path);

  // The file's contents; Parse(Serialize(f)) gives an equal registry.
  std::string Serialize(KeyFileFormat format = KeyFileFormat::kToml) const;
  // Writes the file atomically with mode 0644.
  Status Save(const std::string& path, KeyFileFormat format = KeyFileFormat::kToml) const;
  // The form it was parsed from (kToml for a registry made in memory).
  KeyFileFormat format() const { return format_; }

  const std::deque<KeyRecord>& records() const { return records_; }

  // The record of this CURVE public key, active or revoked; nullptr if unknown.
  // `public_key` is raw (as in a ZAP request) or Z85 (40 characters).
  const KeyRecord* FindCurveKey(std::string_view public_key) const;
  // The record of the signing key with this id, active or revoked.
  const KeyRecord* FindSigningKey(std::string_view key_id) const;
  // The holder's active key of `kind`, or nullptr.
  const KeyRecord* FindActive(std::string_view name, KeyKind kind) const;
  // Every record of the holder, oldest first.
  std::vector<const KeyRecord*> FindAll(std::string_view name) const;

  // For a ZAP handler: the active record of a connecting client's CURVE key.
  // PermissionDenied, saying why, for an unknown or revoked key.
  Result<KeyRecord> AdmitCurveKey(std::string_view public_key) const;

  // For a signature check: the signing key `key_id`, which must be active
  // now (`at` unset: the broker accepting a directive) or have been active at
  // `at` (an auditor re-verifying a directive sent then). NotFound for an
  // unknown id, PermissionDenied for a key revoked (or not yet added) then.
  Result<KeyRecord> SigningKeyValidAt(std::string_view key_id,
                                      std::optional<TimePoint> at = std::nullopt) const;

  // Registers a new holder's CURVE key, and signing key if given (raw keys).
  // Refuses a name that already has an active key of either kind given
  // (AlreadyExists: use Rotate), a name registered before with another role
  // or subject, and a key already in the registry (even revoked: a key is
  // never reused).
  Status Register(std::string_view name, KeyRole role, std::string_view subject,
                  std::string_view curve_public, std::optional<std::string_view> signing_public,
                  TimePoint now);
  // Revokes the holder's active keys (only those of `kind`, if given).
  // NotFound when the holder has no active key to revoke.
  Status Revoke(std::string_view name, std::optional<KeyKind> kind, TimePoint now);
  // Replaces the holder's active CURVE key (and signing key, if given): the
  // old one is revoked at `now`, the new one active from `now`.
  Status Rotate(std::string_view name, std::string_view curve_public,
                std::optional<std::string_view> signing_public, TimePoint now);

  // The keys a region's broker needs (a relay's, docs/RELAY.md): the unit
  // and relay keys at or below `region`, and every publisher and auditor key
  // (a national publisher's signature is checked at every hop), revoked ones
  // included, in their order. Broker keys are left out: a region's pair
  // registers its own.
  KeyRegistry Cut(std::string_view region) const;

  // Checks that every unit holder's subject is a unit of `units`.
  Status CheckSubjects(const Registry& units) const;

 private:
  // Appends a record after checking it against the registry's rules.
  Status Add(KeyRecord record, std::string_view where);
  Status Add(KeyRecord record, const std::function<std::string()>& where_of);
  // Revokes `revoked` and adds `added`, or changes nothing if one is refused.
  Status Apply(std::vector<size_t> revoked, std::vector<KeyRecord> added, TimePoint now,
               std::string_view where);
  void RemoveLast();
  Status CheckHolder(std::string_view name, KeyRole role, std::string_view subject) const;
  void RevokeAt(size_t index, TimePoint now);

  static Result<KeyRegistry> ParseBinary(std::string_view bytes, const std::string& source);
  std::string SerializeBinary() const;

  // Rebuilds the indices from records_.
  void Reindex();

  KeyFileFormat format_ = KeyFileFormat::kToml;
  // A deque: a record stays where it is while others are added, so the
  // indices below hold views of its strings (a country's registry has
  // 665,276 records; no key is stored twice).
  std::deque<KeyRecord> records_;
  // Abseil's string hash (Debian's Abseil keeps absl::string_view apart
  // from std::string_view, whose hash it leaves to libstdc++'s slower one).
  struct ViewHash {
    size_t operator()(std::string_view s) const {
      return absl::Hash<absl::string_view>{}(absl::string_view(s.data(), s.size()));
    }
  };
  template <typename V>
  using ViewMap = absl::flat_hash_map<std::string_view, V, ViewHash>;

  // Indices into records_, in Abseil's flat tables (no allocation per entry).
  ViewMap<size_t> by_public_key_;  // raw key, either kind
  ViewMap<size_t> by_signing_id_;  // key id of a signing key
  // A holder has one or two records (CURVE, signing) unless it rotated.
  ViewMap<boost::container::small_vector<size_t, 2>> by_name_;  // oldest first
};

// Checks the signature a directive carries (Directive.signature) against
// the signing key its key id names in `keys`. The key must belong to a
// holder with the publisher role and be active now (`at` unset: the broker
// accepting a directive) or have been active at `at` (a terminal or auditor
// checking a directive sent then), and the signature must verify over the
// directive's canonical encoding. Returns the key's record: its subject is
// the publisher's name. InvalidArgument for a directive without a signature;
// NotFound for an unknown key id; PermissionDenied, saying why, for a revoked
// key, a holder that is not a publisher, or a signature that does not verify.
Result<KeyRecord> VerifyDirectiveSignature(const v1::Directive& directive, const KeyRegistry& keys,
                                           std::optional<TimePoint> at = std::nullopt);

// Loads the registry at `path` (an empty one if it does not exist and
// `create` is set), applies `change`, and saves it atomically in the form it
// had (TOML for a new one); an exclusive
// lock on "<path>.lock" keeps concurrent updates from losing each other.
// Nothing is written when `change` fails.
Status UpdateKeyRegistryFile(const std::string& path, bool create,
                             const std::function<Status(KeyRegistry&)>& change);

// A registry file that is read again when it changes, so a revocation takes
// effect without a restart. Not synchronised: one owner calls it, e.g. from
// the broker's event loop.
class KeyRegistryWatcher {
 public:
  // Loads the file; fails if it cannot be loaded.
  static Result<KeyRegistryWatcher> Open(const std::string& path);

  // Re-reads the file if its inode, size or modification time changed since
  // the last load: true when it was reloaded. On a failed reload the previous
  // registry stays in force and the error is returned (and again on the next
  // call, until the file is fixed or replaced).
  Result<bool> ReloadIfChanged();

  const KeyRegistry& registry() const { return registry_; }
  const std::string& path() const { return path_; }

 private:
  struct Stamp {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    timespec modified{};
    bool operator==(const Stamp& o) const;
  };
  static Result<Stamp> StampOf(const std::string& path);

  std::string path_;
  KeyRegistry registry_;
  Stamp stamp_;
};

// The one reload policy of a watched registry (the broker's and the
// terminal's): the file is checked at most once per `period`; a reload is
// logged, a failed one is logged once per distinct error while the previous
// registry stays in force.
class KeyRegistryReloader {
 public:
  // `watcher` must outlive the reloader.
  explicit KeyRegistryReloader(KeyRegistryWatcher& watcher,
                               std::chrono::milliseconds period = std::chrono::seconds(1))
      : watcher_(watcher), period_(period) {}

  // True when this call reloaded the registry (watcher.registry() changed in place).
  bool Poll(TimePoint now);

 private:
  KeyRegistryWatcher& watcher_;
  std::chrono::milliseconds period_;
  TimePoint next_check_{};
  std::string last_error_;
};

}  // namespace flatcast
