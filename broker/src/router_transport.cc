#include "router_transport.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <zmq_addon.hpp>

namespace flatcast::broker {

Result<std::unique_ptr<RouterTransport>> RouterTransport::Open(zmq::context_t& context,
                                                               const TransportOptions& options) {
  std::unique_ptr<RouterTransport> t(new RouterTransport(context));
  t->options_ = options;
  zmq::socket_t& socket = t->socket_;
  if (options.curve_secret_key) {
    FLATCAST_RETURN_IF_ERROR(ApplyCurveServer(socket, *options.curve_secret_key));
    auto monitor = HandshakeMonitor::Attach(context, socket, "");
    if (!monitor.ok()) return monitor.status();
    t->handshakes_.emplace(std::move(monitor).value());
    t->curve_ = true;
  }
  try {
    socket.set(zmq::sockopt::router_mandatory, 1);
    socket.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options.max_message_bytes) * 4);
    socket.set(zmq::sockopt::backlog, 4096);
    socket.set(zmq::sockopt::sndhwm, options.send_hwm);
    socket.set(zmq::sockopt::rcvhwm, 100000);
    socket.set(zmq::sockopt::linger, 1000);
    // Dead terminals are found by TCP keepalive, not ZMTP heartbeats: libzmq
    // 4.3.4 keeps heartbeat timers in one list that it walks on every
    // cancellation, which stalls the I/O thread at ~20,000 connections.
    socket.set(zmq::sockopt::tcp_keepalive, 1);
    socket.set(zmq::sockopt::tcp_keepalive_idle, 60);
    socket.set(zmq::sockopt::tcp_keepalive_intvl, 10);
    socket.set(zmq::sockopt::tcp_keepalive_cnt, 3);
    socket.set(zmq::sockopt::handshake_ivl, 120000);
  } catch (const zmq::error_t& e) {
    return Status::IOError(std::string("cannot set up the broker's socket: ") + e.what());
  }
  return t;
}

Status RouterTransport::Bind() {
  try {
    socket_.bind(options_.endpoint);
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::IOError("cannot bind " + options_.endpoint + ": " + e.what());
  }
  return Status::Ok();
}

Result<bool> RouterTransport::Wait(std::chrono::milliseconds timeout, int wake_fd, int wake_fd2,
                                   int wake_fd3) {
  zmq::pollitem_t items[5] = {{socket_.handle(), 0, ZMQ_POLLIN, 0}};
  int n = 1;
  int monitor_item = -1;
  if (handshakes_) {
    monitor_item = n;
    items[n++] = {handshakes_->socket().handle(), 0, ZMQ_POLLIN, 0};
  }
  if (wake_fd >= 0) items[n++] = {nullptr, wake_fd, ZMQ_POLLIN, 0};
  if (wake_fd2 >= 0) items[n++] = {nullptr, wake_fd2, ZMQ_POLLIN, 0};
  if (wake_fd3 >= 0) items[n++] = {nullptr, wake_fd3, ZMQ_POLLIN, 0};
  try {
    zmq::poll(items, n, timeout);
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return false;
    return Status::IOError(std::string("poll: ") + e.what());
  }
  if (monitor_item >= 0 && (items[monitor_item].revents & ZMQ_POLLIN)) LogHandshakeFailures();
  return (items[0].revents & ZMQ_POLLIN) != 0;
}

Status RouterTransport::Receive(std::vector<Inbound>& out, size_t max) {
  size_t count = 0;
  for (; count < max; ++count) {
    frames_.clear();
    zmq::recv_result_t got;
    try {
      got = zmq::recv_multipart(socket_, std::back_inserter(frames_), zmq::recv_flags::dontwait);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) break;
      out.resize(count);
      return Status::IOError(std::string("receive: ") + e.what());
    }
    if (!got || frames_.empty()) break;
    if (out.size() <= count) out.emplace_back();
    Inbound& in = out[count];
    in.routing.assign(frames_[0].data<char>(), frames_[0].size());
    in.body_frames = frames_.size() - 1;
    in.body.clear();
    in.user_id.clear();
    if (frames_.size() == 2) {
      in.body.assign(frames_[1].data<char>(), frames_[1].size());
      if (curve_) {
        const char* user_id = zmq_msg_gets(frames_[1].handle(), "User-Id");
        if (user_id != nullptr) in.user_id = user_id;
      }
    }
  }
  out.resize(count);
  return Status::Ok();
}

zmq::message_t RouterTransport::Body(const Payload& bytes) {
  if (bytes != last_payload_) {
    // ZeroMQ frees the buffer through this when the last copy is sent.
    auto* keep = new Payload(bytes);
    last_body_ = zmq::message_t(
        const_cast<char*>(bytes->data()), bytes->size(),
        [](void*, void* hint) { delete static_cast<Payload*>(hint); }, keep);
    last_payload_ = bytes;
  }
  zmq::message_t body;
  body.copy(last_body_);  // shares the buffer: no copy per peer
  return body;
}

SendOutcome RouterTransport::Send(const std::string& routing, const Payload& bytes) {
  try {
    zmq::message_t id(routing.data(), routing.size());
    if (!socket_.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return SendOutcome::kFull;
    }
    socket_.send(Body(bytes), zmq::send_flags::dontwait);
    return SendOutcome::kSent;
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH) return SendOutcome::kGone;
    spdlog::error("send failed: {}", e.what());
    return SendOutcome::kFull;
  }
}

void RouterTransport::LogHandshakeFailures() {
  const TimePoint now = std::chrono::system_clock::now();
  for (const HandshakeMonitor::Event& e : handshakes_->TakeEvents()) {
    if (e.event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED || e.event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
      continue;  // ZAP refusals are logged by the ZAP handler
    }
    auto held = handshake_log_.Admit(fmt::format("{}/{}", e.event, e.value), now);
    if (!held) continue;
    std::string why =
        e.event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
            ? "the client closed the connection (one without CURVE closes it so)"
        : e.value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
            ? "the client does not use CURVE"
        : e.value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC
            ? "the client's HELLO did not decrypt (it uses another broker key)"
            : fmt::format("ZMTP protocol error 0x{:x}", static_cast<unsigned>(e.value));
    spdlog::warn("refused a connection during the CURVE handshake: {} ({} more such since the "
                 "last report)",
                 why, *held);
  }
}

}  // namespace flatcast::broker
