// flatcast-keys: generates key pairs and maintains the key registry.
//
//   flatcast-keys generate --kind signing|curve --out PREFIX [--force]
//   flatcast-keys show FILE [--json]
//   flatcast-keys register --registry FILE --name N --role unit|publisher|auditor|broker|relay|public
//                          --subject CODE-or-NAME --curve-pub FILE [--signing-pub FILE]
//   flatcast-keys revoke --registry FILE --name N [--kind signing|curve]
//   flatcast-keys rotate --registry FILE --name N --curve-pub FILE [--signing-pub FILE]
//   flatcast-keys list --registry FILE [--json]
//   flatcast-keys seed --out FILE [--force]
//   flatcast-keys register-units --registry FILE --seed FILE --units REGISTRY.tsv
//                          [--region CODE] [--tiers LIST] [--exclude CODES]
//   flatcast-keys convert --registry FILE --out FILE --to toml|binary
//   flatcast-keys cut --registry FILE --region CODE --out FILE [--to toml|binary]
//
// Secret keys are never printed. Results go to stdout; diagnostics to stderr.
// Exit status: 0 on success, 1 when refused, 2 on usage errors.
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include <fstream>
#include <sstream>

#include "flatcast/feed/verify.h"
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>
#include <string>

#include "flatcast/clock.h"
#include "flatcast/curve.h"
#include "flatcast/duration.h"
#include "flatcast/registry.h"
#include "flatcast/key_registry.h"
#include "flatcast/signing.h"
#include "flatcast/status.h"

