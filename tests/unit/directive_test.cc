#include "flatcast/directive.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "flatcast/duration.h"
#include "temp_dir.h"

namespace flatcast {
namespace {

constexpr std::string_view kRegistryText =
    "52\tprovince\tGuizhou\n"
    "5201\tcity\tGuiyang\n"
    "520102\tdistrict\tNanming\n"
    "520102001\tstreet\tXinhua Road\n"
    "520102001001\tcommunity\tFushui\n"
    "520102001002\tcommunity\tXinhua\n"
    "520102002\tstreet\tYanan Road\n"
    "520102002001\tcommunity\tDanan\n"
    "520103\tdistrict\tYunyan\n"
    "520103001\tstreet\tQianling\n"
    "520103001001\tcommunity\tQianling East\n"
    "5202\tcity\tLiupanshui\n"
    "520201\tdistrict\tZhongshan\n"
    "520201001\tstreet\tHuangtupo\n"
    "520201001001\tcommunity\tHuangtupo North\n";

Registry TestRegistry() {
  Result<Registry> r = Registry::Parse(kRegistryText, "test");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : Registry();
}

v1::Directive ValidDirective() {
  v1::Directive d;
  d.set_format_version(kDirectiveFormatVersion);
  d.set_issuer_unit("5201");
  d.set_issuer_department("HEALTH");
  d.set_title("Winter influenza vaccination");
  d.set_body("Open vaccination points in every community.");
  v1::ActionItem* action = d.add_actions();
  action->set_what("Set up a vaccination point");
  action->set_responsible_tier(v1::COMMUNITY);
  d.add_scope("520102");
  d.add_target_tiers(v1::STREET);
  d.add_target_tiers(v1::COMMUNITY);
  d.set_status(v1::ACTUAL);
  return d;
}

std::vector<std::string> Codes(const std::vector<uint32_t>& indices, const Registry& registry) {
  std::vector<std::string> codes;
  for (uint32_t i : indices) codes.push_back(registry.unit(i).code);
  return codes;
}

class DirectiveTest : public ::testing::Test {
 protected:
  std::string RefusalOf(const v1::Directive& d) {
    Status s = ValidateDirective(d, registry_);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
    return s.message();
  }

