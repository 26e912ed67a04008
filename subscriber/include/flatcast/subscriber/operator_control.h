// The terminal daemon's operator endpoint: `flatcast-subscriber confirm`,
// `ready` and `rate` send an OperatorRequest to the daemon running on a state
// directory, over ipc://<state_dir>/control (a REQ/REP pair of ZeroMQ
// sockets). The daemon records the acknowledgement or rating durably and
// sends it to the broker, now or when the broker is reachable again.
//
// Anyone who can open <state_dir>/control can act for the unit: keep the
// state directory owner-only (mode 0700).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "flatcast.pb.h"
#include "flatcast/status.h"

namespace flatcast::subscriber {

// "ipc://<state_dir>/control"; InvalidArgument when the path is too long for
// a Unix socket (107 bytes).
Result<std::string> ControlEndpoint(const std::string& state_dir);

// The daemon's side: a REP socket bound to the state directory's endpoint.
class OperatorEndpoint {
 public:
  static Result<OperatorEndpoint> Bind(zmq::context_t& context, const std::string& state_dir);
  OperatorEndpoint(OperatorEndpoint&&) = default;
  OperatorEndpoint& operator=(OperatorEndpoint&&) = default;

  zmq::socket_t& socket() { return socket_; }
  const std::string& endpoint() const { return endpoint_; }

  // The next request, if one is waiting. A request that does not decode is
  // answered with an Error at once and nullopt is returned.
  std::optional<v1::OperatorRequest> Take();
  // Answers the request taken last.
  void Answer(const v1::OperatorReply& reply);
  void Refuse(const Status& why);

 private:
  OperatorEndpoint(zmq::socket_t socket, std::string endpoint)
      : socket_(std::move(socket)), endpoint_(std::move(endpoint)) {}
  void Send(const std::string& bytes);

  zmq::socket_t socket_;
  std::string endpoint_;
};

class TerminalSession;
class InboxStore;

// What the daemon answers an operator request: CONFIRM, READY and RATE are
// recorded by the session (what it sends the broker is appended to `out`),
// STATUS says whether the broker is reachable and what is pending. An error
// says why the request is refused.
Result<v1::OperatorReply> AnswerOperator(const v1::OperatorRequest& request,
                                         TerminalSession& session, const InboxStore& inbox,
                                         std::vector<std::string>& out);

// The CLI's side: sends `request` to the daemon on `state_dir` and waits up
// to `timeout` for its reply. Unavailable, saying what to check, when no
// daemon answers; the daemon's refusal as a Status otherwise.
Result<v1::OperatorReply> CallDaemon(const std::string& state_dir,
                                     const v1::OperatorRequest& request,
                                     std::chrono::milliseconds timeout);

}  // namespace flatcast::subscriber
