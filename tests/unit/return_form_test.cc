// Return forms (return_form.h): what a well-made form is, and how an answer
// is checked, put in the form's order and read from what an operator types.
#include "flatcast/return_form.h"

#include <gtest/gtest.h>

#include <fstream>

#include "flatcast/directive.h"
#include "temp_dir.h"

namespace flatcast {
namespace {

v1::ReturnForm MasksForm() {
  v1::ReturnForm form;
  v1::FormField* masks = form.add_fields();
  masks->set_key("masks");
  masks->set_label("口罩库存");
  masks->set_kind(v1::FormField::QUANTITY);
  masks->set_unit("个");
  masks->set_required(true);
  masks->set_min(0);
  masks->set_max(1000000);
  masks->set_below(500);
  v1::FormField* staff = form.add_fields();
  staff->set_key("staff_in_place");
  staff->set_label("人员到岗");
  staff->set_kind(v1::FormField::YES_NO);
  staff->set_required(true);
  v1::FormField* level = form.add_fields();
  level->set_key("risk");
  level->set_label("风险等级");
  level->set_kind(v1::FormField::CHOICE);
  level->add_choices("低");
  level->add_choices("中");
  level->add_choices("高");
  v1::FormField* note = form.add_fields();
  note->set_key("shortage");
  note->set_label("缺什么");
  note->set_kind(v1::FormField::TEXT);
  note->set_max_length(20);
  return form;
}

v1::FieldValue Quantity(const std::string& key, int64_t n) {
  v1::FieldValue v;
  v.set_key(key);
  v.set_quantity(n);
  return v;
}
v1::FieldValue Yes(const std::string& key, bool yes) {
  v1::FieldValue v;
  v.set_key(key);
  v.set_yes(yes);
  return v;
}

std::string Refusal(const v1::ReturnForm& form) {
  Status st = ValidateReturnForm(form);
  EXPECT_FALSE(st.ok());
  return st.message();
}

TEST(ReturnForm, AWellMadeFormIsAccepted) { EXPECT_TRUE(ValidateReturnForm(MasksForm()).ok()); }

TEST(ReturnForm, EachMistakeInAFormIsNamedWithItsField) {
  EXPECT_NE(Refusal(v1::ReturnForm()).find("no field"), std::string::npos);
  v1::ReturnForm f = MasksForm();
  f.mutable_fields(1)->set_key("masks");
  EXPECT_NE(Refusal(f).find("field 2 (masks): the key is used by an earlier field"),
            std::string::npos);
  f = MasksForm();
  f.mutable_fields(0)->set_key("Masks!");
  EXPECT_NE(Refusal(f).find("the key must be 1-32 of a-z 0-9 _"), std::string::npos);
  f = MasksForm();
  f.mutable_fields(0)->set_max(-1);
  EXPECT_NE(Refusal(f).find("min 0 must be below max -1"), std::string::npos);
  f = MasksForm();
  f.mutable_fields(0)->set_max(kMaxQuantity + 1);
  EXPECT_NE(Refusal(f).find("within ±"), std::string::npos);
  f = MasksForm();
  f.mutable_fields(0)->set_below(0);
  EXPECT_NE(Refusal(f).find("below 0 must be above min 0"), std::string::npos);
  f = MasksForm();
  f.mutable_fields(2)->mutable_choices()->RemoveLast();
  f.mutable_fields(2)->mutable_choices()->RemoveLast();
  EXPECT_NE(Refusal(f).find("a choice needs 2 to 32 choices, not 1"), std::string::npos);
  f = MasksForm();
  f.mutable_fields(2)->set_choices(1, "低");
  EXPECT_NE(Refusal(f).find("the choice \"低\" is there twice"), std::string::npos);
  f = MasksForm();
  f.mutable_fields(3)->set_max_length(0);
  EXPECT_NE(Refusal(f).find("max_length must be 1 to 1000"), std::string::npos);
  f = MasksForm();
  f.mutable_fields(1)->set_min(3);
  EXPECT_NE(Refusal(f).find("for a QUANTITY only"), std::string::npos);
  f = MasksForm();
  f.mutable_fields(1)->set_kind(v1::FormField::KIND_UNSPECIFIED);
  EXPECT_NE(Refusal(f).find("the kind must be"), std::string::npos);
  f = MasksForm();
  f.mutable_fields(0)->set_label(" ");
  EXPECT_NE(Refusal(f).find("the label is empty"), std::string::npos);
  f = MasksForm();
  for (int i = 0; i < kMaxFormFields; ++i) {
    v1::FormField* more = f.add_fields();
    *more = f.fields(1);
    more->set_key("more_" + std::to_string(i));
  }
  EXPECT_NE(Refusal(f).find("the limit is 32"), std::string::npos);
}

TEST(ReturnForm, ADirectiveWithABadFormIsInvalid) {
  v1::Directive d;
  d.set_issuer_unit("52");
  d.set_issuer_department("HEALTH");
  d.set_title("t");
  d.set_status(v1::ACTUAL);
  d.add_scope("52");
  d.add_target_tiers(v1::COMMUNITY);
  v1::ActionItem* a = d.add_actions();
  a->set_what("x");
  a->set_responsible_tier(v1::COMMUNITY);
  ASSERT_TRUE(ValidateDirectiveContent(d).ok());
  d.mutable_return_form();  // present, with no field
  Status st = ValidateDirectiveContent(d);
  EXPECT_NE(st.message().find("the return form has no field"), std::string::npos) << st.ToString();
}

TEST(ReturnAnswer, AnAnswerIsPutInTheFormsOrderAndOptionalFieldsMayBeLeftOut) {
  google::protobuf::RepeatedPtrField<v1::FieldValue> values;
  *values.Add() = Yes("staff_in_place", true);
  *values.Add() = Quantity("masks", 1200);
  ASSERT_TRUE(NormalizeReturnValues(MasksForm(), &values).ok());
  ASSERT_EQ(values.size(), 2);
  EXPECT_EQ(values.Get(0).key(), "masks");
  EXPECT_EQ(values.Get(1).key(), "staff_in_place");
}

TEST(ReturnAnswer, WrongTypeOutOfLimitsMissingUnknownAndTwiceAreRefusedSayingWhich) {
  auto refused = [](std::vector<v1::FieldValue> given) {
    google::protobuf::RepeatedPtrField<v1::FieldValue> values(given.begin(), given.end());
    Status st = NormalizeReturnValues(MasksForm(), &values);
    EXPECT_FALSE(st.ok());
    return st.message();
  };
  v1::FieldValue text;
  text.set_key("masks");
  text.set_text("1200");
  EXPECT_NE(refused({text, Yes("staff_in_place", true)}).find("masks (\"口罩库存\") takes a quantity, not text"),
            std::string::npos);
  EXPECT_NE(refused({Quantity("masks", -1), Yes("staff_in_place", true)})
                .find("is -1; it must be from 0 to 1000000"),
            std::string::npos);
  EXPECT_NE(refused({Quantity("masks", 5)}).find("staff_in_place (\"人员到岗\") is required and has no answer"),
            std::string::npos);
  EXPECT_NE(refused({Quantity("masks", 5), Yes("staff_in_place", true), Quantity("gloves", 1)})
                .find("the form has no field \"gloves\" (it has: masks, staff_in_place, risk, shortage)"),
            std::string::npos);
  EXPECT_NE(refused({Quantity("masks", 5), Quantity("masks", 6)}).find("masks is answered twice"),
            std::string::npos);
  v1::FieldValue choice;
  choice.set_key("risk");
  choice.set_choice("极高");
  EXPECT_NE(refused({Quantity("masks", 5), Yes("staff_in_place", true), choice})
                .find("\"极高\" is not one of: 低, 中, 高"),
            std::string::npos);
  v1::FieldValue long_text;
  long_text.set_key("shortage");
  long_text.set_text(std::string(21, 'x'));
  EXPECT_NE(refused({Quantity("masks", 5), Yes("staff_in_place", true), long_text})
                .find("is 21 bytes; at most 20"),
            std::string::npos);
}

TEST(ReturnAnswer, WhatAnOperatorTypesIsReadByTheFieldsKind) {
  const v1::ReturnForm form = MasksForm();
  EXPECT_EQ(ParseFieldAssignment(form, "masks=1200")->quantity(), 1200);
  EXPECT_TRUE(ParseFieldAssignment(form, "staff_in_place=是")->yes());
  EXPECT_FALSE(ParseFieldAssignment(form, "staff_in_place=no")->yes());
  EXPECT_EQ(ParseFieldAssignment(form, "risk=中")->choice(), "中");
  EXPECT_EQ(ParseFieldAssignment(form, "risk=3")->choice(), "高") << "a choice by its number";
  EXPECT_EQ(ParseFieldAssignment(form, "shortage=消毒液")->text(), "消毒液");
  for (auto [typed, words] : std::vector<std::pair<std::string, std::string>>{
           {"masks=12x", "takes a whole number, not \"12x\""},
           {"masks=", "takes a whole number"},
           {"masks=99999999999999999999", "takes a whole number"},
           {"masks=2000000", "it must be from 0 to 1000000"},
           {"staff_in_place=maybe", "takes yes or no, not \"maybe\""},
           {"risk=4", "\"4\" is not one of"},
           {"gloves=1", "the form has no field \"gloves\""},
           {"masks", "is not key=value"}}) {
    auto parsed = ParseFieldAssignment(form, typed);
    ASSERT_FALSE(parsed.ok()) << typed;
    EXPECT_NE(parsed.status().message().find(words), std::string::npos)
        << typed << ": " << parsed.status().message();
  }
}

TEST(ReturnForm, AFormFileInTomlIsReadAndCheckedAndABadOneSaysWhere) {
  testing::TempDir dir;
  const std::string good = dir / "form.toml";
  std::ofstream(good) << "[[fields]]\nkey = \"masks\"\nlabel = \"口罩库存\"\nkind = \"quantity\"\n"
                         "unit = \"个\"\nrequired = true\nmin = 0\nmax = 100000\nbelow = 500\n"
                         "[[fields]]\nkey = \"open\"\nlabel = \"是否开放\"\nkind = \"YES_NO\"\n";
  auto form = LoadReturnFormFile(good);
  ASSERT_TRUE(form.ok()) << form.status().ToString();
  ASSERT_EQ(form->fields_size(), 2);
  EXPECT_EQ(form->fields(0).below(), 500);
  EXPECT_EQ(form->fields(1).kind(), v1::FormField::YES_NO);
  const std::string bad = dir / "bad.toml";
  std::ofstream(bad) << "[[fields]]\nkey = \"masks\"\nlabel = \"x\"\nkind = \"quantity\"\nmax = 0\n";
  auto refused = LoadReturnFormFile(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find(bad), std::string::npos);
  EXPECT_NE(refused.status().message().find("min 0 must be below max 0"), std::string::npos);
  const std::string unknown = dir / "unknown.toml";
  std::ofstream(unknown) << "[[fields]]\nkey = \"masks\"\ncolour = \"red\"\n";
  auto odd = LoadReturnFormFile(unknown);
  ASSERT_FALSE(odd.ok());
  EXPECT_NE(odd.status().message().find("not a valid return form"), std::string::npos)
      << odd.status().message();
}

}  // namespace
}  // namespace flatcast
