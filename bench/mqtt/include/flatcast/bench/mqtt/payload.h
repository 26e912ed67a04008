// The benchmark's message formats.
//
// Directive (publisher -> every unit, topic e.g. "directive/52"):
//   "FCD1 <directive-id> <publish-us>\n" then '.' filler up to the body size.
// Ack (unit -> collector, topic "ack/<unit-code>"):
//   "FCA1 <directive-id> <unit-code> <received-us>"
// Times are CLOCK_REALTIME microseconds; ids and codes contain no whitespace.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flatcast::bench::mqtt {

struct DirectiveHeader {
  std::string id;
  int64_t publish_us = 0;
};

// A directive id is 1 to 64 printable characters without whitespace.
bool ValidDirectiveId(std::string_view id);

// The payload is exactly max(total_bytes, header size) bytes long.
std::string EncodeDirective(const DirectiveHeader& header, size_t total_bytes);
std::optional<DirectiveHeader> DecodeDirective(std::string_view payload);

struct Ack {
  std::string directive_id;
  std::string unit_code;
  int64_t received_us = 0;
};

std::string EncodeAck(const Ack& ack);
std::optional<Ack> DecodeAck(std::string_view payload);

}  // namespace flatcast::bench::mqtt