  Registry registry_ = TestRegistry();
};

TEST_F(DirectiveTest, AcceptsAValidDirective) {
  Status s = ValidateDirective(ValidDirective(), registry_);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_F(DirectiveTest, RefusesAnUnregisteredIssuer) {
  v1::Directive d = ValidDirective();
  d.set_issuer_unit("5299");
  EXPECT_EQ(RefusalOf(d), "issuer unit 5299 is not in the registry");
  d.clear_issuer_unit();
  EXPECT_EQ(RefusalOf(d), "issuer unit is empty");
}

TEST_F(DirectiveTest, ContentCheckNeedsNoRegistryButRefusesMalformedCodesAndTiers) {
  // A relay's registry holds only its region: the content check accepts an
  // issuer and a scope it does not hold, but not codes of the wrong form,
  // out-of-range tiers or a scope outside the issuer.
  v1::Directive d = ValidDirective();
  d.set_issuer_unit("53");
  d.set_scope(0, "5301");
  EXPECT_TRUE(ValidateDirectiveContent(d).ok());
  EXPECT_EQ(ValidateDirective(d, registry_).message(), "issuer unit 53 is not in the registry");

  v1::Directive bad = d;
  bad.set_issuer_unit("5x");
  EXPECT_EQ(ValidateDirectiveContent(bad).message(),
            "issuer unit \"5x\" is not a division code (2, 4, 6, 9 or 12 digits)");
  bad = d;
  bad.set_scope(0, "53011");
  EXPECT_EQ(ValidateDirectiveContent(bad).message(),
            "scope code \"53011\" is not a division code (2, 4, 6, 9 or 12 digits)");
  bad = d;
  bad.set_scope(0, "5201");
  EXPECT_EQ(ValidateDirectiveContent(bad).message(),
            "scope 5201 is outside the issuer's jurisdiction 53");
  bad = d;
  bad.add_target_tiers(static_cast<v1::Tier>(95));
  EXPECT_EQ(ValidateDirectiveContent(bad).message(),
            "target tier #95 is not allowed (city, district, street or community)");
}

TEST_F(DirectiveTest, ANationalIssuerMayAddressTheWholeCountryOrAnyPartOfIt) {
  v1::Directive d = ValidDirective();
  d.set_issuer_unit(std::string(kNationCode));
  d.set_scope(0, std::string(kNationCode));
  Status s = ValidateDirective(d, registry_);
  EXPECT_TRUE(s.ok()) << s.ToString();
  // Every street and community of the registry, of every province.
  size_t expected = 0;
  for (const Unit& unit : registry_.units()) {
    expected += unit.tier == Tier::kStreet || unit.tier == Tier::kCommunity;
  }
  EXPECT_EQ(AddressedUnits(d, registry_).size(), expected);
  d.set_scope(0, "5202");
  EXPECT_TRUE(ValidateDirective(d, registry_).ok());
  // A province's issuer cannot address the nation.
  d.set_issuer_unit("52");
  d.set_scope(0, std::string(kNationCode));
  EXPECT_EQ(RefusalOf(d), "scope 00 is outside the issuer's jurisdiction 52");
}

TEST_F(DirectiveTest, RefusesAMalformedDepartment) {
  v1::Directive d = ValidDirective();
  for (const std::string& bad :
       std::vector<std::string>{"x y", "", "health", std::string(33, 'A')}) {
    d.set_issuer_department(bad);
    EXPECT_EQ(RefusalOf(d),
              "issuer department \"" + bad + "\" must be 1-32 characters of A-Z 0-9 _");
  }
  d.set_issuer_department("EMERGENCY_MGMT_2");
  EXPECT_TRUE(ValidateDirective(d, registry_).ok());
}

TEST_F(DirectiveTest, RefusesAnEmptyTitle) {
  v1::Directive d = ValidDirective();
  d.set_title("  ");
  EXPECT_EQ(RefusalOf(d), "title is empty");
}

TEST_F(DirectiveTest, RefusesOversizedTitleAndBody) {
  v1::Directive d = ValidDirective();
  d.set_title(std::string(kMaxTitleBytes + 1, 't'));
  EXPECT_EQ(RefusalOf(d), "title is 513 bytes; the limit is 512");
  d = ValidDirective();
  d.set_body(std::string(kMaxBodyBytes + 1, 'b'));
  EXPECT_NE(RefusalOf(d).find("body is 262145 bytes"), std::string::npos);
}

TEST_F(DirectiveTest, RefusesADirectiveWithoutActionItems) {
  v1::Directive d = ValidDirective();
  d.clear_actions();
  EXPECT_EQ(RefusalOf(d), "no action item");
}

TEST_F(DirectiveTest, RefusesTooManyActionItems) {
  v1::Directive d = ValidDirective();
  while (d.actions_size() <= static_cast<int>(kMaxActions)) *d.add_actions() = d.actions(0);
  EXPECT_EQ(RefusalOf(d), "65 action items; the limit is 64");
}

TEST_F(DirectiveTest, RefusesAnActionItemWithoutWhatOrWithAWrongTier) {
  v1::Directive d = ValidDirective();
  v1::ActionItem* second = d.add_actions();
  second->set_what("");
  second->set_responsible_tier(v1::STREET);
  EXPECT_EQ(RefusalOf(d), "action item 2: what is empty");
  second->set_what("Report numbers");
  second->set_responsible_tier(v1::PROVINCE);
  EXPECT_EQ(RefusalOf(d), "action item 2: responsible tier province is not allowed (city, district, "
                          "street or community)");
  second->clear_responsible_tier();
  EXPECT_NE(RefusalOf(d).find("action item 2: responsible tier is not set"), std::string::npos);
}

TEST_F(DirectiveTest, RefusesScopeCodesOutsideTheRegistry) {
  v1::Directive d = ValidDirective();
  d.add_scope("520199");
  EXPECT_EQ(RefusalOf(d), "scope code 520199 is not in the registry");
  d.clear_scope();
  EXPECT_EQ(RefusalOf(d), "scope is empty");
}

TEST_F(DirectiveTest, RefusesScopeOutsideTheIssuersJurisdiction) {
  v1::Directive d = ValidDirective();
  d.add_scope("5202");
  EXPECT_EQ(RefusalOf(d), "scope 5202 is outside the issuer's jurisdiction 5201");
  d.set_scope(1, "52");
  EXPECT_EQ(RefusalOf(d), "scope 52 is outside the issuer's jurisdiction 5201");
}

TEST_F(DirectiveTest, RefusesTooManyScopeCodes) {
  v1::Directive d = ValidDirective();
  while (d.scope_size() <= static_cast<int>(kMaxScopeCodes)) d.add_scope("520102");
  EXPECT_EQ(RefusalOf(d), "scope has 257 codes; the limit is 256");
}

TEST_F(DirectiveTest, RefusesTheProvinceTierAsTarget) {
  v1::Directive d = ValidDirective();
  d.add_target_tiers(v1::CITY);
  EXPECT_TRUE(ValidateDirective(d, registry_).ok());
  d.add_target_tiers(v1::PROVINCE);
  EXPECT_EQ(RefusalOf(d),
            "target tier province is not allowed (city, district, street or community)");
  d.clear_target_tiers();
  EXPECT_EQ(RefusalOf(d), "no target tier (city, district, street or community)");
}

TEST_F(DirectiveTest, RefusesAnUnsetStatus) {
  v1::Directive d = ValidDirective();
  d.clear_status();
  EXPECT_EQ(RefusalOf(d), "status is not set (ACTUAL, EXERCISE or TEST)");
}

TEST_F(DirectiveTest, RefusesAnUnknownFormatVersion) {
  v1::Directive d = ValidDirective();
  d.set_format_version(2);
  EXPECT_NE(RefusalOf(d).find("format version 2"), std::string::npos);
}

TEST_F(DirectiveTest, AddressesTargetedTiersBelowEachScopeCode) {
  v1::Directive d = ValidDirective();  // 520102, streets and communities
  EXPECT_EQ(Codes(AddressedUnits(d, registry_), registry_),
            (std::vector<std::string>{"520102001", "520102001001", "520102001002", "520102002",
                                      "520102002001"}));
  d.clear_target_tiers();
  d.add_target_tiers(v1::DISTRICT);
  d.set_scope(0, "5201");
  d.add_scope("520201001");
  EXPECT_EQ(Codes(AddressedUnits(d, registry_), registry_),
            (std::vector<std::string>{"520102", "520103"}));
}

TEST_F(DirectiveTest, AddressesEachUnitOnceWhenScopeCodesOverlap) {
  v1::Directive d = ValidDirective();
  d.clear_scope();
  for (std::string code : {"520102001", "5201", "520102", "520102001001", "5201"}) {
    d.add_scope(code);
  }
  d.clear_target_tiers();
  d.add_target_tiers(v1::COMMUNITY);
  d.add_target_tiers(v1::COMMUNITY);
  std::vector<uint32_t> units = AddressedUnits(d, registry_);
  EXPECT_EQ(Codes(units, registry_), (std::vector<std::string>{"520102001001", "520102001002",
                                                               "520102002001", "520103001001"}));
  EXPECT_TRUE(std::is_sorted(units.begin(), units.end()));
}

TEST_F(DirectiveTest, AgreesWithIsAddressedToForEveryUnit) {
  v1::Directive d = ValidDirective();
  d.add_scope("520103001");
  d.add_target_tiers(v1::DISTRICT);
  std::vector<uint32_t> addressed = AddressedUnits(d, registry_);
  for (uint32_t i = 0; i < registry_.size(); ++i) {
    const Unit& unit = registry_.unit(i);
    bool expected = std::binary_search(addressed.begin(), addressed.end(), i);
    EXPECT_EQ(IsAddressedTo(d, unit.code, unit.tier), expected) << unit.code;
  }
  EXPECT_TRUE(IsAddressedTo(d, "520102", Tier::kDistrict));
  EXPECT_FALSE(IsAddressedTo(d, "520103", Tier::kDistrict));  // only its street is in scope
  EXPECT_FALSE(IsAddressedTo(d, "520201001001", Tier::kCommunity));
}

// A registry shaped like a province's: 9 cities, 90 districts, 1,440 streets
// and 18,000 communities.
Registry ProvinceSizedRegistry() {
  std::string text = "52\tprovince\tP\n";
  for (int c = 1; c <= 9; ++c) {
    std::string city = "52" + fmt::format("{:02}", c);
    text += city + "\tcity\tC\n";
    for (int di = 1; di <= 10; ++di) {
      std::string district = city + fmt::format("{:02}", di);
      text += district + "\tdistrict\tD\n";
      for (int s = 1; s <= 16; ++s) {
        std::string street = district + fmt::format("{:03}", s);
        text += street + "\tstreet\tS\n";
        for (int m = 1; m <= 12 + (s % 2); ++m) {
          text += street + fmt::format("{:03}", m) + "\tcommunity\tM\n";
        }
      }
    }
  }
  Result<Registry> r = Registry::Parse(text, "generated");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : Registry();
}

TEST(AddressedUnits, OverlappingScopesOfAProvinceAddressEachUnitOnce) {
  Registry registry = ProvinceSizedRegistry();
  ASSERT_GT(registry.size(), 19'000u);
  v1::Directive d = ValidDirective();
  d.set_issuer_unit("52");
  d.clear_scope();
  d.add_scope("52");
  d.add_scope("5203");
  d.add_target_tiers(v1::DISTRICT);
  size_t expected = registry.size() - 1 - 9;  // all but the province and the cities
  std::vector<uint32_t> units = AddressedUnits(d, registry);
  ASSERT_EQ(units.size(), expected);
  EXPECT_TRUE(std::is_sorted(units.begin(), units.end()));
  EXPECT_EQ(std::adjacent_find(units.begin(), units.end()), units.end());
}

TEST(DirectiveId, JoinsUnitDepartmentUtcDateAndSequence) {
  TimePoint sent = *ParseTime("2026-11-28T23:30:00-02:00");  // 29 November in UTC
  EXPECT_EQ(MakeDirectiveId("5201", "HEALTH", sent, 7), "5201-HEALTH-20261129-0007");
  EXPECT_EQ(MakeDirectiveId("52", "EM", sent, 12345), "52-EM-20261129-12345");
}

TEST(DirectiveJson, PrintsProtoFieldNamesEnumNamesAndEveryPrimitive) {
  v1::StoredDirective stored;
  stored.set_seq(3);
  *stored.mutable_directive() = ValidDirective();
  *stored.mutable_directive()->mutable_sent() = ToTimestamp(*ParseTime("2026-11-28T09:30:00Z"));
  std::string json = DirectiveToJson(stored);
  EXPECT_NE(json.find("\"issuer_unit\": \"5201\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"status\": \"ACTUAL\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"sent\": \"2026-11-28T09:30:00Z\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"is_public\": false"), std::string::npos) << json;

  v1::StoredDirective parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok());
  EXPECT_EQ(parsed.SerializeAsString(), stored.SerializeAsString());
}

TEST(DirectiveJson, ParsesEnumsByNameInEitherCase) {
  Result<v1::Directive> d = DirectiveFromJson(R"({
    "issuer_unit": "5201", "status": "exercise", "target_tiers": ["DISTRICT", "street"],
    "actions": [{"what": "x", "responsible_tier": "community",
                 "due": "2026-11-29T08:00:00+08:00"}]
  })");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->status(), v1::EXERCISE);
  ASSERT_EQ(d->target_tiers_size(), 2);
  EXPECT_EQ(d->target_tiers(0), v1::DISTRICT);
  EXPECT_EQ(d->target_tiers(1), v1::STREET);
  EXPECT_EQ(d->actions(0).responsible_tier(), v1::COMMUNITY);
  EXPECT_EQ(FormatTime(FromTimestamp(d->actions(0).due())), "2026-11-29T00:00:00Z");
}

TEST(DirectiveJson, RefusesUnknownFieldsWithTheParsersMessage) {
  Result<v1::Directive> d = DirectiveFromJson(R"({"issuer_unit": "5201", "colour": "red"})");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(d.status().message().find("colour"), std::string::npos) << d.status().message();
}

TEST(DirectiveJson, RefusesMalformedJson) {
  Result<v1::Directive> d = DirectiveFromJson(R"({"issuer_unit": )");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Status::Code::kInvalidArgument);
}

constexpr std::string_view kTomlDirective = R"(
issuer_unit = "5201"
issuer_department = "HEALTH"
title = "Winter influenza vaccination"
body = """
Open vaccination points in every community.
"""
scope = ["520102", "520103"]
target_tiers = ["STREET", "community"]
status = "ACTUAL"
is_public = true
public_release = 2026-11-28T12:00:00+08:00
expires = 2026-12-31T23:59:59.5Z

[[actions]]
what = "Set up a vaccination point"
responsible_tier = "COMMUNITY"
due = 2026-11-30T09:00:00Z

[[actions]]
what = "Report the numbers vaccinated"
responsible_tier = "STREET"
internal = true
)";

class DirectiveFileTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
};

TEST_F(DirectiveFileTest, LoadsTomlWithDatesAsTimestamps) {
  std::string path = dir_ / "directive.toml";
  testing::WriteFile(path, std::string(kTomlDirective));
  Result<v1::Directive> d = LoadDirectiveFile(path);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->issuer_department(), "HEALTH");
  EXPECT_EQ(d->body(), "Open vaccination points in every community.\n");
  EXPECT_EQ(d->scope_size(), 2);
  EXPECT_EQ(d->target_tiers(1), v1::COMMUNITY);
  EXPECT_EQ(d->status(), v1::ACTUAL);
  EXPECT_TRUE(d->is_public());
  EXPECT_EQ(FormatTime(FromTimestamp(d->public_release())), "2026-11-28T04:00:00Z");
  EXPECT_EQ(FormatTime(FromTimestamp(d->expires())), "2026-12-31T23:59:59.500Z");
  ASSERT_EQ(d->actions_size(), 2);
  EXPECT_EQ(FormatTime(FromTimestamp(d->actions(0).due())), "2026-11-30T09:00:00Z");
  EXPECT_TRUE(d->actions(1).internal());
  EXPECT_FALSE(d->actions(1).has_due());
  EXPECT_TRUE(ValidateDirective(*d, TestRegistry()).ok());
}

