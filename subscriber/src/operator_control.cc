#include "flatcast/subscriber/operator_control.h"

#include <fmt/format.h>

#include <filesystem>

#include "flatcast/return_form.h"
#include "flatcast/wire.h"
#include "flatcast/subscriber/inbox.h"
#include "flatcast/subscriber/terminal_session.h"

namespace flatcast::subscriber {

namespace {

constexpr size_t kMaxUnixPath = 107;
constexpr size_t kMaxRequestBytes = 64 * 1024;

std::string Encode(v1::Envelope env) {
  env.set_protocol_version(wire::kProtocolVersion);
  return wire::Encode(env);
}

}  // namespace

Result<std::string> ControlEndpoint(const std::string& state_dir) {
  std::string path = (std::filesystem::path(state_dir) / "control").string();
  if (path.size() > kMaxUnixPath) {
    return Status::InvalidArgument(fmt::format(
        "the operator endpoint {} is longer than a Unix socket path may be ({} bytes); use a "
        "shorter state directory",
        path, kMaxUnixPath));
  }
  return "ipc://" + path;
}

Result<OperatorEndpoint> OperatorEndpoint::Bind(zmq::context_t& context,
                                                const std::string& state_dir) {
  Result<std::string> endpoint = ControlEndpoint(state_dir);
  if (!endpoint.ok()) return endpoint.status();
  try {
    zmq::socket_t socket(context, zmq::socket_type::rep);
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(kMaxRequestBytes));
    // The daemon holds the state directory's lock, so a socket file left
    // there is a stale one; libzmq replaces it.
    socket.bind(*endpoint);
    return OperatorEndpoint(std::move(socket), *endpoint);
  } catch (const zmq::error_t& e) {
    return Status::IOError(fmt::format("cannot bind the operator endpoint {}: {}", *endpoint, e.what()));
  }
}

void OperatorEndpoint::Send(const std::string& bytes) {
  try {
    (void)socket_.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
    // The operator's CLI gave up; its next request starts afresh.
  }
}

std::optional<v1::OperatorRequest> OperatorEndpoint::Take() {
  zmq::message_t message;
  try {
    if (!socket_.recv(message, zmq::recv_flags::dontwait)) return std::nullopt;
  } catch (const zmq::error_t&) {
    return std::nullopt;
  }
  Result<v1::Envelope> env = wire::Decode(message.to_string_view(), kMaxRequestBytes);
  if (!env.ok()) {
    Refuse(env.status());
    return std::nullopt;
  }
  if (!env->has_operator_request()) {
    Refuse(Status::InvalidArgument(
        fmt::format("the operator endpoint takes operator requests, not {}", wire::BodyName(*env))));
    return std::nullopt;
  }
  return env->operator_request();
}

void OperatorEndpoint::Answer(const v1::OperatorReply& reply) {
  v1::Envelope env;
  *env.mutable_operator_reply() = reply;
  Send(Encode(env));
}

void OperatorEndpoint::Refuse(const Status& why) {
  v1::ErrorCode code = why.code() == Status::Code::kNotFound ? v1::NOT_FOUND : v1::INVALID;
  Send(wire::EncodeError(0, code, why.message()));
}

Result<v1::OperatorReply> CallDaemon(const std::string& state_dir,
                                     const v1::OperatorRequest& request,
                                     std::chrono::milliseconds timeout) {
  Result<std::string> endpoint = ControlEndpoint(state_dir);
  if (!endpoint.ok()) return endpoint.status();
  std::error_code ec;
  std::string path = endpoint->substr(6);
  auto no_daemon = [&] {
    return Status::Unavailable(fmt::format(
        "no terminal daemon answers on {}: is `flatcast-subscriber run` running with state "
        "directory {}?",
        *endpoint, state_dir));
  };
  if (!std::filesystem::exists(path, ec)) return no_daemon();
  try {
    zmq::context_t context(1);
    zmq::socket_t socket(context, zmq::socket_type::req);
    socket.set(zmq::sockopt::linger, 0);
    socket.connect(*endpoint);
    v1::Envelope env;
    *env.mutable_operator_request() = request;
    std::string bytes = Encode(env);
    (void)socket.send(zmq::buffer(bytes), zmq::send_flags::none);
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    // A signal (a child's exit in the daemon) interrupts the wait: wait on
    // for the rest of the time rather than report a failure the daemon may
    // not have had.
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      try {
        zmq::poll(&item, 1, std::max(left, std::chrono::milliseconds(0)));
        break;
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR || left <= std::chrono::milliseconds(0)) throw;
      }
    }
    if (!(item.revents & ZMQ_POLLIN)) return no_daemon();
    zmq::message_t message;
    if (!socket.recv(message, zmq::recv_flags::dontwait)) return no_daemon();
    Result<v1::Envelope> reply = wire::Decode(message.to_string_view());
    if (!reply.ok()) return reply.status().WithContext("reply from the daemon");
    if (reply->has_error()) {
      return reply->error().code() == v1::NOT_FOUND ? Status::NotFound(reply->error().message())
                                                    : Status::InvalidArgument(reply->error().message());
    }
    if (!reply->has_operator_reply()) {
      return Status::InvalidArgument("the daemon answered with something other than a reply");
    }
    return reply->operator_reply();
  } catch (const zmq::error_t& e) {
    return Status::IOError(fmt::format("talking to the daemon on {}: {}", *endpoint, e.what()));
  }
}