namespace flatcast {
namespace {

std::string Z85(std::string_view raw) { return Z85Encode(raw).value(); }

Status RunGenerate(const std::string& kind_name, const std::string& prefix, bool force) {
  std::optional<KeyKind> kind = KeyKindFromName(kind_name);
  if (!kind) return Status::InvalidArgument("--kind must be signing or curve");
  Result<KeyPair> pair = GenerateKeyPair(*kind);
  if (!pair.ok()) return pair.status();
  FLATCAST_RETURN_IF_ERROR(WriteKeyFiles(prefix, *pair, force));
  fmt::print("{} key {}\n  public: {}.pub\n  secret: {}.key (mode 0600)\n", kind_name,
             KeyId(pair->public_key), prefix, prefix);
  return Status::Ok();
}

Status RunShow(const std::string& path, bool json) {
  Result<KeyFile> file = ReadKeyFile(path);
  if (!file.ok()) return file.status();
  if (json) {
    nlohmann::json out = {{"kind", KeyKindName(file->kind)},
                          {"key_id", KeyId(file->public_key)},
                          {"public", Z85(file->public_key)},
                          {"has_secret", file->secret_key.has_value()}};
    fmt::print("{}\n", out.dump(2));
    return Status::Ok();
  }
  fmt::print("kind:   {}\nkey id: {}\npublic: {}\nsecret: {}\n", KeyKindName(file->kind),
             KeyId(file->public_key), Z85(file->public_key),
             file->secret_key ? "in this file (not shown)" : "not in this file");
  return Status::Ok();
}

// The public keys named by --curve-pub and --signing-pub.
struct PublicKeys {
  std::string curve;
  std::optional<std::string> signing;
};

Result<PublicKeys> ReadPublicKeys(const std::string& curve_file, const std::string& signing_file) {
  PublicKeys keys;
  Result<std::string> curve = ReadPublicKey(curve_file, KeyKind::kCurve);
  if (!curve.ok()) return curve.status();
  keys.curve = std::move(curve).value();
  if (!signing_file.empty()) {
    Result<std::string> signing = ReadPublicKey(signing_file, KeyKind::kSigning);
    if (!signing.ok()) return signing.status();
    keys.signing = std::move(signing).value();
  }
  return keys;
}

std::optional<std::string_view> View(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  return std::string_view(*s);
}

void PrintHolder(const KeyRegistry& registry, const std::string& name) {
  for (const KeyRecord* r : registry.FindAll(name)) {
    fmt::print("{} {} {} {} key {} {}\n", r->name, KeyRoleName(r->role), r->subject,
               KeyKindName(r->kind), r->key_id,
               r->revoked() ? "revoked " + FormatTime(*r->revoked_at) : std::string("active"));
  }
}

struct RegistryOptions {
  std::string registry;
  std::string name;
  std::string role;
  std::string subject;
  std::string curve_pub;
  std::string signing_pub;
  std::string kind;
};

Status RunRegister(const RegistryOptions& o) {
  std::optional<KeyRole> role = KeyRoleFromName(o.role);
  if (!role) return Status::InvalidArgument("--role must be unit, publisher, auditor, broker, relay or public");
  Result<PublicKeys> keys = ReadPublicKeys(o.curve_pub, o.signing_pub);
  if (!keys.ok()) return keys.status();
  TimePoint now = SystemClock::Instance().Now();
  KeyRegistry after;
  FLATCAST_RETURN_IF_ERROR(UpdateKeyRegistryFile(o.registry, /*create=*/true, [&](KeyRegistry& r) {
    FLATCAST_RETURN_IF_ERROR(
        r.Register(o.name, *role, o.subject, keys->curve, View(keys->signing), now));
    after = r;
    return Status::Ok();
  }));
  PrintHolder(after, o.name);
  return Status::Ok();
}

Status RunRevoke(const RegistryOptions& o) {
  std::optional<KeyKind> kind;
  if (!o.kind.empty()) {
    kind = KeyKindFromName(o.kind);
    if (!kind) return Status::InvalidArgument("--kind must be signing or curve");
  }
  TimePoint now = SystemClock::Instance().Now();
  KeyRegistry after;
  FLATCAST_RETURN_IF_ERROR(UpdateKeyRegistryFile(o.registry, /*create=*/false, [&](KeyRegistry& r) {
    FLATCAST_RETURN_IF_ERROR(r.Revoke(o.name, kind, now));
    after = r;
    return Status::Ok();
  }));
  PrintHolder(after, o.name);
  return Status::Ok();
}

Status RunRotate(const RegistryOptions& o) {
  Result<PublicKeys> keys = ReadPublicKeys(o.curve_pub, o.signing_pub);
  if (!keys.ok()) return keys.status();
  TimePoint now = SystemClock::Instance().Now();
  KeyRegistry after;
  FLATCAST_RETURN_IF_ERROR(UpdateKeyRegistryFile(o.registry, /*create=*/false, [&](KeyRegistry& r) {
    FLATCAST_RETURN_IF_ERROR(r.Rotate(o.name, keys->curve, View(keys->signing), now));
    after = r;
    return Status::Ok();
  }));
  PrintHolder(after, o.name);
  return Status::Ok();
}

Status RunList(const std::string& path, bool json) {
  Result<KeyRegistry> registry = KeyRegistry::Load(path);
  if (!registry.ok()) return registry.status();
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const KeyRecord& r : registry->records()) {
      nlohmann::json entry = {{"name", r.name},
                              {"role", KeyRoleName(r.role)},
                              {"subject", r.subject},
                              {"kind", KeyKindName(r.kind)},
                              {"key_id", r.key_id},
                              {"public", Z85(r.public_key)},
                              {"added", FormatTime(r.added)},
                              {"revoked", r.revoked()}};
      if (r.revoked_at) entry["revoked_at"] = FormatTime(*r.revoked_at);
      out.push_back(std::move(entry));
    }
    fmt::print("{}\n", out.dump(2));
    return Status::Ok();
  }
  for (const KeyRecord& r : registry->records()) {
    fmt::print("{:<24} {:<9} {:<14} {:<7} {} {}\n", r.name, KeyRoleName(r.role), r.subject,
               KeyKindName(r.kind), r.key_id,
               r.revoked() ? "revoked " + FormatTime(*r.revoked_at) : std::string("active"));
  }
  return Status::Ok();
}

struct UnitKeyOptions {
  std::string registry;
  std::string seed;
  std::string units;
  std::string region;
  std::vector<std::string> tiers{"city", "district", "street", "community"};
  std::vector<std::string> exclude;
};

