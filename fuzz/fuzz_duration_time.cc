// Durations and times as configs and command lines write them: ParseDuration
// and ParseTime, with the documented property that FormatDuration's output
// parses back to the same value.
#include <cstddef>
#include <cstdint>

#include "flatcast/duration.h"
#include "fuzz_support.h"

using namespace flatcast;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = fuzz::AsView(data, size);
  if (Result<std::chrono::milliseconds> d = ParseDuration(text); d.ok()) {
    Result<std::chrono::milliseconds> again = ParseDuration(FormatDuration(*d));
    if (!again.ok() || *again != *d) __builtin_trap();
  }
  if (Result<TimePoint> t = ParseTime(text); t.ok()) (void)FormatTime(*t);
  return 0;
}
