#include "flatcast/publisher/publisher.h"

#include "flatcast/return_form.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <chrono>
#include <random>
#include <thread>

#include "flatcast/directive.h"
#include "flatcast/attachment.h"
#include "flatcast/duration.h"
#include "flatcast/file_util.h"
#include "flatcast/language.h"

namespace flatcast::publisher {

namespace {

Result<v1::Tier> ParseTargetTier(const std::string& name) {
  if (name == "city") return v1::CITY;
  if (name == "district") return v1::DISTRICT;
  if (name == "street") return v1::STREET;
  if (name == "community") return v1::COMMUNITY;
  return Status::InvalidArgument("tier \"" + name + "\" is not one of city, district, street, community");
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos - start));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return parts;
}

// Sets the field through `field()` (a mutable_ accessor) only when `text` is
// given: touching a proto3 message field marks it present.
template <typename Field>
Status SetTime(const std::string& text, const char* what, Field field) {
  if (text.empty()) return Status::Ok();
  auto t = ParseTime(text);
  if (!t.ok()) return t.status().WithContext(what);
  *field() = ToTimestamp(t.value());
  return Status::Ok();
}

Status AddAction(v1::Directive& d, const std::string& spec) {
  auto parts = Split(spec, '|');
  if (parts.size() < 2 || parts.size() > 3) {
    return Status::InvalidArgument("action \"" + spec + "\" must be \"what|tier\" or \"what|tier|due\"");
  }
  auto* a = d.add_actions();
  a->set_what(parts[0]);
  auto tier = ParseTargetTier(parts[1]);
  if (!tier.ok()) return tier.status().WithContext("action \"" + spec + "\"");
  a->set_responsible_tier(tier.value());
  if (parts.size() == 3) {
    FLATCAST_RETURN_IF_ERROR(SetTime(parts[2], "action due time", [a] { return a->mutable_due(); }));
  }
  return Status::Ok();
}

}  // namespace

Status AddTranslation(v1::Directive& d, const std::string& spec) {
  auto parts = Split(spec, '|');
  if (parts.size() < 3) {
    return Status::InvalidArgument("translation \"" + spec.substr(0, 80) +
                                   "\" must be \"TAG|TITLE|BODY\" or \"TAG|TITLE|BODY|ACTION|...\"");
  }
  FLATCAST_RETURN_IF_ERROR(CheckLanguageTag(parts[0]));
  v1::Translation* t = d.add_translations();
  t->set_language(parts[0]);
  t->set_title(parts[1]);
  t->set_body(parts[2]);
  for (size_t i = 3; i < parts.size(); ++i) t->add_actions(parts[i]);
  return Status::Ok();
}

namespace {

Status AddTiers(v1::Directive& d, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    auto tier = ParseTargetTier(name);
    if (!tier.ok()) return tier.status();
    d.add_target_tiers(tier.value());
  }
  return Status::Ok();
}

}  // namespace

Result<v1::DirectiveStatus> ParseStatus(const std::string& name) {
  if (name == "actual") return v1::ACTUAL;
  if (name == "exercise") return v1::EXERCISE;
  if (name == "test") return v1::TEST;
  return Status::InvalidArgument("status \"" + name + "\" is not one of actual, exercise, test");
}

