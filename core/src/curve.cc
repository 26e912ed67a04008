#include "flatcast/curve.h"

#include "flatcast/file_util.h"

#include <fmt/format.h>
#include <sodium.h>
#include <toml++/toml.h>
#include <zmq.h>

#include <atomic>
#include <cstring>
#include <filesystem>

namespace flatcast {

namespace {

constexpr std::string_view kSeedKind = "unit-key-seed";

Status FromZmq(const zmq::error_t& e, std::string_view what) {
  return Status::Internal(fmt::format("{}: {}", what, e.what()));
}

}  // namespace

Result<std::optional<CurveClientKeys>> LoadCurveClientKeys(const std::string& key_file,
                                                           const std::string& broker_key_file,
                                                           std::string_view key_flag,
                                                           std::string_view broker_flag) {
  if (key_file.empty() && broker_key_file.empty()) return std::optional<CurveClientKeys>();
  if (key_file.empty() || broker_key_file.empty()) {
    return Status::InvalidArgument(fmt::format(
        "a CURVE connection needs both {} (this client's secret CURVE key file) and {} (the "
        "broker's public key file); {} is missing",
        key_flag, broker_flag, key_file.empty() ? key_flag : broker_flag));
  }
  Result<KeyPair> own = ReadKeyPair(key_file, KeyKind::kCurve);
  if (!own.ok()) return own.status();
  Result<std::string> server = ReadPublicKey(broker_key_file, KeyKind::kCurve);
  if (!server.ok()) return server.status();
  return std::optional<CurveClientKeys>(
      CurveClientKeys{own->public_key, own->secret_key, std::move(server).value()});
}

Status ApplyCurveClient(zmq::socket_t& socket, const CurveClientKeys& keys) {
  if (keys.public_key.size() != kKeyBytes || keys.secret_key.size() != kKeyBytes ||
      keys.server_public.size() != kKeyBytes) {
    return Status::InvalidArgument("CURVE keys must be 32 bytes each");
  }
  try {
    socket.set(zmq::sockopt::curve_serverkey, zmq::buffer(keys.server_public));
    socket.set(zmq::sockopt::curve_publickey, zmq::buffer(keys.public_key));
    socket.set(zmq::sockopt::curve_secretkey, zmq::buffer(keys.secret_key));
  } catch (const zmq::error_t& e) {
    return FromZmq(e, "setting the CURVE client keys");
  }
  return Status::Ok();
}

Status ApplyCurveServer(zmq::socket_t& socket, std::string_view secret_key) {
  if (secret_key.size() != kKeyBytes) return Status::InvalidArgument("a CURVE key must be 32 bytes");
  try {
    socket.set(zmq::sockopt::curve_server, 1);
    socket.set(zmq::sockopt::curve_secretkey, zmq::buffer(secret_key.data(), secret_key.size()));
    // A domain makes libzmq consult the ZAP handler for every connection.
    socket.set(zmq::sockopt::zap_domain, "flatcast");
  } catch (const zmq::error_t& e) {
    return FromZmq(e, "setting the CURVE server key");
  }
  return Status::Ok();
}

Result<KeyPair> DeriveUnitCurveKey(std::string_view seed, std::string_view unit_code) {
  if (seed.size() != kKeyBytes) return Status::InvalidArgument("a unit key seed must be 32 bytes");
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  std::string message(kUnitKeyContext);
  message.append(unit_code);
  unsigned char secret[kKeyBytes];
  crypto_generichash(secret, sizeof secret, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size(), reinterpret_cast<const unsigned char*>(seed.data()),
                     seed.size());
  Result<KeyPair> pair =
      KeyPairFromSecret(KeyKind::kCurve, std::string_view(reinterpret_cast<char*>(secret), sizeof secret));
  sodium_memzero(secret, sizeof secret);
  return pair;
}

Status WriteNewSeedFile(const std::string& path, bool replace) {
  if (!replace) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
      return Status::AlreadyExists(path + ": exists; a seed is never overwritten unless asked");
    }
  }
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  std::string seed(kKeyBytes, '\0');
  randombytes_buf(seed.data(), seed.size());
  Result<std::string> z85 = Z85Encode(seed);
  sodium_memzero(seed.data(), seed.size());
  if (!z85.ok()) return z85.status();
  std::string text = fmt::format(
      "# flatcast unit key seed. SECRET: every swarm unit's CURVE key derives from it.\n"
      "kind = \"{}\"\nsecret = \"{}\"\n",
      kSeedKind, *z85);
  Status st = WriteFileAtomically(path, text, {0600, replace});
  sodium_memzero(text.data(), text.size());
  sodium_memzero(z85->data(), z85->size());
  return st;
}

