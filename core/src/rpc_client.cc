#include "flatcast/rpc_client.h"

#include <fmt/format.h>

#include <vector>
#include <zmq_addon.hpp>

#include "flatcast/wire.h"
#include "flatcast/zmq_tuning.h"

namespace flatcast {

namespace {

using Clock = std::chrono::steady_clock;

// The broker is trusted to answer sensibly; this bound only keeps a confused
// peer from making the client buffer without end. Coverage replies listing
// many missing units are the largest messages.
constexpr size_t kMaxReplyBytes = 64 * wire::kDefaultMaxMessageBytes;

Status FromErrorReply(const v1::Error& error) {
  const std::string& message = error.message();
  switch (error.code()) {
    case v1::MALFORMED:
    case v1::UNSUPPORTED:
    case v1::INVALID:
      return Status::InvalidArgument(message);
    case v1::NOT_FOUND:
      return Status::NotFound(message);
    case v1::TOO_LARGE:
      return Status::TooLarge(message);
    case v1::NOT_REGISTERED:
    case v1::FORBIDDEN:
      return Status::PermissionDenied(message);
    case v1::NO_SPACE:
      return Status::NoSpace(message);
    case v1::INTERNAL:
    default:
      return Status::Internal(message);
  }
}

Status FromZmqError(const zmq::error_t& e, const std::string& endpoint) {
  if (e.num() == ETERM) return Status::Unavailable("the ZeroMQ context was shut down");
  if (e.num() == EINTR) return Status::Unavailable("interrupted by a signal");
  return Status::IOError(fmt::format("ZeroMQ error talking to {}: {}", endpoint, e.what()));
}

// Milliseconds from now until `deadline`, at least 0, rounded up so that a
// poll does not return just before the deadline and spin.
std::chrono::milliseconds Remaining(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? left : std::chrono::milliseconds(0);
}

}  // namespace

RpcClient::RpcClient(zmq::context_t& ctx, const std::string& endpoint,
                     const std::optional<CurveClientKeys>& curve)
    : endpoint_(endpoint) {
  try {
    socket_ = zmq::socket_t(ctx, zmq::socket_type::dealer);
    TuneClientSocket(socket_);
    curve_ = curve.has_value();
    if (curve) {
      if (Status st = ApplyCurveClient(socket_, *curve); !st.ok()) {
        setup_status_ = st;
        return;
      }
    }
    Result<HandshakeMonitor> monitor = HandshakeMonitor::Attach(ctx, socket_, endpoint);
    if (!monitor.ok()) {
      setup_status_ = monitor.status();
      return;
    }
    monitor_.emplace(std::move(monitor).value());
    socket_.connect(endpoint);
  } catch (const zmq::error_t& e) {
    setup_status_ =
        Status::InvalidArgument(fmt::format("cannot connect to \"{}\": {}", endpoint, e.what()));
  }
}

Result<v1::Envelope> RpcClient::Call(v1::Envelope request, std::chrono::milliseconds timeout) {
  if (!setup_status_.ok()) return setup_status_;
  const uint64_t correlation_id = next_correlation_++;
  request.set_protocol_version(wire::kProtocolVersion);
  request.set_correlation_id(correlation_id);
  const std::string bytes = wire::Encode(request);
  const Clock::time_point deadline = Clock::now() + timeout;
  auto no_answer = [&] {
    std::string why = monitor_->ExplainSilence(curve_);
    if (!why.empty()) return Status::PermissionDenied(why);
    return Status::Unavailable(fmt::format("no answer from {} within {} ms — is the broker running?",
                                           endpoint_, timeout.count()));
  };

  try {
    // With ZMQ_IMMEDIATE a DEALER accepts a message only once a connection is
    // up, so waiting for POLLOUT is waiting for the broker to be reachable.
    while (true) {
      zmq::pollitem_t items[] = {{socket_.handle(), 0, ZMQ_POLLOUT, 0},
                                 {monitor_->socket().handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, Remaining(deadline));
      if (std::optional<Status> failed = monitor_->TakeFailure()) return *failed;
      if (items[0].revents & ZMQ_POLLOUT) {
        if (socket_.send(zmq::buffer(bytes), zmq::send_flags::dontwait)) break;
      }
      if (Clock::now() >= deadline) return no_answer();
    }

    while (true) {
      zmq::pollitem_t items[] = {{socket_.handle(), 0, ZMQ_POLLIN, 0},
                                 {monitor_->socket().handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, Remaining(deadline));
      if (std::optional<Status> failed = monitor_->TakeFailure()) return *failed;
      if (!(items[0].revents & ZMQ_POLLIN)) {
        if (Clock::now() >= deadline) return no_answer();
        continue;
      }
      std::vector<zmq::message_t> frames;
      if (!zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
        continue;
      }
      // The envelope is the last frame; a broker that answers REQ-style puts
      // an empty delimiter before it.
      if (frames.empty()) continue;
      const zmq::message_t& body = frames.back();
      Result<v1::Envelope> reply = wire::Decode(body.to_string_view(), kMaxReplyBytes);
      if (!reply.ok()) return reply.status().WithContext("reply from " + endpoint_);
      // A late answer to an earlier call that timed out.
      if (reply->correlation_id() != correlation_id) continue;
      if (reply->has_error()) return FromErrorReply(reply->error());
      return reply;
    }
  } catch (const zmq::error_t& e) {
    return FromZmqError(e, endpoint_);
  }
}

}  // namespace flatcast