Result<v1::Directive> ApplyPatch(const v1::Directive& latest, const DirectivePatch& p) {
  v1::Directive d = latest;
  for (int field : {v1::Directive::kIdFieldNumber, v1::Directive::kSentFieldNumber,
                    v1::Directive::kVersionFieldNumber, v1::Directive::kMsgTypeFieldNumber,
                    v1::Directive::kReferencesFieldNumber, v1::Directive::kChangesFieldNumber,
                    v1::Directive::kFormatVersionFieldNumber, v1::Directive::kCreatedFieldNumber,
                    v1::Directive::kSignatureFieldNumber}) {
    d.GetReflection()->ClearField(&d, v1::Directive::descriptor()->FindFieldByNumber(field));
  }
  if (p.issuer) d.set_issuer_unit(*p.issuer);
  if (p.department) d.set_issuer_department(*p.department);
  if (p.title) d.set_title(*p.title);
  if (p.body) d.set_body(*p.body);
  if (p.internal_note) d.set_internal_note(*p.internal_note);
  if (p.actions) {
    google::protobuf::RepeatedPtrField<v1::ActionItem> internal;
    for (const auto& a : d.actions()) {
      if (a.internal()) *internal.Add() = a;
    }
    d.clear_actions();
    for (const auto& spec : *p.actions) FLATCAST_RETURN_IF_ERROR(AddAction(d, spec));
    for (auto& a : internal) *d.add_actions() = std::move(a);
  }
  if (p.scope) {
    d.clear_scope();
    for (const auto& code : *p.scope) d.add_scope(code);
  }
  if (p.tiers) {
    d.clear_target_tiers();
    FLATCAST_RETURN_IF_ERROR(AddTiers(d, *p.tiers));
  }
  if (p.deadlines) {
    d.clear_deadlines();
    for (const auto& spec : *p.deadlines) FLATCAST_RETURN_IF_ERROR(AddDeadline(d, spec));
  }
  if (p.status) {
    auto status = ParseStatus(*p.status);
    if (!status.ok()) return status.status();
    d.set_status(*status);
  }
  if (p.language) {
    if (!p.language->empty()) FLATCAST_RETURN_IF_ERROR(CheckLanguageTag(*p.language));
    d.set_language(*p.language);
  }
  if (p.translations) {
    d.clear_translations();
    if (*p.translations != std::vector<std::string>{"none"}) {
      for (const auto& spec : *p.translations) FLATCAST_RETURN_IF_ERROR(AddTranslation(d, spec));
    }
  }
  if (p.form_file && *p.form_file == "none") {
    d.clear_return_form();
  } else if (p.form_file) {
    Result<v1::ReturnForm> form = LoadReturnFormFile(*p.form_file);
    if (!form.ok()) return form.status();
    *d.mutable_return_form() = std::move(form).value();
  }
  if (p.is_public) d.set_is_public(*p.is_public);
  if (p.public_release) {
    d.clear_public_release();
    FLATCAST_RETURN_IF_ERROR(
        SetTime(*p.public_release, "public release", [&d] { return d.mutable_public_release(); }));
  }
  if (p.expires) {
    d.clear_expires();
    if (*p.expires != "none") {
      FLATCAST_RETURN_IF_ERROR(SetTime(*p.expires, "expiry", [&d] { return d.mutable_expires(); }));
    }
  }
  FLATCAST_RETURN_IF_ERROR(CheckDirectiveTimes(d));
  return d;
}

Result<v1::DirectiveReply> FetchDirective(RpcClient& client, const std::string& id,
                                          uint32_t version, std::chrono::milliseconds timeout) {
  v1::Envelope env;
  v1::DirectiveQuery* q = env.mutable_audit_request()->mutable_directive();
  q->set_directive_id(id);
  q->set_version(version);
  auto reply = client.Call(env, timeout);
  if (!reply.ok()) return reply.status();
  if (!reply->has_audit_reply() || !reply->audit_reply().has_directive()) {
    return Status::Internal("the broker answered with no directive");
  }
  return reply->audit_reply().directive();
}

Status AddDeadline(v1::Directive& d, const std::string& spec) {
  size_t eq = spec.find('=');
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument(fmt::format(
        "deadline \"{}\": {} (write LEVEL=WHEN: confirmed=2h, ready=release or "
        "ready=2026-12-02T08:00:00Z)",
        spec, why));
  };
  if (eq == std::string::npos) return bad("no '='");
  std::string level = spec.substr(0, eq), when = spec.substr(eq + 1);
  v1::AckDeadline* deadline = d.add_deadlines();
  if (level == "received") {
    deadline->set_level(v1::RECEIVED);
  } else if (level == "confirmed") {
    deadline->set_level(v1::CONFIRMED);
  } else if (level == "ready") {
    deadline->set_level(v1::READY);
  } else {
    return bad("the level must be received, confirmed or ready");
  }
  if (when == "release") {
    deadline->set_before_public_release(true);
  } else if (auto within = ParseDuration(when); within.ok()) {
    if (within->count() <= 0) return bad("the time allowed must be positive");
    if (*within > kMaxAheadOfNow) {
      return bad("the time allowed is at most " + FormatDuration(kMaxAheadOfNow));
    }
    deadline->set_within_ms(within->count());
  } else if (auto at = ParseTime(when); at.ok()) {
    *deadline->mutable_at() = ToTimestamp(*at);
  } else {
    return bad("WHEN is neither a duration, an RFC 3339 time nor \"release\"");
  }
  return Status::Ok();
}

