// flatcast-publisher: publish a directive, change it (amend, cancel, extend
// the public hold, release early) and follow its acknowledgements.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "flatcast/publisher/publisher.h"
#include "flatcast/return_form.h"
#include "flatcast/queries.h"
#include "flatcast/report.h"

namespace {

using flatcast::Result;
using flatcast::Status;
namespace v1 = flatcast::v1;

int Fail(const Status& st, bool json) {
  if (json) std::cout << "{\"error\": \"" << st.message() << "\"}\n";
  std::cerr << "flatcast-publisher: " << st.message() << "\n";
  return st.code() == Status::Code::kUnavailable ? 3 : 2;
}

// Directive content from a file or from flags.
void AddContentOptions(CLI::App* cmd, flatcast::publisher::DirectiveFlags& f, std::string& file,
                       std::string& body_file) {
  cmd->add_option("-f,--file", file, "directive file (.toml or .json)")->check(CLI::ExistingFile);
  cmd->add_option("--issuer", f.issuer, "issuing unit's code, e.g. 52 or 5201");
  cmd->add_option("--department", f.department, "issuing department code, e.g. HEALTH");
  cmd->add_option("--title", f.title, "title");
  cmd->add_option("--body", f.body, "body text");
  cmd->add_option("--body-file", body_file, "read the body from this file")->check(CLI::ExistingFile);
  cmd->add_option("--action", f.actions, "action item \"what|tier[|due]\" (repeatable)");
  cmd->add_option("--language", f.language,
                  "the language of title, body and actions, a BCP 47 tag (default zh-CN)");
  cmd->add_option("--translation", f.translations,
                  "the directive in another language \"TAG|TITLE|BODY[|ACTION|...]\" (repeatable; "
                  "the actions' texts in their order, or none)");
  cmd->add_option("--scope", f.scope, "region code in scope (repeatable)");
  cmd->add_option("--tiers", f.tiers, "target tiers: any of city,district,street,community")
      ->delimiter(',');
  cmd->add_option("--status", f.status, "actual, exercise or test")->capture_default_str();
  cmd->add_flag("--public", f.is_public, "the directive is for the public too (after the hold)");
  cmd->add_option("--public-release", f.public_release,
                  "public release time (RFC 3339); default: send time + the broker's lead time");
  cmd->add_option("--expires", f.expires, "expiry time (RFC 3339)");
  cmd->add_option("--reference", f.references, "id of an earlier directive (repeatable)");
  cmd->add_option("--note", f.internal_note, "internal note (never public)");
  cmd->add_option("--deadline", f.deadlines,
                  "acknowledgement deadline LEVEL=WHEN (repeatable): confirmed=2h, "
                  "ready=release, ready=2026-12-02T08:00:00Z; overdue units are reminded and "
                  "their parent unit told");
  cmd->add_option("--form", f.form_file,
                  "a return form every addressed unit answers once (.toml or .json of [[fields]]; "
                  "see README)")
      ->check(CLI::ExistingFile);
}

Result<v1::Directive> Content(const flatcast::publisher::DirectiveFlags& flags,
                              const std::string& file, const std::string& body_file) {
  if (!file.empty()) {
    // --deadline adds to the file's deadlines.
    auto d = flatcast::LoadDirectiveFile(file);
    if (!d.ok()) return d;
    for (const auto& spec : flags.deadlines) {
      FLATCAST_RETURN_IF_ERROR(flatcast::publisher::AddDeadline(*d, spec));
    }
    if (!flags.form_file.empty()) {
      auto form = flatcast::LoadReturnFormFile(flags.form_file);
      if (!form.ok()) return form.status();
      *d->mutable_return_form() = std::move(form).value();
    }
    return d;
  }
  flatcast::publisher::DirectiveFlags f = flags;
  if (!body_file.empty()) {
    std::ifstream in(body_file);
    std::stringstream ss;
    ss << in.rdbuf();
    f.body = ss.str();
  }
  return flatcast::publisher::BuildDirective(f);
}

// An amendment's flags: each one given replaces that field of the latest
// version; nothing else changes.
struct AmendFlags {
  flatcast::publisher::DirectiveFlags values;
  std::string body_file, change_status;
  std::vector<std::pair<std::string, CLI::Option*>> given;  // flag name -> option

