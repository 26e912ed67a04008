// What the broker core reads and writes instead of a socket. The transport
// (router_transport.h) turns ROUTER frames into Inbound messages and
// implements the Outbox; a test records what the core sent (RecordingOutbox
// in tests/support) and decides which peers are gone or full.
#pragma once

#include <memory>
#include <string>

namespace flatcast::broker {

// Encoded bytes, shared by every send of them: a directive fanned out to
// 19,571 units is one buffer that the transport hands to ZeroMQ without a copy.
using Payload = std::shared_ptr<const std::string>;
inline Payload MakePayload(std::string bytes) {
  return std::make_shared<const std::string>(std::move(bytes));
}

// One message a peer sent: its routing id and what came with it.
struct Inbound {
  std::string routing;
  std::string body;       // the body frame when there is exactly one
  size_t body_frames = 1;  // a peer must send exactly one
  // The key the connection was admitted with (ZAP User-Id, the key in Z85);
  // empty without CURVE.
  std::string user_id;
};

enum class SendOutcome {
  kSent,
  kGone,  // no connection with that routing id (the peer went away)
  kFull,  // the peer's send queue is full; nothing was queued
};

class Outbox {
 public:
  virtual ~Outbox() = default;
  // Queues `bytes` for the peer `routing` without blocking.
  virtual SendOutcome Send(const std::string& routing, const Payload& bytes) = 0;
};

}  // namespace flatcast::broker