// Registers the seed-derived CURVE key of every selected unit as holder
// "unit-<code>". A unit already registered with that same key is left as it
// is, so the command can be run again; one with another key is refused.
Status RunRegisterUnits(const UnitKeyOptions& o) {
  Result<std::string> seed = ReadSeedFile(o.seed);
  if (!seed.ok()) return seed.status();
  Result<Registry> units = Registry::Load(o.units);
  if (!units.ok()) return units.status();
  if (!o.region.empty() && !units->Find(o.region)) {
    return Status::InvalidArgument(fmt::format("region {} is not in {}", o.region, o.units));
  }
  std::vector<Tier> tiers;
  for (const std::string& name : o.tiers) {
    std::optional<Tier> tier = TierFromName(name);
    if (!tier) return Status::InvalidArgument(fmt::format("unknown tier \"{}\"", name));
    tiers.push_back(*tier);
  }
  std::set<std::string> exclude(o.exclude.begin(), o.exclude.end());
  std::vector<std::pair<std::string, KeyPair>> selected;
  for (uint32_t i = 0; i < units->size(); ++i) {
    const Unit& unit = units->unit(i);
    if (std::find(tiers.begin(), tiers.end(), unit.tier) == tiers.end()) continue;
    if (!Registry::IsWithin(unit.code, o.region) || exclude.contains(unit.code)) continue;
    Result<KeyPair> pair = DeriveUnitCurveKey(*seed, unit.code);
    if (!pair.ok()) return pair.status();
    selected.emplace_back(unit.code, std::move(pair).value());
  }
  if (selected.empty()) return Status::InvalidArgument("no units selected");
  TimePoint now = SystemClock::Instance().Now();
  size_t added = 0, kept = 0;
  FLATCAST_RETURN_IF_ERROR(UpdateKeyRegistryFile(o.registry, /*create=*/true, [&](KeyRegistry& r) {
    for (const auto& [code, pair] : selected) {
      std::string name = "unit-" + code;
      if (const KeyRecord* active = r.FindActive(name, KeyKind::kCurve)) {
        if (active->public_key != pair.public_key) {
          return Status::AlreadyExists(fmt::format(
              "{} already has another active CURVE key ({}); revoke it first", name,
              active->key_id));
        }
        ++kept;
        continue;
      }
      FLATCAST_RETURN_IF_ERROR(
          r.Register(name, KeyRole::kUnit, code, pair.public_key, std::nullopt, now));
      ++added;
    }
    return Status::Ok();
  }));
  fmt::print("{} unit keys registered, {} already registered ({} units selected)\n", added, kept,
             selected.size());
  return Status::Ok();
}

std::optional<KeyFileFormat> FormatFromName(std::string_view name) {
  if (name == "toml") return KeyFileFormat::kToml;
  if (name == "binary") return KeyFileFormat::kBinary;
  return std::nullopt;
}

std::string_view FormatName(KeyFileFormat format) {
  return format == KeyFileFormat::kBinary ? "binary" : "toml";
}

// convert and cut: read one registry, write another (the input's form unless
// `to` names one).
Status RunRewrite(const std::string& in, const std::string& out, const std::string& to,
                  const std::string& region) {
  if (in == out) return Status::InvalidArgument("--out must be another file than --registry");
  if (!region.empty() && !TierOfCode(region)) {
    return Status::InvalidArgument(fmt::format(
        "--region must be a GB/T 2260 code (2, 4, 6, 9 or 12 digits), not \"{}\"", region));
  }
  Result<KeyRegistry> keys = KeyRegistry::Load(in);
  if (!keys.ok()) return keys.status();
  KeyFileFormat format = to.empty() ? keys->format() : *FormatFromName(to);
  KeyRegistry result = region.empty() ? std::move(keys).value() : keys->Cut(region);
  FLATCAST_RETURN_IF_ERROR(result.Save(out, format));
  fmt::print("{} keys written to {} ({})\n", result.records().size(), out, FormatName(format));
  return Status::Ok();
}

// A file's contents, or an http:// URL's body.
Result<std::string> ReadOrFetch(const std::string& where) {
  if (where.starts_with("http://") || where.starts_with("https://")) {
    return feed::HttpGetBody(where);
  }
  std::ifstream in(where, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + where);
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().size() > (16u << 20)) return Status::TooLarge(where + " is larger than 16 MiB");
  return text.str();
}

