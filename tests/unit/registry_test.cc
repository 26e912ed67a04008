#include "flatcast/registry.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "temp_dir.h"

namespace flatcast {
namespace {

using ::flatcast::testing::TempDir;
using ::flatcast::testing::WriteFile;

// Deliberately out of code order, with two provinces.
constexpr std::string_view kSmall =
    "# a comment\n"
    "52\tprovince\t贵州省\n"
    "\n"
    "5202\tcity\t六盘水市\n"
    "5201\tcity\t贵阳市\n"
    "520102\tdistrict\t南明区\n"
    "520102016\tstreet\t新华路街道\n"
    "520102016001\tcommunity\t纪念塔社区\n"
    "520102016002\tcommunity\t新华路社区\n"
    "11\tprovince\t北京市\n";

Registry ParseOk(std::string_view text) {
  Result<Registry> registry = Registry::Parse(text, "test.tsv");
  EXPECT_TRUE(registry.ok()) << registry.status().ToString();
  return registry.ok() ? std::move(registry).value() : Registry();
}

// The message of the error Parse returns for `text`, or "" when it succeeds.
std::string ParseError(std::string_view text) {
  Result<Registry> registry = Registry::Parse(text, "bad.tsv");
  EXPECT_FALSE(registry.ok());
  if (registry.ok()) return "";
  EXPECT_EQ(registry.status().code(), Status::Code::kInvalidArgument);
  return registry.status().message();
}

TEST(Registry, ParsesUnitsAndCountsThemByTier) {
  Registry registry = ParseOk(kSmall);
  EXPECT_EQ(registry.size(), 8u);
  auto counts = registry.CountByTier();
  EXPECT_EQ(counts[static_cast<int>(Tier::kProvince)], 2u);
  EXPECT_EQ(counts[static_cast<int>(Tier::kCity)], 2u);
  EXPECT_EQ(counts[static_cast<int>(Tier::kDistrict)], 1u);
  EXPECT_EQ(counts[static_cast<int>(Tier::kStreet)], 1u);
  EXPECT_EQ(counts[static_cast<int>(Tier::kCommunity)], 2u);
}

TEST(Registry, SortsUnitsByCodeWhateverTheFileOrder) {
  Registry registry = ParseOk(kSmall);
  std::vector<std::string> codes;
  for (const Unit& unit : registry.units()) codes.push_back(unit.code);
  EXPECT_EQ(codes, (std::vector<std::string>{"11", "52", "5201", "520102", "520102016",
                                             "520102016001", "520102016002", "5202"}));
}

TEST(Registry, LinksEachUnitToItsParent) {
  Registry registry = ParseOk(kSmall);
  for (const Unit& unit : registry.units()) {
    if (unit.tier == Tier::kProvince) {
      EXPECT_EQ(unit.parent, Registry::kNone) << unit.code;
      continue;
    }
    ASSERT_NE(unit.parent, Registry::kNone) << unit.code;
    const Unit& parent = registry.unit(unit.parent);
    EXPECT_EQ(static_cast<int>(parent.tier), static_cast<int>(unit.tier) - 1) << unit.code;
    EXPECT_EQ(parent.code, unit.code.substr(0, CodeLength(parent.tier))) << unit.code;
  }
}

TEST(Registry, KeepsNamesAndTiers) {
  Registry registry = ParseOk(kSmall);
  std::optional<uint32_t> index = registry.Find("520102");
  ASSERT_TRUE(index.has_value());
  EXPECT_EQ(registry.unit(*index).name, "南明区");
  EXPECT_EQ(registry.unit(*index).tier, Tier::kDistrict);
}

TEST(Registry, FindsUnitsByExactCodeOnly) {
  Registry registry = ParseOk(kSmall);
  ASSERT_TRUE(registry.Find("11").has_value());
  EXPECT_EQ(registry.unit(*registry.Find("11")).name, "北京市");
  EXPECT_EQ(registry.unit(*registry.Find("520102016002")).name, "新华路社区");
  EXPECT_FALSE(registry.Find("5203").has_value());
  EXPECT_FALSE(registry.Find("520").has_value());
  EXPECT_FALSE(registry.Find("").has_value());
  EXPECT_FALSE(registry.Find("99").has_value());
}

TEST(Registry, SubtreeRangeCoversAUnitAndAllItsDescendants) {
  Registry registry = ParseOk(kSmall);
  auto [first, last] = registry.SubtreeRange("5201");
  ASSERT_EQ(last - first, 5u);
  EXPECT_EQ(registry.unit(first).code, "5201");
  for (uint32_t i = first; i < last; ++i) {
    EXPECT_TRUE(Registry::IsWithin(registry.unit(i).code, "5201")) << registry.unit(i).code;
  }
  auto [province_first, province_last] = registry.SubtreeRange("52");
  EXPECT_EQ(province_last - province_first, 7u);
  auto [beijing_first, beijing_last] = registry.SubtreeRange("11");
  EXPECT_EQ(beijing_last - beijing_first, 1u);
}

TEST(Registry, SubtreeRangeOfALeafIsTheLeafAlone) {
  Registry registry = ParseOk(kSmall);
  auto [first, last] = registry.SubtreeRange("520102016001");
  ASSERT_EQ(last - first, 1u);
  EXPECT_EQ(registry.unit(first).code, "520102016001");
}

TEST(Registry, SubtreeRangeOfAnUnknownCodeIsEmpty) {
  Registry registry = ParseOk(kSmall);
  auto [first, last] = registry.SubtreeRange("5203");
  EXPECT_EQ(first, last);
  auto [after_first, after_last] = registry.SubtreeRange("99");
  EXPECT_EQ(after_first, after_last);
  EXPECT_EQ(after_first, registry.size());
}

TEST(Registry, IsWithinHoldsForTheUnitItselfAndItsDescendantsOnly) {
  EXPECT_TRUE(Registry::IsWithin("520102", "520102"));
  EXPECT_TRUE(Registry::IsWithin("520102016001", "52"));
  EXPECT_TRUE(Registry::IsWithin("520102", "5201"));
  EXPECT_FALSE(Registry::IsWithin("520202", "5201"));
  EXPECT_FALSE(Registry::IsWithin("52", "5201"));
  EXPECT_FALSE(Registry::IsWithin("11", "52"));
}

TEST(Registry, TheNationHoldsEveryUnitOfEveryProvinceAndNoFileListsIt) {
  Registry registry = ParseOk(kSmall);
  EXPECT_TRUE(Registry::IsWithin("11", kNationCode));
  EXPECT_TRUE(Registry::IsWithin("520102016001", kNationCode));
  EXPECT_FALSE(Registry::IsWithin(kNationCode, "52"));
  auto [first, last] = registry.SubtreeRange(kNationCode);
  EXPECT_EQ(first, 0u);
  EXPECT_EQ(last, registry.size());
  EXPECT_EQ(registry.Cut(kNationCode).size(), registry.size());
  EXPECT_TRUE(registry.Addressable(kNationCode));
  EXPECT_TRUE(registry.Addressable("5201"));
  EXPECT_FALSE(registry.Addressable("5203"));
  EXPECT_FALSE(registry.Find(kNationCode).has_value());
  EXPECT_EQ(ParseError("00\tprovince\t全国\n"),
            "bad.tsv:1: code 00 stands for the whole country and is in no registry file");
}

TEST(Registry, IgnoresCommentsBlankLinesAndCarriageReturns) {
  Registry registry = ParseOk(
      "# header\r\n"
      "\r\n"
      "   \n"
      "52\tprovince\t贵州省\r\n"
      "# 5201\tcity\t贵阳市\n"
      "5202\tcity\t六盘水市");  // no final newline
  ASSERT_EQ(registry.size(), 2u);
  EXPECT_EQ(registry.unit(1).name, "六盘水市");
  EXPECT_FALSE(registry.Find("5201").has_value());
}

TEST(Registry, AcceptsAnEmptyRegistry) {
  Registry registry = ParseOk("# nothing here\n\n");
  EXPECT_EQ(registry.size(), 0u);
  auto [first, last] = registry.SubtreeRange("52");
  EXPECT_EQ(first, last);
}

TEST(Registry, RefusesADuplicateCodeNamingBothLines) {
  std::string message = ParseError(
      "52\tprovince\t贵州省\n"
      "5201\tcity\t贵阳市\n"
      "5202\tcity\t六盘水市\n"
      "5201\tcity\t又一个贵阳市\n");
  EXPECT_NE(message.find("bad.tsv:4:"), std::string::npos) << message;
  EXPECT_NE(message.find("duplicate code 5201"), std::string::npos) << message;
  EXPECT_NE(message.find("line 2"), std::string::npos) << message;
}

TEST(Registry, RefusesAnOrphanNamingItsMissingParent) {
  std::string message = ParseError(
      "52\tprovince\t贵州省\n"
      "5201\tcity\t贵阳市\n"
      "520301\tdistrict\t红花岗区\n");
  EXPECT_NE(message.find("bad.tsv:3:"), std::string::npos) << message;
  EXPECT_NE(message.find("orphan"), std::string::npos) << message;
  EXPECT_NE(message.find("5203"), std::string::npos) << message;
}

TEST(Registry, RefusesAUnitBelowAProvinceThatIsMissing) {
  std::string message = ParseError("5201\tcity\t贵阳市\n");
  EXPECT_NE(message.find("bad.tsv:1:"), std::string::npos) << message;
  EXPECT_NE(message.find("orphan"), std::string::npos) << message;
}

TEST(Registry, ReportsTheEarliestLineAmongSeveralFaults) {
  std::string message = ParseError(
      "52\tprovince\t贵州省\n"
      "520999\tdistrict\t无父区\n"
      "5201\tcity\t贵阳市\n"
      "5201\tcity\t贵阳市\n");
  EXPECT_NE(message.find("bad.tsv:2:"), std::string::npos) << message;
  EXPECT_NE(message.find("orphan"), std::string::npos) << message;
}

TEST(Registry, RefusesACodeOfTheWrongLengthForItsTier) {
  std::string message = ParseError(
      "52\tprovince\t贵州省\n"
      "52010\tcity\t贵阳市\n");
  EXPECT_NE(message.find("bad.tsv:2:"), std::string::npos) << message;
  EXPECT_NE(message.find("52010"), std::string::npos) << message;
  EXPECT_NE(message.find("city"), std::string::npos) << message;
}

TEST(Registry, RefusesANonDigitCode) {
  std::string message = ParseError(
      "52\tprovince\t贵州省\n"
      "\n"
      "52A1\tcity\t贵阳市\n");
  EXPECT_NE(message.find("bad.tsv:3:"), std::string::npos) << message;
  EXPECT_NE(message.find("digits"), std::string::npos) << message;
}

TEST(Registry, RefusesAnEmptyCode) {
  std::string message = ParseError("\tprovince\t贵州省\n");
  EXPECT_NE(message.find("bad.tsv:1:"), std::string::npos) << message;
}

TEST(Registry, RefusesAnUnknownTier) {
  std::string message = ParseError(
      "# header\n"
      "52\tstate\t贵州省\n");
  EXPECT_NE(message.find("bad.tsv:2:"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown tier 'state'"), std::string::npos) << message;
}

TEST(Registry, RefusesALineWithTooFewColumns) {
  std::string message = ParseError(
      "52\tprovince\t贵州省\n"
      "5201 city 贵阳市\n");
  EXPECT_NE(message.find("bad.tsv:2:"), std::string::npos) << message;
  EXPECT_NE(message.find("found 1"), std::string::npos) << message;
}

TEST(Registry, RefusesALineWithTooManyColumns) {
  std::string message = ParseError("52\tprovince\t贵州省\textra\n");
  EXPECT_NE(message.find("bad.tsv:1:"), std::string::npos) << message;
  EXPECT_NE(message.find("found 4"), std::string::npos) << message;
}

TEST(Registry, RefusesAnEmptyName) {
  std::string message = ParseError(
      "52\tprovince\t贵州省\n"
      "5201\tcity\t\n");
  EXPECT_NE(message.find("bad.tsv:2:"), std::string::npos) << message;
  EXPECT_NE(message.find("empty name"), std::string::npos) << message;
}

TEST(Registry, LoadReadsAFileAndNamesItInErrors) {
  TempDir dir;
  std::string good = dir / "good.tsv";
  WriteFile(good, std::string(kSmall));
  Result<Registry> registry = Registry::Load(good);
  ASSERT_TRUE(registry.ok()) << registry.status().ToString();
  EXPECT_EQ(registry->size(), 8u);

  std::string bad = dir / "bad.tsv";
  WriteFile(bad, "52\tprovince\t贵州省\n52\tprovince\t贵州省\n");
  Result<Registry> refused = Registry::Load(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find(bad + ":2:"), std::string::npos)
      << refused.status().message();
}

TEST(Registry, LoadReportsAMissingFileAsAnIOError) {
  TempDir dir;
  Result<Registry> registry = Registry::Load(dir / "absent.tsv");
  ASSERT_FALSE(registry.ok());
  EXPECT_EQ(registry.status().code(), Status::Code::kIOError);
  EXPECT_NE(registry.status().message().find("absent.tsv"), std::string::npos);
}

TEST(Registry, TierHelpersAgreeWithTheCodeLengths) {
  const size_t lengths[] = {2, 4, 6, 9, 12};
  for (size_t i = 0; i < kAllTiers.size(); ++i) {
    Tier tier = kAllTiers[i];
    EXPECT_EQ(CodeLength(tier), lengths[i]);
    EXPECT_EQ(TierFromName(TierName(tier)), tier);
    EXPECT_EQ(TierOfCode(std::string(lengths[i], '1')), tier);
  }
  EXPECT_EQ(TierName(Tier::kCommunity), "community");
  EXPECT_FALSE(TierFromName("village").has_value());
  EXPECT_FALSE(TierOfCode("520").has_value());
  EXPECT_FALSE(TierOfCode("52a1").has_value());
  EXPECT_FALSE(TierOfCode("").has_value());
}

TEST(Registry, LoadsTheCommittedGuizhouRegistry) {
  std::string path = std::string(FLATCAST_SOURCE_DIR) + "/configs/registry/guizhou-52.tsv";
  Result<Registry> registry = Registry::Load(path);
  ASSERT_TRUE(registry.ok()) << registry.status().ToString();
  auto counts = registry->CountByTier();
  EXPECT_EQ(counts[static_cast<int>(Tier::kProvince)], 1u);
  EXPECT_EQ(counts[static_cast<int>(Tier::kCity)], 9u);
  EXPECT_EQ(counts[static_cast<int>(Tier::kDistrict)], 88u);
  EXPECT_EQ(counts[static_cast<int>(Tier::kStreet)], 1510u);
  EXPECT_EQ(counts[static_cast<int>(Tier::kCommunity)], 17964u);
  EXPECT_EQ(registry->size(), 19572u);

  auto name_of = [&](std::string_view code) -> std::string {
    std::optional<uint32_t> index = registry->Find(code);
    return index ? registry->unit(*index).name : "<missing>";
  };
  EXPECT_EQ(name_of("52"), "贵州省");
  EXPECT_EQ(name_of("5201"), "贵阳市");
  EXPECT_EQ(name_of("5203"), "遵义市");
  EXPECT_EQ(name_of("5227"), "黔南布依族苗族自治州");
  EXPECT_EQ(name_of("520102"), "南明区");
  EXPECT_EQ(name_of("520102016"), "新华路街道");
  EXPECT_EQ(name_of("520102016001"), "纪念塔社区");

  auto [first, last] = registry->SubtreeRange("52");
  EXPECT_EQ(first, 0u);
  EXPECT_EQ(last, registry->size());
}

TEST(Registry, ACutKeepsTheRegionWithoutParentsAndItsDigestMatchesTheWhole) {
  Result<Registry> whole = Registry::Parse(
      "52\tprovince\t贵州省\n5201\tcity\t贵阳市\n520102\tdistrict\t南明区\n"
      "520102001\tstreet\t新华路街道\n5202\tcity\t六盘水市\n",
      "whole");
  ASSERT_TRUE(whole.ok()) << whole.status().message();
  Registry cut = whole->Cut("5201");
  ASSERT_EQ(cut.size(), 3u);
  EXPECT_EQ(cut.unit(0).code, "5201");
  EXPECT_EQ(cut.unit(0).parent, Registry::kNone);
  EXPECT_EQ(cut.unit(1).parent, 0u);
  EXPECT_EQ(cut.RegionDigest(""), whole->RegionDigest("5201"));
  EXPECT_NE(whole->RegionDigest("5201"), whole->RegionDigest("5202"));
  // The cut as a file: a "# region:" line lets its top unit go without its parent.
  std::string text = "# region: 5201\n";
  for (const Unit& u : cut.units()) {
    text += u.code + "\t" + std::string(TierName(u.tier)) + "\t" + u.name + "\n";
  }
  Result<Registry> loaded = Registry::Parse(text, "cut");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->RegionDigest(""), whole->RegionDigest("5201"));
}

TEST(Registry, ACutFileRefusesUnitsOutsideItsRegionAndOrphansInsideIt) {
  Result<Registry> outside =
      Registry::Parse("# region: 5201\n5201\tcity\t贵阳市\n5202\tcity\t六盘水市\n", "cut");
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.status().message().find("city 5202 lies outside the file's region 5201"),
            std::string::npos) << outside.status().message();
  Result<Registry> orphan = Registry::Parse(
      "# region: 5201\n5201\tcity\t贵阳市\n520102001\tstreet\t新华路街道\n", "cut");
  ASSERT_FALSE(orphan.ok());
  EXPECT_NE(orphan.status().message().find("orphan street 520102001"), std::string::npos)
      << orphan.status().message();
  // Without the line a cut's top unit is an orphan, as before.
  EXPECT_FALSE(Registry::Parse("5201\tcity\t贵阳市\n", "plain").ok());
  EXPECT_FALSE(Registry::Parse("# region: 52x\n", "bad").ok());
}

}  // namespace
}  // namespace flatcast
