// The publisher's amendment as a patch: only the fields given change.
#include <gtest/gtest.h>

#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "flatcast/publisher/publisher.h"
#include "samples.h"

namespace flatcast::publisher {
namespace {

// Version 2 of a stored exercise, as the broker returns it.
v1::Directive Stored() {
  v1::Directive d = testing::SampleStored(7, "52-HEALTH-20261128-0001", 2).directive();
  d.set_status(v1::EXERCISE);
  d.set_internal_note("drill of the market plan");
  d.mutable_actions(0)->set_responsible_tier(v1::COMMUNITY);
  v1::ActionItem* internal = d.add_actions();
  internal->set_what("Report stock to the district");
  internal->set_responsible_tier(v1::STREET);
  internal->set_internal(true);
  d.add_references("52-HEALTH-20261128-0001");
  d.add_changes("title: \"a\" -> \"b\"");
  d.mutable_signature()->set_key_id("old");
  *d.mutable_created() = ToTimestamp(testing::SampleTime());
  return d;
}

TEST(ApplyPatch, OneFieldChangesAndEverythingElseIsKept) {
  DirectivePatch patch;
  patch.title = "Close wet markets today";
  v1::Directive d = ApplyPatch(Stored(), patch).value();
  EXPECT_EQ(d.title(), "Close wet markets today");
  EXPECT_EQ(d.status(), v1::EXERCISE);
  EXPECT_EQ(d.body(), Stored().body());
  EXPECT_EQ(d.internal_note(), "drill of the market plan");
  EXPECT_EQ(d.actions_size(), 2);
  EXPECT_EQ(d.scope_size(), 1);
  std::vector<std::string> changes = DescribeChanges(Stored(), d);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0], "title: \"Close wet markets\" -> \"Close wet markets today\"");
}

TEST(ApplyPatch, FieldsTheBrokerSetsAndTheOldSignatureAreCleared) {
  v1::Directive d = ApplyPatch(Stored(), DirectivePatch{}).value();
  EXPECT_TRUE(d.id().empty());
  EXPECT_FALSE(d.has_sent());
  EXPECT_EQ(d.version(), 0u);
  EXPECT_EQ(d.references_size(), 0);
  EXPECT_EQ(d.changes_size(), 0);
  EXPECT_FALSE(d.has_signature());
  EXPECT_FALSE(d.has_created()) << "a new signature covers a new creation time";
  EXPECT_TRUE(DescribeChanges(Stored(), d).empty());
}

TEST(ApplyPatch, NewActionItemsReplaceThePublicOnesAndKeepTheInternalOnes) {
  DirectivePatch patch;
  patch.actions = std::vector<std::string>{"Post notices|community", "Check stalls|street"};
  v1::Directive d = ApplyPatch(Stored(), patch).value();
  ASSERT_EQ(d.actions_size(), 3);
  EXPECT_EQ(d.actions(0).what(), "Post notices");
  EXPECT_EQ(d.actions(1).what(), "Check stalls");
  EXPECT_TRUE(d.actions(2).internal());
}

TEST(ApplyPatch, ScopeTiersStatusAndExpiryChangeWhenGiven) {
  DirectivePatch patch;
  patch.scope = std::vector<std::string>{"520102"};
  patch.tiers = std::vector<std::string>{"street", "community"};
  patch.status = "actual";
  patch.expires = "2026-12-31T00:00:00Z";
  v1::Directive d = ApplyPatch(Stored(), patch).value();
  EXPECT_EQ(d.scope(0), "520102");
  EXPECT_EQ(d.target_tiers_size(), 2);
  EXPECT_EQ(d.status(), v1::ACTUAL);
  EXPECT_TRUE(d.has_expires());
  patch = {};
  patch.expires = "none";
  EXPECT_FALSE(ApplyPatch(d, patch).value().has_expires());
}

TEST(ApplyPatch, BadFieldsAreRefusedWithTheirName) {
  DirectivePatch patch;
  patch.status = "drill";
  EXPECT_NE(ApplyPatch(Stored(), patch).status().message().find("status \"drill\""),
            std::string::npos);
  patch = {};
  patch.tiers = std::vector<std::string>{"village"};
  EXPECT_NE(ApplyPatch(Stored(), patch).status().message().find("tier \"village\""),
            std::string::npos);
  patch = {};
  patch.deadlines = std::vector<std::string>{"confirmed=3000d"};
  EXPECT_NE(ApplyPatch(Stored(), patch).status().message().find("at most"), std::string::npos);
}

}  // namespace
}  // namespace flatcast::publisher
