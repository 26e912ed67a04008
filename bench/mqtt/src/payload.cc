#include "flatcast/bench/mqtt/payload.h"

#include <charconv>
#include <vector>

namespace flatcast::bench::mqtt {

namespace {

constexpr std::string_view kDirectiveMagic = "FCD1";
constexpr std::string_view kAckMagic = "FCA1";

// Splits on single spaces; at most `max_fields` fields.
std::vector<std::string_view> Fields(std::string_view text, size_t max_fields) {
  std::vector<std::string_view> fields;
  while (!text.empty() && fields.size() < max_fields) {
    size_t space = text.find(' ');
    fields.push_back(text.substr(0, space));
    if (space == std::string_view::npos) break;
    text.remove_prefix(space + 1);
  }
  return fields;
}

std::optional<int64_t> ParseInt(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

bool ValidDirectiveId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

std::string EncodeDirective(const DirectiveHeader& header, size_t total_bytes) {
  std::string payload;
  payload.reserve(total_bytes);
  payload.append(kDirectiveMagic).append(" ").append(header.id).append(" ");
  payload.append(std::to_string(header.publish_us)).append("\n");
  if (payload.size() < total_bytes) payload.append(total_bytes - payload.size(), '.');
  return payload;
}

std::optional<DirectiveHeader> DecodeDirective(std::string_view payload) {
  std::string_view line = payload.substr(0, payload.find('\n'));
  if (line.size() == payload.size()) return std::nullopt;  // no header line
  auto fields = Fields(line, 4);
  if (fields.size() != 3 || fields[0] != kDirectiveMagic || !ValidDirectiveId(fields[1])) {
    return std::nullopt;
  }
  auto publish_us = ParseInt(fields[2]);
  if (!publish_us) return std::nullopt;
  return DirectiveHeader{std::string(fields[1]), *publish_us};
}

std::string EncodeAck(const Ack& ack) {
  std::string payload(kAckMagic);
  payload.append(" ").append(ack.directive_id).append(" ").append(ack.unit_code).append(" ");
  payload.append(std::to_string(ack.received_us));
  return payload;
}

std::optional<Ack> DecodeAck(std::string_view payload) {
  auto fields = Fields(payload, 5);
  if (fields.size() != 4 || fields[0] != kAckMagic || !ValidDirectiveId(fields[1]) ||
      fields[2].empty()) {
    return std::nullopt;
  }
  auto received_us = ParseInt(fields[3]);
  if (!received_us) return std::nullopt;
  return Ack{std::string(fields[1]), std::string(fields[2]), *received_us};
}

}  // namespace flatcast::bench::mqtt
