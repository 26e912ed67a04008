// A province-sized registry file with a hostile fragment inside: the
// committed Guizhou registry (19,572 units) with the input spliced in at a
// line boundary the input's first bytes choose, then Registry::Parse and the
// subtree lookups of every unit. Slow per input (the whole file is parsed):
// it reaches what size alone can break, not millions of executions.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>

#include "flatcast/registry.h"
#include "fuzz_support.h"

using namespace flatcast;

namespace {

const std::string& Base() {
  static const std::string text = [] {
    std::ifstream in(std::string(FLATCAST_SOURCE_DIR) + "/configs/registry/guizhou-52.tsv");
    std::ostringstream s;
    s << in.rdbuf();
    if (s.str().empty()) std::abort();
    return s.str();
  }();
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<std::string> text = fuzz::SpliceAtLine(Base(), data, size);
  if (!text) return 0;
  Result<Registry> registry = Registry::Parse(*text, "large.tsv");
  if (!registry.ok()) return 0;
  for (const Unit& unit : registry->units()) {
    auto [first, last] = registry->SubtreeRange(unit.code);
    if (first >= last || registry->unit(first).code != unit.code) __builtin_trap();
  }
  return 0;
}