Result<v1::Directive> BuildDirective(const DirectiveFlags& f) {
  v1::Directive d;
  d.set_issuer_unit(f.issuer);
  d.set_issuer_department(f.department);
  d.set_title(f.title);
  d.set_body(f.body);
  for (const auto& spec : f.actions) FLATCAST_RETURN_IF_ERROR(AddAction(d, spec));
  if (!f.language.empty()) {
    FLATCAST_RETURN_IF_ERROR(CheckLanguageTag(f.language));
    d.set_language(f.language);
  }
  for (const auto& spec : f.translations) FLATCAST_RETURN_IF_ERROR(AddTranslation(d, spec));
  for (const auto& spec : f.deadlines) FLATCAST_RETURN_IF_ERROR(AddDeadline(d, spec));
  for (const auto& code : f.scope) d.add_scope(code);
  FLATCAST_RETURN_IF_ERROR(AddTiers(d, f.tiers));
  auto status = ParseStatus(f.status);
  if (!status.ok()) return status.status();
  d.set_status(*status);
  d.set_is_public(f.is_public);
  FLATCAST_RETURN_IF_ERROR(
      SetTime(f.public_release, "public release", [&d] { return d.mutable_public_release(); }));
  FLATCAST_RETURN_IF_ERROR(SetTime(f.expires, "expiry", [&d] { return d.mutable_expires(); }));
  for (const auto& ref : f.references) d.add_references(ref);
  d.set_internal_note(f.internal_note);
  if (!f.form_file.empty()) {
    Result<v1::ReturnForm> form = LoadReturnFormFile(f.form_file);
    if (!form.ok()) return form.status();
    *d.mutable_return_form() = std::move(form).value();
  }
  FLATCAST_RETURN_IF_ERROR(CheckDirectiveTimes(d));
  return d;
}

Status SignForPublishing(v1::Directive& directive, const KeyPair& key, TimePoint now) {
  if (!directive.has_created()) *directive.mutable_created() = ToTimestamp(now);
  directive.clear_signature();
  Result<DirectiveSignature> signature = SignDirective(directive, key);
  if (!signature.ok()) return signature.status();
  directive.mutable_signature()->set_key_id(signature->key_id);
  directive.mutable_signature()->set_signature(signature->signature);
  return Status::Ok();
}

std::string NewIdempotencyKey() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
}

namespace {

// Calls with up to `attempts` tries; only silence or "not now" (UNAVAILABLE:
// a pair electing a leader or without a standby in sync) is worth another
// try, a refusal stays a refusal. The request carries its idempotency key, so
// a retry after a lost answer changes nothing twice. A "not now" that comes
// back at once is asked again after a pause growing from 250 ms to 2 s, for as
// long as the tries would have taken in silence (attempts x timeout): a
// publish made during a failover is confirmed once the new leader has its
// standby, instead of using up its tries in a few milliseconds.
//
// A try whose outcome was not known (silence, or a broker whose write failed
// without telling whether it was stored) stays not known when a later try is
// refused for a passing reason (the store not accepting writes, the disk at
// its reserve): that refusal is about the later try only. The answer is then
// "not known" (the publisher's exit code 3) with both messages, never "not
// stored". A refusal of the request itself (invalid, forbidden, too large)
// would have refused the first try too and is reported as it is.
bool RefusesThisTryOnly(const Status& st) {
  switch (st.code()) {
    case Status::Code::kIOError:
    case Status::Code::kNoSpace:
    case Status::Code::kInternal:
      return true;
    default:
      return false;
  }
}

Result<v1::Envelope> CallWithRetries(RpcClient& client, const v1::Envelope& env, int attempts,
                                     std::chrono::milliseconds timeout) {
  using Steady = std::chrono::steady_clock;
  const Steady::time_point give_up = Steady::now() + attempts * timeout;
  std::chrono::milliseconds pause(250);
  Status last = Status::Unavailable("no attempt made");
  bool tried = false;  // every try so far ended "not now" or in silence
  for (int silent = 0; silent < attempts;) {
    const Steady::time_point asked = Steady::now();
    auto reply = client.Call(env, timeout);
    if (reply.ok()) return reply;
    if (tried && RefusesThisTryOnly(reply.status())) {
      return Status::Unavailable(last.message() + "; asked again with the same idempotency key: " +
                                 reply.status().message());
    }
    tried = true;
    last = reply.status();
    if (last.code() != Status::Code::kUnavailable) return last;
    if (Steady::now() - asked >= timeout) {
      ++silent;
      continue;
    }
    if (Steady::now() + pause > give_up) break;
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::milliseconds>(2 * pause, std::chrono::seconds(2));
  }
  return last;
}

}  // namespace

