#include "flatcast/bench/mqtt/units.h"

#include <fstream>
#include <string_view>

namespace flatcast::bench::mqtt {

namespace {

bool KnownTier(std::string_view tier) {
  return tier == "province" || tier == "city" || tier == "district" || tier == "street" ||
         tier == "community";
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  return text;
}

}  // namespace

Result<std::vector<Unit>> ReadRegistry(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Error("cannot open registry " + path);
  std::vector<Unit> units;
  std::string line;
  size_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    std::string_view text = Trim(line);
    if (text.empty() || text.front() == '#') continue;
    size_t tab1 = text.find('\t');
    size_t tab2 = tab1 == std::string_view::npos ? tab1 : text.find('\t', tab1 + 1);
    if (tab2 == std::string_view::npos) {
      return Status::Error(path + ":" + std::to_string(line_number) +
                           ": expected <code>\\t<tier>\\t<name>");
    }
    Unit unit{std::string(text.substr(0, tab1)), std::string(text.substr(tab1 + 1, tab2 - tab1 - 1))};
    if (unit.code.empty() || !KnownTier(unit.tier)) {
      return Status::Error(path + ":" + std::to_string(line_number) + ": bad code or tier '" +
                           unit.tier + "'");
    }
    units.push_back(std::move(unit));
  }
  return units;
}

Result<std::vector<std::string>> ReadCodeList(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Error("cannot open code list " + path);
  std::vector<std::string> codes;
  std::string line;
  while (std::getline(in, line)) {
    std::string_view text = Trim(line);
    if (text.empty() || text.front() == '#') continue;
    codes.emplace_back(text);
  }
  return codes;
}

std::vector<Unit> SelectUnits(const std::vector<Unit>& registry, const UnitSelection& selection) {
  std::vector<Unit> filtered;
  size_t below_province = 0;
  for (const Unit& unit : registry) {
    if (unit.tier == "province") continue;
    if (selection.first != 0 && below_province >= selection.first) break;
    ++below_province;
    if (!selection.include.empty() && !selection.include.contains(unit.code)) continue;
    if (selection.exclude.contains(unit.code)) continue;
    filtered.push_back(unit);
  }
  if (selection.shards <= 1) return filtered;
  std::vector<Unit> shard;
  for (size_t i = 0; i < filtered.size(); ++i) {
    if (i % selection.shards == selection.shard) shard.push_back(filtered[i]);
  }
  return shard;
}

}  // namespace flatcast::bench::mqtt
