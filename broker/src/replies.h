// The envelopes the broker sends, built in one place, and the one mapping
// from a Status to the error code a peer is told.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "flatcast.pb.h"
#include "flatcast/broker/outbox.h"
#include "flatcast/registry.h"
#include "flatcast/status.h"

namespace flatcast::broker {

namespace v1 = ::flatcast::v1;

// NotFound -> NOT_FOUND, InvalidArgument -> INVALID, PermissionDenied ->
// FORBIDDEN, NotRegistered -> NOT_REGISTERED, TooLarge -> TOO_LARGE; every
// failure of the broker itself (storage, unavailable, internal) -> INTERNAL.
v1::ErrorCode ErrorCodeOf(const Status& status);

// An Error answering `correlation_id`.
Payload ErrorReply(uint64_t correlation_id, v1::ErrorCode code, std::string_view message);
Payload ErrorReply(uint64_t correlation_id, const Status& status);

Payload ReceiptReply(uint64_t correlation_id, const v1::StoredDirective& stored, bool duplicate);
Payload LifecycleReply(uint64_t correlation_id, const v1::PublicRecord& record);
Payload WelcomeReply(uint64_t correlation_id, const Unit& unit, uint64_t head_seq,
                     std::chrono::milliseconds heartbeat_interval);
// Deliver of a stored version, encoded once for every unit it goes to.
Payload DeliverMessage(const v1::StoredDirective& stored);
Payload HeartbeatMessage(uint64_t head_seq, uint32_t unacknowledged);
Payload OverdueMessage(v1::OverdueReport report);
// An Envelope of this protocol version carrying nothing yet.
v1::Envelope NewEnvelope(uint64_t correlation_id = 0);
Payload Encoded(const v1::Envelope& envelope);

}  // namespace flatcast::broker
