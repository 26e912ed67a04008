// The administrative units a swarm plays, read from a flatcast registry file
// ("<code>\t<tier>\t<name>" lines, '#' comments; docs/STORAGE.md).
#pragma once

#include <cstddef>
#include <string>
#include <unordered_set>
#include <vector>

#include "flatcast/bench/mqtt/status.h"

namespace flatcast::bench::mqtt {

struct Unit {
  std::string code;
  std::string tier;  // province, city, district, street or community
};

// Every unit of the file in file order; an unknown tier or a malformed line
// is an error naming the line.
Result<std::vector<Unit>> ReadRegistry(const std::string& path);

// Unit codes, one a line; blank lines and '#' comments are skipped.
Result<std::vector<std::string>> ReadCodeList(const std::string& path);

struct UnitSelection {
  size_t first = 0;   // keep the first N units below the province; 0: all of them
  size_t shard = 0;   // with shards > 1: keep the units whose index % shards == shard
  size_t shards = 1;  // (the index counts the units left after first/include/exclude)
  std::unordered_set<std::string> include;  // when not empty, keep only these codes
  std::unordered_set<std::string> exclude;  // leave these codes out
};

// The province is never selected: the benchmark's N units are every unit
// below it. Steps in order: drop the province, first N, include, exclude, shard.
std::vector<Unit> SelectUnits(const std::vector<Unit>& registry, const UnitSelection& selection);

}  // namespace flatcast::bench::mqtt
