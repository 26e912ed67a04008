#include "flatcast/subscriber/terminal_daemon.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include <cerrno>
#include <chrono>
#include <vector>
#include <zmq.hpp>

#include "flatcast/clock.h"
#include "flatcast/subscriber/directory_inbox.h"
#include "flatcast/subscriber/terminal_session.h"
#include "flatcast/zmq_tuning.h"

namespace flatcast::subscriber {

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(200);

class LoggingListener final : public SessionListener {
 public:
  void OnWelcome(const v1::Welcome& welcome) override {
    spdlog::info("welcomed as {} {} (broker head seq {})", welcome.unit_code(), welcome.unit_name(),
                 welcome.head_seq());
  }
  void OnStored(const v1::StoredDirective& stored) override {
    spdlog::info("received {} v{} (seq {}): {}", stored.directive().id(),
                 stored.directive().version(), stored.seq(), stored.directive().title());
  }
  void OnDuplicate(const v1::StoredDirective& stored) override {
    spdlog::debug("delivered again: {} v{} (seq {}); acknowledging again", stored.directive().id(),
                  stored.directive().version(), stored.seq());
  }
  void OnAckConfirmed(uint64_t seq, v1::AckLevel level) override {
    spdlog::info("ack confirmed for seq {} ({})", seq, v1::AckLevel_Name(level));
  }
};

// Sends without blocking. A message that cannot leave now is dropped: acks
// stay pending and are resent after the next Welcome, Hellos are retried.
bool TrySend(zmq::socket_t& socket, const std::string& bytes) {
  try {
    if (socket.send(zmq::buffer(bytes), zmq::send_flags::dontwait)) return true;
    spdlog::debug("no connection to send on; message of {} bytes dropped", bytes.size());
  } catch (const zmq::error_t& e) {
    spdlog::warn("send failed: {}", e.what());
  }
  return false;
}

void LogSessionError(const Status& status) {
  if (status.code() == Status::Code::kPermissionDenied) {
    spdlog::error("{}; retrying slowly", status.message());
  } else {
    spdlog::warn("{}", status.message());
  }
}

// The poll loop. zmq::error_t other than an interrupted poll ends it.
Status Loop(zmq::socket_t& socket, TerminalSession& session, const TerminalConfig& config,
            const std::atomic<bool>& stop) {
  Clock& clock = SystemClock::Instance();
  // With ZMQ_IMMEDIATE a DEALER is writable only over a completed connection,
  // so writability going from false to true marks a (re)connection, after
  // which the broker needs a Hello to know the unit.
  bool writable = false;
  std::vector<std::string> out;
  while (!stop.load()) {
    zmq::pollitem_t item{socket.handle(), 0,
                         static_cast<short>(ZMQ_POLLIN | (writable ? 0 : ZMQ_POLLOUT)), 0};
    try {
      zmq::poll(&item, 1, kPollInterval);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;  // a signal; the loop condition decides
      throw;
    }
    int events = socket.get(zmq::sockopt::events);
    bool now_writable = (events & ZMQ_POLLOUT) != 0;
    if (now_writable && !writable) {
      spdlog::info("connected to {}", config.broker);
      session.OnConnected();
    } else if (!now_writable && writable) {
      spdlog::warn("connection to {} lost; reconnecting", config.broker);
      session.OnDisconnected();
    }
    writable = now_writable;

    while (true) {
      zmq::message_t message;
      if (!socket.recv(message, zmq::recv_flags::dontwait)) break;
      if (message.more()) {
        // Broker messages are one frame; drop the rest of this one.
        while (message.more() && socket.recv(message, zmq::recv_flags::dontwait)) {
        }
        spdlog::warn("multi-frame message from broker ignored");
        continue;
      }
      out.clear();
      Status status = session.OnMessage(message.to_string_view(), out);
      if (!status.ok()) LogSessionError(status);
      for (const std::string& reply : out) TrySend(socket, reply);
    }

    if (writable && session.NeedsHelloRetry(clock.Now())) {
      TrySend(socket, session.Hello());
    }
  }
  return Status::Ok();
}

}  // namespace

Result<TerminalConfig> LoadTerminalConfig(const std::string& path) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return Status::InvalidArgument(
        fmt::format("{}:{}:{}: {}", path, where.line, where.column, e.description()));
  }
  TerminalConfig config;
  for (const auto& [key, value] : table) {
    std::string name(key.str());
    std::string* field = nullptr;
    if (name == "unit") field = &config.unit;
    if (name == "broker") field = &config.broker;
    if (name == "state_dir") field = &config.state_dir;
    if (!field) {
      return Status::InvalidArgument(
          fmt::format("{}: unknown key \"{}\" (expected unit, broker, state_dir)", path, name));
    }
    std::optional<std::string> text = value.value<std::string>();
    if (!value.is_string() || !text) {
      return Status::InvalidArgument(fmt::format("{}: \"{}\" must be a string", path, name));
    }
    *field = *text;
  }
  return config;
}

Status CheckTerminalConfig(const TerminalConfig& config) {
  if (config.unit.empty()) return Status::InvalidArgument("no unit code given (unit / --unit)");
  FLATCAST_RETURN_IF_ERROR(ParseUnitCode(config.unit).status());
  if (config.broker.empty()) {
    return Status::InvalidArgument("no broker endpoint given (broker / --broker)");
  }
  if (config.state_dir.empty()) {
    return Status::InvalidArgument("no state directory given (state_dir / --state-dir)");
  }
  return Status::Ok();
}

Status RunTerminal(const TerminalConfig& config, const std::atomic<bool>& stop) {
  FLATCAST_RETURN_IF_ERROR(CheckTerminalConfig(config));
  Tier tier = ParseUnitCode(config.unit).value();
  Result<std::unique_ptr<DirectoryInbox>> inbox = DirectoryInbox::Open(config.state_dir);
  if (!inbox.ok()) return inbox.status();
  spdlog::info("terminal {} ({}): {} directives stored, last seq {}, {} acks pending", config.unit,
               TierName(tier), (*inbox)->size(), (*inbox)->last_seq(),
               (*inbox)->pending_ack_count());

  LoggingListener listener;
  TerminalSession session(config.unit, tier, **inbox, SystemClock::Instance(), &listener);
  Status result;
  try {
    zmq::context_t context(1);
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    TuneClientSocket(socket);
    try {
      socket.connect(config.broker);
    } catch (const zmq::error_t& e) {
      return Status::InvalidArgument(
          fmt::format("cannot connect to broker endpoint \"{}\": {}", config.broker, e.what()));
    }
    spdlog::info("connecting to {}", config.broker);
    result = Loop(socket, session, config, stop);
  } catch (const zmq::error_t& e) {
    result = Status::IOError(fmt::format("ZeroMQ: {}", e.what()));
  }
  Status flushed = (*inbox)->Flush();
  if (!flushed.ok()) return flushed;
  spdlog::info("stopped; {} directives stored, {} acks pending", (*inbox)->size(),
               (*inbox)->pending_ack_count());
  return result;
}

}  // namespace flatcast::subscriber
