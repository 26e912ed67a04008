#include "flatcast/registry.h"

#include <sodium.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace flatcast {

namespace {

constexpr size_t kMaxCodeLength = 12;
// The line a region's cut starts with (flatcast-registry cut).
constexpr std::string_view kRegionDirective = "# region: ";

bool AllDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsBlank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

// A code as a sort key that orders like the code string: the digits padded
// with zeros to 12 places, then the length. Padding alone would tie "52" with
// "5200"; of two such codes the shorter is a prefix of the longer and sorts
// first as a string, which the length reproduces. Comparing integers instead
// of strings makes sorting the national registry several times faster.
uint64_t SortKey(std::string_view code) {
  uint64_t value = 0;
  for (char c : code) value = value * 10 + static_cast<uint64_t>(c - '0');
  for (size_t i = code.size(); i < kMaxCodeLength; ++i) value *= 10;
  return value * 16 + code.size();
}

// One well-formed line, before the registry as a whole is checked.
struct Row {
  std::string_view code;
  std::string_view name;
  Tier tier;
  uint32_t line;
};

Status LineError(std::string_view source, uint32_t line, std::string_view what) {
  return Status::InvalidArgument(fmt::format("{}:{}: {}", source, line, what));
}

// Splits one non-blank, non-comment line into a Row or explains what is wrong.
Status ParseLine(std::string_view line, uint32_t line_number, std::string_view source, Row* row) {
  std::string_view fields[3];
  size_t count = 0;
  size_t start = 0;
  while (true) {
    size_t tab = line.find('\t', start);
    std::string_view field = line.substr(start, tab == std::string_view::npos ? tab : tab - start);
    if (count < 3) fields[count] = field;
    ++count;
    if (tab == std::string_view::npos) break;
    start = tab + 1;
  }
  if (count != 3) {
    return LineError(
        source, line_number,
        fmt::format("expected 3 TAB-separated fields (code, tier, name), found {}", count));
  }
  std::string_view code = fields[0];
  if (code.empty()) return LineError(source, line_number, "empty code");
  if (!AllDigits(code)) {
    return LineError(source, line_number, fmt::format("code '{}' is not all digits", code));
  }
  if (code == kNationCode) {
    return LineError(source, line_number,
                     fmt::format("code {} stands for the whole country and is in no registry file",
                                 code));
  }
  std::optional<Tier> tier = TierFromName(fields[1]);
  if (!tier) {
    return LineError(source, line_number,
                     fmt::format("unknown tier '{}' (expected province, city, district, street "
                                 "or community)",
                                 fields[1]));
  }
  if (code.size() != CodeLength(*tier)) {
    return LineError(source, line_number,
                     fmt::format("code {} has {} digits, a {} code has {}", code, code.size(),
                                 TierName(*tier), CodeLength(*tier)));
  }
  if (fields[2].empty()) {
    return LineError(source, line_number, fmt::format("empty name for code {}", code));
  }
  *row = Row{code, fields[2], *tier, line_number};
  return Status::Ok();
}

}  // namespace

size_t CodeLength(Tier tier) {
  switch (tier) {
    case Tier::kProvince:
      return 2;
    case Tier::kCity:
      return 4;
    case Tier::kDistrict:
      return 6;
    case Tier::kStreet:
      return 9;
    case Tier::kCommunity:
      return 12;
  }
  return 0;
}

std::string_view TierName(Tier tier) {
  switch (tier) {
    case Tier::kProvince:
      return "province";
    case Tier::kCity:
      return "city";
    case Tier::kDistrict:
      return "district";
    case Tier::kStreet:
      return "street";
    case Tier::kCommunity:
      return "community";
  }
  return "unknown";
}

std::optional<Tier> TierFromName(std::string_view name) {
  for (Tier tier : kAllTiers) {
    if (TierName(tier) == name) return tier;
  }
  return std::nullopt;
}

std::optional<Tier> TierOfCode(std::string_view code) {
  if (!AllDigits(code)) return std::nullopt;
  for (Tier tier : kAllTiers) {
    if (CodeLength(tier) == code.size()) return tier;
  }
  return std::nullopt;
}

