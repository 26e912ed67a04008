// The envelope codec: every ZeroMQ message body in flatcast is one
// flatcast.v1.Envelope (docs/PROTOCOL.md). This is the one place where
// protobuf parse failures become Status values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "flatcast.pb.h"
#include "flatcast/status.h"

namespace flatcast::wire {

namespace v1 = ::flatcast::v1;

inline constexpr uint32_t kProtocolVersion = 1;
// Default application limit on one message body; brokers make it configurable.
inline constexpr size_t kDefaultMaxMessageBytes = 1 << 20;

// Decodes one message body. Refuses bodies over `max_bytes`, bytes that are
// not an Envelope, an unknown protocol version and an envelope with no body,
// each with a message that says which.
Result<v1::Envelope> Decode(std::string_view bytes, size_t max_bytes = kDefaultMaxMessageBytes);

std::string Encode(const v1::Envelope& envelope);

// An encoded Error envelope answering `correlation_id`.
std::string EncodeError(uint64_t correlation_id, v1::ErrorCode code, std::string_view message);

// Name of the envelope's body ("hello", "publish", ...), for logs and errors.
std::string_view BodyName(const v1::Envelope& envelope);
std::string_view BodyName(v1::Envelope::BodyCase body);

}  // namespace flatcast::wire
