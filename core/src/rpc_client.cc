#include "flatcast/rpc_client.h"

#include <fmt/format.h>

#include <thread>
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
    case v1::NOT_LEADER:
    case v1::UNAVAILABLE:
      return Status::Unavailable(message);
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

std::vector<std::string> SplitEndpoints(const std::string& endpoints) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= endpoints.size()) {
    size_t comma = endpoints.find(',', start);
    if (comma == std::string::npos) comma = endpoints.size();
    if (comma > start) out.push_back(endpoints.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

struct RpcClient::Channel {
  zmq::socket_t socket;
  std::optional<HandshakeMonitor> monitor;
  std::string endpoint;
  Status setup_status;  // why the socket could not be set up, if it could not

  Channel(zmq::context_t& ctx, const std::string& to, const std::optional<CurveClientKeys>& curve)
      : endpoint(to) {
    try {
      socket = zmq::socket_t(ctx, zmq::socket_type::dealer);
      TuneClientSocket(socket);
      if (curve) {
        if (Status st = ApplyCurveClient(socket, *curve); !st.ok()) {
          setup_status = st;
          return;
        }
      }
      Result<HandshakeMonitor> attached = HandshakeMonitor::Attach(ctx, socket, endpoint);
      if (!attached.ok()) {
        setup_status = attached.status();
        return;
      }
      monitor.emplace(std::move(attached).value());
      socket.connect(endpoint);
    } catch (const zmq::error_t& e) {
      setup_status =
          Status::InvalidArgument(fmt::format("cannot connect to \"{}\": {}", endpoint, e.what()));
    }
  }
};

RpcClient::RpcClient(zmq::context_t& ctx, const std::string& endpoints,
                     const std::optional<CurveClientKeys>& curve)
    : ctx_(ctx), curve_(curve), endpoints_(SplitEndpoints(endpoints)) {
  if (endpoints_.empty()) endpoints_.push_back(endpoints);
  channels_.resize(endpoints_.size());
}

RpcClient::~RpcClient() = default;

const std::string& RpcClient::endpoint() const { return endpoints_[current_]; }

RpcClient::Channel& RpcClient::Current() {
  if (!channels_[current_]) {
    channels_[current_] = std::make_unique<Channel>(ctx_, endpoints_[current_], curve_);
  }
  return *channels_[current_];
}

Result<v1::Envelope> RpcClient::Call(v1::Envelope request, std::chrono::milliseconds timeout) {
  const uint64_t correlation_id = next_correlation_++;
  request.set_protocol_version(wire::kProtocolVersion);
  request.set_correlation_id(correlation_id);
  const Clock::time_point deadline = Clock::now() + timeout;
  std::string last_refusal;
  std::vector<std::string> refusals(endpoints_.size());  // each endpoint's last NOT_LEADER
  size_t hops = 0;
  auto gave_up = [&] {
    std::string why;
    for (size_t i = 0; i < endpoints_.size(); ++i) {
      if (refusals[i].empty()) continue;
      why += (why.empty() ? "" : "; ") + endpoints_[i] + " answered: " + refusals[i];
    }
    return Status::Unavailable(why);
  };
  for (;;) {
    Channel& channel = Current();
    if (!channel.setup_status.ok()) return channel.setup_status;
    Result<v1::Envelope> reply = CallOne(channel, request, correlation_id, deadline, timeout);
    if (reply.ok() && reply->has_error() && reply->error().code() == v1::NOT_LEADER) {
      // A standby's answer: go to the leader it names, or wait for one.
      last_refusal = reply->error().message();
      refusals[current_] = last_refusal;
      const std::string& leader = reply->error().leader_endpoint();
      size_t next = current_;
      for (size_t i = 0; i < endpoints_.size(); ++i) {
        if (!leader.empty() && endpoints_[i] == leader) next = i;
      }
      if (next == current_) {
        next = (current_ + 1) % endpoints_.size();
        if (Clock::now() + std::chrono::milliseconds(200) >= deadline) {
          return gave_up();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      // Each endpoint asked once without a leader answering: wait a moment
      // before the next round, so a pair in election is not asked in a loop.
      if (++hops % endpoints_.size() == 0 && next != current_) {
        if (Clock::now() + std::chrono::milliseconds(200) >= deadline) {
          return gave_up();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      current_ = next;
      continue;
    }
    if (!reply.ok()) {
      // Silence: the next call (a retry) asks the next broker.
      if (reply.status().code() == Status::Code::kUnavailable) {
        current_ = (current_ + 1) % endpoints_.size();
      }
      return reply.status();
    }
    if (reply->has_error()) return FromErrorReply(reply->error());
    return reply;
  }
}

Result<v1::Envelope> RpcClient::CallOne(Channel& channel, const v1::Envelope& request,
                                        uint64_t correlation_id, Clock::time_point deadline,
                                        std::chrono::milliseconds timeout) {
  const std::string bytes = wire::Encode(request);
  auto no_answer = [&] {
    std::string why = channel.monitor->ExplainSilence(curve_.has_value());
    if (!why.empty()) return Status::PermissionDenied(why);
    return Status::Unavailable(fmt::format("no answer from {} within {} ms — is the broker running?",
                                           channel.endpoint, timeout.count()));
  };
  zmq::socket_t& socket = channel.socket;
  HandshakeMonitor& monitor = *channel.monitor;
  try {
    // With ZMQ_IMMEDIATE a DEALER accepts a message only once a connection is
    // up, so waiting for POLLOUT is waiting for the broker to be reachable.
    while (true) {
      zmq::pollitem_t items[] = {{socket.handle(), 0, ZMQ_POLLOUT, 0},
                                 {monitor.socket().handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, Remaining(deadline));
      if (std::optional<Status> failed = monitor.TakeFailure()) return *failed;
      if (items[0].revents & ZMQ_POLLOUT) {
        if (socket.send(zmq::buffer(bytes), zmq::send_flags::dontwait)) break;
      }
      if (Clock::now() >= deadline) return no_answer();
    }

    while (true) {
      zmq::pollitem_t items[] = {{socket.handle(), 0, ZMQ_POLLIN, 0},
                                 {monitor.socket().handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, Remaining(deadline));
      if (std::optional<Status> failed = monitor.TakeFailure()) return *failed;
      if (!(items[0].revents & ZMQ_POLLIN)) {
        if (Clock::now() >= deadline) return no_answer();
        continue;
      }
      std::vector<zmq::message_t> frames;
      if (!zmq::recv_multipart(socket, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
        continue;
      }
      // The envelope is the last frame; a broker that answers REQ-style puts
      // an empty delimiter before it.
      if (frames.empty()) continue;
      const zmq::message_t& body = frames.back();
      Result<v1::Envelope> reply = wire::Decode(body.to_string_view(), kMaxReplyBytes);
      if (!reply.ok()) return reply.status().WithContext("reply from " + channel.endpoint);
      // A late answer to an earlier call that timed out.
      if (reply->correlation_id() != correlation_id) continue;
      return reply;
    }
  } catch (const zmq::error_t& e) {
    return FromZmqError(e, channel.endpoint);
  }
}

}  // namespace flatcast
