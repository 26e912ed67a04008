#include "flatcast/language.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>

#include <fmt/format.h>

#include "flatcast/directive.h"

namespace flatcast {

namespace {

bool AllOf(std::string_view s, int (*pred)(int)) {
  return std::all_of(s.begin(), s.end(), [pred](char c) { return pred(static_cast<unsigned char>(c)) != 0; });
}
bool Alpha(std::string_view s) { return AllOf(s, isalpha); }
bool Digits(std::string_view s) { return AllOf(s, isdigit); }
bool Alnum(std::string_view s) { return AllOf(s, isalnum); }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// RFC 5646 section 2.2.8: tags from RFC 3066 that the grammar does not
// cover, kept as they are.
constexpr std::array<std::string_view, 26> kGrandfathered = {
    "en-gb-oed",  "i-ami",      "i-bnn",     "i-default", "i-enochian", "i-hak",     "i-klingon",
    "i-lux",      "i-mingo",    "i-navajo",  "i-pwn",     "i-tao",      "i-tay",     "i-tsu",
    "sgn-be-fr",  "sgn-be-nl",  "sgn-ch-de", "art-lojban", "cel-gaulish", "no-bok",   "no-nyn",
    "zh-guoyu",   "zh-hakka",   "zh-min",    "zh-min-nan", "zh-xiang"};

std::vector<std::string_view> Subtags(std::string_view tag) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t dash = tag.find('-', start);
    parts.push_back(tag.substr(start, dash == std::string_view::npos ? dash : dash - start));
    if (dash == std::string_view::npos) break;
    start = dash + 1;
  }
  return parts;
}

Status Bad(std::string_view tag, std::string_view why) {
  return Status::InvalidArgument(
      fmt::format("language tag \"{}\" is not BCP 47: {}", tag.substr(0, kMaxLanguageTagBytes), why));
}

// "x-..." private use: each subtag 1-8 letters or digits.
bool PrivateUse(const std::vector<std::string_view>& parts, size_t i) {
  if (i + 1 >= parts.size()) return false;
  for (size_t j = i + 1; j < parts.size(); ++j) {
    if (parts[j].empty() || parts[j].size() > 8 || !Alnum(parts[j])) return false;
  }
  return true;
}

bool IsVariant(std::string_view s) {
  if (!Alnum(s)) return false;
  if (s.size() >= 5 && s.size() <= 8) return true;
  return s.size() == 4 && std::isdigit(static_cast<unsigned char>(s[0]));
}

}  // namespace

Status CheckLanguageTag(std::string_view tag) {
  if (tag.empty()) return Status::InvalidArgument("language tag is empty");
  if (tag.size() > kMaxLanguageTagBytes) {
    return Bad(tag, fmt::format("{} bytes; the limit is {}", tag.size(), kMaxLanguageTagBytes));
  }
  for (char c : tag) {
    if (c != '-' && !std::isalnum(static_cast<unsigned char>(c))) {
      return Bad(tag, "only letters A-Z, digits and \"-\" may appear");
    }
  }
  const std::string lower = Lower(tag);
  if (std::find(kGrandfathered.begin(), kGrandfathered.end(), lower) != kGrandfathered.end()) {
    return Status::Ok();
  }
  const std::vector<std::string_view> parts = Subtags(tag);
  for (std::string_view p : parts) {
    if (p.empty()) return Bad(tag, "an empty subtag (\"--\", or \"-\" at an end)");
    if (p.size() > 8) return Bad(tag, fmt::format("subtag \"{}\" is longer than 8 characters", p));
  }
  size_t i = 0;
  if (Lower(parts[0]) == "x") {
    return PrivateUse(parts, 0) ? Status::Ok() : Bad(tag, "a private-use tag needs subtags of 1-8 letters or digits");
  }
  // language: 2-3 letters (with up to three extlangs of 3 letters), or 4-8 letters.
  if (!Alpha(parts[0]) || parts[0].size() < 2) {
    return Bad(tag, fmt::format("it must begin with a language subtag of 2-8 letters, not \"{}\"", parts[0]));
  }
  const bool short_language = parts[0].size() <= 3;
  ++i;
  for (int extlangs = 0; short_language && extlangs < 3 && i < parts.size() &&
                         parts[i].size() == 3 && Alpha(parts[i]);
       ++extlangs) {
    ++i;
  }
  if (i < parts.size() && parts[i].size() == 4 && Alpha(parts[i])) ++i;  // script
  if (i < parts.size() && ((parts[i].size() == 2 && Alpha(parts[i])) ||
                           (parts[i].size() == 3 && Digits(parts[i])))) {
    ++i;  // region
  }
  std::set<std::string> variants;
  while (i < parts.size() && IsVariant(parts[i])) {
    if (!variants.insert(Lower(parts[i])).second) {
      return Bad(tag, fmt::format("variant \"{}\" appears twice", parts[i]));
    }
    ++i;
  }
  std::set<char> singletons;
  while (i < parts.size() && parts[i].size() == 1 && Lower(parts[i]) != "x") {
    const char singleton = Lower(parts[i])[0];
    if (!singletons.insert(singleton).second) {
      return Bad(tag, fmt::format("extension \"{}\" appears twice", parts[i]));
    }
    ++i;
    size_t values = 0;
    while (i < parts.size() && parts[i].size() >= 2 && Alnum(parts[i])) {
      ++values;
      ++i;
    }
    if (values == 0) return Bad(tag, fmt::format("extension \"{}\" has no subtag of 2-8 characters", singleton));
  }
  if (i < parts.size() && Lower(parts[i]) == "x") {
    return PrivateUse(parts, i) ? Status::Ok() : Bad(tag, "a private-use part needs subtags of 1-8 letters or digits");
  }
  if (i < parts.size()) {
    return Bad(tag, fmt::format("subtag \"{}\" is out of place (language-script-region-variant-extension-x-private)",
                                parts[i]));
  }
  return Status::Ok();
}

