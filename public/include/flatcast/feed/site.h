// What a public server serves (docs/PUBLIC.md): the released directives'
// documents as the broker rendered and signed them, and the lists, feeds
// and pages built from them for the whole registry or one region. A Site is
// immutable once built (its per-region answers are computed once and kept),
// so the HTTP thread answers from it while the link builds the next.
//
//   GET /public/directives[?region=CODE]          JSON list, newest release first
//   GET /public/directives/<id>                   one directive, JSON (signed bytes)
//   GET /public/directives/<id>/cap.xml           CAP 1.2 (signed bytes)
//   GET /public/directives/<id>/signature         the signatures of both, JSON
//   GET /public/feed.atom[?region=CODE]           Atom 1.0; each entry links its CAP alert
//   GET /public/page[?region=CODE]                an HTML page, no JavaScript
//   GET /public/events[?region=CODE]              Server-Sent Events (Last-Event-ID)
//   GET /.well-known/flatcast/keys.json           the release keys and their validity
//   GET /public/attachments/<sha256 hex>          a document attached to a released
//                                                 directive, once fetched and checked
//
// A region is a code of the registry: its answers hold what was released
// for it or a region above it (the nation included). Every answer but the
// event stream carries an ETag; If-None-Match with it gets 304.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/registry.h"
#include "flatcast/status.h"

namespace flatcast::feed {

namespace v1 = ::flatcast::v1;

// The request as the site needs it.
struct FeedRequest {
  std::string method;         // "GET", "HEAD", ...
  std::string target;         // path and query
  std::string if_none_match;  // header, may be empty
  std::string last_event_id;  // header, may be empty
  bool has_last_event_id = false;
};

struct FeedResponse {
  int status = 200;
  std::string content_type = "application/json; charset=utf-8";
  std::string body;
  std::string etag;
  std::vector<std::pair<std::string, std::string>> headers;
  // /public/events: the stream starts with `body` (the header's end, the
  // events missed after Last-Event-ID) and follows `region` from `after`.
  bool event_stream = false;
  std::string region;
  uint64_t after = 0;
  // The catch-up is one page of more: the stream ends once it is written.
  bool close_after = false;
};

// One document with what the site derives from it once.
struct SiteEntry {
  v1::PublicDocument doc;
  std::string summary;  // the list's entry: the document without body and actions, as JSON text
  std::string event;    // its Server-Sent Event (id, event, one data line)
  std::string title, body, status, msg_type, issuer, department, released, expires;
  std::vector<std::string> actions;
  std::string language;  // of title, body and actions (BCP 47)
  struct Translation {
    std::string language, title, body;
    std::vector<std::string> actions;
  };
  std::vector<Translation> translations;  // the same in other languages
};

class Site {
 public:
  // `previous` (may be null): entries of unchanged documents are taken from
  // it rather than parsed again. A document whose JSON is not an object, or
  // that repeats another's event id, is left out with a warning; of two
  // with one public id the later counts.
  static Result<std::shared_ptr<const Site>> Build(const std::vector<v1::PublicDocument>& docs,
                                                   std::vector<v1::ReleaseKey> keys,
                                                   std::shared_ptr<const Registry> registry,
                                                   const Site* previous = nullptr,
                                                   std::string documents_dir = "");

  uint64_t head() const { return by_seq_.empty() ? 0 : by_seq_.rbegin()->first; }
  size_t size() const { return by_seq_.size(); }
  const Registry& registry() const { return *registry_; }

  FeedResponse Answer(const FeedRequest& req) const;
  // The events of `region` ("" : every region) after public_seq `after`, in
  // order, at least one and at most about `max_bytes`; `last` (may be null)
  // is set to the last event's id (0: none).
  std::string EventsAfter(const std::string& region, uint64_t after,
                          size_t max_bytes = SIZE_MAX, uint64_t* last = nullptr) const;

  // True when `doc` was released for `region` or a region above it.
  static bool Reaches(const v1::PublicDocument& doc, std::string_view region);
  // True when `region`'s event stream carries `doc`: it reaches the region,
  // or its previous version did (PublicDocument.withdrawn_from).
  static bool Concerns(const v1::PublicDocument& doc, std::string_view region);

 private:
  struct RegionView {
    std::string etag;  // "g<highest public_seq among its documents>"
    std::string list_json, atom, html;
  };
  Site() = default;
  const RegionView& View(const std::string& region) const;
  FeedResponse Document(std::string_view hex, const FeedRequest& req) const;
  std::string Html(const std::string& region, const std::vector<const SiteEntry*>& entries) const;

  std::shared_ptr<const Registry> registry_;
  std::vector<v1::ReleaseKey> keys_;
  std::string keys_json_;
  std::map<uint64_t, std::shared_ptr<const SiteEntry>> by_seq_;
  std::unordered_map<std::string, std::shared_ptr<const SiteEntry>> by_id_;
  // The documents released directives have attached, by SHA-256 hex, and
  // where they are kept once fetched (document_fetch.h, DirectoryShelf).
  std::unordered_map<std::string, v1::Attachment> documents_;
  std::string documents_dir_;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, std::shared_ptr<const RegionView>> views_;  // guarded by mu_
  mutable size_t views_bytes_ = 0;  // guarded by mu_
};

// A release key as PEM (SubjectPublicKeyInfo), for openssl.
std::string Ed25519PublicKeyPem(std::string_view raw_public_key);

// The response the site gives one raw HTTP/1.1 request, as the listener
// would (an event stream: its first bytes); 400 for bytes that are not a
// request. For tests and the fuzz target.
std::string AnswerHttpRequest(std::string_view raw, const Site& site);

// Parses a Last-Event-ID: 1-20 decimal digits within uint64.
Result<uint64_t> ParseLastEventId(std::string_view text);

}  // namespace flatcast::feed