  void Add(const std::string& name, CLI::Option* option) {
    given.emplace_back(name, option);
  }
  bool Has(const std::string& name) const {
    for (const auto& [n, option] : given) {
      if (n == name) return option->count() > 0;
    }
    return false;
  }
};

void AddAmendOptions(CLI::App* cmd, AmendFlags& a, std::string& file) {
  auto& f = a.values;
  cmd->add_option("-f,--file", file,
                  "a whole new content (.toml or .json) instead of changing single fields")
      ->check(CLI::ExistingFile);
  a.Add("issuer", cmd->add_option("--issuer", f.issuer, "issuing unit (must stay the same)"));
  a.Add("department",
        cmd->add_option("--department", f.department, "issuing department (must stay the same)"));
  a.Add("title", cmd->add_option("--title", f.title, "new title"));
  a.Add("body", cmd->add_option("--body", f.body, "new body text"));
  a.Add("body-file", cmd->add_option("--body-file", a.body_file, "read the new body from this file")
                              ->check(CLI::ExistingFile));
  a.Add("action", cmd->add_option("--action", f.actions,
                                       "action item \"what|tier[|due]\" (repeatable; replaces "
                                       "the action items, internal ones are kept)"));
  a.Add("language", cmd->add_option("--language", f.language, "the language of title, body and actions"));
  a.Add("translation", cmd->add_option("--translation", f.translations,
                                            "\"TAG|TITLE|BODY[|ACTION|...]\" (repeatable; replaces the "
                                            "translations; none removes them)"));
  a.Add("scope", cmd->add_option("--scope", f.scope, "region code in scope (repeatable; replaces the scope)"));
  a.Add("tiers", cmd->add_option("--tiers", f.tiers, "target tiers (replace them)")->delimiter(','));
  a.Add("public", cmd->add_flag("--public", f.is_public, "for the public too (must stay the same)"));
  a.Add("public-release",
        cmd->add_option("--public-release", f.public_release,
                        "public release time (must stay the same; use extend or release)"));
  a.Add("expires", cmd->add_option("--expires", f.expires, "new expiry time (RFC 3339), or none"));
  a.Add("note", cmd->add_option("--note", f.internal_note, "new internal note"));
  a.Add("deadline", cmd->add_option("--deadline", f.deadlines,
                                         "acknowledgement deadline LEVEL=WHEN (repeatable; "
                                         "replaces the deadlines)"));
  a.Add("form", cmd->add_option("--form", f.form_file,
                                 "a return form file replacing the form, or none to remove it"));
  a.Add("change-status",
        cmd->add_option("--change-status", a.change_status,
                        "change the status to actual, exercise or test (needs --reason; to "
                        "actual from exercise or test also --confirm-actual)"));
}

// The amendment's content: the file's, or the latest version with the
// given flags applied.
Result<v1::Directive> AmendedContent(const v1::Directive& latest, const AmendFlags& a,
                                     const std::string& file) {
  namespace publisher = flatcast::publisher;
  if (!file.empty()) {
    for (const char* name : {"issuer", "department", "title", "body", "body-file", "action",
                             "scope", "tiers", "public", "public-release", "expires", "note", "form",
                             "language", "translation"}) {
      if (a.Has(name)) {
        return Status::InvalidArgument(std::string("--file gives the whole content; --") + name +
                                       " cannot be combined with it");
      }
    }
    auto d = flatcast::LoadDirectiveFile(file);
    if (!d.ok()) return d;
    v1::DirectiveStatus status = latest.status();
    if (a.Has("change-status")) {
      auto s = publisher::ParseStatus(a.change_status);
      if (!s.ok()) return s.status();
      status = *s;
    }
    if (d->status() != status) {
      return Status::InvalidArgument(fmt::format(
          "{} gives the status {}, but the directive is {}; change the status with "
          "--change-status {} (and --reason)",
          file, flatcast::StatusName(d->status()), flatcast::StatusName(latest.status()),
          flatcast::StatusName(d->status())));
    }
    for (const auto& spec : a.values.deadlines) FLATCAST_RETURN_IF_ERROR(publisher::AddDeadline(*d, spec));
    return d;
  }
  const auto& f = a.values;
  publisher::DirectivePatch p;
  if (a.Has("issuer")) p.issuer = f.issuer;
  if (a.Has("department")) p.department = f.department;
  if (a.Has("title")) p.title = f.title;
  if (a.Has("body")) p.body = f.body;
  if (a.Has("body-file")) {
    std::ifstream in(a.body_file);
    std::stringstream ss;
    ss << in.rdbuf();
    p.body = ss.str();
  }
  if (a.Has("action")) p.actions = f.actions;
  if (a.Has("scope")) p.scope = f.scope;
  if (a.Has("form")) p.form_file = f.form_file;
  if (a.Has("tiers")) p.tiers = f.tiers;
  if (a.Has("public")) p.is_public = f.is_public;
  if (a.Has("public-release")) p.public_release = f.public_release;
  if (a.Has("expires")) p.expires = f.expires;
  if (a.Has("note")) p.internal_note = f.internal_note;
  if (a.Has("deadline")) p.deadlines = f.deadlines;
  if (a.Has("change-status")) p.status = a.change_status;
  if (a.Has("language")) p.language = f.language;
  if (a.Has("translation")) p.translations = f.translations;
  return publisher::ApplyPatch(latest, p);
}

// The text `show` and `amend --dry-run` print.
std::string ShowText(const v1::StoredDirective& stored, const std::vector<uint32_t>& versions) {
  std::string out = flatcast::RenderDirectiveText(stored, flatcast::SystemClock::Instance().Now());
  if (!out.empty() && out.back() != '\n') out += "\n";
  if (!versions.empty()) {
    out += "\nVersions:";
    for (uint32_t v : versions) out += " " + std::to_string(v);
    out += "\n";
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flatcast publisher: publish directives and manage their lifecycle"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand
  std::string broker = "tcp://127.0.0.1:7700";
  bool json = false;
  int timeout_ms = 5000;
  int attempts = 3;
  std::string publisher_name, idempotency_key, signing_key_file, curve_key_file, broker_key_file;
  app.add_option("-b,--broker", broker, "broker endpoint; a pair's two, comma-separated")->capture_default_str();
  app.add_flag("--json", json, "print JSON instead of text");
  app.add_option("--timeout-ms", timeout_ms, "wait this long for each answer")->capture_default_str();
  app.add_option("--publisher", publisher_name, "registered publisher name");
  app.add_option("--idempotency-key", idempotency_key,
                 "retry key; the same key never changes anything twice (default: random)");
  app.add_option("--signing-key", signing_key_file,
                 "sign publish and amend with this signing key file (flatcast-keys generate "
                 "--kind signing); needed when the broker checks signatures")
      ->check(CLI::ExistingFile);
  app.add_option("--curve-key", curve_key_file,
                 "this publisher's secret CURVE key file, for a broker with CURVE (with "
                 "--broker-key); the broker then knows the publisher by its key")
      ->check(CLI::ExistingFile);
  app.add_option("--broker-key", broker_key_file, "the broker's public CURVE key file")
      ->check(CLI::ExistingFile);
  app.add_option("--attempts", attempts,
                 "tries when the broker does not answer; an UNAVAILABLE answer (a pair "
                 "without a standby in sync) is asked again, with pauses, for up to "
                 "attempts x timeout")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));

