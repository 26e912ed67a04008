// Language tags as publishers, directive files and terminal configs write
// them: CheckLanguageTag, with the documented properties that an accepted
// tag is at most kMaxLanguageTagBytes of letters, digits and "-", and that
// a reader's preference always picks one of a directive's texts.
#include <cctype>
#include <cstddef>
#include <cstdint>

#include "flatcast/language.h"
#include "fuzz_support.h"

using namespace flatcast;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = fuzz::AsView(data, size);
  if (CheckLanguageTag(text).ok()) {
    if (text.size() > kMaxLanguageTagBytes) __builtin_trap();
    for (char c : text) {
      if (c != '-' && !std::isalnum(static_cast<unsigned char>(c))) __builtin_trap();
    }
  }
  std::vector<DirectiveText> texts(3);
  texts[0].language = "zh-CN";
  texts[1].language = "en-GB";
  texts[2].language = std::string(text.substr(0, 80));
  if (PreferredText(texts, {std::string(text), "zh-Hant-TW"}) >= texts.size()) __builtin_trap();
  return 0;
}
