// A directive file in TOML, through LoadDirectiveFile (the file-level API).
#include <cstddef>
#include <cstdint>

#include "exercise.h"

using namespace flatcast;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::InputFile file(".toml");
  Result<v1::Directive> d = LoadDirectiveFile(file.Write(data, size));
  if (!d.ok()) return 0;
  fuzz::ExerciseSubmittedDirective(*d);
  return 0;
}