Result<Registry> Registry::Parse(std::string_view text, std::string_view source_name) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a UTF-8 byte order mark

  std::vector<Row> rows;
  rows.reserve(std::count(text.begin(), text.end(), '\n') + 1);
  std::string region;  // set by a "# region: CODE" line
  uint32_t line_number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with(kRegionDirective)) {
      // A region's cut (flatcast-registry cut): its top units have no parent.
      region = std::string(line.substr(kRegionDirective.size()));
      while (!region.empty() && region.back() == ' ') region.pop_back();
      if (!TierOfCode(region)) {
        return LineError(source_name, line_number,
                         fmt::format("\"{}\" names no region code", line));
      }
      continue;
    }
    if (IsBlank(line) || line.front() == '#') continue;
    Row row;
    FLATCAST_RETURN_IF_ERROR(ParseLine(line, line_number, source_name, &row));
    rows.push_back(row);
  }

  // Order rows by code, ties (duplicates) in file order. Files written by
  // flatcast-registry are sorted already, which the check below detects.
  std::vector<std::pair<uint64_t, uint32_t>> order(rows.size());
  for (uint32_t i = 0; i < rows.size(); ++i) order[i] = {SortKey(rows[i].code), i};
  if (!std::is_sorted(order.begin(), order.end())) std::sort(order.begin(), order.end());

  // Of several faults, report the one on the earliest line so that fixing a
  // file top to bottom meets them in order.
  Status fault;
  uint32_t fault_line = UINT32_MAX;
  auto note = [&](uint32_t line, std::string what) {
    if (line < fault_line) {
      fault_line = line;
      fault = LineError(source_name, line, what);
    }
  };

  Registry registry;
  registry.units_.reserve(rows.size());
  // The latest unit seen of each tier. In code order a unit's parent, when it
  // exists, is the latest unit of the parent tier: everything between the
  // parent and the child lies in the parent's subtree. So one pass finds every
  // parent without a search.
  std::array<uint32_t, 6> latest;
  latest.fill(kNone);
  for (size_t i = 0; i < order.size(); ++i) {
    const Row& row = rows[order[i].second];
    if (i > 0 && order[i].first == order[i - 1].first) {
      const Row& first = rows[order[i - 1].second];
      note(row.line, fmt::format("duplicate code {} (first at line {})", row.code, first.line));
      continue;
    }
    uint32_t parent = kNone;
    if (!region.empty() && !IsWithin(row.code, region)) {
      note(row.line, fmt::format("{} {} lies outside the file's region {}", TierName(row.tier),
                                 row.code, region));
    } else if (row.tier != Tier::kProvince) {
      Tier parent_tier = static_cast<Tier>(static_cast<int>(row.tier) - 1);
      std::string_view parent_code = row.code.substr(0, CodeLength(parent_tier));
      uint32_t candidate = latest[static_cast<int>(parent_tier)];
      if (candidate != kNone && registry.units_[candidate].code == parent_code) {
        parent = candidate;
      } else if (!region.empty() && !IsWithin(parent_code, region)) {
        // A top unit of the region's cut: its parent lies above the region.
      } else {
        note(row.line, fmt::format("orphan {} {}: its parent {} {} is missing", TierName(row.tier),
                                   row.code, TierName(parent_tier), parent_code));
      }
    }
    auto index = static_cast<uint32_t>(registry.units_.size());
    registry.units_.push_back(Unit{std::string(row.code), std::string(row.name), row.tier, parent});
    latest[static_cast<int>(row.tier)] = index;
  }
  if (!fault.ok()) return fault;
  return registry;
}

Result<Registry> Registry::Load(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) return Status::IOError(fmt::format("{}: {}", path, std::strerror(errno)));
  std::string text;
  if (std::fseek(file.get(), 0, SEEK_END) == 0) {
    long size = std::ftell(file.get());
    if (size > 0) text.reserve(static_cast<size_t>(size));
    std::rewind(file.get());
  }
  // Read to the end rather than trusting the size, which a pipe does not have.
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) text.append(buffer, n);
  if (std::ferror(file.get())) {
    return Status::IOError(fmt::format("{}: {}", path, std::strerror(errno)));
  }
  return Parse(text, path);
}

std::optional<uint32_t> Registry::Find(std::string_view code) const {
  auto it = std::lower_bound(units_.begin(), units_.end(), code,
                             [](const Unit& unit, std::string_view c) { return unit.code < c; });
  if (it == units_.end() || it->code != code) return std::nullopt;
  return static_cast<uint32_t>(it - units_.begin());
}

std::pair<uint32_t, uint32_t> Registry::SubtreeRange(std::string_view code) const {
  // Codes starting with `code` sort together, right after `code` itself.
  auto first = std::lower_bound(units_.begin(), units_.end(), code,
                                [](const Unit& unit, std::string_view c) { return unit.code < c; });
  auto last = std::partition_point(first, units_.end(),
                                   [code](const Unit& unit) { return IsWithin(unit.code, code); });
  return {static_cast<uint32_t>(first - units_.begin()),
          static_cast<uint32_t>(last - units_.begin())};
}

Registry Registry::Cut(std::string_view code) const {
  auto [first, last] = SubtreeRange(code);
  Registry cut;
  cut.units_.reserve(last - first);
  for (uint32_t i = first; i < last; ++i) {
    Unit unit = units_[i];
    unit.parent = unit.parent != kNone && unit.parent >= first && unit.parent < last
                      ? unit.parent - first
                      : kNone;
    cut.units_.push_back(std::move(unit));
  }
  return cut;
}

std::string Registry::RegionDigest(std::string_view code) const {
  auto [first, last] = code.empty() ? std::pair<uint32_t, uint32_t>{0, size()} : SubtreeRange(code);
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, crypto_generichash_BYTES);
  for (uint32_t i = first; i < last; ++i) {
    const Unit& unit = units_[i];
    const std::string line =
        unit.code + "\t" + std::string(TierName(unit.tier)) + "\t" + unit.name + "\n";
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(line.data()),
                              line.size());
  }
  std::string digest(crypto_generichash_BYTES, '\0');
  crypto_generichash_final(&state, reinterpret_cast<unsigned char*>(digest.data()), digest.size());
  return digest;
}

std::array<uint32_t, 6> Registry::CountByTier() const {
  std::array<uint32_t, 6> counts{};
  for (const Unit& unit : units_) ++counts[static_cast<int>(unit.tier)];
  return counts;
}

}  // namespace flatcast
