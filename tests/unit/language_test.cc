// Languages of a directive (language.h): BCP 47 tags as RFC 5646 writes
// them, the translations a publisher may send, the text a reader who
// prefers some languages is shown, and what an amendment's change lines say.
#include <gtest/gtest.h>

#include "flatcast/directive.h"
#include "flatcast/language.h"
#include "samples.h"

namespace flatcast {
namespace {

TEST(LanguageTag, WellFormedTagsOfEveryShapeAreAccepted) {
  for (const char* tag :
       {"zh-CN", "en", "bo", "ug-Arab-CN", "zh-Hant-TW", "sr-Latn-RS", "de-CH-1901", "es-419",
        "zh-yue-HK", "en-US-x-twain", "x-private", "i-klingon", "ZH-cn", "sl-rozaj-biske",
        "en-a-bbb-b-ccc", "hak", "ii-CN", "za", "mn-Mong-CN", "kok-Deva-IN-u-nu-deva"}) {
    EXPECT_TRUE(CheckLanguageTag(tag).ok()) << tag << ": " << CheckLanguageTag(tag).message();
  }
}

TEST(LanguageTag, MalformedTagsAreRefusedSayingWhatIsWrong) {
  struct Case {
    const char* tag;
    const char* says;
  };
  for (const Case& c : {Case{"", "empty"}, Case{"zh_CN", "only letters"}, Case{"c", "begin with a language"},
                        Case{"en-", "empty subtag"}, Case{"en--US", "empty subtag"},
                        Case{"toolongtag9", "longer than 8"}, Case{"en-a", "has no subtag"},
                        Case{"de-1901-1901", "appears twice"}, Case{"en-a-bb-a-cc", "appears twice"},
                        Case{"123", "begin with a language"}, Case{"中文", "only letters"},
                        Case{"en-US-CN", "out of place"}, Case{"x", "private-use"},
                        Case{"en-x-abcdefghi", "longer than 8"}}) {
    Status st = CheckLanguageTag(c.tag);
    EXPECT_FALSE(st.ok()) << c.tag;
    EXPECT_NE(st.message().find(c.says), std::string::npos) << c.tag << ": " << st.message();
  }
  EXPECT_FALSE(CheckLanguageTag(std::string(65, 'a')).ok());
}

v1::Directive TwoLanguages() {
  v1::Directive d = testing::SampleStored(1, "52-HEALTH-20261128-0001").directive();
  d.set_language("zh-CN");
  d.mutable_actions(0)->set_what("张贴通知");
  auto* en = d.add_translations();
  en->set_language("en");
  en->set_title("Masks on buses");
  en->set_body("Wear masks on buses.");
  en->add_actions("Post notices");
  auto* bo = d.add_translations();
  bo->set_language("bo");
  bo->set_title("ཁ་རས།");
  return d;
}

TEST(LanguagePreference, AReaderIsShownTheFirstLanguageTheyPreferThatTheDirectiveHas) {
  const auto texts = DirectiveTexts(TwoLanguages());
  ASSERT_EQ(texts.size(), 3u);
  EXPECT_EQ(texts[PreferredText(texts, {})].language, "zh-CN");
  EXPECT_EQ(texts[PreferredText(texts, {"en"})].title, "Masks on buses");
  EXPECT_EQ(texts[PreferredText(texts, {"fr", "bo", "en"})].language, "bo");
  // A longer range falls back subtag by subtag; a shorter one takes a longer tag.
  EXPECT_EQ(texts[PreferredText(texts, {"en-GB-oxendict"})].language, "en");
  EXPECT_EQ(texts[PreferredText(texts, {"zh"})].language, "zh-CN");
  EXPECT_EQ(texts[PreferredText(texts, {"fr"})].language, "zh-CN");
  // A translation without action texts shows the directive's own.
  EXPECT_EQ(texts[2].actions, std::vector<std::string>{"张贴通知"});
  EXPECT_EQ(texts[1].actions, std::vector<std::string>{"Post notices"});
}

TEST(LanguagePreference, TheTerminalTextIsInThePreferredLanguageWithTheOthersAfter) {
  v1::StoredDirective stored = testing::SampleStored(1, "52-HEALTH-20261128-0001");
  *stored.mutable_directive() = TwoLanguages();
  const std::string text = RenderDirectiveText(stored, std::nullopt, {"en"});
  EXPECT_NE(text.find("Languages:      zh-CN, en, bo (shown: en)"), std::string::npos) << text;
  const size_t english = text.find("Masks on buses");
  const size_t others = text.find("--- zh-CN ---");
  ASSERT_NE(english, std::string::npos);
  ASSERT_NE(others, std::string::npos) << text;
  EXPECT_LT(english, others);
  EXPECT_NE(text.find("[community] Post notices"), std::string::npos) << text;
}

TEST(Translations, BadTranslationsAreRefusedNamingTheTranslation) {
  EXPECT_TRUE(CheckTranslations(TwoLanguages()).ok()) << CheckTranslations(TwoLanguages()).message();
  auto refused = [](v1::Directive d, const char* says) {
    Status st = ValidateDirectiveContent(d);
    EXPECT_FALSE(st.ok()) << says;
    EXPECT_NE(st.message().find(says), std::string::npos) << st.message();
  };
  v1::Directive d = TwoLanguages();
  d.mutable_translations(0)->set_language("ZH-cn");
  refused(d, "is there already");
  d = TwoLanguages();
  d.mutable_translations(1)->set_language("EN");
  refused(d, "is there already");
  d = TwoLanguages();
  d.mutable_translations(0)->set_language("en_GB");
  refused(d, "translation 1: language tag \"en_GB\" is not BCP 47");
  d = TwoLanguages();
  d.set_language("chinese-simplified");
  refused(d, "language:");
  d = TwoLanguages();
  d.mutable_translations(0)->add_actions("A second action text");
  refused(d, "2 action texts for 1 action items");
  d = TwoLanguages();
  d.mutable_translations(1)->set_title("  ");
  refused(d, "translation 2 (bo): title is empty");
  d = TwoLanguages();
  d.mutable_translations(0)->set_body(std::string(kMaxBodyBytes + 1, 'x'));
  refused(d, "body is");
  d = TwoLanguages();
  for (const char* tag : {"fr", "de", "es", "ru", "ar", "ja", "ko"}) {
    auto* t = d.add_translations();
    t->set_language(tag);
    t->set_title("t");
  }
  refused(d, "9 translations; the limit is 8");
}

TEST(Translations, AnAmendmentSaysWhichLanguagesWereAddedRemovedOrChanged) {
  v1::Directive before = TwoLanguages();
  v1::Directive after = before;
  after.mutable_translations(0)->set_title("Masks on buses and trains");
  after.mutable_translations()->RemoveLast();
  auto* ug = after.add_translations();
  ug->set_language("ug");
  ug->set_title("ماسكا");
  std::vector<std::string> changes = DescribeChanges(before, after);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0], "translations: +ug -bo ~en");
  EXPECT_FALSE(IsInternalChange(changes[0]));
  after = before;
  after.set_language("zh-Hans-CN");
  changes = DescribeChanges(before, after);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0], "language: zh-CN -> zh-Hans-CN");
}

}  // namespace
}  // namespace flatcast
