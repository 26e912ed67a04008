// A key registry of city size with a hostile fragment inside: 2,000 unit
// keys (derived from a fixed seed) written as TOML once, the input spliced
// in at a line boundary its first bytes choose, then KeyRegistry::Parse and
// an admission lookup of every key. Slow per input, like fuzz_registry_large.
#include <cstddef>
#include <cstdint>

#include "flatcast/curve.h"
#include "flatcast/duration.h"
#include "flatcast/key_registry.h"
#include "fuzz_support.h"

using namespace flatcast;

namespace {

const std::string& Base() {
  static const std::string text = [] {
    KeyRegistry keys;
    const std::string seed(32, '\x5a');
    const TimePoint added = ParseTime("2026-11-28T08:00:00Z").value();
    for (int i = 1; i <= 2000; ++i) {
      // 520102 0ss ccc: streets 000-002, communities 000-999 below each
      const std::string unit = "520102" + std::to_string(1000 + i / 1000).substr(1) +
                               std::to_string(1000 + i % 1000).substr(1);
      Result<KeyPair> key = DeriveUnitCurveKey(seed, unit);
      if (!key.ok()) std::abort();
      if (!keys.Register(unit, KeyRole::kUnit, unit, key->public_key, std::nullopt, added).ok()) {
        std::abort();
      }
    }
    return keys.Serialize();
  }();
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<std::string> text = fuzz::SpliceAtLine(Base(), data, size);
  if (!text) return 0;
  Result<KeyRegistry> registry = KeyRegistry::Parse(*text, "large.toml");
  if (!registry.ok()) return 0;
  for (const KeyRecord& r : registry->records()) (void)registry->AdmitCurveKey(r.public_key);
  return 0;
}
