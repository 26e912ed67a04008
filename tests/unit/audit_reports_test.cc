// How audit replies print. A reply arrives from the network, so a renderer
// must cope with any values a decoded message can hold.
#include <gtest/gtest.h>

#include "flatcast/audit/reports.h"

namespace flatcast::audit {
namespace {

v1::RollupReply ThreeTierRollup() {
  v1::RollupReply r;
  r.mutable_directive()->mutable_directive()->set_id("5201-CITY_HEALTH-20261128-0001");
  for (auto [code, tier] : {std::pair{"5201", v1::CITY}, std::pair{"520102", v1::DISTRICT},
                            std::pair{"520102001", v1::STREET}}) {
    v1::RollupRow* row = r.add_rows();
    row->set_code(code);
    row->set_tier(tier);
    row->mutable_counts()->set_addressed(10);
    row->mutable_counts()->set_received(5);
  }
  return r;
}

TEST(AuditReports, RollupTableIndentsEachTierBelowTheFirstRow) {
  const std::string out = RenderRollup(ThreeTierRollup(), OutputFormat::kTable);
  EXPECT_NE(out.find("\n5201 "), std::string::npos) << out;
  EXPECT_NE(out.find("  520102 "), std::string::npos) << out;
  EXPECT_NE(out.find("    520102001 "), std::string::npos) << out;
  EXPECT_NE(out.find("50.0"), std::string::npos) << out;
}

TEST(AuditReports, RollupRowWithATierOutsideTheEnumIsNotIndented) {
  // proto3 enums are open: a tier of 2^30 would be indented by 2^31 spaces.
  v1::RollupReply r = ThreeTierRollup();
  r.mutable_rows(2)->set_tier(static_cast<v1::Tier>(1 << 30));
  const std::string out = RenderRollup(r, OutputFormat::kTable);
  EXPECT_LT(out.size(), 4096u);
  EXPECT_NE(out.find("520102001"), std::string::npos) << out;

  r.mutable_rows(0)->set_tier(static_cast<v1::Tier>(-7));
  EXPECT_LT(RenderRollup(r, OutputFormat::kTable).size(), 4096u);
}

}  // namespace
}  // namespace flatcast::audit