  flatcast::publisher::DirectiveFlags f;
  std::string file, body_file, reason;
  bool emergency = false;
  auto* pub = app.add_subcommand("publish", "publish a directive from flags or a file");
  AddContentOptions(pub, f, file, body_file);
  pub->add_flag("--emergency", emergency,
                "public release earlier than the lead time allows (emergency right, needs --reason)");
  pub->add_option("--reason", reason, "why (recorded for audit)");
  std::vector<std::string> attach;
  pub->add_option("--attach", attach,
                  "attach this document (a PDF, PNG or JPEG of at most 10 MiB; repeatable, at most "
                  "4): stored at the broker first, its SHA-256 signed with the directive")
      ->check(CLI::ExistingFile);

  std::string id, until;
  AmendFlags amend_flags;
  bool dry_run = false, confirm_actual = false;
  auto* amend = app.add_subcommand(
      "amend", "publish a new version of a directive: the fields given change, the rest is kept");
  amend->add_option("id", id, "directive id")->required();
  AddAmendOptions(amend, amend_flags, file);
  amend->add_option("--reason", reason, "why (recorded for audit)");
  amend->add_flag("--confirm-actual", confirm_actual,
                  "confirm that an exercise or test directive becomes an actual one");
  amend->add_flag("--dry-run", dry_run, "print the amended directive and its changes; send nothing");
  amend->add_option("--attach", attach,
                    "attach these documents instead of the latest version's (repeatable), or none "
                    "to remove them");

