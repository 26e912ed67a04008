// A terminal's state.json (DirectoryInbox): the last seq, pending and
// confirmed acknowledgements, ratings and answers to return forms, the
// overdue report. What parses
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
  for (const auto& [key, answer] : state->state.pending_returns) {
    if (answer.seq() == 0 || key.first != answer.seq()) __builtin_trap();
  }
  for (const auto& [seq, confirmed] : state->state.returned) {
    if (seq == 0 || confirmed.answer.seq() != seq) __builtin_trap();
  }
  return 0;
}
