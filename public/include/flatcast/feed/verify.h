// Checking a public document's signature as anyone can (docs/PUBLIC.md,
// "Checking a signature"): the document's exact bytes, the signature answer
// (/public/directives/<id>/signature) and the release keys
// (/.well-known/flatcast/keys.json). flatcast-keys verify-public uses it.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "flatcast/status.h"

namespace flatcast::feed {

struct VerifiedDocument {
  std::string key_id;
  std::string holder;
  std::string signed_at;    // the document's own time (JSON "updated", CAP <sent>)
  std::string valid_from;   // the key's validity
  std::string valid_until;  // empty: still valid
  bool cap = false;
};

// Ok when `document` (a JSON document or a CAP alert, told apart by its
// first character) is signed, per `signature_json`, by a release key of
// `keys_json` that was valid at the document's time. PermissionDenied for
// a signature that does not verify or a key not valid then; NotFound for a
// key not listed; InvalidArgument for input that does not parse.
Result<VerifiedDocument> VerifyPublicDocument(std::string_view document,
                                              std::string_view signature_json,
                                              std::string_view keys_json);

// GET of an http:// URL (no TLS: for https, fetch with curl and give files);
// the body of a 200 answer, at most 16 MiB.
Result<std::string> HttpGetBody(const std::string& url,
                                std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace flatcast::feed
