// The broker's TOML configuration, through LoadBrokerConfig (takes a path).
#include <cstddef>
#include <cstdint>

#include "flatcast/broker/config.h"
#include "fuzz_support.h"

using namespace flatcast;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::InputFile file(".toml");
  Result<broker::BrokerConfig> config = broker::LoadBrokerConfig(file.Write(data, size));
  if (config.ok() && !broker::ValidateBrokerConfig(*config).ok()) __builtin_trap();
  return 0;
}