Result<v1::OperatorReply> AnswerOperator(const v1::OperatorRequest& request,
                                         TerminalSession& session, const InboxStore& inbox,
                                         std::vector<std::string>& out) {
  v1::OperatorReply reply;
  reply.set_connected(session.welcomed());
  auto pending = [&] {
    return static_cast<uint32_t>(inbox.pending_ack_count() + inbox.PendingRatings().size() +
                                 inbox.PendingReturns().size());
  };
  Result<OperatorOutcome> outcome = Status::InvalidArgument("unknown operator action");
  switch (request.action()) {
    case v1::OperatorRequest::CONFIRM:
      outcome = session.Acknowledge(request.directive_id(), v1::CONFIRMED, "", out);
      break;
    case v1::OperatorRequest::READY:
      outcome = session.Acknowledge(request.directive_id(), v1::READY, request.note(), out);
      break;
    case v1::OperatorRequest::RATE:
      outcome = session.Rate(request.directive_id(), request.clarity(), request.feasibility(),
                             request.comment(), out);
      break;
    case v1::OperatorRequest::RETURN: {
      std::optional<InboxEntry> entry = inbox.Latest(request.directive_id());
      if (!entry) {
        outcome = Status::NotFound(
            fmt::format("no directive {} in this terminal's inbox", request.directive_id()));
        break;
      }
      if (!entry->form) {
        outcome = Status::InvalidArgument(fmt::format("directive {} version {} has no return form",
                                                      entry->id, entry->version));
        break;
      }
      google::protobuf::RepeatedPtrField<v1::FieldValue> values;
      Status parsed = Status::Ok();
      for (const std::string& field : request.fields()) {
        Result<v1::FieldValue> value = ParseFieldAssignment(*entry->form, field);
        if (!value.ok()) {
          parsed = value.status();
          break;
        }
        *values.Add() = std::move(value).value();
      }
      outcome = parsed.ok() ? session.Return(request.directive_id(), std::move(values), out)
                            : Result<OperatorOutcome>(parsed);
      break;
    }
    case v1::OperatorRequest::STATUS:
      reply.set_pending(pending());
      reply.set_storage_error(session.storage_error());
      reply.set_message(fmt::format(
          "unit {}: {}, {} directives stored{}", session.unit_code(),
          session.welcomed() ? "connected to the broker" : "not connected to the broker",
          inbox.size(),
          reply.storage_error().empty()
              ? ""
              : "; CANNOT STORE directives " + reply.storage_error() +
                    " (they are not acknowledged; the broker sends them again once there is room)"));
      return reply;
    default:
      break;
  }
  if (!outcome.ok()) return outcome.status();
  reply.set_directive_id(outcome->directive.id);
  reply.set_version(outcome->directive.version);
  reply.set_seq(outcome->directive.seq);
  reply.set_pending(pending());
  reply.set_message(fmt::format(
      "{} for {} v{}; {}", outcome->what, outcome->directive.id, outcome->directive.version,
      out.empty() ? (session.welcomed() ? "nothing new to send"
                                        : "the broker is not reachable now: it is sent when it "
                                          "is back")
                  : "sent to the broker, which confirms it once it is stored"));
  return reply;
}

}  // namespace flatcast::subscriber
