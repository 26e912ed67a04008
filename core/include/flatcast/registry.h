// The administrative registry: every unit (GB/T 2260 code, tier, name) a
// directive can address. Immutable once loaded; safe to share between threads.
//
// File format (docs/STORAGE.md, "Registry file"): UTF-8 text, one unit a line,
//   <code> TAB <tier> TAB <name>
// tier is one of province, city, district, street, community. Blank lines and
// lines starting with '#' are ignored. A unit's parent is the unit whose code is
// its code cut to the parent tier's length (5201 for 520102), and must exist.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flatcast/status.h"

namespace flatcast {

// The whole country: the unit of a national issuer and a nationwide scope
// (docs/RELAY.md, "The national tier"). GB/T 2260 gives the country no code
// and no registry file lists it: it stands above every province, so every
// code lies within it, and no province is numbered 00.
inline constexpr std::string_view kNationCode = "00";
inline constexpr std::string_view kNationName = "全国";

// Numbered as flatcast.v1.Tier.
enum class Tier : uint8_t { kProvince = 1, kCity = 2, kDistrict = 3, kStreet = 4, kCommunity = 5 };

inline constexpr std::array<Tier, 5> kAllTiers = {Tier::kProvince, Tier::kCity, Tier::kDistrict,
                                                  Tier::kStreet, Tier::kCommunity};

// Digits of a code of that tier: 2, 4, 6, 9, 12.
size_t CodeLength(Tier tier);
// "province", "city", "district", "street", "community".
std::string_view TierName(Tier tier);
std::optional<Tier> TierFromName(std::string_view name);
// The tier a code of this length belongs to; nullopt for other lengths or non-digits.
std::optional<Tier> TierOfCode(std::string_view code);

struct Unit {
  std::string code;
  std::string name;
  Tier tier;
  uint32_t parent;  // index of the parent unit; Registry::kNone for a root
};

class Registry {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  Registry() = default;

  // Parses registry text. Refuses duplicate codes, orphans (parent missing),
  // codes of the wrong length for their tier, unknown tiers and malformed
  // lines; the error names `source_name` and the 1-based line number.
  static Result<Registry> Parse(std::string_view text, std::string_view source_name);
  // Reads and parses a registry file.
  static Result<Registry> Load(const std::string& path);

  // Units are sorted by code, so a unit's subtree is a contiguous index range.
  size_t size() const { return units_.size(); }
  const Unit& unit(uint32_t index) const { return units_[index]; }
  const std::vector<Unit>& units() const { return units_; }

  std::optional<uint32_t> Find(std::string_view code) const;
  // [first, last): the unit with this code (if any) and all its descendants.
  std::pair<uint32_t, uint32_t> SubtreeRange(std::string_view code) const;
  // A unit of this registry, or the nation: what an issuer or a scope may name.
  bool Addressable(std::string_view code) const {
    return code == kNationCode || Find(code).has_value();
  }
  // True when `code` is `ancestor` or lies below it (every code lies within
  // the nation).
  static bool IsWithin(std::string_view code, std::string_view ancestor) {
    if (ancestor == kNationCode) return true;
    return code.size() >= ancestor.size() && code.substr(0, ancestor.size()) == ancestor;
  }
  // Number of units of each tier, indexed by static_cast<int>(Tier).
  std::array<uint32_t, 6> CountByTier() const;

  // The units at or below `code` as a registry of their own (a relay's,
  // docs/RELAY.md): the top units have no parent. Empty when none match.
  Registry Cut(std::string_view code) const;
  // 32 bytes (BLAKE2b) over the code, tier and name of every unit at or
  // below `code` (empty: all), in order: two registries agree on a region
  // when its digests are equal.
  std::string RegionDigest(std::string_view code) const;

 private:
  std::vector<Unit> units_;
};

}  // namespace flatcast
