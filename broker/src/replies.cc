#include "replies.h"

#include "flatcast/wire.h"

namespace flatcast::broker {

v1::ErrorCode ErrorCodeOf(const Status& status) {
  switch (status.code()) {
    case Status::Code::kNotFound: return v1::NOT_FOUND;
    case Status::Code::kInvalidArgument: return v1::INVALID;
    case Status::Code::kPermissionDenied: return v1::FORBIDDEN;
    case Status::Code::kNotRegistered: return v1::NOT_REGISTERED;
    case Status::Code::kTooLarge: return v1::TOO_LARGE;
    case Status::Code::kNoSpace: return v1::NO_SPACE;
    case Status::Code::kUnavailable: return v1::UNAVAILABLE;
    default: return v1::INTERNAL;
  }
}

v1::Envelope NewEnvelope(uint64_t correlation_id) {
  v1::Envelope env;
  env.set_protocol_version(wire::kProtocolVersion);
  env.set_correlation_id(correlation_id);
  return env;
}

Payload Encoded(const v1::Envelope& envelope) { return MakePayload(wire::Encode(envelope)); }

Payload ErrorReply(uint64_t correlation_id, v1::ErrorCode code, std::string_view message) {
  return MakePayload(wire::EncodeError(correlation_id, code, message));
}

Payload ErrorReply(uint64_t correlation_id, const Status& status) {
  return ErrorReply(correlation_id, ErrorCodeOf(status), status.message());
}

Payload ReceiptReply(uint64_t correlation_id, const v1::StoredDirective& stored, bool duplicate) {
  v1::Envelope env = NewEnvelope(correlation_id);
  auto* r = env.mutable_receipt();
  r->set_id(stored.directive().id());
  r->set_seq(stored.seq());
  r->set_addressed_units(stored.addressed_units());
  r->set_duplicate(duplicate);
  *r->mutable_sent() = stored.directive().sent();
  return Encoded(env);
}

Payload LifecycleReply(uint64_t correlation_id, const v1::PublicRecord& record) {
  v1::Envelope env = NewEnvelope(correlation_id);
  auto* reply = env.mutable_lifecycle_reply();
  reply->set_directive_id(record.directive_id());
  reply->set_version(record.latest_version());
  reply->set_seq(record.latest_seq());
  *reply->mutable_public_record() = record;
  return Encoded(env);
}

Payload WelcomeReply(uint64_t correlation_id, const Unit& unit, uint64_t head_seq,
                     std::chrono::milliseconds heartbeat_interval) {
  v1::Envelope env = NewEnvelope(correlation_id);
  auto* w = env.mutable_welcome();
  w->set_unit_code(unit.code);
  w->set_unit_name(unit.name);
  w->set_head_seq(head_seq);
  w->set_heartbeat_interval_ms(static_cast<uint32_t>(heartbeat_interval.count()));
  return Encoded(env);
}

Payload DeliverMessage(const v1::StoredDirective& stored) {
  v1::Envelope env = NewEnvelope();
  *env.mutable_deliver()->mutable_directive() = stored;
  return Encoded(env);
}

Payload HeartbeatMessage(uint64_t head_seq, uint32_t unacknowledged) {
  v1::Envelope env = NewEnvelope();
  auto* hb = env.mutable_heartbeat();
  hb->set_head_seq(head_seq);
  hb->set_unacknowledged(unacknowledged);
  return Encoded(env);
}

Payload OverdueMessage(v1::OverdueReport report) {
  v1::Envelope env = NewEnvelope();
  *env.mutable_overdue_report() = std::move(report);
  return Encoded(env);
}

}  // namespace flatcast::broker
