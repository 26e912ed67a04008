// What the publisher CLI does, as a library: build a directive from flags or
// a file, publish it with retries that cannot duplicate it, query its status.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/clock.h"
#include "flatcast/rpc_client.h"
#include "flatcast/signing.h"
#include "flatcast/status.h"

namespace flatcast::publisher {

namespace v1 = ::flatcast::v1;

// Directive fields as given on the command line.
struct DirectiveFlags {
  std::string issuer;
  std::string department;
  std::string title;
  std::string body;
  // "what|tier|due" with tier district/street/community and an optional RFC 3339 due time.
  std::vector<std::string> actions;
  std::vector<std::string> scope;
  std::vector<std::string> tiers;  // district, street, community
  std::string status = "actual";   // actual, exercise, test
  bool is_public = false;
  std::string public_release;  // RFC 3339, optional
  std::string expires;         // RFC 3339, optional
  std::vector<std::string> references;
  std::string internal_note;
  // "LEVEL=WHEN": LEVEL received, confirmed or ready; WHEN a duration after
  // sending ("2h"), an RFC 3339 time, or "release" (before the public release).
  std::vector<std::string> deadlines;
  // A return form file (.toml or .json, return_form.h); empty: no form.
  std::string form_file;
  // The language of title, body and actions (BCP 47); empty: zh-CN.
  std::string language;
  // "TAG|TITLE|BODY[|ACTION|...]": the directive in another language, with
  // each action item's text or none.
  std::vector<std::string> translations;
};

// An amendment as given on the command line: only the fields present change;
// everything else is carried over from the version amended.
struct DirectivePatch {
  std::optional<std::string> issuer, department, title, body, internal_note, expires;
  // Replace the (not internal) action items; internal ones are kept.
  std::optional<std::vector<std::string>> actions;
  std::optional<std::vector<std::string>> scope;
  std::optional<std::vector<std::string>> tiers;
  std::optional<std::vector<std::string>> deadlines;
  std::optional<std::string> status;  // actual, exercise, test (an explicit status change)
  std::optional<bool> is_public;
  std::optional<std::string> public_release;
  // A return form file replacing the form; "none" removes it.
  std::optional<std::string> form_file;
  std::optional<std::string> language;
  // Replace the translations; {"none"} removes them.
  std::optional<std::vector<std::string>> translations;
};

// `latest` with `patch` applied, ready to sign and send as an amendment of
// it: the fields the broker sets (id, sent, version, message type,
// references, changes, format version) and the creation time and signature
// (a new signature covers the merged content) are cleared. Each field is
// checked as BuildDirective checks it.
Result<v1::Directive> ApplyPatch(const v1::Directive& latest, const DirectivePatch& patch);

// Parses "actual", "exercise" or "test".
Result<v1::DirectiveStatus> ParseStatus(const std::string& name);

// One version of a directive as the broker stored it (the latest when
// `version` is 0), with the numbers of all its versions.
Result<v1::DirectiveReply> FetchDirective(RpcClient& client, const std::string& id,
                                          uint32_t version, std::chrono::milliseconds timeout);

// Adds a translation written as in DirectiveFlags::translations.
Status AddTranslation(v1::Directive& directive, const std::string& spec);

// Adds a deadline written as in DirectiveFlags::deadlines.
Status AddDeadline(v1::Directive& directive, const std::string& spec);

// Flags into a directive. Only the format is checked here (tiers, times,
// action syntax); the broker validates against the registry.
Result<v1::Directive> BuildDirective(const DirectiveFlags& flags);

// Signs `directive` with `key` (a signing key pair) and puts the signature in
// directive.signature. Sets `created` to `now` first when it is unset, since
// the signature covers it. Any earlier signature is replaced.
Status SignForPublishing(v1::Directive& directive, const KeyPair& key, TimePoint now);

// A fresh random idempotency key (32 hex digits).
std::string NewIdempotencyKey();

// Publishes with up to `attempts` tries of `timeout` each, all carrying the
// same idempotency key, so a lost receipt never stores the directive twice.
// An UNAVAILABLE answer (a pair without a leader or without a standby in
// sync) is asked again after pauses of 250 ms doubling to 2 s, within
// attempts x timeout in all; any other refusal is returned at once.
Result<v1::PublishReceipt> Publish(RpcClient& client, const v1::PublishRequest& request,
                                   int attempts, std::chrono::milliseconds timeout);

// Reads the file at `path` (a PDF, PNG or JPEG of at most 10 MiB), adds
// it to `directive`'s attachments under its file name and returns it; its
// bytes in `content` when not null.
Result<v1::Attachment> AttachFile(v1::Directive& directive, const std::string& path,
                                  std::string* content);

// Stores `content` at the broker as `attachment` (its SHA-256, size and
// media type), chunk by chunk, each answered before the next is sent (and
// retried as Publish retries); going on from where the broker says, so an
// upload cut off is resumed, and one stored already costs one chunk.
Status UploadAttachment(RpcClient& client, const v1::Attachment& attachment, std::string_view content,
                        int attempts, std::chrono::milliseconds timeout);

// Sends a lifecycle request (amend, cancel, extend, release early) with the
// same retry rule as Publish.
Result<v1::LifecycleReply> ChangeLifecycle(RpcClient& client, const v1::LifecycleRequest& request,
                                           int attempts, std::chrono::milliseconds timeout);

}  // namespace flatcast::publisher