  uint32_t show_version = 0;
  auto* show = app.add_subcommand("show", "print a directive as the broker stored it");
  show->add_option("id", id, "directive id")->required();
  show->add_option("--version", show_version, "this version (default: the latest)")
      ->check(CLI::Range(1u, 1000000u));

  auto* cancel = app.add_subcommand("cancel", "cancel a directive (before release: never public)");
  cancel->add_option("id", id, "directive id")->required();
  cancel->add_option("--reason", reason, "why (recorded for audit)");

  auto* extend = app.add_subcommand("extend", "hold the public release longer");
  extend->add_option("id", id, "directive id")->required();
  extend->add_option("--until", until, "new public release time (RFC 3339)")->required();
  extend->add_option("--reason", reason, "why (recorded for audit)");

  auto* release = app.add_subcommand("release", "release to the public early (emergency right)");
  release->add_option("id", id, "directive id")->required();
  release->add_option("--at", until, "release time (RFC 3339); default: now");
  release->add_option("--reason", reason, "why (recorded for audit)")->required();

  auto* status = app.add_subcommand("status", "delivery and acknowledgement counts of a directive");
  status->add_option("id", id, "directive id")->required();

  CLI11_PARSE(app, argc, argv);
  auto curve = flatcast::LoadCurveClientKeys(curve_key_file, broker_key_file);
  if (!curve.ok()) return Fail(curve.status(), json);
  zmq::context_t ctx(1);
  flatcast::RpcClient client(ctx, broker, *curve);
  auto timeout = std::chrono::milliseconds(timeout_ms);
  std::optional<flatcast::KeyPair> signing_key;
  if (!signing_key_file.empty()) {
    auto pair = flatcast::ReadKeyPair(signing_key_file, flatcast::KeyKind::kSigning);
    if (!pair.ok()) return Fail(pair.status(), json);
    signing_key = std::move(pair).value();
  }
  // The documents to attach, read once: added to the directive before it
  // is signed, stored at the broker before it is sent.
  std::vector<std::pair<v1::Attachment, std::string>> documents;
  auto add_documents = [&](v1::Directive& d) -> Status {
    if (attach == std::vector<std::string>{"none"}) return Status::Ok();
    for (const std::string& path : attach) {
      std::string bytes;
      auto a = flatcast::publisher::AttachFile(d, path, &bytes);
      if (!a.ok()) return a.status();
      documents.emplace_back(*a, std::move(bytes));
    }
    return Status::Ok();
  };
  auto upload = [&]() -> Status {
    for (const auto& [a, bytes] : documents) {
      FLATCAST_RETURN_IF_ERROR(flatcast::publisher::UploadAttachment(client, a, bytes, attempts, timeout));
    }
    return Status::Ok();
  };
  // The content from a file or flags, signed when a signing key was given.
  auto content = [&]() -> Result<v1::Directive> {
    auto d = Content(f, file, body_file);
    if (d.ok()) FLATCAST_RETURN_IF_ERROR(add_documents(*d));
    if (!d.ok() || !signing_key) return d;
    FLATCAST_RETURN_IF_ERROR(flatcast::publisher::SignForPublishing(
        d.value(), *signing_key, flatcast::SystemClock::Instance().Now()));
    return d;
  };
  std::string key =
      idempotency_key.empty() ? flatcast::publisher::NewIdempotencyKey() : idempotency_key;

