// The broker's ZAP handler (ZeroMQ RFC 27): admits a CURVE connection only
// when the client's public key is an active CURVE key of the key registry,
// and names the connection by that key, so the broker can attribute each
// message to the key's holder (User-Id metadata = the key in Z85).
//
// It answers libzmq on inproc://zeromq.zap.01 from a thread of its own, so a
// storm of handshakes does not wait for the broker's loop, and reads an
// immutable registry snapshot that the loop replaces after each reload.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include <zmq.hpp>

#include "flatcast/broker/metrics.h"
#include "flatcast/clock.h"
#include "flatcast/key_registry.h"
#include "flatcast/log_throttle.h"
#include "flatcast/status.h"

namespace flatcast::broker {

// What a ZAP handler decides for one request, apart from the socket: status
// code ("200", "400" or "500"), status text and the user id.
struct ZapDecision {
  std::string status_code;
  std::string status_text;
  std::string user_id;  // the key in Z85 when admitted
  // Why a refusal, in one word for a metric's label: "mechanism",
  // "malformed", "unknown_key", "revoked_key", "wrong_role".
  std::string reason;
};

// The ZAP domain of a broker pair's replication endpoint: it admits only a
// key with the broker role (the key the pair shares).
inline constexpr char kReplicationZapDomain[] = "flatcast-replication";

// Decides a ZAP request for `mechanism` with `credentials` (for CURVE, the
// client's 32-byte public key) against `keys`, for a socket of ZAP `domain`.
ZapDecision DecideZap(const KeyRegistry& keys, std::string_view mechanism,
                      std::string_view credentials, std::string_view domain = "");

class ZapHandler {
 public:
  // Binds the ZAP endpoint in `context` and starts serving. Fails when the
  // endpoint cannot be bound (another handler in the same context).
  // `metrics` (may be null) counts the refusals by reason.
  static Result<std::unique_ptr<ZapHandler>> Start(zmq::context_t& context,
                                                   std::shared_ptr<const KeyRegistry> keys,
                                                   BrokerMetrics* metrics = nullptr);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  // Handshakes from now on are decided against `keys`.
  void Update(std::shared_ptr<const KeyRegistry> keys);

  uint64_t admitted() const { return admitted_.load(); }
  uint64_t refused() const { return refused_.load(); }

 private:
  ZapHandler(zmq::context_t& context, std::shared_ptr<const KeyRegistry> keys,
             BrokerMetrics* metrics)
      : context_(context), keys_(std::move(keys)), metrics_(metrics) {}
  void Serve(zmq::socket_t& socket);
  // Handles one request read from `socket`.
  void Answer(zmq::socket_t& socket);
  // Logs a refusal at most once a minute per key and reason.
  void LogRefusal(const std::string& address, const std::string& key, const std::string& reason);

  zmq::context_t& context_;
  std::mutex mutex_;
  std::shared_ptr<const KeyRegistry> keys_;  // guarded by mutex_
  BrokerMetrics* metrics_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> admitted_{0};
  std::atomic<uint64_t> refused_{0};
  LogThrottle refusal_log_{std::chrono::minutes(1)};  // serving thread only
  std::thread thread_;
};

}  // namespace flatcast::broker
