#include "flatcast/language.h"
#include "flatcast/subscriber/terminal_daemon.h"

#include "flatcast/program.h"
#include "flatcast/subscriber/terminal_admin.h"
#include "flatcast/subscriber/web_inbox.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <google/protobuf/util/json_util.h>
#include <toml++/toml.h>

#include <cerrno>
#include <filesystem>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <random>
#include <string_view>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "flatcast/clock.h"
#include "flatcast/curve.h"
#include "flatcast/directive.h"
#include "flatcast/key_registry.h"
#include "flatcast/log_throttle.h"
#include "flatcast/rpc_client.h"
#include "flatcast/duration.h"
#include "flatcast/subscriber/directory_inbox.h"
#include "flatcast/subscriber/operator_control.h"
#include "flatcast/subscriber/terminal_session.h"
#include "flatcast/subscriber/warm_switch.h"
#include "flatcast/zmq_tuning.h"

namespace flatcast::subscriber {

namespace {

using Steady = std::chrono::steady_clock;


constexpr auto kPollInterval = std::chrono::milliseconds(200);

// With a warm connection a broken connection is retried after 5-10 s (libzmq
// adds a random part of up to reconnect_ivl): a failover needs no reconnect,
// and all terminals' connections to a broker that comes back (the old
// leader, as the standby) arrive spread over five seconds rather than as one
// storm of CURVE handshakes while it resyncs.
void SpreadReconnects(zmq::socket_t& socket) {
  socket.set(zmq::sockopt::reconnect_ivl, 5000);
  socket.set(zmq::sockopt::reconnect_ivl_max, 0);
}

class LoggingListener final : public SessionListener {
 public:
  LoggingListener(bool crash_after_store, HookRunner& hooks, std::string unit)
      : crash_after_store_(crash_after_store), hooks_(hooks), unit_(std::move(unit)) {}

  void OnWelcome(const v1::Welcome& welcome) override {
    spdlog::info("welcomed as {} {} (broker head seq {}, heartbeat every {} ms)",
                 welcome.unit_code(), welcome.unit_name(), welcome.head_seq(),
                 welcome.heartbeat_interval_ms());
  }
  void OnStored(const v1::StoredDirective& stored) override {
    spdlog::info("received {} v{} (seq {}): {}", stored.directive().id(),
                 stored.directive().version(), stored.seq(), stored.directive().title());
    if (crash_after_store_) {
      // Test hook (FLATCAST_TEST_CRASH_AFTER_STORE=1): the directive and its
      // pending ack are durable, the ack has not been sent. Exit as abruptly
      // as a power cut would, without flushing or unwinding anything.
      spdlog::warn("test hook {}=1: exiting abruptly after storing seq {}, before acknowledging",
                   kCrashAfterStoreVariable, stored.seq());
      spdlog::default_logger()->flush();
      std::_Exit(137);
    }
    if (!hooks_.empty()) {
      const v1::Directive& d = stored.directive();
      hooks_.Post({"directive", fmt::format("{} v{}", d.id(), d.version()), DirectiveToJson(stored),
                   {{"FLATCAST_UNIT", unit_},
                    {"FLATCAST_DIRECTIVE_ID", d.id()},
                    {"FLATCAST_VERSION", std::to_string(d.version())},
                    {"FLATCAST_SEQ", std::to_string(stored.seq())},
                    {"FLATCAST_STATUS", std::string(StatusName(d.status()))},
                    {"FLATCAST_ISSUER", d.issuer_unit()},
                    {"FLATCAST_DEPARTMENT", d.issuer_department()},
                    {"FLATCAST_TITLE", d.title()},
                    {"FLATCAST_WITHDRAWN", stored.withdrawn() ? "1" : "0"}}});
    }
  }
  void OnDuplicate(const v1::StoredDirective& stored) override {
    spdlog::debug("delivered again: {} v{} (seq {}); acknowledging again", stored.directive().id(),
                  stored.directive().version(), stored.seq());
  }
  void OnAckConfirmed(uint64_t seq, v1::AckLevel level) override {
    spdlog::info("ack confirmed for seq {} ({})", seq, v1::AckLevel_Name(level));
  }
  void OnDocumentKept(const WantedDocument& doc) override {
    spdlog::info("attached document \"{}\" fetched and checked ({} bytes, SHA-256 {})", doc.name, doc.size,
                 ToHex(doc.sha256));
  }
  void OnRatingConfirmed(uint64_t seq) override {
    spdlog::info("rating confirmed for seq {}", seq);
  }
  void OnOverdue(const v1::OverdueReport& report) override {
    for (const v1::OverdueItem& item : report.own()) {
      spdlog::warn("overdue: {} of {} \"{}\" was due {}", v1::AckLevel_Name(item.level()),
                   item.directive_id(), item.title(),
                   FormatTimeSeconds(FromTimestamp(item.deadline())));
    }
    for (const v1::OverdueItem& item : report.children()) {
      spdlog::warn("overdue below this unit: {} units without {} of {} (due {})",
                   item.units_size(), v1::AckLevel_Name(item.level()), item.directive_id(),
                   FormatTimeSeconds(FromTimestamp(item.deadline())));
    }
    if (report.own_size() == 0 && report.children_size() == 0) {
      spdlog::info("nothing overdue any more");
      return;
    }
    if (!hooks_.empty()) {
      std::string json;
      google::protobuf::util::JsonPrintOptions options;
      options.preserve_proto_field_names = true;
      (void)google::protobuf::util::MessageToJsonString(report, &json, options);
      hooks_.Post({"overdue",
                   fmt::format("({} own, {} below)", report.own_size(), report.children_size()),
                   json + "\n",
                   {{"FLATCAST_UNIT", unit_},
                    {"FLATCAST_OVERDUE_OWN", std::to_string(report.own_size())},
                    {"FLATCAST_OVERDUE_CHILDREN", std::to_string(report.children_size())}}});
    }
  }

