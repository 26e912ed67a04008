#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "flatcast/bench/mqtt/payload.h"
#include "flatcast/bench/mqtt/stats.h"
#include "flatcast/bench/mqtt/units.h"

namespace flatcast::bench::mqtt {
namespace {

TEST(DirectivePayload, RoundTripsAndFillsToTheRequestedSize) {
  std::string payload = EncodeDirective({"burst-07", 1764300000123456}, 4096);
  EXPECT_EQ(payload.size(), 4096u);
  auto header = DecodeDirective(payload);
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->id, "burst-07");
  EXPECT_EQ(header->publish_us, 1764300000123456);
}

TEST(DirectivePayload, RefusesMalformedHeaders) {
  EXPECT_FALSE(DecodeDirective("FCD1 x 12").has_value());          // no newline
  EXPECT_FALSE(DecodeDirective("FCD2 x 12\n....").has_value());    // wrong magic
  EXPECT_FALSE(DecodeDirective("FCD1 x 12a\n").has_value());       // bad time
  EXPECT_FALSE(DecodeDirective("FCD1 x 12 extra\n").has_value());  // extra field
  EXPECT_FALSE(DecodeDirective("").has_value());
}

TEST(AckPayload, RoundTrips) {
  auto ack = DecodeAck(EncodeAck({"fanout-1", "520102016001", 42}));
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->directive_id, "fanout-1");
  EXPECT_EQ(ack->unit_code, "520102016001");
  EXPECT_EQ(ack->received_us, 42);
  EXPECT_FALSE(DecodeAck("FCA1 fanout-1 520102016001").has_value());
}

TEST(DirectiveId, AllowsPrintableWithoutWhitespace) {
  EXPECT_TRUE(ValidDirectiveId("storm-10"));
  EXPECT_FALSE(ValidDirectiveId(""));
  EXPECT_FALSE(ValidDirectiveId("a b"));
  EXPECT_FALSE(ValidDirectiveId(std::string(65, 'x')));
}

std::vector<Unit> SmallRegistry() {
  return {{"52", "province"}, {"5201", "city"},     {"520102", "district"},
          {"520102001", "street"}, {"520102001001", "community"}, {"5202", "city"}};
}

TEST(SelectUnits, NeverSelectsTheProvince) {
  auto units = SelectUnits(SmallRegistry(), {});
  ASSERT_EQ(units.size(), 5u);
  EXPECT_EQ(units.front().code, "5201");
}

TEST(SelectUnits, FirstThenIncludeExcludeThenShard) {
  UnitSelection first;
  first.first = 3;
  EXPECT_EQ(SelectUnits(SmallRegistry(), first).back().code, "520102001");

  UnitSelection exclude;
  exclude.exclude = {"520102"};
  exclude.shards = 2;
  exclude.shard = 1;
  auto odd = SelectUnits(SmallRegistry(), exclude);  // 5201 520102001 520102001001 5202
  ASSERT_EQ(odd.size(), 2u);
  EXPECT_EQ(odd[0].code, "520102001");
  EXPECT_EQ(odd[1].code, "5202");

  UnitSelection include;
  include.include = {"5202", "5201"};
  EXPECT_EQ(SelectUnits(SmallRegistry(), include).size(), 2u);
}

TEST(SelectUnits, ShardsPartitionTheUnits) {
  size_t total = 0;
  for (size_t shard = 0; shard < 4; ++shard) {
    UnitSelection selection;
    selection.shard = shard;
    selection.shards = 4;
    total += SelectUnits(SmallRegistry(), selection).size();
  }
  EXPECT_EQ(total, 5u);
}

TEST(ReadRegistry, GuizhouHas19571UnitsBelowTheProvince) {
  auto registry = ReadRegistry(FLATCAST_REGISTRY_FILE);
  ASSERT_TRUE(registry.ok()) << registry.status().message();
  EXPECT_EQ(registry.value().size(), 19572u);
  EXPECT_EQ(SelectUnits(registry.value(), {}).size(), 19571u);
}

TEST(ReadRegistry, NamesTheBadLine) {
  std::string path = ::testing::TempDir() + "/bad-registry.tsv";
  {
    std::ofstream out(path);
    out << "# comment\n52\tprovince\tX\n5201\tplanet\tY\n";
  }
  auto registry = ReadRegistry(path);
  ASSERT_FALSE(registry.ok());
  EXPECT_NE(registry.status().message().find(":3:"), std::string::npos);
  std::remove(path.c_str());
}

TEST(Percentiles, NearestRank) {
  std::vector<int64_t> values;
  for (int i = 1; i <= 100; ++i) values.push_back(i * 1000);
  auto summary = Summarize(values);
  EXPECT_EQ(summary.count, 100u);
  EXPECT_DOUBLE_EQ(summary.p50_ms, 50.0);
  EXPECT_DOUBLE_EQ(summary.p99_ms, 99.0);
  EXPECT_DOUBLE_EQ(summary.max_ms, 100.0);
  EXPECT_EQ(NearestRank({7}, 99), 7);
  EXPECT_EQ(Summarize({}).count, 0u);
}

}  // namespace
}  // namespace flatcast::bench::mqtt
