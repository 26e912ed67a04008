#include "flatcast/wire.h"

#include <fmt/format.h>

#include <climits>

namespace flatcast::wire {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if there is none.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  auto continuation = [&](size_t k) { return k < s.size() && (byte(k) & 0xC0) == 0x80; };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return continuation(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!continuation(i + 1) || !continuation(i + 2)) return 0;
    unsigned char c1 = byte(i + 1);
    if (c == 0xE0 && c1 < 0xA0) return 0;  // overlong
    if (c == 0xED && c1 > 0x9F) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!continuation(i + 1) || !continuation(i + 2) || !continuation(i + 3)) return 0;
    unsigned char c1 = byte(i + 1);
    if (c == 0xF0 && c1 < 0x90) return 0;  // overlong
    if (c == 0xF4 && c1 > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// proto3 string fields must hold UTF-8, or the receiver's parser refuses the
// whole envelope. Error messages may quote bytes a peer sent, so invalid
// sequences are replaced with '?' rather than trusted.
std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out.push_back('?');
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace

Result<v1::Envelope> Decode(std::string_view bytes, size_t max_bytes) {
  // The size is checked before parsing so that an oversized body costs nothing.
  if (bytes.size() > max_bytes) {
    return Status::TooLarge(
        fmt::format("message of {} bytes exceeds the limit of {} bytes", bytes.size(), max_bytes));
  }
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return Status::TooLarge(
        fmt::format("message of {} bytes is larger than protobuf can parse", bytes.size()));
  }
  v1::Envelope envelope;
  if (!envelope.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::Corruption(
        fmt::format("not a flatcast envelope ({} bytes that do not parse)", bytes.size()));
  }
  if (envelope.protocol_version() != kProtocolVersion) {
    return Status::InvalidArgument(
        fmt::format("protocol version {} is not supported (this build speaks version {})",
                    envelope.protocol_version(), kProtocolVersion));
  }
  if (envelope.body_case() == v1::Envelope::BODY_NOT_SET) {
    return Status::InvalidArgument("envelope has no body (unknown message type?)");
  }
  return envelope;
}

std::string Encode(const v1::Envelope& envelope) { return envelope.SerializeAsString(); }

std::string EncodeError(uint64_t correlation_id, v1::ErrorCode code, std::string_view message) {
  v1::Envelope envelope;
  envelope.set_protocol_version(kProtocolVersion);
  envelope.set_correlation_id(correlation_id);
  v1::Error* error = envelope.mutable_error();
  error->set_code(code);
  error->set_message(ValidUtf8(message));
  return Encode(envelope);
}

std::string_view BodyName(const v1::Envelope& envelope) { return BodyName(envelope.body_case()); }

std::string_view BodyName(v1::Envelope::BodyCase body) {
  switch (body) {
    case v1::Envelope::kHello:
      return "hello";
    case v1::Envelope::kWelcome:
      return "welcome";
    case v1::Envelope::kDeliver:
      return "deliver";
    case v1::Envelope::kAck:
      return "ack";
    case v1::Envelope::kAckConfirm:
      return "ack_confirm";
    case v1::Envelope::kHeartbeat:
      return "heartbeat";
    case v1::Envelope::kLifecycle:
      return "lifecycle";
    case v1::Envelope::kLifecycleReply:
      return "lifecycle_reply";
    case v1::Envelope::kEventsQuery:
      return "events_query";
    case v1::Envelope::kEventsReply:
      return "events_reply";
    case v1::Envelope::kPublish:
      return "publish";
    case v1::Envelope::kReceipt:
      return "receipt";
    case v1::Envelope::kCoverageQuery:
      return "coverage_query";
    case v1::Envelope::kCoverageReply:
      return "coverage_reply";
    case v1::Envelope::kAuditRequest:
      return "audit_request";
    case v1::Envelope::kAuditReply:
      return "audit_reply";
    case v1::Envelope::kRating:
      return "rating";
    case v1::Envelope::kRatingConfirm:
      return "rating_confirm";
    case v1::Envelope::kOverdueReport:
      return "overdue_report";
    case v1::Envelope::kReturnAnswer:
      return "return_answer";
    case v1::Envelope::kReturnConfirm:
      return "return_confirm";
    case v1::Envelope::kConfirmations:
      return "confirmations";
    case v1::Envelope::kOperatorRequest:
      return "operator_request";
    case v1::Envelope::kOperatorReply:
      return "operator_reply";
    case v1::Envelope::kClusterQuery:
      return "cluster_query";
    case v1::Envelope::kClusterReply:
      return "cluster_reply";
    case v1::Envelope::kRelayHello:
      return "relay_hello";
    case v1::Envelope::kRelayWelcome:
      return "relay_welcome";
    case v1::Envelope::kRelayDeliver:
      return "relay_deliver";
    case v1::Envelope::kRelayStored:
      return "relay_stored";
    case v1::Envelope::kRelayAcks:
      return "relay_acks";
    case v1::Envelope::kRelayAcksStored:
      return "relay_acks_stored";
    case v1::Envelope::kPublicHello:
      return "public_hello";
    case v1::Envelope::kPublicWelcome:
      return "public_welcome";
    case v1::Envelope::kPublicBatch:
      return "public_batch";
    case v1::Envelope::kPublicStored:
      return "public_stored";
    case v1::Envelope::kAttachmentPut:
      return "attachment_put";
    case v1::Envelope::kAttachmentStored:
      return "attachment_stored";
    case v1::Envelope::kAttachmentGet:
      return "attachment_get";
    case v1::Envelope::kAttachmentChunk:
      return "attachment_chunk";
    case v1::Envelope::kError:
      return "error";
    case v1::Envelope::BODY_NOT_SET:
      return "none";
  }
  return "unknown";
}

}  // namespace flatcast::wire