Result<v1::PublishReceipt> Publish(RpcClient& client, const v1::PublishRequest& request,
                                   int attempts, std::chrono::milliseconds timeout) {
  v1::Envelope env;
  *env.mutable_publish() = request;
  auto reply = CallWithRetries(client, env, attempts, timeout);
  if (!reply.ok()) return reply.status();
  if (!reply->has_receipt()) return Status::Internal("broker answered with no receipt");
  return reply->receipt();
}

Result<v1::LifecycleReply> ChangeLifecycle(RpcClient& client, const v1::LifecycleRequest& request,
                                           int attempts, std::chrono::milliseconds timeout) {
  v1::Envelope env;
  *env.mutable_lifecycle() = request;
  auto reply = CallWithRetries(client, env, attempts, timeout);
  if (!reply.ok()) return reply.status();
  if (!reply->has_lifecycle_reply()) return Status::Internal("broker answered with no lifecycle reply");
  return reply->lifecycle_reply();
}

Result<v1::Attachment> AttachFile(v1::Directive& directive, const std::string& path,
                                  std::string* content) {
  // The size first, so that a huge file is refused without being read.
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxAttachmentBytes) {
    return Status::InvalidArgument(fmt::format("{} is {} bytes; the limit for an attachment is {}", path,
                                               size, kMaxAttachmentBytes));
  }
  Result<std::string> bytes = ReadWholeFile(path);
  if (!bytes.ok()) return bytes.status();
  Result<v1::Attachment> a =
      DescribeAttachment(std::filesystem::path(path).filename().string(), *bytes);
  if (!a.ok()) return a.status();
  *directive.add_attachments() = *a;
  if (content != nullptr) *content = std::move(bytes).value();
  return a;
}

Status UploadAttachment(RpcClient& client, const v1::Attachment& attachment, std::string_view content,
                        int attempts, std::chrono::milliseconds timeout) {
  if (content.size() != attachment.size()) {
    return Status::InvalidArgument("the content is not the size the attachment declares");
  }
  uint64_t offset = 0;
  // Each answer says how much is stored; the next chunk begins there. A
  // broker that answers with an offset it had already reached twice over
  // is not going on: give up rather than loop.
  int stalls = 0;
  for (;;) {
    v1::Envelope env;
    auto* put = env.mutable_attachment_put();
    put->set_sha256(attachment.sha256());
    put->set_size(attachment.size());
    put->set_media_type(attachment.media_type());
    put->set_offset(offset);
    put->set_data(std::string(content.substr(offset, kAttachmentChunkBytes)));
    auto reply = CallWithRetries(client, env, attempts, timeout);
    if (!reply.ok()) return reply.status().WithContext("attachment " + attachment.name());
    if (!reply->has_attachment_stored()) return Status::Internal("broker answered with no attachment_stored");
    const v1::AttachmentStored& stored = reply->attachment_stored();
    if (stored.complete()) return Status::Ok();
    if (stored.stored() >= attachment.size() || stored.stored() % kAttachmentChunkBytes != 0) {
      return Status::Internal(fmt::format("the broker says {} bytes are stored of {}", stored.stored(),
                                          attachment.size()));
    }
    stalls = stored.stored() > offset ? 0 : stalls + 1;
    if (stalls > 3) return Status::Internal("the broker stores no more of the attachment");
    offset = stored.stored();
  }
}

}  // namespace flatcast::publisher
