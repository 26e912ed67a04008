// A registry file: Registry::Parse, then the lookups addressing uses.
#include <cstddef>
#include <cstdint>

#include "flatcast/registry.h"
#include "fuzz_support.h"

using namespace flatcast;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = fuzz::AsView(data, size);
  Result<Registry> registry = Registry::Parse(text, "fuzz.tsv");
  if (!registry.ok()) return 0;
  (void)registry->CountByTier();
  for (const Unit& unit : registry->units()) {
    auto [first, last] = registry->SubtreeRange(unit.code);
    if (first >= last || registry->unit(first).code != unit.code) __builtin_trap();
    if (unit.parent != Registry::kNone &&
        !Registry::IsWithin(unit.code, registry->unit(unit.parent).code)) {
      __builtin_trap();
    }
    for (size_t cut = 0; cut <= unit.code.size(); ++cut) {
      (void)registry->SubtreeRange(std::string_view(unit.code).substr(0, cut));
      (void)registry->Find(std::string_view(unit.code).substr(0, cut));
    }
  }
  return 0;
}
