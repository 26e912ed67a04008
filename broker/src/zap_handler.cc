#include "flatcast/broker/zap_handler.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <future>
#include <vector>
#include <zmq_addon.hpp>

namespace flatcast::broker {

namespace {

constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";
constexpr auto kStopCheck = std::chrono::milliseconds(100);

}  // namespace

ZapDecision DecideZap(const KeyRegistry& keys, std::string_view mechanism,
                      std::string_view credentials, std::string_view domain) {
  if (mechanism != "CURVE") {
    return {"400", fmt::format("mechanism {} refused: this broker admits CURVE only", mechanism),
            "", "mechanism"};
  }
  if (credentials.size() != kKeyBytes) {
    return {"400", "malformed CURVE credentials", "", "malformed"};
  }
  Result<KeyRecord> record = keys.AdmitCurveKey(credentials);
  if (!record.ok()) {
    return {"400", record.status().message(), "",
            keys.FindCurveKey(credentials) == nullptr ? "unknown_key" : "revoked_key"};
  }
  if (domain == kReplicationZapDomain && record->role != KeyRole::kBroker) {
    return {"400",
            fmt::format("the replication endpoint admits only the broker key; {} ({}) is a {} key",
                        record->name, record->key_id, KeyRoleName(record->role)),
            "", "wrong_role"};
  }
  return {"200", "OK", Z85Encode(credentials).value(), ""};
}

Result<std::unique_ptr<ZapHandler>> ZapHandler::Start(zmq::context_t& context,
                                                      std::shared_ptr<const KeyRegistry> keys,
                                                      BrokerMetrics* metrics) {
  std::unique_ptr<ZapHandler> handler(new ZapHandler(context, std::move(keys), metrics));
  std::promise<Status> bound;
  std::future<Status> bound_result = bound.get_future();
  ZapHandler* self = handler.get();
  handler->thread_ = std::thread([self, &bound] {
    // The socket lives and dies on this thread.
    zmq::socket_t socket;
    try {
      socket = zmq::socket_t(self->context_, zmq::socket_type::rep);
      socket.set(zmq::sockopt::linger, 0);
      socket.bind(kZapEndpoint);
    } catch (const zmq::error_t& e) {
      bound.set_value(Status::IOError(fmt::format("ZAP handler: cannot bind {}: {}", kZapEndpoint, e.what())));
      return;
    }
    bound.set_value(Status::Ok());
    self->Serve(socket);
  });
  Status st = bound_result.get();
  if (!st.ok()) {
    handler->thread_.join();
    return st;
  }
  return handler;
}

ZapHandler::~ZapHandler() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ZapHandler::Update(std::shared_ptr<const KeyRegistry> keys) {
  std::lock_guard<std::mutex> lock(mutex_);
  keys_ = std::move(keys);
}

void ZapHandler::Serve(zmq::socket_t& socket) {
  while (!stop_.load()) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, kStopCheck);
      if (item.revents & ZMQ_POLLIN) Answer(socket);
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      if (e.num() != EINTR) spdlog::error("ZAP handler: {}", e.what());
    }
  }
}

void ZapHandler::Answer(zmq::socket_t& socket) {
  // Request (RFC 27): version, request id, domain, address, routing id,
  // mechanism, credentials...
  std::vector<zmq::message_t> request;
  if (!zmq::recv_multipart(socket, std::back_inserter(request), zmq::recv_flags::dontwait)) return;
  auto frame = [&](size_t i) {
    return i < request.size() ? request[i].to_string() : std::string();
  };
  ZapDecision decision;
  if (request.size() < 6 || frame(0) != "1.0") {
    decision = {"500", "malformed ZAP request", "", "malformed"};
  } else {
    std::shared_ptr<const KeyRegistry> keys;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      keys = keys_;
    }
    decision = DecideZap(*keys, frame(5), frame(6), frame(2));
  }
  if (decision.status_code == "200") {
    ++admitted_;
  } else {
    ++refused_;
    if (metrics_ != nullptr) metrics_->HandshakeRefused(decision.reason);
    std::string key = request.size() > 6 && request[6].size() == kKeyBytes
                          ? Z85Encode(request[6].to_string_view()).value()
                          : std::string("(no key)");
    LogRefusal(frame(3), key, decision.status_text);
  }
  const std::string request_id = frame(1);
  std::vector<zmq::const_buffer> reply = {zmq::str_buffer("1.0"),
                                          zmq::buffer(request_id),
                                          zmq::buffer(decision.status_code),
                                          zmq::buffer(decision.status_text),
                                          zmq::buffer(decision.user_id),
                                          zmq::const_buffer()};
  zmq::send_multipart(socket, reply);
}

void ZapHandler::LogRefusal(const std::string& address, const std::string& key,
                            const std::string& reason) {
  if (!refusal_log_.Admit(key + "\n" + reason, SystemClock::Instance().Now())) return;
  spdlog::warn("refused connection from {}: {} (logged at most once a minute per key)", address,
               reason);
}

}  // namespace flatcast::broker
