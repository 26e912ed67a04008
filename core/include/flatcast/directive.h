// Directives: validation against the registry, addressing (which units a
// directive reaches), identifiers, and the JSON and text renderings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/clock.h"
#include "flatcast/registry.h"
#include "flatcast/status.h"

namespace flatcast {

inline constexpr uint32_t kDirectiveFormatVersion = 1;
inline constexpr size_t kMaxTitleBytes = 512;
inline constexpr size_t kMaxBodyBytes = 256 * 1024;
inline constexpr size_t kMaxActions = 64;
inline constexpr size_t kMaxScopeCodes = 256;

// Checks a directive as a publisher submits it: issuer unit registered (or
// the nation, kNationCode), department code well-formed, title non-empty, at
// least one action item, scope non-empty with every code in the registry (or
// the nation) and inside the issuer's jurisdiction, target tiers among
// city/district/street/community, status set.
// The first problem found is returned, saying which field is wrong.
Status ValidateDirective(const v1::Directive& d, const Registry& registry);

// Everything ValidateDirective checks that needs no registry: the codes'
// form rather than their registration. A relay checks a version its
// upstream sends with it, since its registry holds only its region and the
// issuer and the scope may lie above it.
Status ValidateDirectiveContent(const v1::Directive& d);

// Refuses deadlines that are not well formed: a level other than RECEIVED,
// CONFIRMED or READY, not exactly one of within_ms (> 0), at and
// before_public_release, before_public_release on a directive that is not
// public, two deadlines for one level. ValidateDirective calls it.
Status ValidateDeadlines(const v1::Directive& directive);

// Every time and duration a directive carries, against the limits on input
// (duration.h, docs/PROTOCOL.md "Limits"): created, sent, expires,
// public_release, each action's due time and each deadline's time between
// 1970 and 9999, each deadline's within_ms at most a year. InvalidArgument
// naming the field. ValidateDirective and the file decoders call it.
Status CheckDirectiveTimes(const v1::Directive& directive);

// The times a publisher sets that must lie ahead of `now` by at most a
// year: the public release and each deadline's time. The broker calls it
// when it accepts a directive or an amendment.
Status CheckTimesAhead(const v1::Directive& directive, TimePoint now);

struct Deadline {
  v1::AckLevel level;
  TimePoint at;
};

// The deadlines of a stored directive version, as times: within_ms counts
// from `sent`; before_public_release is the release time of `public_record`
// (its release_at while held, released_at once released; none when it is
// null, or the directive is not held for the public or was cancelled).
std::vector<Deadline> ResolveDeadlines(const v1::Directive& directive,
                                       const v1::PublicRecord* public_record);

// Which units a directive reaches: those of a targeted tier at or below a
// scope code. Sorted registry indices, no duplicates. Assumes a valid directive.
std::vector<uint32_t> AddressedUnits(const v1::Directive& d, const Registry& registry);

// True when the unit with this code is addressed by the directive.
bool IsAddressedTo(const v1::Directive& d, std::string_view unit_code, Tier unit_tier);

// "<issuer unit>-<department>-<YYYYMMDD>-<NNNN>" (GB/T 35965.1 in spirit).
std::string MakeDirectiveId(std::string_view issuer_unit, std::string_view department,
                            TimePoint sent, uint32_t daily_sequence);

// Proto JSON (field names as in flatcast.proto, enums by name, times in RFC 3339).
std::string DirectiveToJson(const v1::StoredDirective& d);
Result<v1::Directive> DirectiveFromJson(std::string_view json);
// A directive file as publishers write it: TOML or JSON (by extension).
Result<v1::Directive> LoadDirectiveFile(const std::string& path);

// A readable plain-text rendering for the terminal inbox. With `now`, the
// public release line also says how long is left. Title, body and action
// items are in the language `languages` prefers (language.h,
// PreferredText), the other languages' texts after them.
std::string RenderDirectiveText(const v1::StoredDirective& d,
                                std::optional<TimePoint> now = std::nullopt,
                                const std::vector<std::string>& languages = {});

// "2026-11-29T06:00:00Z (in 11h42m)", "... (public now)", "internal only (never public)".
std::string PublicReleaseText(const v1::Directive& d, std::optional<TimePoint> now);

std::string_view StatusName(v1::DirectiveStatus s);

// What `after` changes from `before`, one line a change, in a fixed order:
//   title: "A" -> "B"             body: changed (120 -> 180 bytes)
//   action items: 2 -> 3 (...)    scope: +520103 -520102
//   tiers: street,community -> community
//   status: EXERCISE -> ACTUAL    expires: none -> 2026-12-31T00:00:00Z
//   deadlines: ...                internal action items: ...
//   internal note: changed        language: zh-CN -> en
//   translations: +en -bo ~ug     (added, removed, changed)
// Empty when the content a publisher controls is the same (ids, times the
// broker sets, the signature and the public release are not compared).
std::vector<std::string> DescribeChanges(const v1::Directive& before, const v1::Directive& after);
// True for a line of DescribeChanges that the public must not see
// (deadlines, internal action items, the internal note).
bool IsInternalChange(std::string_view line);

}  // namespace flatcast