TEST_F(DirectiveFileTest, LoadsJson) {
  std::string path = dir_ / "directive.json";
  testing::WriteFile(path, R"({"issuer_unit": "5201", "title": "t", "status": "TEST"})");
  Result<v1::Directive> d = LoadDirectiveFile(path);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->status(), v1::TEST);
}

TEST_F(DirectiveFileTest, RefusesTomlTimesWithoutOffsetNamingTheKey) {
  std::string path = dir_ / "local.toml";
  testing::WriteFile(path, "title = \"t\"\n[[actions]]\nwhat = \"x\"\ndue = 2026-11-30T09:00:00\n");
  Result<v1::Directive> d = LoadDirectiveFile(path);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find(path + ":4: actions[0].due: 2026-11-30T09:00:00 has no UTC "
                                             "offset"),
            std::string::npos)
      << d.status().message();

  testing::WriteFile(path, "expires = 2026-12-31\n");
  d = LoadDirectiveFile(path);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("expires: a date alone"), std::string::npos)
      << d.status().message();
}

TEST_F(DirectiveFileTest, ReportsTomlSyntaxErrorsWithPosition) {
  std::string path = dir_ / "broken.toml";
  testing::WriteFile(path, "title = \"t\"\nscope = [\"52\"\n");
  Result<v1::Directive> d = LoadDirectiveFile(path);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(d.status().message().rfind(path + ":", 0), 0u) << d.status().message();
}

