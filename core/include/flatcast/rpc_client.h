// A request/reply client for the broker's ROUTER endpoint, used by the
// publisher and audit CLIs: one DEALER per broker, one request at a time, a
// deadline. Given both brokers of a pair (docs/HA.md), it asks the one that
// answered last; a standby's NOT_LEADER answer sends it to the leader the
// answer names, and silence to the next endpoint on the following call.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "flatcast.pb.h"
#include "flatcast/curve.h"
#include "flatcast/status.h"

namespace flatcast {

class RpcClient {
 public:
  // Connects (lazily, as ZeroMQ does) to `endpoints`, e.g.
  // "tcp://127.0.0.1:7700" or, for a pair, "tcp://a:7700,tcp://b:7700",
  // over CURVE when `curve` is set. Does not throw: a malformed endpoint or
  // unusable keys are reported by every Call().
  RpcClient(zmq::context_t& ctx, const std::string& endpoints,
            const std::optional<CurveClientKeys>& curve = std::nullopt);
  ~RpcClient();

  // Sends the request and waits up to `timeout` for the reply with the same
  // correlation id. An Error reply becomes a Status carrying its message;
  // no reply in time is Unavailable. Sets the request's protocol_version and
  // correlation_id. Replies to earlier, timed-out calls are skipped. A
  // handshake the broker refused (an unknown or revoked key, CURVE on one
  // side only) fails at once with PermissionDenied saying so. NOT_LEADER
  // answers are followed within the deadline; while the pair has no leader,
  // the call waits for one until the deadline (then Unavailable).
  Result<v1::Envelope> Call(v1::Envelope request, std::chrono::milliseconds timeout);

  // The endpoint the next call goes to.
  const std::string& endpoint() const;

 private:
  struct Channel;
  Channel& Current();
  Result<v1::Envelope> CallOne(Channel& channel, const v1::Envelope& request,
                               uint64_t correlation_id,
                               std::chrono::steady_clock::time_point deadline,
                               std::chrono::milliseconds timeout);

  zmq::context_t& ctx_;
  std::optional<CurveClientKeys> curve_;
  std::vector<std::string> endpoints_;
  std::vector<std::unique_ptr<Channel>> channels_;  // created when first used
  size_t current_ = 0;
  uint64_t next_correlation_ = 1;
};

// "a,b,c" split at commas, empty parts dropped.
std::vector<std::string> SplitEndpoints(const std::string& endpoints);

}  // namespace flatcast
