// A DEALER peer that speaks flatcast envelopes to a broker, for tests.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "flatcast/curve.h"
#include "flatcast/wire.h"

namespace flatcast::testing {

class Peer {
 public:
  // Connects over CURVE when `curve` is set.
  Peer(zmq::context_t& ctx, const std::string& endpoint,
       const std::optional<CurveClientKeys>& curve = std::nullopt)
      : socket_(ctx, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    if (curve) (void)ApplyCurveClient(socket_, *curve);
    socket_.connect(endpoint);
  }
  void SendRaw(const std::string& bytes) { socket_.send(zmq::buffer(bytes)); }
  void Send(v1::Envelope env) {
    env.set_protocol_version(wire::kProtocolVersion);
    SendRaw(wire::Encode(env));
  }
  // Next envelope, or one with no body after `timeout`.
  v1::Envelope Receive(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    zmq::pollitem_t items[] = {{socket_.handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 1, timeout);
    if (!(items[0].revents & ZMQ_POLLIN)) return {};
    zmq::message_t m;
    (void)socket_.recv(m);
    auto env = wire::Decode(std::string_view(m.data<char>(), m.size()));
    return env.ok() ? env.value() : v1::Envelope();
  }
  // Sends and returns the next reply that is not a delivery or heartbeat.
  v1::Envelope Call(v1::Envelope env) {
    Send(std::move(env));
    for (int i = 0; i < 64; ++i) {
      v1::Envelope reply = Receive();
      if (!reply.has_deliver() && !reply.has_heartbeat()) return reply;
    }
    return {};
  }

 private:
  zmq::socket_t socket_;
};

}  // namespace flatcast::testing