 private:
  bool crash_after_store_;
  HookRunner& hooks_;
  std::string unit_;
};

// Sends without blocking. A message that cannot leave now is dropped: acks
// stay pending and are resent after the next Welcome or Heartbeat, Hellos
// are retried.
bool TrySend(zmq::socket_t& socket, const std::string& bytes) {
  try {
    if (socket.send(zmq::buffer(bytes), zmq::send_flags::dontwait)) return true;
    spdlog::debug("no connection to send on; message of {} bytes dropped", bytes.size());
  } catch (const zmq::error_t& e) {
    spdlog::warn("send failed: {}", e.what());
  }
  return false;
}

void LogSessionError(const Status& status, const TerminalSession& session) {
  if (status.code() == Status::Code::kPermissionDenied && session.rejected()) {
    spdlog::error("{}; retrying slowly", status.message());
  } else if (status.code() == Status::Code::kIOError) {
    spdlog::error("{} (free space on the state directory)", status.message());
  } else if (status.code() == Status::Code::kCorruption) {
    spdlog::error("{}", status.message());
  } else {
    spdlog::warn("{}", status.message());
  }
}

// The terminal's tuned DEALER socket, over CURVE with `curve`, not yet
// connected: its handshake monitor must be attached first (MonitorAndConnect),
// or a handshake that fails at once (a key the broker refuses) goes unreported.
Result<zmq::socket_t> OpenSocket(zmq::context_t& context,
                                 const std::optional<CurveClientKeys>& curve) {
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  TuneClientSocket(socket);
  if (curve) FLATCAST_RETURN_IF_ERROR(ApplyCurveClient(socket, *curve));
  return socket;
}

// Attaches the handshake monitor to `socket`, then connects it. ZeroMQ
// connects in the background and reconnects by itself after a connection
// breaks.
Result<HandshakeMonitor> MonitorAndConnect(zmq::context_t& context, zmq::socket_t& socket,
                                           const std::string& endpoint) {
  Result<HandshakeMonitor> monitor = HandshakeMonitor::Attach(context, socket, endpoint);
  if (!monitor.ok()) return monitor.status();
  try {
    socket.connect(endpoint);
  } catch (const zmq::error_t& e) {
    return Status::InvalidArgument(
        fmt::format("cannot connect to broker endpoint \"{}\": {}", endpoint, e.what()));
  }
  return monitor;
}

// A failed handshake is logged once, and again only when the reason
// changes or after kHandshakeLogEvery: libzmq retries every few seconds.
constexpr auto kHandshakeLogEvery = std::chrono::minutes(5);

// Answers every waiting operator request: the session records it, the
// daemon sends what the session produced.
void ServeOperators(OperatorEndpoint& operators, TerminalSession& session, const InboxStore& inbox,
                    zmq::socket_t& socket) {
  while (std::optional<v1::OperatorRequest> request = operators.Take()) {
    std::vector<std::string> out;
    Result<v1::OperatorReply> reply = AnswerOperator(*request, session, inbox, out);
    if (!reply.ok()) {
      spdlog::warn("operator request refused: {}", reply.status().message());
      operators.Refuse(reply.status());
      continue;
    }
    for (const std::string& bytes : out) TrySend(socket, bytes);
    if (request->action() != v1::OperatorRequest::STATUS) {
      spdlog::info("operator: {}", reply->message());
    }
    operators.Answer(*reply);
  }
}

// The poll loop. zmq::error_t other than an interrupted poll ends it.
Status Loop(zmq::context_t& context, zmq::socket_t& socket, TerminalSession& session,
            const InboxStore& inbox, KeyRegistryWatcher* keys, const TerminalConfig& config,
            const std::optional<CurveClientKeys>& curve, const std::atomic<bool>& stop,
            TerminalAdmin* admin) {
  std::optional<TimePoint> last_contact;
  Steady::time_point next_report{};
  auto report = [&] {
    if (admin == nullptr || Steady::now() < next_report) return;
    next_report = Steady::now() + std::chrono::seconds(1);
    admin->Update({inbox.size(), inbox.pending_ack_count(), session.welcomed(), last_contact,
                   session.counters(), session.storage_error()});
  };
  // With ZMQ_IMMEDIATE a DEALER is writable only over a completed connection,
  // so writability going from false to true marks a (re)connection, after
  // which the broker needs a Hello to know the unit.
  bool writable = false;
  Result<OperatorEndpoint> operators = OperatorEndpoint::Bind(context, config.state_dir);
  if (!operators.ok()) return operators.status();
  spdlog::info("operator commands on {}", operators->endpoint());
  // A pair's brokers (docs/HA.md): the one connected to now, and the next
  // one when it is silent or answers that it does not lead.
  const std::vector<std::string> brokers = SplitEndpoints(config.broker);
  const bool warm_mode = config.warm_standby && brokers.size() >= 2;
  if (warm_mode) SpreadReconnects(socket);
  size_t current = 0;
  Result<HandshakeMonitor> monitor = MonitorAndConnect(context, socket, brokers[current]);
  if (!monitor.ok()) return monitor.status();
  spdlog::info("connecting to {}{}", brokers[current], curve ? " over CURVE" : "");
  // The warm connection to the other broker of a pair (docs/HA.md): up and
  // authenticated, idle until a switch makes it the connection above.
  std::optional<zmq::socket_t> warm;
  std::optional<HandshakeMonitor> warm_monitor;
  size_t warm_index = 0;
  bool warm_writable = false;
  if (warm_mode) {
    Result<zmq::socket_t> opened = OpenSocket(context, curve);
    if (!opened.ok()) return opened.status();
    warm = std::move(opened).value();
    SpreadReconnects(*warm);
    warm_index = 1;
    Result<HandshakeMonitor> attached = MonitorAndConnect(context, *warm, brokers[warm_index]);
    if (!attached.ok()) return attached.status();
    warm_monitor = std::move(attached).value();
    spdlog::info("keeping a warm connection to {}", brokers[warm_index]);
  }
  // With a warm connection (TerminalConfig::warm_standby): when to switch.
  WarmSwitch warm_switch(Steady::now());
  bool reconnect_pending = false;  // reconnect to pending_to at reconnect_at
  Steady::time_point reconnect_at{};
  size_t pending_to = 0;  // where reconnect_at reconnects to
  Steady::time_point redirect_quiet_until{};
  auto reconnect = [&](size_t to) -> Status {
    session.OnDisconnected();
    socket.set(zmq::sockopt::linger, 0);
    socket.close();
    Result<zmq::socket_t> reopened = OpenSocket(context, curve);
    if (!reopened.ok()) return reopened.status();
    socket = std::move(reopened).value();
    if (warm_mode) SpreadReconnects(socket);
    current = to;
    monitor = MonitorAndConnect(context, socket, brokers[current]);
    if (!monitor.ok()) return monitor.status();
    spdlog::info("connecting to {}", brokers[current]);
    writable = false;
    return Status::Ok();
  };
  LogThrottle handshake_log(kHandshakeLogEvery);
  // The warm connection becomes this one, this one the warm one; libzmq
  // keeps reconnecting both. The session says Hello once it is writable.
  std::minstd_rand jitter(std::random_device{}());
  auto switch_over = [&] {
    std::swap(socket, *warm);
    std::swap(*monitor, *warm_monitor);
    std::swap(current, warm_index);
    session.OnDisconnected();
    writable = false;
    warm_writable = false;
    warm_switch.Switched(Steady::now(), jitter);
    spdlog::info("switching to the warm connection to {}", brokers[current]);
  };
  Clock& clock = SystemClock::Instance();
  std::optional<KeyRegistryReloader> reloader;
  if (keys != nullptr) reloader.emplace(*keys);
  // With ZMQ_IMMEDIATE a DEALER is writable only over a completed connection,
  // so writability going from false to true marks a (re)connection, after
  // which the broker needs a Hello to know the unit.
  std::vector<std::string> out;
  NotifyReady("terminal " + config.unit + " running");
  while (!stop.load()) {
    report();
    zmq::pollitem_t items[] = {
        {socket.handle(), 0, static_cast<short>(ZMQ_POLLIN | (writable ? 0 : ZMQ_POLLOUT)), 0},
        {monitor->socket().handle(), 0, ZMQ_POLLIN, 0},
        {operators->socket().handle(), 0, ZMQ_POLLIN, 0},
        {warm ? warm->handle() : nullptr, 0,
         static_cast<short>(ZMQ_POLLIN | (warm_writable ? 0 : ZMQ_POLLOUT)), 0},
        {warm_monitor ? warm_monitor->socket().handle() : nullptr, 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, warm ? 5 : 3, kPollInterval);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;  // a signal; the loop condition decides
      throw;
    }
    if (std::optional<Status> failed = monitor->TakeFailure()) {
      if (handshake_log.Admit(failed->message(), clock.Now())) {
        spdlog::error("{}; retrying", failed->message());
      }
    } else if (monitor->succeeded()) {
      handshake_log.ClearAll();
    }
    if (warm) {
      if (std::optional<Status> failed = warm_monitor->TakeFailure()) {
        if (handshake_log.Admit(failed->message(), clock.Now())) {
          spdlog::error("warm connection: {}; retrying", failed->message());
        }
      }
      // Nothing is expected on it; a delivery still in flight from before a
      // switch is dropped, and the broker sends it again after a Hello.
      zmq::message_t dropped;
      while (warm->recv(dropped, zmq::recv_flags::dontwait)) {
      }
      warm_writable = (warm->get(zmq::sockopt::events) & ZMQ_POLLOUT) != 0;
    }
    int events = socket.get(zmq::sockopt::events);
    bool now_writable = (events & ZMQ_POLLOUT) != 0;
    if (now_writable && !writable) {
      spdlog::info("connected to {}", brokers[current]);
      session.OnConnected();
      warm_switch.Up(Steady::now());
    } else if (!now_writable && writable) {
      spdlog::warn("connection to {} lost; reconnecting", brokers[current]);
      session.OnDisconnected();
      warm_switch.Down(Steady::now());
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
      last_contact = clock.Now();
      Status status = session.OnMessage(message.to_string_view(), out);
      if (!status.ok()) LogSessionError(status, session);
      for (const std::string& reply : out) TrySend(socket, reply);
    }
    if (items[2].revents & ZMQ_POLLIN) ServeOperators(*operators, session, inbox, socket);
    if (std::optional<std::string> leader = session.TakeRedirect()) {
      size_t to = (current + 1) % brokers.size();
      for (size_t i = 0; i < brokers.size(); ++i) {
        if (!leader->empty() && brokers[i] == *leader) to = i;
      }
      if (warm) {
        // Through the warm connection when it is up (below).
        if (to == warm_index) warm_switch.NamedTheOther();
      } else if (to != current && Steady::now() >= redirect_quiet_until) {
        // At most one redirect a second: two brokers that both say "not me"
        // (an election under way) are not bounced between at handshake rate.
        redirect_quiet_until = Steady::now() + std::chrono::seconds(1);
        FLATCAST_RETURN_IF_ERROR(reconnect(to));
        continue;
      }
      if (warm) {
        // Nothing to reconnect: the Hello retry asks this broker again.
      } else if (to != current) {
        reconnect_pending = true;
        reconnect_at = redirect_quiet_until;
        pending_to = to;
      } else {
        // No other endpoint, or none named: ask again shortly.
        reconnect_pending = true;
        reconnect_at = Steady::now() + std::chrono::milliseconds(500);
        pending_to = current;
      }
    }
    if (reconnect_pending && Steady::now() >= reconnect_at) {
      reconnect_pending = false;
      FLATCAST_RETURN_IF_ERROR(reconnect(pending_to));
      continue;
    }

    TimePoint now = clock.Now();
    // The session holds a pointer to keys->registry(), which a reload
    // replaces in place.
    if (reloader) reloader->Poll(now);
    if (warm) {
      WarmSwitch::Seen seen{.up = writable,
                            .warm_up = warm_writable,
                            .welcomed = session.welcomed(),
                            .rejected = session.rejected(),
                            .silent = session.ConnectionLooksDead(now)};
      WarmSwitch::Action action = warm_switch.Decide(Steady::now(), seen, jitter);
      if (action == WarmSwitch::Action::kSwitch) {
        switch_over();
        continue;
      }
      if (action == WarmSwitch::Action::kAskAgain && writable && !session.welcomed()) {
        TrySend(socket, session.Hello());
      }
    }
    if (session.ConnectionLooksDead(now)) {
      // The broker went silent on a connection TCP still thinks is up (a
      // stopped broker, a lost route). A new socket makes a new TCP
      // connection; libzmq 4.3.4 waits reconnect_ivl plus a random jitter of
      // up to reconnect_ivl before each retry after a failed attempt
      // (stream_connecter_base_t::get_new_reconnect_ivl), so terminals that
      // gave up together do not come back in lockstep.
      spdlog::warn("nothing heard from {} for {} ms (3 heartbeat intervals); reconnecting",
                   brokers[current], 3 * session.heartbeat_interval().count());
      // With a warm connection the other broker is silent too: the same one
      // again, over a new connection.
      FLATCAST_RETURN_IF_ERROR(reconnect(warm ? current : (current + 1) % brokers.size()));
      continue;
    }
    if (writable && session.NeedsHelloRetry(now)) {
      TrySend(socket, session.Hello());
    }
    if (writable) {
      out.clear();
      session.PollDocuments(out);
      for (const std::string& request : out) TrySend(socket, request);
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
    if (name == "keys") field = &config.keys;
    if (name == "curve_key") field = &config.curve_key;
    if (name == "broker_key") field = &config.broker_key;
    if (name == "admin_endpoint") field = &config.admin_endpoint;
    if (name == "web_endpoint") field = &config.web_endpoint;
    if (name == "web_root") field = &config.web_root;
    if (name == "hooks") {
      const toml::array* hooks = value.as_array();
      if (hooks == nullptr) {
        return Status::InvalidArgument(fmt::format("{}: \"hooks\" must be [[hooks]] tables", path));
      }
      for (size_t i = 0; i < hooks->size(); ++i) {
        const toml::table* t = hooks->get(i)->as_table();
        const std::string where = fmt::format("{}: hooks[{}]", path, i);
        if (t == nullptr) return Status::InvalidArgument(where + " is not a table");
        HookConfig hook;
        for (const auto& [hkey, hvalue] : *t) {
          const std::string hname(hkey.str());
          if (hname == "on" && hvalue.is_string()) {
            hook.on = *hvalue.value<std::string>();
          } else if (hname == "command" && hvalue.is_array()) {
            for (const toml::node& part : *hvalue.as_array()) {
              if (!part.is_string()) {
                return Status::InvalidArgument(where + ".command must be a list of strings");
              }
              hook.command.push_back(*part.value<std::string>());
            }
          } else if (hname == "timeout_s" && hvalue.is_integer()) {
            hook.timeout = std::chrono::seconds(*hvalue.value<int64_t>());
          } else {
            return Status::InvalidArgument(fmt::format(
                "{}: \"{}\" is not a hook key of that type (on: \"directive\" or \"overdue\", "
                "command: a list of strings, timeout_s: an integer)",
                where, hname));
          }
        }
        config.hooks.push_back(std::move(hook));
      }
      continue;
    }
    if (name == "languages") {
      const toml::array* list = value.as_array();
      if (list == nullptr) {
        return Status::InvalidArgument(fmt::format("{}: \"languages\" must be a list of BCP 47 tags", path));
      }
      for (const toml::node& tag : *list) {
        if (!tag.is_string()) {
          return Status::InvalidArgument(fmt::format("{}: \"languages\" must be a list of strings", path));
        }
        config.languages.push_back(*tag.value<std::string>());
      }
      continue;
    }
    if (name == "warm_standby") {
      std::optional<bool> on = value.value<bool>();
      if (!value.is_boolean() || !on) {
        return Status::InvalidArgument(fmt::format("{}: \"warm_standby\" must be true or false", path));
      }
      config.warm_standby = *on;
      continue;
    }
    if (!field) {
      return Status::InvalidArgument(fmt::format(
          "{}: unknown key \"{}\" (expected unit, broker, state_dir, keys, curve_key, "
          "broker_key, admin_endpoint, web_endpoint, web_root, warm_standby, languages, hooks)",
          path, name));
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
  if (config.broker.empty() || SplitEndpoints(config.broker).empty()) {
    return Status::InvalidArgument("no broker endpoint given (broker / --broker)");
  }
  if (config.state_dir.empty()) {
    return Status::InvalidArgument("no state directory given (state_dir / --state-dir)");
  }
  for (const HookConfig& hook : config.hooks) FLATCAST_RETURN_IF_ERROR(CheckHookConfig(hook));
  for (const std::string& tag : config.languages) {
    FLATCAST_RETURN_IF_ERROR(CheckLanguageTag(tag).WithContext("languages / --language"));
  }
  return Status::Ok();
}

std::string DefaultWebRoot() {
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(FLATCAST_WEB_ROOT_INSTALLED) / "index.html", ec)) {
    return FLATCAST_WEB_ROOT_INSTALLED;
  }
  return FLATCAST_WEB_ROOT_SOURCE;
}

Status RunTerminal(const TerminalConfig& config, const std::atomic<bool>& stop) {
  FLATCAST_RETURN_IF_ERROR(CheckTerminalConfig(config));
  Tier tier = ParseUnitCode(config.unit).value();
  Result<std::unique_ptr<DirectoryInbox>> inbox = DirectoryInbox::Open(config.state_dir, config.languages);
  if (!inbox.ok()) return inbox.status();
  spdlog::info("terminal {} ({}): {} directives stored, last seq {}, {} acks pending", config.unit,
               TierName(tier), (*inbox)->size(), (*inbox)->last_seq(),
               (*inbox)->pending_ack_count());

  const char* crash_hook = std::getenv(kCrashAfterStoreVariable);
  bool crash_after_store = crash_hook != nullptr && std::string_view(crash_hook) == "1";
  if (crash_after_store) {
    spdlog::warn("test hook {}=1: the daemon exits after storing its first directive",
                 kCrashAfterStoreVariable);
  }
  std::optional<KeyRegistryWatcher> keys;
  SessionOptions options;
  if (!config.keys.empty()) {
    Result<KeyRegistryWatcher> opened = KeyRegistryWatcher::Open(config.keys);
    if (!opened.ok()) return opened.status().WithContext("key registry");
    keys = std::move(opened).value();
    options.keys = &keys->registry();
    spdlog::info("checking directive signatures against key registry {}", config.keys);
  }
  Result<std::optional<CurveClientKeys>> curve =
      LoadCurveClientKeys(config.curve_key, config.broker_key, "curve_key / --curve-key",
                          "broker_key / --broker-key");
  if (!curve.ok()) return curve.status();
  std::unique_ptr<TerminalAdmin> admin;
  if (!config.admin_endpoint.empty()) {
    auto started = TerminalAdmin::Start(config.admin_endpoint);
    if (!started.ok()) return started.status();
    admin = std::move(started).value();
    spdlog::info("admin listener on {} (/metrics, /healthz, /readyz)", admin->url());
  }
  std::unique_ptr<WebInbox> web;
  std::unique_ptr<WebInboxServer> web_server;
  if (!config.web_endpoint.empty()) {
    WebInboxOptions web_options;
    web_options.state_dir = config.state_dir;
    web_options.unit = config.unit;
    web_options.web_root = config.web_root.empty() ? DefaultWebRoot() : config.web_root;
    web_options.languages = config.languages;
    web_options.signatures_checked = !config.keys.empty();
    const std::string state_dir = config.state_dir;
    web = std::make_unique<WebInbox>(
        web_options, SystemClock::Instance(), [state_dir](const v1::OperatorRequest& request) {
          return CallDaemon(state_dir, request, std::chrono::seconds(5));
        });
    auto started = WebInboxServer::Start(config.web_endpoint, *web);
    if (!started.ok()) return started.status();
    web_server = std::move(started).value();
    std::error_code ec;
    spdlog::info("web inbox on {} (page from {}{})", web_server->url(), web_options.web_root,
                 std::filesystem::exists(WebPasswordPath(config.state_dir), ec)
                     ? ""
                     : "; no password set yet: flatcast-subscriber web-password");
  }
  // Attached documents: fetched into state_dir/attachments, those of
  // directives stored before a restart too.
  Result<std::unique_ptr<DirectoryShelf>> shelf = DirectoryShelf::Open(AttachmentsDir(config.state_dir));
  if (!shelf.ok()) return shelf.status();
  DocumentFetcher documents(SystemClock::Instance());
  {
    Result<std::vector<v1::StoredDirective>> stored = ReadInbox(config.state_dir);
    if (!stored.ok()) return stored.status();
    for (const v1::StoredDirective* latest : LatestVersions(*stored)) {
      if (!latest->withdrawn()) WantAttachments(documents, **shelf, latest->directive());
    }
    size_t waiting = 0;
    for (const DocumentProgress& p : documents.Progress()) waiting += p.complete ? 0 : 1;
    if (waiting > 0) spdlog::info("{} attached documents still to fetch", waiting);
  }
  options.documents = &documents;
  options.shelf = shelf->get();
  HookRunner hooks(config.hooks);
  if (!config.hooks.empty()) spdlog::info("{} hooks configured", config.hooks.size());
  LoggingListener listener(crash_after_store, hooks, config.unit);
  TerminalSession session(config.unit, tier, **inbox, SystemClock::Instance(), &listener, options);
  Status result;
  try {
    zmq::context_t context(1);
    Result<zmq::socket_t> socket = OpenSocket(context, *curve);
    if (!socket.ok()) return socket.status();
    result = Loop(context, *socket, session, **inbox, keys ? &*keys : nullptr, config, *curve, stop,
                  admin.get());
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