TEST_F(DirectiveFileTest, RefusesUnknownTomlKeys) {
  std::string path = dir_ / "unknown.toml";
  testing::WriteFile(path, "title = \"t\"\npriority = \"high\"\n");
  Result<v1::Directive> d = LoadDirectiveFile(path);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("priority"), std::string::npos) << d.status().message();
}

TEST_F(DirectiveFileTest, RefusesMissingFilesAndUnknownExtensions) {
  Result<v1::Directive> d = LoadDirectiveFile(dir_ / "absent.toml");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Status::Code::kIOError);
  EXPECT_NE(d.status().message().find("absent.toml"), std::string::npos);

  std::string path = dir_ / "directive.yaml";
  testing::WriteFile(path, "title: t\n");
  d = LoadDirectiveFile(path);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find(".toml or .json"), std::string::npos);
}

TEST(DirectiveText, ShowsWhatAnOperatorNeeds) {
  v1::StoredDirective stored;
  v1::Directive& d = *stored.mutable_directive();
  d = ValidDirective();
  d.set_id("5201-HEALTH-20261128-0001");
  d.set_version(1);
  *d.mutable_sent() = ToTimestamp(*ParseTime("2026-11-28T09:30:00Z"));
  d.set_is_public(true);
  *d.mutable_public_release() = ToTimestamp(*ParseTime("2026-11-28T12:00:00Z"));
  *d.mutable_actions(0)->mutable_due() = ToTimestamp(*ParseTime("2026-11-30T09:00:00Z"));
  d.add_references("5201-HEALTH-20261101-0003");
  std::string text = RenderDirectiveText(stored);
  for (std::string_view expected :
       {"5201-HEALTH-20261128-0001 (version 1)", "ACTUAL", "5201 HEALTH", "2026-11-28T09:30:00Z",
        "Public release:", "2026-11-28T12:00:00Z", "Winter influenza vaccination",
        "Open vaccination points in every community.",
        "1. [community] Set up a vaccination point (due 2026-11-30T09:00:00Z)",
        "520102 (street, community)", "5201-HEALTH-20261101-0003"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << " missing from\n" << text;
  }
  // With the time now, the operator sees how long is left.
  EXPECT_NE(RenderDirectiveText(stored, *ParseTime("2026-11-28T09:30:00Z"))
                .find("2026-11-28T12:00:00Z (in 2h30m)"),
            std::string::npos);
  EXPECT_NE(RenderDirectiveText(stored, *ParseTime("2026-11-28T13:00:00Z")).find("(public now)"),
            std::string::npos);
  d.set_is_public(false);
  EXPECT_NE(RenderDirectiveText(stored).find("internal only (never public)"), std::string::npos);
}

TEST(DirectiveStatus, HasNames) {
  EXPECT_EQ(StatusName(v1::ACTUAL), "ACTUAL");
  EXPECT_EQ(StatusName(v1::EXERCISE), "EXERCISE");
  EXPECT_EQ(StatusName(v1::TEST), "TEST");
  EXPECT_EQ(StatusName(v1::DIRECTIVE_STATUS_UNSPECIFIED), "UNSPECIFIED");
}

}  // namespace
}  // namespace flatcast

