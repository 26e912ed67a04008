// The broker's one transport: the ROUTER socket every publisher, auditor and
// terminal connects to (one connection per peer), its options, CURVE with
// the handshake monitor, and every zmq::error_t of it. It turns frames into
// Inbound messages for the core and implements the core's Outbox.
// Owned by the broker's event loop.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "flatcast/broker/outbox.h"
#include "flatcast/curve.h"
#include "flatcast/log_throttle.h"
#include "flatcast/status.h"

namespace flatcast::broker {

struct TransportOptions {
  std::string endpoint;
  size_t max_message_bytes = 1 << 20;
  int send_hwm = 256;
  // Set: the socket is a CURVE server with this secret key, admitting what
  // the context's ZAP handler admits.
  std::optional<std::string> curve_secret_key;
};

class RouterTransport final : public Outbox {
 public:
  // Makes the socket with its options, not yet bound.
  static Result<std::unique_ptr<RouterTransport>> Open(zmq::context_t& context,
                                                       const TransportOptions& options);
  // Binds options.endpoint, which may name port "*" (the kernel picks one).
  Status Bind();
  // The endpoint bound, with the port chosen.
  const std::string& endpoint() const { return endpoint_; }

  // Waits up to `timeout` for a message, or for `wake_fd` or `wake_fd2`
  // (-1: none) to be readable. True when a message waits. Handshake failures seen meanwhile
  // are logged, each kind at most once a minute.
  Result<bool> Wait(std::chrono::milliseconds timeout, int wake_fd, int wake_fd2 = -1,
                    int wake_fd3 = -1);
  // Reads up to `max` waiting messages into `out`, which is resized to
  // their number (its strings are reused).
  Status Receive(std::vector<Inbound>& out, size_t max);

  SendOutcome Send(const std::string& routing, const Payload& bytes) override;

 private:
  RouterTransport(zmq::context_t& context) : socket_(context, zmq::socket_type::router) {}
  void LogHandshakeFailures();
  // A message that shares `bytes` with every other send of the same payload.
  zmq::message_t Body(const Payload& bytes);

  zmq::socket_t socket_;
  TransportOptions options_;
  std::string endpoint_;
  bool curve_ = false;
  std::optional<HandshakeMonitor> handshakes_;
  LogThrottle handshake_log_{std::chrono::minutes(1)};
  std::vector<zmq::message_t> frames_;
  Payload last_payload_;
  zmq::message_t last_body_;
};

}  // namespace flatcast::broker
