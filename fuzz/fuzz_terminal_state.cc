// A terminal's state.json (DirectoryInbox): the last seq, pending and
// confirmed acknowledgements and ratings, the overdue report. What parses
// must survive being written and read again unchanged.
#include <cstddef>
#include <cstdint>

#include "flatcast/subscriber/directory_inbox.h"
#include "fuzz_support.h"

using namespace flatcast;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  Result<subscriber::TerminalState> state = subscriber::ParseTerminalState(text, "state.json");
  if (!state.ok()) return 0;
  for (const auto& [key, ack] : state->state.pending_acks) {
    if (ack.level < v1::RECEIVED || ack.level > v1::READY) __builtin_trap();
  }
  for (const auto& [key, rating] : state->state.pending_ratings) {
    if (rating.clarity > 5 || rating.feasibility > 5) __builtin_trap();
  }
  return 0;
}