Status RunVerifyPublic(const std::string& doc_at, std::string sig_at, std::string keys_at) {
  const bool url = doc_at.starts_with("http://") || doc_at.starts_with("https://");
  if (url) {
    std::string base = doc_at;
    if (base.ends_with("/cap.xml")) base.resize(base.size() - 8);
    if (sig_at.empty()) sig_at = base + "/signature";
    if (keys_at.empty()) {
      size_t path = doc_at.find('/', doc_at.find("://") + 3);
      keys_at = doc_at.substr(0, path) + "/.well-known/flatcast/keys.json";
    }
  } else if (sig_at.empty() || keys_at.empty()) {
    return Status::InvalidArgument(
        "a document from a file needs --signature and --keys (files or URLs)");
  }
  auto doc = ReadOrFetch(doc_at);
  if (!doc.ok()) return doc.status();
  auto sig = ReadOrFetch(sig_at);
  if (!sig.ok()) return sig.status();
  auto keys = ReadOrFetch(keys_at);
  if (!keys.ok()) return keys.status();
  auto v = feed::VerifyPublicDocument(*doc, *sig, *keys);
  if (!v.ok()) return v.status();
  fmt::print("VERIFIED: {} ({}) was signed by release key {}{}, valid from {}{}, at {}\n", doc_at,
             v->cap ? "CAP" : "JSON", v->key_id, v->holder.empty() ? "" : " of " + v->holder,
             v->valid_from.empty() ? "(unknown)" : v->valid_from,
             v->valid_until.empty() ? "" : " until " + v->valid_until, v->signed_at);
  return Status::Ok();
}

