// ZeroMQ CURVE for the peers of a broker: the client's key pair and the
// broker's public key, applied to a socket; the unit keys of a terminal swarm
// derived from one seed; and the report of a failed handshake (docs/SECURITY.md,
// "Connections").
//
// Every function returns a Status or Result; none throws.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "flatcast/signing.h"
#include "flatcast/status.h"

namespace flatcast {

// What a client needs to open a CURVE connection to the broker (raw bytes,
// kKeyBytes each).
struct CurveClientKeys {
  std::string public_key;
  std::string secret_key;
  std::string server_public;  // the broker's public key
};

// Reads the client's secret CURVE key file and the broker's public key file
// (either may be a secret file; only its public key is used). Both empty: no
// CURVE (nullopt). Only one given: InvalidArgument naming the missing one.
// `key_flag` and `broker_flag` name the options in messages.
Result<std::optional<CurveClientKeys>> LoadCurveClientKeys(const std::string& key_file,
                                                           const std::string& broker_key_file,
                                                           std::string_view key_flag = "--curve-key",
                                                           std::string_view broker_flag =
                                                               "--broker-key");

// Makes `socket` a CURVE client with `keys`; call before connect().
Status ApplyCurveClient(zmq::socket_t& socket, const CurveClientKeys& keys);

// Makes `socket` a CURVE server with `secret_key` (raw); call before bind().
// Clients are authenticated by the ZAP handler of the socket's context.
Status ApplyCurveServer(zmq::socket_t& socket, std::string_view secret_key);

// ---- swarm unit keys ----
//
// A terminal swarm plays thousands of units, each with its own registered
// CURVE key. Rather than thousands of key files, each unit's key pair is
// derived from one secret seed: secret = BLAKE2b-256 keyed with the seed over
// kUnitKeyContext || unit code, public = X25519 base-point multiple of it.
// Anyone holding the seed holds every such key: a seed is for swarms and
// benchmarks, not for real terminals, which generate their own key
// (flatcast-keys generate --kind curve).
inline constexpr std::string_view kUnitKeyContext = "flatcast.v1.unit-curve-key\n";

// The CURVE key pair of `unit_code` under `seed` (kKeyBytes).
Result<KeyPair> DeriveUnitCurveKey(std::string_view seed, std::string_view unit_code);

// A seed file is TOML, like a key file:
//   kind = "unit-key-seed"
//   secret = "<40 Z85 chars>"
// written with mode 0600 and refused when group or others may access it.
// Writes a fresh random seed to `path`; an existing file is refused
// (AlreadyExists) unless `replace`.
Status WriteNewSeedFile(const std::string& path, bool replace);
// The 32-byte seed in a seed file's text; `source_name` prefixes messages.
Result<std::string> ParseSeedFile(std::string_view text, std::string_view source_name);
// The 32-byte seed in a seed file, which must be owner-only.
Result<std::string> ReadSeedFile(const std::string& path);

// ---- handshake failures ----

// Watches one socket's connection handshakes (zmq_socket_monitor over an
// inproc PAIR), so a client can say why it cannot talk to the broker instead
// of waiting in silence. Costs two descriptors: for single clients (the CLIs,
// the daemon), not for each terminal of a swarm.
class HandshakeMonitor {
 public:
  // Starts monitoring `watched`, which must outlive the monitor; `endpoint`
  // names the peer in messages.
  static Result<HandshakeMonitor> Attach(zmq::context_t& context, zmq::socket_t& watched,
                                         std::string endpoint);
  HandshakeMonitor(HandshakeMonitor&&) = default;
  HandshakeMonitor& operator=(HandshakeMonitor&&) = default;

  // The socket to poll for ZMQ_POLLIN alongside the watched one.
  zmq::socket_t& socket() { return monitor_; }

  struct Event {
    int event = 0;  // ZMQ_EVENT_HANDSHAKE_*
    int value = 0;  // for failures: ZMQ_PROTOCOL_ERROR_* or the ZAP status code
    std::string endpoint;
  };
  // Reads every pending event (for a server, which logs them).
  std::vector<Event> TakeEvents();

  // Reads every pending event. Returns the failure of the latest failed
  // handshake since the last call, if any, as PermissionDenied (the broker
  // refused the key, or the CURVE settings do not match); a handshake cut off
  // without detail is only counted (see incomplete_handshakes()).
  std::optional<Status> TakeFailure();

  // Handshakes that ended without a reason (the connection closed): what a
  // client sees when its --broker-key is not the broker's key.
  int incomplete_handshakes() const { return incomplete_; }
  // True once a handshake succeeded.
  bool succeeded() const { return succeeded_; }
  // For a client that got no answer: why, when every handshake was cut off
  // (`curve`: the client itself uses CURVE); empty otherwise.
  std::string ExplainSilence(bool curve) const;

 private:
  HandshakeMonitor(zmq::socket_t monitor, std::string endpoint)
      : monitor_(std::move(monitor)), endpoint_(std::move(endpoint)) {}

  zmq::socket_t monitor_;
  std::string endpoint_;
  int incomplete_ = 0;
  bool succeeded_ = false;
};

// The message for a handshake failure event (ZMQ_EVENT_HANDSHAKE_FAILED_*)
// with its value, talking to `endpoint`.
std::string DescribeHandshakeFailure(int event, int value, std::string_view endpoint);

}  // namespace flatcast