  if (*pub) {
    v1::PublishRequest request;
    auto d = content();
    if (!d.ok()) return Fail(d.status(), json);
    *request.mutable_directive() = std::move(d).value();
    if (Status st = upload(); !st.ok()) return Fail(st, json);
    request.set_publisher(publisher_name);
    request.set_idempotency_key(key);
    request.set_emergency(emergency);
    request.set_emergency_reason(reason);
    auto receipt = flatcast::publisher::Publish(client, request, attempts, timeout);
    if (!receipt.ok()) return Fail(receipt.status(), json);
    std::cout << (json ? flatcast::ReceiptToJson(receipt.value()) + "\n"
                       : flatcast::ReceiptToText(receipt.value()));
    return 0;
  }
  if (*show) {
    auto reply = flatcast::publisher::FetchDirective(client, id, show_version, timeout);
    if (!reply.ok()) return Fail(reply.status(), json);
    if (json) {
      std::cout << flatcast::DirectiveToJson(reply->directive()) << "\n";
    } else {
      std::cout << ShowText(reply->directive(), {reply->versions().begin(), reply->versions().end()});
    }
    return 0;
  }
  if (*status) {
    auto coverage = flatcast::QueryCoverage(client, id, "", 0, timeout);
    if (!coverage.ok()) return Fail(coverage.status(), json);
    std::cout << flatcast::RenderCoverage(coverage.value(), json ? flatcast::OutputFormat::kJson
                                                                 : flatcast::OutputFormat::kTable);
    return 0;
  }
  v1::LifecycleRequest request;
  request.set_directive_id(id);
  request.set_publisher(publisher_name);
  request.set_reason(reason);
  request.set_idempotency_key(key);
  if (!until.empty()) {
    auto t = flatcast::ParseTime(until);
    if (!t.ok()) return Fail(t.status(), json);
    *request.mutable_public_release() = flatcast::ToTimestamp(t.value());
  }
  if (*amend) {
    request.set_action(v1::LifecycleRequest::AMEND);
    auto latest = flatcast::publisher::FetchDirective(client, id, 0, timeout);
    if (!latest.ok()) return Fail(latest.status().WithContext("fetching the latest version of " + id), json);
    const v1::Directive& base = latest->directive().directive();
    auto d = AmendedContent(base, amend_flags, file);
    if (!d.ok()) return Fail(d.status(), json);
    if (!attach.empty()) {
      d->clear_attachments();
      if (Status st = add_documents(*d); !st.ok()) return Fail(st, json);
    }
    std::vector<std::string> changes = flatcast::DescribeChanges(base, *d);
    if (dry_run) {
      v1::StoredDirective preview = latest->directive();
      *preview.mutable_directive() = *d;
      preview.mutable_directive()->set_id(id);
      preview.mutable_directive()->set_version(base.version() + 1);
      *preview.mutable_directive()->mutable_sent() = base.sent();
      for (const auto& line : changes) preview.mutable_directive()->add_changes(line);
      std::cout << ShowText(preview, {});
      if (changes.empty()) std::cout << "\nThis amendment changes nothing; the broker would refuse it.\n";
      return 0;
    }
    if (signing_key) {
      if (Status st = flatcast::publisher::SignForPublishing(*d, *signing_key,
                                                             flatcast::SystemClock::Instance().Now());
          !st.ok()) {
        return Fail(st, json);
      }
    }
    *request.mutable_directive() = std::move(d).value();
    if (Status st = upload(); !st.ok()) return Fail(st, json);
    request.set_base_version(base.version());
    request.set_change_status(amend_flags.Has("change-status"));
    request.set_confirm_actual(confirm_actual);
    auto reply = flatcast::publisher::ChangeLifecycle(client, request, attempts, timeout);
    if (!reply.ok()) return Fail(reply.status(), json);
    if (json) {
      std::cout << flatcast::LifecycleReplyToJson(reply.value());
    } else {
      std::cout << flatcast::LifecycleReplyToText(reply.value());
      if (!changes.empty()) std::cout << "changes from version " << base.version() << ":\n";
      for (const auto& line : changes) std::cout << "  " << line << "\n";
    }
    return 0;
  } else if (*cancel) {
    request.set_action(v1::LifecycleRequest::CANCEL);
  } else if (*extend) {
    request.set_action(v1::LifecycleRequest::EXTEND_HOLD);
  } else {
    request.set_action(v1::LifecycleRequest::RELEASE_EARLY);
  }
  auto reply = flatcast::publisher::ChangeLifecycle(client, request, attempts, timeout);
  if (!reply.ok()) return Fail(reply.status(), json);
  std::cout << (json ? flatcast::LifecycleReplyToJson(reply.value())
                     : flatcast::LifecycleReplyToText(reply.value()));
  return 0;
}