bool SameLanguage(std::string_view a, std::string_view b) { return Lower(a) == Lower(b); }

std::vector<DirectiveText> DirectiveTexts(const v1::Directive& d) {
  std::vector<DirectiveText> texts;
  DirectiveText own;
  own.language = d.language().empty() ? std::string(kDefaultLanguage) : d.language();
  own.title = d.title();
  own.body = d.body();
  for (const auto& a : d.actions()) own.actions.push_back(a.what());
  texts.push_back(own);
  for (const auto& t : d.translations()) {
    DirectiveText text;
    text.language = t.language();
    text.title = t.title();
    text.body = t.body();
    text.actions = own.actions;
    for (int i = 0; i < t.actions_size() && i < static_cast<int>(text.actions.size()); ++i) {
      text.actions[i] = t.actions(i);
    }
    texts.push_back(std::move(text));
  }
  return texts;
}

size_t PreferredText(const std::vector<DirectiveText>& texts, const std::vector<std::string>& preferred) {
  for (const std::string& wanted : preferred) {
    std::string range = Lower(wanted);
    while (!range.empty()) {
      for (size_t i = 0; i < texts.size(); ++i) {
        const std::string tag = Lower(texts[i].language);
        if (tag == range || tag.rfind(range + "-", 0) == 0) return i;
      }
      size_t dash = range.rfind('-');
      range = dash == std::string::npos ? std::string() : range.substr(0, dash);
    }
  }
  return 0;
}

Status CheckTranslations(const v1::Directive& d) {
  const std::string own = d.language().empty() ? std::string(kDefaultLanguage) : d.language();
  if (!d.language().empty()) {
    Status st = CheckLanguageTag(d.language());
    if (!st.ok()) return st.WithContext("language");
  }
  if (static_cast<size_t>(d.translations_size()) > kMaxTranslations) {
    return Status::InvalidArgument(fmt::format("{} translations; the limit is {}",
                                               d.translations_size(), kMaxTranslations));
  }
  std::vector<std::string> seen = {own};
  for (int i = 0; i < d.translations_size(); ++i) {
    const v1::Translation& t = d.translations(i);
    const std::string where = fmt::format("translation {}", i + 1);
    Status st = CheckLanguageTag(t.language());
    if (!st.ok()) return st.WithContext(where);
    for (const std::string& other : seen) {
      if (SameLanguage(other, t.language())) {
        return Status::InvalidArgument(fmt::format(
            "{}: {} is there already (the directive's own language is {})", where, t.language(), own));
      }
    }
    seen.push_back(t.language());
    const std::string named = fmt::format("{} ({})", where, t.language());
    if (std::all_of(t.title().begin(), t.title().end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); })) {
      return Status::InvalidArgument(named + ": title is empty");
    }
    if (t.title().size() > kMaxTitleBytes) {
      return Status::InvalidArgument(fmt::format("{}: title is {} bytes; the limit is {}", named,
                                                 t.title().size(), kMaxTitleBytes));
    }
    if (t.body().size() > kMaxBodyBytes) {
      return Status::InvalidArgument(fmt::format("{}: body is {} bytes; the limit is {}", named,
                                                 t.body().size(), kMaxBodyBytes));
    }
    if (t.actions_size() != 0 && t.actions_size() != d.actions_size()) {
      return Status::InvalidArgument(fmt::format(
          "{}: {} action texts for {} action items (give one per action item, or none)", named,
          t.actions_size(), d.actions_size()));
    }
    for (int a = 0; a < t.actions_size(); ++a) {
      const std::string& what = t.actions(a);
      if (std::all_of(what.begin(), what.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); })) {
        return Status::InvalidArgument(fmt::format("{}: action text {} is empty", named, a + 1));
      }
    }
  }
  return Status::Ok();
}

}  // namespace flatcast
