// The registered publishers file, through PublisherDirectory::Load (takes a path).
#include <cstddef>
#include <cstdint>

#include "flatcast/broker/publishers.h"
#include "fuzz_support.h"

using namespace flatcast;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::InputFile file(".toml");
  Result<broker::PublisherDirectory> dir =
      broker::PublisherDirectory::Load(file.Write(data, size), fuzz::SmallRegistry());
  if (dir.ok()) (void)dir->Find("guiyang-health");
  return 0;
}
