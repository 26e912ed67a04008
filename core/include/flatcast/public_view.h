// What the public sees of a released directive: only public fields (no
// internal note, no internal action items), as JSON, CAP 1.2 XML and Atom.
// Pure functions of their inputs, so the feed can be rebuilt at any time.
#pragma once

#include <string>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/clock.h"
#include "flatcast/registry.h"
#include "flatcast/signing.h"
#include "flatcast/status.h"

namespace flatcast {

// A released directive as the public feed holds it.
struct PublicEntry {
  v1::StoredDirective latest;  // latest version (a CANCEL record after a public cancellation)
  v1::PublicRecord record;     // state RELEASED or CANCELLED_AFTER_RELEASE
};

// The version as the public knows it: the released one is 1; amendments made
// while the directive was held are not counted (they were never public).
uint32_t PublicVersion(const PublicEntry& e);

// {"id": public id, "version" (public: the released version is 1), "msg_type",
//  "references": [the CAP identifier of the first public message] (an update
//  or a cancellation only), "status",
//  "issuer", "department", "title", "body", "actions": [...public ones],
//  "scope": [...], "released", "expires", "cancelled"}
std::string PublicDirectiveJson(const PublicEntry& e);

// A CAP 1.2 <alert> (scope Public; msgType Alert, Update or Cancel;
// an update or cancellation references the first public message; sent and
// effective = the release time).
// `registry` may be null; with it, area descriptions carry unit names.
std::string CapAlertXml(const PublicEntry& e, const Registry* registry);

// The documents of a released directive as public servers receive them
// (docs/PUBLIC.md): PublicDirectiveJson and CapAlertXml, each signed with
// `release_key` (an Ed25519 pair) over its exact bytes when given, unsigned
// otherwise; its public_seq is the record's.
Result<v1::PublicDocument> RenderPublicDocument(const PublicEntry& e, const Registry* registry,
                                                const KeyPair* release_key);

// CAP's time format: "2026-11-28T09:30:00-00:00" (UTC, no fractions).
std::string CapTime(TimePoint t);

// Where a public server serves an attached document: "/public/attachments/"
// and its SHA-256 in hex (the public JSON's "url", CAP's <uri>).
std::string AttachmentPath(const v1::Attachment& a);

}  // namespace flatcast
