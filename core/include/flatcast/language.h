// Languages of a directive: BCP 47 tags (RFC 5646), a directive's text in
// each of its languages, and the one a reader prefers (RFC 4647 lookup).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/status.h"

namespace flatcast {

// What a directive without a language tag is written in.
inline constexpr std::string_view kDefaultLanguage = "zh-CN";
inline constexpr size_t kMaxTranslations = 8;
inline constexpr size_t kMaxLanguageTagBytes = 64;

// Ok when `tag` is a well-formed BCP 47 language tag (RFC 5646 section 2.1:
// language, extlang, script, region, variants, extensions, private use, or
// one of the grandfathered tags), with no variant or extension singleton
// twice; otherwise InvalidArgument saying which subtag is wrong.
Status CheckLanguageTag(std::string_view tag);

// Two tags name the same language when they are equal ignoring case.
bool SameLanguage(std::string_view a, std::string_view b);

// The directive's text in one language: title, body and every action item's
// `what` (translated, or the directive's own when the translation has none).
struct DirectiveText {
  std::string language;
  std::string title;
  std::string body;
  std::vector<std::string> actions;  // one per Directive.actions, in order
};

// The directive's own text (its language, kDefaultLanguage if unset) first,
// then each translation in the order given.
std::vector<DirectiveText> DirectiveTexts(const v1::Directive& d);

// Which of `texts` a reader who prefers `preferred` (language ranges, most
// preferred first) is shown: for each range in turn, a text whose tag equals
// it or begins with it and "-", the range then shortened subtag by subtag
// ("zh-Hant-TW", "zh-Hant", "zh"); the first text (the directive's own) when
// none matches. `texts` must not be empty.
size_t PreferredText(const std::vector<DirectiveText>& texts,
                     const std::vector<std::string>& preferred);

// The translations of a directive as a publisher sends them: at most
// kMaxTranslations, each tag well formed and none the directive's own
// language or another translation's, titles and bodies within the
// directive's limits, action texts either none or one per action item.
Status CheckTranslations(const v1::Directive& d);

}  // namespace flatcast
