// A directive file or inbox entry in JSON: DirectiveFromJson, then what the
// publisher and broker do with it.
#include <cstddef>
#include <cstdint>

#include "exercise.h"

using namespace flatcast;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Result<v1::Directive> d = DirectiveFromJson(fuzz::AsView(data, size));
  if (!d.ok()) return 0;
  fuzz::ExerciseSubmittedDirective(*d);
  v1::StoredDirective stored;
  *stored.mutable_directive() = *d;
  fuzz::ExerciseStoredDirective(stored);
  return 0;
}
