// A key file or unit key seed file: ParseKeyFile and ParseSeedFile on the
// input as text; and, with the input's
// first 32 bytes as a secret key, the property that a formatted key file
// parses back to the same key pair (no secret key needs to be in the corpus).
#include <cstddef>
#include <cstdint>

#include "flatcast/curve.h"
#include "flatcast/signing.h"
#include "fuzz_support.h"

using namespace flatcast;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = fuzz::AsView(data, size);
  (void)ParseKeyFile(input, "fuzz.key");
  Result<std::string> seed = ParseSeedFile(input, "fuzz.seed");
  if (seed.ok() && seed->size() != kKeyBytes) __builtin_trap();

  if (size < kKeyBytes + 1) return 0;
  KeyKind kind = (data[kKeyBytes] & 1) != 0 ? KeyKind::kCurve : KeyKind::kSigning;
  Result<KeyPair> pair = KeyPairFromSecret(kind, input.substr(0, kKeyBytes));
  if (!pair.ok()) __builtin_trap();
  for (bool with_secret : {false, true}) {
    Result<std::string> text = FormatKeyFile(*pair, with_secret);
    if (!text.ok()) __builtin_trap();
    Result<KeyFile> again = ParseKeyFile(*text, "formatted");
    if (!again.ok() || again->kind != kind || again->public_key != pair->public_key ||
        again->secret_key.has_value() != with_secret ||
        (with_secret && *again->secret_key != pair->secret_key)) {
      __builtin_trap();
    }
  }
  return 0;
}
