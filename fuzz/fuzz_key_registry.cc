// The key registry: KeyRegistry::Parse (the TOML form, and the binary form
// after its magic line), lookups, and the property that a registry saves and
// loads back unchanged in either form.
#include <cstddef>
#include <cstdint>

#include "flatcast/key_registry.h"
#include "fuzz_support.h"

using namespace flatcast;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Result<KeyRegistry> registry = KeyRegistry::Parse(fuzz::AsView(data, size), "fuzz.toml");
  if (!registry.ok()) return 0;
  for (const KeyRecord& r : registry->records()) {
    (void)registry->AdmitCurveKey(r.public_key);
    (void)registry->SigningKeyValidAt(r.key_id);
    (void)registry->SigningKeyValidAt(r.key_id, r.added);
    (void)registry->FindAll(r.name);
  }
  (void)registry->CheckSubjects(fuzz::SmallRegistry());
  Result<KeyRegistry> again = KeyRegistry::Parse(registry->Serialize(), "serialized");
  if (!again.ok() || again->records() != registry->records()) __builtin_trap();
  Result<KeyRegistry> binary =
      KeyRegistry::Parse(registry->Serialize(KeyFileFormat::kBinary), "serialized.bin");
  if (!binary.ok() || binary->records() != registry->records()) __builtin_trap();
  return 0;
}
