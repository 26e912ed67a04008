// A request/reply client for the broker's ROUTER endpoint, used by the
// publisher and audit CLIs: one DEALER, one request at a time, a deadline.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "flatcast.pb.h"
#include "flatcast/curve.h"
#include "flatcast/status.h"

namespace flatcast {

class RpcClient {
 public:
  // Connects (lazily, as ZeroMQ does) to `endpoint`, e.g. "tcp://127.0.0.1:7700",
  // over CURVE when `curve` is set. Does not throw: a malformed endpoint or
  // unusable keys are reported by every Call().
  RpcClient(zmq::context_t& ctx, const std::string& endpoint,
            const std::optional<CurveClientKeys>& curve = std::nullopt);

  // Sends the request and waits up to `timeout` for the reply with the same
  // correlation id. An Error reply becomes a Status carrying its message;
  // no reply in time is Unavailable. Sets the request's protocol_version and
  // correlation_id. Replies to earlier, timed-out calls are skipped. A
  // handshake the broker refused (an unknown or revoked key, CURVE on one
  // side only) fails at once with PermissionDenied saying so.
  Result<v1::Envelope> Call(v1::Envelope request, std::chrono::milliseconds timeout);

 private:
  zmq::socket_t socket_;
  std::optional<HandshakeMonitor> monitor_;
  bool curve_ = false;
  std::string endpoint_;
  Status setup_status_;  // why the socket could not be set up, if it could not
  uint64_t next_correlation_ = 1;
};

}  // namespace flatcast