int Main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("flatcast-keys"));
  spdlog::set_pattern("%^%l%$: %v");

  CLI::App app{
      "Generates flatcast key pairs (Ed25519 signing, ZeroMQ CURVE) and maintains the key "
      "registry (public keys only)."};
  app.require_subcommand(1);

  std::string gen_kind;
  std::string gen_out;
  bool gen_force = false;
  CLI::App* generate = app.add_subcommand(
      "generate", "Write a new key pair: PREFIX.pub (public, 0644) and PREFIX.key (secret, 0600)");
  generate->add_option("--kind", gen_kind, "signing or curve")
      ->required()
      ->check(CLI::IsMember({"signing", "curve"}));
  generate->add_option("--out", gen_out, "Path prefix of the two files")->required();
  generate->add_flag("--force", gen_force, "Replace existing files");

  std::string show_file;
  bool show_json = false;
  CLI::App* show = app.add_subcommand(
      "show", "Print a key file's kind, key id and public key (never the secret)");
  show->add_option("FILE", show_file, "Key file (.pub or .key)")->required();
  show->add_flag("--json", show_json, "JSON output");

  RegistryOptions reg;
  CLI::App* register_cmd = app.add_subcommand("register", "Register a new key holder");
  register_cmd->add_option("--registry", reg.registry, "Key registry file (created if missing)")
      ->required();
  register_cmd->add_option("--name", reg.name, "Holder name")->required();
  register_cmd->add_option("--role", reg.role, "unit, publisher, auditor, broker, relay (subject: its region code) or public")
      ->required()
      ->check(CLI::IsMember({"unit", "publisher", "auditor", "broker", "relay", "public"}));
  register_cmd
      ->add_option("--subject", reg.subject,
                   "Unit code (unit), publisher name (publisher), auditor name or broker group (broker)")
      ->required();
  register_cmd->add_option("--curve-pub", reg.curve_pub, "CURVE public key file")->required();
  register_cmd->add_option("--signing-pub", reg.signing_pub, "Signing public key file");

  RegistryOptions rev;
  CLI::App* revoke = app.add_subcommand("revoke", "Revoke a holder's active keys");
  revoke->add_option("--registry", rev.registry, "Key registry file")->required();
  revoke->add_option("--name", rev.name, "Holder name")->required();
  revoke->add_option("--kind", rev.kind, "Revoke only this kind (signing or curve)")
      ->check(CLI::IsMember({"signing", "curve"}));

  RegistryOptions rot;
  CLI::App* rotate = app.add_subcommand(
      "rotate", "Replace a holder's active keys: the old ones are revoked, the new ones active");
  rotate->add_option("--registry", rot.registry, "Key registry file")->required();
  rotate->add_option("--name", rot.name, "Holder name")->required();
  rotate->add_option("--curve-pub", rot.curve_pub, "New CURVE public key file")->required();
  rotate->add_option("--signing-pub", rot.signing_pub, "New signing public key file");

  std::string list_registry;
  bool list_json = false;
  CLI::App* list = app.add_subcommand("list", "List the registry's keys, revoked ones included");
  list->add_option("--registry", list_registry, "Key registry file")->required();
  list->add_flag("--json", list_json, "JSON output");

  std::string seed_out;
  bool seed_force = false;
  CLI::App* seed = app.add_subcommand(
      "seed", "Write a new unit key seed (0600), from which a swarm derives each unit's CURVE key");
  seed->add_option("--out", seed_out, "Seed file to write")->required();
  seed->add_flag("--force", seed_force, "Replace an existing file");

  UnitKeyOptions units;
  CLI::App* register_units = app.add_subcommand(
      "register-units",
      "Register the seed-derived CURVE key of every selected unit (holder unit-<code>)");
  register_units->add_option("--registry", units.registry, "Key registry file (created if missing)")
      ->required();
  register_units->add_option("--seed", units.seed, "Unit key seed file")
      ->required()
      ->check(CLI::ExistingFile);
  register_units->add_option("--units", units.units, "Unit registry (TSV)")
      ->required()
      ->check(CLI::ExistingFile);
  register_units->add_option("--region", units.region, "Only units at or below this code");
  register_units->add_option("--tiers", units.tiers, "Tiers to register")
      ->delimiter(',')
      ->check(CLI::IsMember({"province", "city", "district", "street", "community"}))
      ->capture_default_str();
  register_units->add_option("--exclude", units.exclude, "Unit codes to leave out")->delimiter(',');

  std::string conv_in, conv_out, conv_to;
  CLI::App* convert = app.add_subcommand(
      "convert", "Write the registry in the other form: TOML (read by people) or binary (loads a "
                 "country's keys in well under a second)");
  convert->add_option("--registry", conv_in, "Key registry file, either form")
      ->required()
      ->check(CLI::ExistingFile);
  convert->add_option("--out", conv_out, "File to write")->required();
  convert->add_option("--to", conv_to, "toml or binary")
      ->required()
      ->check(CLI::IsMember({"toml", "binary"}));

  std::string cut_in, cut_out, cut_to, cut_region;
  CLI::App* cut = app.add_subcommand(
      "cut", "Write the keys a region's relay needs: its units' and relays' keys, every "
             "publisher's and auditor's (docs/RELAY.md)");
  cut->add_option("--registry", cut_in, "Key registry file, either form")
      ->required()
      ->check(CLI::ExistingFile);
  cut->add_option("--region", cut_region, "The region's code, e.g. 52")->required();
  cut->add_option("--out", cut_out, "File to write")->required();
  cut->add_option("--to", cut_to, "toml or binary (default: the input's form)")
      ->check(CLI::IsMember({"toml", "binary"}));

  std::string vp_doc, vp_signature, vp_keys;
  CLI::App* verify_public = app.add_subcommand(
      "verify-public",
      "Check a released directive's signature (docs/PUBLIC.md): a document's URL, or a file "
      "with --signature and --keys");
  verify_public->add_option("document", vp_doc,
                            "http://.../public/directives/<id> (or .../cap.xml), or a file")
      ->required();
  verify_public->add_option("--signature", vp_signature,
                            "the signature answer (.../<id>/signature), a file or URL (default "
                            "for a URL: fetched beside it)");
  verify_public->add_option("--keys", vp_keys,
                            "the release keys (/.well-known/flatcast/keys.json), a file or URL "
                            "(default for a URL: fetched from its server)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  Status status;
  if (*generate) {
    status = RunGenerate(gen_kind, gen_out, gen_force);
  } else if (*show) {
    status = RunShow(show_file, show_json);
  } else if (*register_cmd) {
    status = RunRegister(reg);
  } else if (*revoke) {
    status = RunRevoke(rev);
  } else if (*rotate) {
    status = RunRotate(rot);
  } else if (*list) {
    status = RunList(list_registry, list_json);
  } else if (*seed) {
    status = WriteNewSeedFile(seed_out, seed_force);
    if (status.ok()) fmt::print("unit key seed written to {} (mode 0600)\n", seed_out);
  } else if (*register_units) {
    status = RunRegisterUnits(units);
  } else if (*convert) {
    status = RunRewrite(conv_in, conv_out, conv_to, "");
  } else if (*cut) {
    status = RunRewrite(cut_in, cut_out, cut_to, cut_region);
  } else if (*verify_public) {
    status = RunVerifyPublic(vp_doc, vp_signature, vp_keys);
    if (status.code() == Status::Code::kPermissionDenied ||
        status.code() == Status::Code::kNotFound) {
      spdlog::error("NOT VERIFIED: {}", status.message());
      return 1;
    }
  }
  if (!status.ok()) {
    spdlog::error("{}", status.ToString());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace flatcast

int main(int argc, char** argv) {
  try {
    return flatcast::Main(argc, argv);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
}