namespace flatcast {
namespace {

using namespace std::chrono_literals;

TEST_F(DirectiveFileTest, RefusesADeadlineMoreThanAYearAfterSendingNamingTheFieldAndTheLimit) {
  std::string path = dir_ / "late.json";
  testing::WriteFile(path, R"({"issuer_unit": "5201", "title": "t", "status": "TEST",
      "deadlines": [{"level": "CONFIRMED", "within_ms": "9223372036854775000"}]})");
  Result<v1::Directive> d = LoadDirectiveFile(path);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("deadlines[0].within_ms"), std::string::npos)
      << d.status().message();
  EXPECT_NE(d.status().message().find("366d"), std::string::npos) << d.status().message();
}

TEST(DirectiveTimes, RefuseTimesOutside1970To9999NamingTheField) {
  v1::Directive d;
  d.mutable_expires()->set_seconds(-86400);
  Status st = CheckDirectiveTimes(d);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("expires"), std::string::npos) << st.message();
  d.clear_expires();
  d.add_actions()->mutable_due()->set_seconds(kLatestInputSeconds + 1);
  st = CheckDirectiveTimes(d);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("actions[0].due"), std::string::npos) << st.message();
  d.clear_actions();
  d.add_deadlines()->mutable_at()->set_nanos(-5);
  EXPECT_NE(CheckDirectiveTimes(d).message().find("deadlines[0].at: nanos"), std::string::npos);
}

TEST(DirectiveTimes, APublicReleaseOrDeadlineMoreThanAYearAheadIsRefused) {
  const TimePoint now = ParseTime("2026-11-28T09:30:00Z").value();
  v1::Directive d;
  *d.mutable_public_release() = ToTimestamp(now + 360 * 24h);
  EXPECT_TRUE(CheckTimesAhead(d, now).ok());
  *d.mutable_public_release() = ToTimestamp(now + 400 * 24h);
  Status st = CheckTimesAhead(d, now);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("public_release"), std::string::npos) << st.message();
  d.clear_public_release();
  *d.add_deadlines()->mutable_at() = ToTimestamp(now + 1000 * 24h);
  EXPECT_NE(CheckTimesAhead(d, now).message().find("deadlines[0].at"), std::string::npos);
}

// The fuzz_wire_decode finding (fuzz/corpus/fuzz_wire_decode/deadline-within-near-int64-max):
// a delivered directive sent in 2262 with a deadline of INT64_MAX ms. Rendering it and resolving
// its deadline saturate instead of overflowing (UBSan stops the sanitizer suite otherwise).
TEST(DirectiveTimes, ADeadlineNearInt64MaxAfterAFarSentTimeSaturates) {
  v1::StoredDirective stored;
  v1::Directive* d = stored.mutable_directive();
  d->set_title("Close wet markets");
  d->mutable_sent()->set_seconds(21992569017718800);
  v1::AckDeadline* deadline = d->add_deadlines();
  deadline->set_level(v1::CONFIRMED);
  deadline->set_within_ms(INT64_MAX);
  std::vector<Deadline> resolved = ResolveDeadlines(*d, nullptr);
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].at, TimePoint::max());
  std::string text = RenderDirectiveText(stored, ParseTime("2026-11-28T09:30:00Z").value());
  EXPECT_NE(text.find("Deadline:"), std::string::npos) << text;
}

}  // namespace
}  // namespace flatcast