Result<std::string> ParseSeedFile(std::string_view text, std::string_view source_name) {
  const std::string where(source_name);
  toml::table table;
  try {
    table = toml::parse(text, where);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument(
        fmt::format("{}:{}: {}", where, e.source().begin.line, e.description()));
  }
  std::optional<std::string> kind = table["kind"].value<std::string>();
  if (!kind || *kind != kSeedKind) {
    return Status::InvalidArgument(
        fmt::format("{}: not a unit key seed file (kind must be \"{}\")", where, kSeedKind));
  }
  for (const auto& [key, value] : table) {
    if (key.str() != "kind" && key.str() != "secret") {
      return Status::InvalidArgument(fmt::format(
          "{}: unknown key \"{}\" (a seed file has kind and secret)", where, key.str()));
    }
  }
  std::optional<std::string> secret = table["secret"].value<std::string>();
  if (!secret) return Status::InvalidArgument(where + ": no secret");
  Result<std::string> seed = Z85Decode(*secret);
  sodium_memzero(secret->data(), secret->size());
  if (!seed.ok() || seed->size() != kKeyBytes) {
    return Status::InvalidArgument(where + ": the secret must be 40 Z85 characters (32 bytes)");
  }
  return seed;
}

Result<std::string> ReadSeedFile(const std::string& path) {
  mode_t mode = 0;
  Result<std::string> text = ReadSmallFile(path, &mode);
  if (!text.ok()) return text.status();
  Status owner_only = CheckOwnerOnly(path, mode);
  Result<std::string> seed =
      owner_only.ok() ? ParseSeedFile(*text, path) : Result<std::string>(owner_only);
  sodium_memzero(text->data(), text->size());
  return seed;
}

// ---- handshake failures ----

std::string DescribeHandshakeFailure(int event, int value, std::string_view endpoint) {
  switch (event) {
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
      return fmt::format(
          "the broker at {} refused this client's CURVE key (ZAP status {}): the key is not in "
          "the broker's key registry, or was revoked; the broker's log names the reason",
          endpoint, value);
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      switch (value) {
        case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
          return fmt::format(
              "the security settings of this client and the broker at {} do not match: one "
              "side uses CURVE and the other does not (give --curve-key and --broker-key for a "
              "broker that has a curve_secret_key, and neither for one without)",
              endpoint);
        case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
          return fmt::format(
              "the CURVE handshake with {} failed cryptographically: is --broker-key the "
              "broker's public key?",
              endpoint);
        default:
          return fmt::format("the handshake with {} failed (ZMTP protocol error 0x{:x})",
                             endpoint, static_cast<unsigned>(value));
      }
    default:
      return fmt::format("the handshake with {} did not complete: the connection closed", endpoint);
  }
}

Result<HandshakeMonitor> HandshakeMonitor::Attach(zmq::context_t& context, zmq::socket_t& watched,
                                                  std::string endpoint) {
  static std::atomic<uint64_t> next_id{1};
  std::string address = fmt::format("inproc://flatcast-handshake-monitor-{}", next_id++);
  try {
    if (zmq_socket_monitor(watched.handle(), address.c_str(),
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0) {
      throw zmq::error_t();
    }
    zmq::socket_t monitor(context, zmq::socket_type::pair);
    monitor.set(zmq::sockopt::linger, 0);
    monitor.connect(address);
    return HandshakeMonitor(std::move(monitor), std::move(endpoint));
  } catch (const zmq::error_t& e) {
    return FromZmq(e, "monitoring the connection");
  }
}

std::vector<HandshakeMonitor::Event> HandshakeMonitor::TakeEvents() {
  std::vector<Event> events;
  while (true) {
    zmq::message_t header, address;
    try {
      if (!monitor_.recv(header, zmq::recv_flags::dontwait)) break;
      if (header.more()) (void)monitor_.recv(address, zmq::recv_flags::dontwait);
    } catch (const zmq::error_t&) {
      break;
    }
    if (header.size() < 6) continue;
    uint16_t event = 0;
    uint32_t value = 0;
    std::memcpy(&event, header.data(), sizeof event);
    std::memcpy(&value, static_cast<const char*>(header.data()) + 2, sizeof value);
    events.push_back({event, static_cast<int>(value), address.to_string()});
  }
  return events;
}

std::optional<Status> HandshakeMonitor::TakeFailure() {
  std::optional<Status> failure;
  for (const Event& e : TakeEvents()) {
    if (e.event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      succeeded_ = true;
      failure.reset();
    } else if (e.event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
      ++incomplete_;
    } else {
      failure = Status::PermissionDenied(DescribeHandshakeFailure(e.event, e.value, endpoint_));
    }
  }
  return failure;
}

std::string HandshakeMonitor::ExplainSilence(bool curve) const {
  if (succeeded_ || incomplete_ == 0) return "";
  return fmt::format("the broker at {} closed the connection during the handshake ({} time{}): {}",
                     endpoint_, incomplete_, incomplete_ == 1 ? "" : "s",
                     curve ? "is --broker-key the broker's public key?"
                           : "does the broker require CURVE (--curve-key and --broker-key)?");
}

}  // namespace flatcast
