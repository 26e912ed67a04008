#include "flatcast/broker/broker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <fmt/format.h>

#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <zmq_addon.hpp>

#include "access.h"
#include "deadlines.h"
#include "directive_state.h"
#include "query_worker.h"
#include "flatcast/broker/public_feed.h"
#include "flatcast/curve.h"
#include "flatcast/broker/publishers.h"
#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "flatcast/key_registry.h"
#include "flatcast/public_view.h"
#include "flatcast/wire.h"
#include "public_hold.h"
#include "zap_handler.h"

namespace flatcast::broker {

namespace {

constexpr int kMaxMessagesPerPass = 4096;

struct PendingAck {
  AckEntry entry;
  std::string routing_id;
  uint32_t unit_index;
};

struct PendingRating {
  RatingEntry entry;
  std::string routing_id;
};

constexpr size_t kMaxNoteBytes = 1000;
constexpr size_t kMaxCommentBytes = 2000;
// Confirmations wait while acknowledgements keep arriving, at most this long.
constexpr auto kConfirmMaxDelay = std::chrono::seconds(1);
// With confirmations waiting, the loop polls this briefly: a poll that
// brings nothing means the acknowledgements have stopped.
constexpr auto kConfirmQuietPoll = std::chrono::milliseconds(5);

std::string Frame(const zmq::message_t& m) { return std::string(m.data<char>(), m.size()); }

Status WriteFileAtomically(const std::string& path, const std::string& line) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << line << "\n";
    if (!out) return Status::IOError("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::IOError("cannot write " + path + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

class Broker::Impl {
 public:
  Impl(const BrokerConfig& config, const Registry& registry, Store& store, const Clock& clock,
       zmq::context_t& ctx)
      : config_(config),
        registry_(registry),
        store_(store),
        clock_(clock),
        ctx_(ctx),
        socket_(ctx, zmq::socket_type::router),
        routing_of_unit_(registry.size()),
        last_sent_(registry.size()),
        overdue_(registry) {}

  Status Start() {
    FLATCAST_RETURN_IF_ERROR(store_.ForEachDirective([&](const v1::StoredDirective& d) {
      AddDirective(d);
      return Status::Ok();
    }));
    for (auto& entry : directives_) {
      DirectiveState& state = entry.second;  // a plain reference: lambdas may capture it
      FLATCAST_RETURN_IF_ERROR(store_.ForEachAck(
          entry.first, "", [&](std::string_view unit, v1::AckLevel level, const v1::AckRecord& record) {
            if (level < v1::RECEIVED || level > v1::READY) return;
            if (auto idx = registry_.Find(unit)) state.Mark(level, *idx);
            if (level == v1::RECEIVED) {
              state.last_ack_stored = std::max(state.last_ack_stored, FromTimestamp(record.stored()));
            }
          }));
    }
    FLATCAST_RETURN_IF_ERROR(store_.ForEachRating(
        [&](uint64_t seq, std::string_view unit, const v1::RatingRecord& record) {
          ratings_[{seq, std::string(unit)}] = FromTimestamp(record.rated());
        }));
    FLATCAST_RETURN_IF_ERROR(store_.ForEachEvent("", [&](const v1::LifecycleEvent& e) {
      if (e.kind() == v1::LifecycleEvent::DEADLINE_PASSED) overdue_.MarkPassed(e.directive_seq(), e.level());
    }));
    if (!config_.publishers.empty()) {
      auto dir = PublisherDirectory::Load(config_.publishers, registry_);
      if (!dir.ok()) return dir.status();
      publishers_ = std::move(dir).value();
    }
    FLATCAST_RETURN_IF_ERROR(store_.ForEachPublicRecord([&](const v1::PublicRecord& r) {
      public_[r.directive_id()] = r;
      if (r.state() == v1::PublicRecord::HELD) {
        holds_.emplace(FromTimestamp(r.release_at()), r.directive_id());
      }
    }));
    if (!config_.keys.empty()) {
      auto keys = KeyRegistryWatcher::Open(config_.keys);
      if (!keys.ok()) return keys.status().WithContext("key registry");
      keys_ = std::move(keys).value();
    }
    std::optional<KeyPair> curve_key;
    if (!config_.curve_secret_key.empty()) {
      if (!keys_) {
        return Status::InvalidArgument(
            "curve_secret_key needs keys: the key registry says which client keys are admitted");
      }
      auto pair = ReadKeyPair(config_.curve_secret_key, KeyKind::kCurve);
      if (!pair.ok()) return pair.status().WithContext("broker CURVE key");
      curve_key = std::move(pair).value();
      auto zap = ZapHandler::Start(ctx_, std::make_shared<const KeyRegistry>(keys_->registry()));
      if (!zap.ok()) return zap.status();
      zap_ = std::move(zap).value();
      FLATCAST_RETURN_IF_ERROR(ApplyCurveServer(socket_, curve_key->secret_key));
      auto monitor = HandshakeMonitor::Attach(ctx_, socket_, "");
      if (!monitor.ok()) return monitor.status();
      handshakes_.emplace(std::move(monitor).value());
    }
    if (!config_.http_endpoint.empty()) {
      size_t colon = config_.http_endpoint.rfind(':');
      int port = std::atoi(config_.http_endpoint.c_str() + colon + 1);
      auto feed = PublicFeed::Start(config_.http_endpoint.substr(0, colon),
                                    static_cast<uint16_t>(port));
      if (!feed.ok()) return feed.status();
      feed_ = std::move(feed).value();
      http_endpoint_ = "http://" + config_.http_endpoint.substr(0, colon) + ":" +
                       std::to_string(feed_->port());
      RebuildFeed();
      if (!config_.http_endpoint_file.empty()) {
        FLATCAST_RETURN_IF_ERROR(WriteFileAtomically(config_.http_endpoint_file, http_endpoint_));
      }
    }
    try {
      socket_.set(zmq::sockopt::router_mandatory, 1);
      socket_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(config_.max_message_bytes) * 4);
      socket_.set(zmq::sockopt::backlog, 4096);
      socket_.set(zmq::sockopt::sndhwm, config_.send_hwm);
      socket_.set(zmq::sockopt::rcvhwm, 100000);
      socket_.set(zmq::sockopt::linger, 1000);
      // Dead terminals are found by TCP keepalive, not ZMTP heartbeats: libzmq
      // 4.3.4 keeps heartbeat timers in one list that it walks on every
      // cancellation, which stalls the I/O thread at ~20,000 connections.
      socket_.set(zmq::sockopt::tcp_keepalive, 1);
      socket_.set(zmq::sockopt::tcp_keepalive_idle, 60);
      socket_.set(zmq::sockopt::tcp_keepalive_intvl, 10);
      socket_.set(zmq::sockopt::tcp_keepalive_cnt, 3);
      socket_.set(zmq::sockopt::handshake_ivl, 120000);
      socket_.bind(config_.endpoint);
      endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
    } catch (const zmq::error_t& e) {
      return Status::IOError("cannot bind " + config_.endpoint + ": " + e.what());
    }
    auto worker = QueryWorker::Start(ctx_, store_, registry_, clock_);
    if (!worker.ok()) return worker.status();
    worker_ = std::move(worker).value();
    if (!config_.endpoint_file.empty()) {
      FLATCAST_RETURN_IF_ERROR(WriteFileAtomically(config_.endpoint_file, endpoint_));
    }
    TimePoint now = clock_.Now();
    next_heartbeat_ = now + config_.heartbeat_interval;
    next_redelivery_check_ = now + RedeliveryCheckPeriod();
    next_keys_check_ = now + kKeysCheckPeriod;
    for (auto& [seq, state] : directives_) state.next_redelivery = now + config_.redelivery_initial;
    spdlog::info("broker listening on {} ({} units in registry, {} directives stored, head seq {}, "
                 "public feed {}, public lead time {})",
                 endpoint_, registry_.size(), directives_.size(), store_.head_seq(),
                 http_endpoint_.empty() ? "off" : http_endpoint_,
                 FormatDuration(config_.public_lead_time));
    if (keys_) {
      spdlog::info("checking directive signatures against key registry {} ({} keys)", keys_->path(),
                   keys_->registry().records().size());
      if (zap_) {
        spdlog::info("CURVE on (broker key {}): only connections with an active registry key are "
                     "admitted, each message is attributed to its key's holder",
                     KeyId(curve_key->public_key));
      } else {
        spdlog::warn("no curve_secret_key: connections are neither encrypted nor authenticated");
      }
    } else {
      spdlog::warn(
          "no key registry (keys): unsigned directives are accepted; open mode is for "
          "development only");
    }
    return Status::Ok();
  }

  const std::string& endpoint() const { return endpoint_; }
  const std::string& http_endpoint() const { return http_endpoint_; }

  Status PollOnce(std::chrono::milliseconds timeout) {
    zmq::pollitem_t items[] = {{socket_.handle(), 0, ZMQ_POLLIN, 0},
                               {worker_->socket().handle(), 0, ZMQ_POLLIN, 0},
                               {handshakes_ ? handshakes_->socket().handle() : nullptr, 0,
                                ZMQ_POLLIN, 0}};
    if (!confirms_.empty()) timeout = std::min<std::chrono::milliseconds>(timeout, kConfirmQuietPoll);
    try {
      zmq::poll(items, handshakes_ ? 3 : 2, timeout);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) return Status::Ok();
      return Status::IOError(std::string("poll: ") + e.what());
    }
    if (items[0].revents & ZMQ_POLLIN) {
      for (int i = 0; i < kMaxMessagesPerPass; ++i) {
        std::vector<zmq::message_t> frames;
        zmq::recv_result_t got;
        try {
          got = zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait);
        } catch (const zmq::error_t& e) {
          if (e.num() == EINTR) break;
          return Status::IOError(std::string("receive: ") + e.what());
        }
        if (!got) break;
        HandleFrames(frames);
      }
    }
    FlushAcks();
    // Confirmations go out once the acknowledgements pause, so that during
    // a fan-out they do not compete with deliveries and acknowledgements.
    if (!confirms_.empty() &&
        (!(items[0].revents & ZMQ_POLLIN) || clock_.Now() - confirms_since_ >= kConfirmMaxDelay)) {
      SendConfirmations();
    }
    if (items[1].revents & ZMQ_POLLIN) ForwardAuditReplies();
    if (handshakes_ && (items[2].revents & ZMQ_POLLIN)) LogHandshakeFailures();
    RunTimers(clock_.Now());
    return Status::Ok();
  }

 private:
  // Handshakes that failed before the ZAP handler saw a key (a client
  // without CURVE, or with another broker key), each kind logged at most
  // once a minute with the count since. ZAP refusals are logged by the handler.
  void LogHandshakeFailures() {
    TimePoint now = clock_.Now();
    for (const HandshakeMonitor::Event& e : handshakes_->TakeEvents()) {
      if (e.event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED || e.event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        continue;
      }
      auto& [logged_at, count] = handshake_failures_[{e.event, e.value}];
      ++count;
      if (logged_at != TimePoint{} && now - logged_at < std::chrono::minutes(1)) continue;
      std::string why =
          e.event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
              ? "the client closed the connection (one without CURVE closes it so)"
          : e.value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
              ? "the client does not use CURVE"
          : e.value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC
              ? "the client's HELLO did not decrypt (it uses another broker key)"
              : fmt::format("ZMTP protocol error 0x{:x}", static_cast<unsigned>(e.value));
      spdlog::warn("refused a connection during the CURVE handshake: {} ({} such since the last "
                   "report)",
                   why, count);
      logged_at = now;
      count = 0;
    }
  }

  // ---- timers ----

  std::chrono::milliseconds RedeliveryCheckPeriod() const {
    return std::clamp(config_.redelivery_initial / 2, std::chrono::milliseconds(10),
                      std::chrono::milliseconds(1000));
  }

  void RunTimers(TimePoint now) {
    ReleaseDue(now);
    if (now >= next_heartbeat_) {
      SendHeartbeats();
      UpdateOverdue(now);
      next_heartbeat_ = now + config_.heartbeat_interval;
    }
    if (now >= next_redelivery_check_) {
      Redeliver(now);
      next_redelivery_check_ = now + RedeliveryCheckPeriod();
    }
    if (keys_ && now >= next_keys_check_) {
      ReloadKeys();
      next_keys_check_ = now + kKeysCheckPeriod;
    }
  }

  // Works out who is overdue, records deadlines that passed for the first
  // time, and sends every connected unit whose report changed its new one.
  void UpdateOverdue(TimePoint now) {
    std::vector<uint32_t> changed = overdue_.Update(
        directives_,
        [&](const std::string& id) -> const v1::PublicRecord* {
          auto it = public_.find(id);
          return it == public_.end() ? nullptr : &it->second;
        },
        now);
    if (!overdue_.newly_passed().empty()) {
      StoreWrite w;
      for (const PassedDeadline& p : overdue_.newly_passed()) {
        auto e = Event(v1::LifecycleEvent::DEADLINE_PASSED);
        Stamp(e, directives_.at(p.seq).stored, now, "");
        e.set_level(p.level);
        e.set_overdue_units(p.overdue_units);
        *e.mutable_deadline() = ToTimestamp(p.deadline);
        w.events.push_back(e);
        spdlog::warn("{} deadline of {} passed: {} units overdue; reminding them and their parents",
                     v1::AckLevel_Name(p.level), directives_.at(p.seq).stored.directive().id(),
                     p.overdue_units);
      }
      if (auto st = store_.Write(std::move(w)); !st.ok()) {
        spdlog::error("recording passed deadlines failed: {}", st.ToString());
      }
    }
    size_t sent = 0;
    for (uint32_t unit : changed) {
      if (routing_of_unit_[unit].empty()) continue;
      SendOverdueReport(unit, now);
      ++sent;
    }
    if (sent > 0) spdlog::info("sent {} overdue reports", sent);
  }

  void SendOverdueReport(uint32_t unit, TimePoint now) {
    v1::Envelope env;
    env.set_protocol_version(wire::kProtocolVersion);
    *env.mutable_overdue_report() = overdue_.ReportFor(unit, directives_, now);
    SendToUnit(unit, wire::Encode(env));
  }

  // Replies of the query worker, to the peers that asked.
  void ForwardAuditReplies() {
    while (auto reply = worker_->TakeReply()) Reply(reply->first, reply->second);
  }

  // Re-reads the key registry if its file changed; a registry that fails to
  // load leaves the last good one in force (logged once per distinct error).
  void ReloadKeys() {
    auto reloaded = keys_->ReloadIfChanged();
    if (!reloaded.ok()) {
      if (reloaded.status().message() != keys_error_) {
        keys_error_ = reloaded.status().message();
        spdlog::error("key registry not reloaded, the previous one stays in force: {}",
                      keys_error_);
      }
      return;
    }
    keys_error_.clear();
    if (reloaded.value()) {
      spdlog::info("key registry {} reloaded ({} keys)", keys_->path(),
                   keys_->registry().records().size());
      if (zap_) {
        zap_->Update(std::make_shared<const KeyRegistry>(keys_->registry()));
        RecheckPeers();
      }
    }
  }

  // After a reload: connections whose key is no longer active are served no
  // more (their unit is forgotten, their messages refused).
  void RecheckPeers() {
    for (auto it = identities_.begin(); it != identities_.end();) {
      auto still = ResolvePeer(keys_->registry(), it->second.user_id);
      if (still.ok()) {
        ++it;
        continue;
      }
      spdlog::warn("no longer serving {}: {}", it->second.identity.Describe(),
                   still.status().message());
      if (auto unit = unit_of_routing_.find(it->first); unit != unit_of_routing_.end()) {
        ForgetUnit(unit->second);
      }
      it = identities_.erase(it);
    }
  }

  // The identity of the connection `routing`, from the key it was admitted
  // with (the User-Id of its messages); cached per connection.
  Result<const PeerIdentity*> IdentityOf(const std::string& routing, const zmq::message_t& body) {
    if (auto it = identities_.find(routing); it != identities_.end()) return &it->second.identity;
    const char* user_id = zmq_msg_gets(const_cast<zmq_msg_t*>(body.handle()), "User-Id");
    if (user_id == nullptr || *user_id == '\0') {
      return Status::PermissionDenied("the connection carries no authenticated key");
    }
    auto identity = ResolvePeer(keys_->registry(), user_id);
    if (!identity.ok()) return identity.status();
    if (identities_.size() > 2 * registry_.size() + 1024) {
      // Connections come and go without notice on a ROUTER; keep those of
      // connected units and forget the rest.
      for (auto it = identities_.begin(); it != identities_.end();) {
        it = unit_of_routing_.contains(it->first) ? std::next(it) : identities_.erase(it);
      }
    }
    auto [it, inserted] =
        identities_.emplace(routing, KnownPeer{std::move(identity).value(), user_id});
    return &it->second.identity;
  }

  // With CURVE: refuses a message its sender may not send, and replaces the
  // name a message claims (the unit of a hello, the publisher of a request)
  // with the authenticated one, refusing a different one. False: refused.
  bool Authorize(const std::string& routing, const zmq::message_t& body, v1::Envelope& env) {
    if (!zap_) return true;
    auto refuse = [&](const std::string& message) {
      spdlog::warn("refused {} message: {}", wire::BodyName(env), message);
      Reply(routing, wire::EncodeError(env.correlation_id(), v1::FORBIDDEN, message));
      return false;
    };
    auto who = IdentityOf(routing, body);
    if (!who.ok()) {
      if (auto unit = unit_of_routing_.find(routing); unit != unit_of_routing_.end()) {
        ForgetUnit(unit->second);
      }
      return refuse(who.status().message());
    }
    const PeerIdentity& id = **who;
    if (Status st = CheckAccess(id, env.body_case()); !st.ok()) return refuse(st.message());
    std::string* claimed = nullptr;
    const char* what = "";
    if (env.has_hello()) {
      claimed = env.mutable_hello()->mutable_unit_code();
      what = "say hello as unit";
    } else if (env.has_publish()) {
      claimed = env.mutable_publish()->mutable_publisher();
      what = "publish as";
    } else if (env.has_lifecycle()) {
      claimed = env.mutable_lifecycle()->mutable_publisher();
      what = "act as publisher";
    }
    if (claimed != nullptr) {
      if (!claimed->empty() && *claimed != id.subject) {
        return refuse(fmt::format("this connection is authenticated as {} (key {}); it cannot {} "
                                  "\"{}\"",
                                  id.Describe(), id.key_id, what, *claimed));
      }
      *claimed = id.subject;
    }
    return true;
  }

  // With a key registry: `d` must carry a signature that verifies with an
  // active signing key of the publisher named `publisher`, and that no stored
  // directive carries already (a replay). Ok in open mode.
  Status CheckSignature(const v1::Directive& d, const std::string& publisher) const {
    if (!keys_) return Status::Ok();
    if (!d.has_signature() || d.signature().key_id().empty()) {
      return Status::InvalidArgument(
          "the directive is not signed; this broker accepts only directives signed with a "
          "registered publisher key (--signing-key)");
    }
    auto key = VerifyDirectiveSignature(d, keys_->registry());
    if (!key.ok()) {
      if (key.status().code() == Status::Code::kNotFound) {
        return Status::PermissionDenied("signature refused: " + key.status().message() +
                                        " (not in the key registry)");
      }
      return Status::PermissionDenied("signature refused: " + key.status().message());
    }
    if (key->subject != publisher) {
      return Status::PermissionDenied("signature refused: signing key " + key->key_id +
                                      " belongs to publisher \"" + key->subject + "\", not \"" +
                                      publisher + "\"");
    }
    if (signatures_.contains(d.signature().signature())) {
      return Status::PermissionDenied(
          "replay refused: a stored directive already carries this signature (a new directive "
          "or amendment needs a new signature; a retry must reuse its idempotency key)");
    }
    return Status::Ok();
  }

  bool Expired(const DirectiveState& state, TimePoint now) const {
    const auto& d = state.stored.directive();
    return d.has_expires() && FromTimestamp(d.expires()) <= now;
  }

  // Every connected terminal learns the head sequence and how many directives
  // addressed to it still lack its durable RECEIVED ack.
  void SendHeartbeats() {
    if (unit_of_routing_.empty()) return;
    TimePoint now = clock_.Now();
    std::vector<uint32_t> unacknowledged(registry_.size(), 0);
    for (const auto& entry : directives_) {
      const DirectiveState& state = entry.second;
      if (state.Settled() || Expired(state, now)) continue;
      ForEachAddressed(state, [&](uint32_t i) {
        if (!state.Received(i)) ++unacknowledged[i];
      });
    }
    v1::Envelope env;
    env.set_protocol_version(wire::kProtocolVersion);
    auto* hb = env.mutable_heartbeat();
    hb->set_head_seq(store_.head_seq());
    std::vector<uint32_t> gone;
    for (const auto& [routing, index] : unit_of_routing_) {
      // A terminal sent something within the interval knows the broker is
      // alive; unless a heartbeat has a repair to ask for, it can wait.
      if (unacknowledged[index] == 0 && now - last_sent_[index] < config_.heartbeat_interval) continue;
      last_sent_[index] = now;
      hb->set_unacknowledged(unacknowledged[index]);
      std::string bytes = wire::Encode(env);
      if (SendFrames(routing, zmq::message_t(bytes.data(), bytes.size())) == SendOutcome::kGone) {
        gone.push_back(index);
      }
    }
    for (uint32_t index : gone) ForgetUnit(index);
  }

  // Sends each directive whose redelivery round is due to the connected
  // addressed units that have not acknowledged it, then doubles its interval
  // (up to redelivery_max). Repairs drops the terminal never noticed.
  void Redeliver(TimePoint now) {
    for (auto& entry : directives_) {
      DirectiveState& state = entry.second;
      if (state.Settled() || Expired(state, now) || now < state.next_redelivery) continue;
      size_t sent = 0, full = 0;
      zmq::message_t shared(state.deliver_bytes.data(), state.deliver_bytes.size());
      ForEachAddressed(state, [&](uint32_t i) {
        if (state.Received(i) || routing_of_unit_[i].empty()) return;
        zmq::message_t body;
        body.copy(shared);
        switch (SendFrames(routing_of_unit_[i], std::move(body))) {
          case SendOutcome::kSent: ++sent; break;
          case SendOutcome::kGone: ForgetUnit(i); break;
          case SendOutcome::kFull: ++full; break;
        }
      });
      ++state.redelivery_round;
      auto interval = config_.redelivery_initial * (int64_t{1} << std::min(state.redelivery_round, 20));
      state.next_redelivery = now + std::min<std::chrono::milliseconds>(
                                        std::chrono::duration_cast<std::chrono::milliseconds>(interval),
                                        config_.redelivery_max);
      if (sent + full > 0) {
        spdlog::info("redelivery round {} of {}: sent to {} units, {} queues full",
                     state.redelivery_round, state.stored.directive().id(), sent, full);
      }
    }
  }

  template <typename Fn>
  void ForEachAddressed(const DirectiveState& state, Fn&& fn) const {
    for (auto [first, last] : state.ranges) {
      for (uint32_t i = first; i < last; ++i) {
        if (state.Targets(registry_.unit(i).tier)) fn(i);
      }
    }
  }

  // ---- incoming ----

  void HandleFrames(std::vector<zmq::message_t>& frames) {
    std::string routing = Frame(frames[0]);
    if (frames.size() != 2) {
      spdlog::warn("refused message with {} frames (expected 1 body frame)", frames.size() - 1);
      Reply(routing, wire::EncodeError(0, v1::MALFORMED,
                                       "expected exactly one body frame, got " +
                                           std::to_string(frames.size() - 1)));
      return;
    }
    const auto& body = frames[1];
    auto decoded = wire::Decode(std::string_view(body.data<char>(), body.size()),
                                config_.max_message_bytes);
    if (!decoded.ok()) {
      auto code = decoded.status().code() == Status::Code::kTooLarge ? v1::TOO_LARGE : v1::MALFORMED;
      spdlog::warn("refused message: {}", decoded.status().message());
      Reply(routing, wire::EncodeError(0, code, decoded.status().message()));
      return;
    }
    v1::Envelope& env = decoded.value();
    if (!Authorize(routing, body, env)) return;
    switch (env.body_case()) {
      case v1::Envelope::kHello:
        OnHello(routing, env.correlation_id(), env.hello());
        break;
      case v1::Envelope::kAck:
        OnAck(routing, env.correlation_id(), env.ack());
        break;
      case v1::Envelope::kPublish:
        OnPublish(routing, env.correlation_id(), env.publish());
        break;
      case v1::Envelope::kLifecycle:
        OnLifecycle(routing, env.correlation_id(), env.lifecycle());
        break;
      case v1::Envelope::kEventsQuery:
        OnEvents(routing, env.correlation_id(), env.events_query());
        break;
      case v1::Envelope::kCoverageQuery:
        OnCoverage(routing, env.correlation_id(), env.coverage_query());
        break;
      case v1::Envelope::kRating:
        OnRating(routing, env.correlation_id(), env.rating());
        break;
      case v1::Envelope::kAuditRequest:
        // Answered off this thread, from the store.
        worker_->Submit(routing, std::string(body.data<char>(), body.size()));
        break;
      default:
        spdlog::warn("refused message type {}", wire::BodyName(env));
        Reply(routing, wire::EncodeError(env.correlation_id(), v1::UNSUPPORTED,
                                         "the broker does not accept \"" +
                                             std::string(wire::BodyName(env)) + "\" messages"));
    }
  }

  void OnHello(const std::string& routing, uint64_t corr, const v1::Hello& hello) {
    auto idx = registry_.Find(hello.unit_code());
    if (!idx) {
      spdlog::warn("hello from unregistered unit \"{}\"", hello.unit_code());
      Reply(routing, wire::EncodeError(corr, v1::NOT_REGISTERED,
                                       "unit \"" + hello.unit_code() + "\" is not in the registry"));
      return;
    }
    // One connection is one unit, and a unit's newest connection replaces its older one.
    if (auto it = unit_of_routing_.find(routing); it != unit_of_routing_.end() && it->second != *idx) {
      routing_of_unit_[it->second].clear();
    }
    if (!routing_of_unit_[*idx].empty() && routing_of_unit_[*idx] != routing) {
      unit_of_routing_.erase(routing_of_unit_[*idx]);
    }
    routing_of_unit_[*idx] = routing;
    unit_of_routing_[routing] = *idx;

    v1::Envelope welcome;
    welcome.set_protocol_version(wire::kProtocolVersion);
    welcome.set_correlation_id(corr);
    auto* w = welcome.mutable_welcome();
    w->set_unit_code(hello.unit_code());
    w->set_unit_name(registry_.unit(*idx).name);
    w->set_head_seq(store_.head_seq());
    w->set_heartbeat_interval_ms(static_cast<uint32_t>(config_.heartbeat_interval.count()));
    Reply(routing, wire::Encode(welcome));

    // Catch-up: everything addressed to the unit that it has not acknowledged.
    // A full queue ends it; heartbeats and redelivery bring the rest later.
    const Unit& unit = registry_.unit(*idx);
    size_t sent = 0, deferred = 0;
    bool stopped = false;
    for (auto& [seq, state] : directives_) {
      if (state.superseded || !state.Addresses(*idx, unit.tier) || state.Received(*idx)) continue;
      if (stopped) {
        ++deferred;
        continue;
      }
      switch (SendToUnit(*idx, state.deliver_bytes)) {
        case SendOutcome::kSent: ++sent; break;
        case SendOutcome::kFull: ++deferred; stopped = true; break;
        case SendOutcome::kGone: return;
      }
    }
    if (deferred > 0) {
      spdlog::info("catch-up of {}: {} sent, {} deferred (send queue full)", unit.code, sent,
                   deferred);
    }
    if (overdue_.HasReport(*idx)) SendOverdueReport(*idx, clock_.Now());
  }

  void OnAck(const std::string& routing, uint64_t corr, const v1::Ack& ack) {
    auto unit_it = unit_of_routing_.find(routing);
    if (unit_it == unit_of_routing_.end()) {
      Reply(routing, wire::EncodeError(corr, v1::NOT_REGISTERED,
                                       "acknowledgement before hello: say which unit you are first"));
      return;
    }
    uint32_t unit_index = unit_it->second;
    const Unit& unit = registry_.unit(unit_index);
    auto dit = directives_.find(ack.seq());
    if (dit == directives_.end()) {
      Reply(routing, wire::EncodeError(corr, v1::INVALID,
                                       "no directive with sequence " + std::to_string(ack.seq())));
      return;
    }
    DirectiveState& state = dit->second;
    if (ack.directive_id() != state.stored.directive().id()) {
      Reply(routing, wire::EncodeError(corr, v1::INVALID,
                                       "sequence " + std::to_string(ack.seq()) + " is directive " +
                                           state.stored.directive().id() + ", not " +
                                           ack.directive_id()));
      return;
    }
    if (!state.Addresses(unit_index, unit.tier)) {
      Reply(routing, wire::EncodeError(corr, v1::INVALID,
                                       "directive " + ack.directive_id() +
                                           " is not addressed to unit " + unit.code));
      return;
    }
    if (ack.level() < v1::RECEIVED || ack.level() > v1::READY) {
      Reply(routing, wire::EncodeError(corr, v1::INVALID, "unknown acknowledgement level"));
      return;
    }
    if (ack.note().size() > kMaxNoteBytes) {
      Reply(routing, wire::EncodeError(corr, v1::INVALID,
                                       fmt::format("the note is {} bytes; at most {} are kept",
                                                   ack.note().size(), kMaxNoteBytes)));
      return;
    }
    if (state.Has(ack.level(), unit_index) ||
        !pending_ack_keys_.insert({ack.seq(), unit_index, ack.level()}).second) {
      // Durable already, or stored in this pass: the first time stands.
      if (state.Has(ack.level(), unit_index)) QueueAckConfirm(routing, ack.seq(), ack.level());
      return;
    }
    PendingAck p{{ack.seq(), unit.code, ack.level(), {}}, routing, unit_index};
    *p.entry.record.mutable_acked() = ack.acked();
    *p.entry.record.mutable_stored() = ToTimestamp(clock_.Now());
    p.entry.record.set_version(ack.version());
    p.entry.record.set_note(ack.note());
    pending_acks_.push_back(std::move(p));
  }

  void OnRating(const std::string& routing, uint64_t corr, const v1::Rating& rating) {
    auto refuse = [&](const std::string& message) {
      Reply(routing, wire::EncodeError(corr, v1::INVALID, message));
    };
    auto unit_it = unit_of_routing_.find(routing);
    if (unit_it == unit_of_routing_.end()) {
      Reply(routing, wire::EncodeError(corr, v1::NOT_REGISTERED,
                                       "rating before hello: say which unit you are first"));
      return;
    }
    uint32_t unit_index = unit_it->second;
    const Unit& unit = registry_.unit(unit_index);
    auto dit = directives_.find(rating.seq());
    if (dit == directives_.end() || dit->second.stored.directive().id() != rating.directive_id()) {
      return refuse(fmt::format("no directive {} with sequence {}", rating.directive_id(),
                                rating.seq()));
    }
    const DirectiveState& state = dit->second;
    if (!state.Addresses(unit_index, unit.tier) || !state.Received(unit_index)) {
      return refuse(fmt::format("unit {} has not received directive {} (seq {}); a unit rates "
                                "what it received",
                                unit.code, rating.directive_id(), rating.seq()));
    }
    for (auto [name, value] : {std::pair{"clarity", rating.clarity()},
                               std::pair{"feasibility", rating.feasibility()}}) {
      if (value < 1 || value > 5) {
        return refuse(fmt::format("{} must be from 1 to 5, not {}", name, value));
      }
    }
    if (rating.comment().size() > kMaxCommentBytes) {
      return refuse(fmt::format("the comment is {} bytes; at most {} are kept",
                                rating.comment().size(), kMaxCommentBytes));
    }
    TimePoint rated = FromTimestamp(rating.rated());
    auto key = std::make_pair(rating.seq(), unit.code);
    if (auto it = ratings_.find(key); it != ratings_.end() && it->second == rated) {
      QueueRatingConfirm(routing, rating.seq(), rating.rated());  // the same rating again
      return;
    }
    for (const PendingRating& p : pending_ratings_) {
      if (p.entry.seq == rating.seq() && p.entry.unit_code == unit.code &&
          FromTimestamp(p.entry.record.rated()) == rated) {
        return;  // stored in this pass
      }
    }
    PendingRating p{{rating.seq(), unit.code, {}}, routing};
    p.entry.record.set_clarity(rating.clarity());
    p.entry.record.set_feasibility(rating.feasibility());
    p.entry.record.set_comment(rating.comment());
    *p.entry.record.mutable_rated() = rating.rated();
    *p.entry.record.mutable_stored() = ToTimestamp(clock_.Now());
    p.entry.record.set_version(rating.version());
    pending_ratings_.push_back(std::move(p));
  }

  void QueueRatingConfirm(const std::string& routing, uint64_t seq,
                          const google::protobuf::Timestamp& rated) {
    if (confirms_.empty()) confirms_since_ = clock_.Now();
    v1::RatingConfirm* c = confirms_[routing].add_ratings();
    c->set_seq(seq);
    *c->mutable_rated() = rated;
  }

  void QueueAckConfirm(const std::string& routing, uint64_t seq, v1::AckLevel level) {
    if (confirms_.empty()) confirms_since_ = clock_.Now();
    v1::AckConfirm* c = confirms_[routing].add_acks();
    c->set_seq(seq);
    c->set_level(level);
  }

  // One message per terminal: its only confirmation as AckConfirm or
  // RatingConfirm, or several as Confirmations.
  void SendConfirmations() {
    const TimePoint now = clock_.Now();
    v1::Envelope env;
    env.set_protocol_version(wire::kProtocolVersion);
    for (auto& [routing, pending] : confirms_) {
      if (auto unit = unit_of_routing_.find(routing); unit != unit_of_routing_.end()) {
        last_sent_[unit->second] = now;
      }
      if (pending.acks_size() == 1 && pending.ratings_size() == 0) {
        *env.mutable_ack_confirm() = pending.acks(0);
      } else if (pending.acks_size() == 0 && pending.ratings_size() == 1) {
        *env.mutable_rating_confirm() = pending.ratings(0);
      } else {
        *env.mutable_confirmations() = std::move(pending);
      }
      Reply(routing, wire::Encode(env));
    }
    confirms_.clear();
  }

  void OnPublish(const std::string& routing, uint64_t corr, const v1::PublishRequest& req) {
    auto reply_error = [&](v1::ErrorCode code, const std::string& message) {
      spdlog::warn("refused publish from \"{}\": {}", req.publisher(), message);
      Reply(routing, wire::EncodeError(corr, code, message));
    };
    if (!req.idempotency_key().empty()) {
      auto seen = store_.SeqOfIdempotencyKey(req.idempotency_key());
      if (!seen.ok()) return reply_error(v1::INTERNAL, seen.status().message());
      if (seen.value()) {
        const auto& stored = directives_.at(*seen.value()).stored;
        return SendReceipt(routing, corr, stored, /*duplicate=*/true);
      }
    }
    v1::Directive d = req.directive();
    if (!d.id().empty()) return reply_error(v1::INVALID, "id is assigned by the broker; leave it empty");
    if (d.has_sent()) return reply_error(v1::INVALID, "sent is set by the broker; leave it empty");
    if (auto st = CheckSignature(d, req.publisher()); !st.ok()) {
      return reply_error(st.code() == Status::Code::kPermissionDenied ? v1::FORBIDDEN : v1::INVALID,
                         st.message());
    }
    if (auto st = ValidateDirective(d, registry_); !st.ok()) {
      return reply_error(v1::INVALID, st.message());
    }
    for (const auto& ref : d.references()) {
      auto seq = store_.SeqOfId(ref);
      if (!seq.ok()) return reply_error(v1::INTERNAL, seq.status().message());
      if (!seq.value()) return reply_error(v1::INVALID, "referenced directive " + ref + " is unknown");
    }
    const Publisher* publisher = nullptr;
    if (!publishers_.open()) {
      publisher = publishers_.Find(req.publisher());
      if (publisher == nullptr) {
        return reply_error(v1::NOT_REGISTERED,
                           "publisher \"" + req.publisher() + "\" is not registered");
      }
      if (d.issuer_unit() != publisher->unit || d.issuer_department() != publisher->department) {
        return reply_error(v1::FORBIDDEN, "publisher \"" + publisher->name + "\" publishes for " +
                                              publisher->unit + " " + publisher->department +
                                              ", not " + d.issuer_unit() + " " +
                                              d.issuer_department());
      }
    }
    TimePoint now = clock_.Now();
    StoreWrite write;
    v1::PublicRecord record;
    std::vector<v1::LifecycleEvent> events;
    if (auto st = DecideRelease(req, publisher, now, config_.public_lead_time, d, record, events); !st.ok()) {
      return reply_error(st.code() == Status::Code::kPermissionDenied ? v1::FORBIDDEN : v1::INVALID,
                         st.message());
    }
    std::string day_key = d.issuer_unit() + "-" + d.issuer_department() + "-" +
                          FormatTime(now).substr(0, 10);
    auto counter = store_.DailyCounter(day_key);
    if (!counter.ok()) return reply_error(v1::INTERNAL, counter.status().message());
    uint32_t daily = counter.value() + 1;
    d.set_id(MakeDirectiveId(d.issuer_unit(), d.issuer_department(), now, daily));
    *d.mutable_sent() = ToTimestamp(now);
    d.set_version(1);
    d.set_msg_type(v1::ALERT);
    d.set_format_version(kDirectiveFormatVersion);
    if (!d.has_created()) *d.mutable_created() = d.sent();

    v1::StoredDirective stored;
    stored.set_seq(store_.head_seq() + 1);
    *stored.mutable_directive() = std::move(d);
    stored.set_idempotency_key(req.idempotency_key());
    stored.set_publisher(req.publisher());
    stored.set_addressed_units(static_cast<uint32_t>(AddressedUnits(stored.directive(), registry_).size()));
    const std::string& id = stored.directive().id();
    record.set_directive_id(id);
    record.set_latest_seq(stored.seq());
    record.set_latest_version(1);
    record.set_publisher(req.publisher());
    *record.mutable_first_sent() = stored.directive().sent();
    for (auto& e : events) Stamp(e, stored, now, req.publisher());
    write.directive = &stored;
    write.counters.emplace_back(day_key, daily);
    write.public_records.push_back(record);
    write.events = events;
    if (auto st = store_.Write(std::move(write)); !st.ok()) {
      spdlog::error("storing directive failed: {}", st.ToString());
      return reply_error(v1::INTERNAL, "directive not stored: " + st.message());
    }
    DirectiveState& state = AddDirective(stored);
    state.next_redelivery = now + config_.redelivery_initial;
    SetPublicRecord(record);
    spdlog::info("stored directive {} seq {} for {} units ({})", id, stored.seq(),
                 stored.addressed_units(),
                 record.state() == v1::PublicRecord::HELD
                     ? "public at " + FormatTime(FromTimestamp(record.release_at()))
                     : "internal only");
    SendReceipt(routing, corr, state.stored, /*duplicate=*/false);
    FanOut(state);
  }

  // ---- the public hold ----

  void SetPublicRecord(const v1::PublicRecord& r) {
    auto it = public_.find(r.directive_id());
    if (it != public_.end() && it->second.state() == v1::PublicRecord::HELD) {
      holds_.erase({FromTimestamp(it->second.release_at()), r.directive_id()});
    }
    public_[r.directive_id()] = r;
    if (r.state() == v1::PublicRecord::HELD) {
      holds_.emplace(FromTimestamp(r.release_at()), r.directive_id());
    }
  }

  // Releases every hold that has fallen due; after a restart that includes
  // those that fell due while the broker was down, recorded as late.
  void ReleaseDue(TimePoint now) {
    bool changed = false;
    while (!holds_.empty() && holds_.begin()->first <= now) {
      auto [due, id] = *holds_.begin();
      v1::PublicRecord r = public_.at(id);
      const v1::StoredDirective& latest = directives_.at(r.latest_seq()).stored;
      const auto& d = latest.directive();
      std::string key = "public/" + d.issuer_unit() + "-" + d.issuer_department() + "-" +
                        FormatTime(now).substr(0, 10);
      auto counter = store_.DailyCounter(key);
      if (!counter.ok()) {
        spdlog::error("release of {} postponed: {}", id, counter.status().ToString());
        return;
      }
      uint32_t n = counter.value() + 1;
      auto late = std::chrono::duration_cast<std::chrono::milliseconds>(now - due);
      r.set_state(v1::PublicRecord::RELEASED);
      *r.mutable_released_at() = ToTimestamp(now);
      r.set_late_by_ms(late.count());
      std::string date = FormatTime(now).substr(0, 10);
      date.erase(std::remove(date.begin(), date.end(), '-'), date.end());
      r.set_public_id(fmt::format("{}-{}-{}-P{:04d}", d.issuer_unit(), d.issuer_department(), date, n));
      auto e = Event(v1::LifecycleEvent::RELEASED);
      Stamp(e, latest, now, "");
      *e.mutable_release_at() = ToTimestamp(due);
      e.set_late_by_ms(late.count());
      StoreWrite w;
      w.counters.emplace_back(key, n);
      w.public_records.push_back(r);
      w.events.push_back(e);
      if (auto st = store_.Write(std::move(w)); !st.ok()) {
        spdlog::error("release of {} postponed: {}", id, st.ToString());
        return;
      }
      SetPublicRecord(r);
      changed = true;
      if (late > std::chrono::seconds(1)) {
        spdlog::warn("released {} as {} late by {}", id, r.public_id(), FormatDuration(late));
      } else {
        spdlog::info("released {} as {}", id, r.public_id());
      }
    }
    if (changed) RebuildFeed();
  }

  void RebuildFeed() {
    if (!feed_) return;
    feed_->Publish(BuildFeedSnapshot(
        public_, [&](uint64_t seq) -> const v1::StoredDirective& { return directives_.at(seq).stored; },
        registry_, ++feed_generation_));
  }

  // ---- lifecycle: amend, cancel, extend the hold, release early ----

  void OnLifecycle(const std::string& routing, uint64_t corr, const v1::LifecycleRequest& req) {
    auto refuse = [&](v1::ErrorCode code, const std::string& message) {
      spdlog::warn("refused {} of {} by \"{}\": {}",
                   v1::LifecycleRequest::Action_Name(req.action()), req.directive_id(),
                   req.publisher(), message);
      Reply(routing, wire::EncodeError(corr, code, message));
    };
    auto pit = public_.find(req.directive_id());
    if (pit == public_.end()) {
      return refuse(v1::NOT_FOUND, "no directive with id \"" + req.directive_id() + "\"");
    }
    v1::PublicRecord record = pit->second;
    const v1::StoredDirective& latest = directives_.at(record.latest_seq()).stored;
    if (!req.idempotency_key().empty()) {
      auto seen = store_.SeqOfIdempotencyKey(req.idempotency_key());
      if (!seen.ok()) return refuse(v1::INTERNAL, seen.status().message());
      if (seen.value()) return SendLifecycleReply(routing, corr, record);
    }
    const Publisher* publisher = nullptr;
    if (!publishers_.open()) {
      publisher = publishers_.Find(req.publisher());
      if (publisher == nullptr) {
        return refuse(v1::NOT_REGISTERED, "publisher \"" + req.publisher() + "\" is not registered");
      }
    }
    if (req.publisher() != record.publisher() && !(publisher != nullptr && publisher->manage_any)) {
      return refuse(v1::FORBIDDEN, "directive " + req.directive_id() + " was published by \"" +
                                       record.publisher() +
                                       "\"; only its publisher or one with the manage_any right "
                                       "may change it");
    }
    if (record.state() == v1::PublicRecord::CANCELLED_BEFORE_RELEASE ||
        record.state() == v1::PublicRecord::CANCELLED_AFTER_RELEASE) {
      return refuse(v1::INVALID, "directive " + req.directive_id() + " is cancelled");
    }
    TimePoint now = clock_.Now();
    v1::Directive next;
    v1::LifecycleEvent event;
    auto check_amendment = [&](const v1::Directive& amended) {
      FLATCAST_RETURN_IF_ERROR(ValidateDirective(amended, registry_));
      return CheckSignature(amended, req.publisher());
    };
    if (auto st = PlanTransition(req, publisher, now, latest.directive(), check_amendment, next,
                                 record, event);
        !st.ok()) {
      return refuse(st.code() == Status::Code::kPermissionDenied ? v1::FORBIDDEN : v1::INVALID,
                    st.message());
    }
    event.set_reason(req.reason());
    next.set_id(req.directive_id());
    next.set_version(latest.directive().version() + 1);
    if (next.msg_type() != v1::CANCEL) next.set_msg_type(v1::UPDATE);
    *next.mutable_sent() = ToTimestamp(now);
    next.clear_references();
    next.add_references(req.directive_id());
    next.set_format_version(kDirectiveFormatVersion);

    v1::StoredDirective stored;
    stored.set_seq(store_.head_seq() + 1);
    *stored.mutable_directive() = std::move(next);
    stored.set_idempotency_key(req.idempotency_key());
    stored.set_publisher(req.publisher());
    stored.set_addressed_units(
        static_cast<uint32_t>(AddressedUnits(stored.directive(), registry_).size()));
    record.set_latest_seq(stored.seq());
    record.set_latest_version(stored.directive().version());
    Stamp(event, stored, now, req.publisher());
    StoreWrite w;
    w.directive = &stored;
    w.public_records.push_back(record);
    w.events.push_back(event);
    if (auto st = store_.Write(std::move(w)); !st.ok()) {
      return refuse(v1::INTERNAL, "nothing changed: " + st.message());
    }
    directives_.at(latest.seq()).superseded = true;
    DirectiveState& state = AddDirective(stored);
    state.next_redelivery = now + config_.redelivery_initial;
    bool public_changed = record.state() == v1::PublicRecord::CANCELLED_AFTER_RELEASE ||
                          record.state() == v1::PublicRecord::RELEASED;
    SetPublicRecord(record);
    spdlog::info("{} {}: version {} seq {}", v1::LifecycleEvent::Kind_Name(event.kind()),
                 req.directive_id(), stored.directive().version(), stored.seq());
    if (public_changed) RebuildFeed();
    SendLifecycleReply(routing, corr, record);
    FanOut(state);
  }

  void SendLifecycleReply(const std::string& routing, uint64_t corr, const v1::PublicRecord& r) {
    v1::Envelope env;
    env.set_protocol_version(wire::kProtocolVersion);
    env.set_correlation_id(corr);
    auto* reply = env.mutable_lifecycle_reply();
    reply->set_directive_id(r.directive_id());
    reply->set_version(r.latest_version());
    reply->set_seq(r.latest_seq());
    *reply->mutable_public_record() = r;
    Reply(routing, wire::Encode(env));
  }

  void OnEvents(const std::string& routing, uint64_t corr, const v1::EventsQuery& q) {
    v1::Envelope env;
    env.set_protocol_version(wire::kProtocolVersion);
    env.set_correlation_id(corr);
    auto* reply = env.mutable_events_reply();
    auto st = store_.ForEachEvent(q.directive_id(), [&](const v1::LifecycleEvent& e) {
      *reply->add_events() = e;
    });
    if (!st.ok()) return Reply(routing, wire::EncodeError(corr, v1::INTERNAL, st.message()));
    if (!q.directive_id().empty() && reply->events_size() == 0) {
      return Reply(routing, wire::EncodeError(corr, v1::NOT_FOUND,
                                              "no directive with id \"" + q.directive_id() + "\""));
    }
    Reply(routing, wire::Encode(env));
  }

  void OnCoverage(const std::string& routing, uint64_t corr, const v1::CoverageQuery& q) {
    auto id_it = seq_of_id_.find(q.directive_id());
    if (id_it == seq_of_id_.end()) {
      Reply(routing, wire::EncodeError(corr, v1::NOT_FOUND,
                                       "no directive with id \"" + q.directive_id() + "\""));
      return;
    }
    if (!q.region().empty() && !registry_.Find(q.region())) {
      Reply(routing, wire::EncodeError(corr, v1::INVALID,
                                       "region \"" + q.region() + "\" is not in the registry"));
      return;
    }
    const DirectiveState& state = directives_.at(id_it->second);
    v1::Envelope env;
    env.set_protocol_version(wire::kProtocolVersion);
    env.set_correlation_id(corr);
    auto* r = env.mutable_coverage_reply();
    *r->mutable_directive() = state.stored;
    r->set_region(q.region());
    std::array<v1::TierCount, 6> tiers;
    uint32_t addressed = 0, acknowledged = 0, missing = 0, connected = 0;
    auto region = q.region().empty() ? std::pair<uint32_t, uint32_t>{0, registry_.size()}
                                     : registry_.SubtreeRange(q.region());
    for (auto [first, last] : state.ranges) {
      first = std::max(first, region.first);
      last = std::min(last, region.second);
      for (uint32_t i = first; i < last; ++i) {
        Tier tier = registry_.unit(i).tier;
        if (!state.Targets(tier)) continue;
        auto& tc = tiers[static_cast<int>(tier)];
        tc.set_addressed(tc.addressed() + 1);
        ++addressed;
        if (!routing_of_unit_[i].empty()) ++connected;
        if (state.Received(i)) {
          tc.set_acknowledged(tc.acknowledged() + 1);
          ++acknowledged;
        } else {
          if (missing < q.max_missing()) {
            r->add_missing(registry_.unit(i).code);
            r->add_missing_names(registry_.unit(i).name);
          }
          ++missing;
        }
      }
    }
    for (Tier t : kAllTiers) {
      auto& tc = tiers[static_cast<int>(t)];
      if (tc.addressed() == 0) continue;
      tc.set_tier(static_cast<v1::Tier>(t));
      *r->add_tiers() = tc;
    }
    r->set_addressed(addressed);
    r->set_acknowledged(acknowledged);
    r->set_missing_total(missing);
    r->set_connected_now(connected);
    if (state.received_count() > 0) *r->mutable_last_ack_stored() = ToTimestamp(state.last_ack_stored);
    Reply(routing, wire::Encode(env));
  }

  // ---- state ----

  DirectiveState& AddDirective(const v1::StoredDirective& stored) {
    DirectiveState& state = directives_[stored.seq()];
    state.stored = stored;
    const auto& d = stored.directive();
    for (int t : d.target_tiers()) state.tier_mask |= static_cast<uint8_t>(1u << t);
    std::vector<std::string> scope(d.scope().begin(), d.scope().end());
    std::sort(scope.begin(), scope.end());
    std::string last;
    for (const auto& code : scope) {
      if (!last.empty() && Registry::IsWithin(code, last)) continue;  // covered by an ancestor
      state.ranges.push_back(registry_.SubtreeRange(code));
      last = code;
    }
    for (auto& bits : state.acked) bits.assign(registry_.size(), false);
    v1::Envelope env;
    env.set_protocol_version(wire::kProtocolVersion);
    *env.mutable_deliver()->mutable_directive() = stored;
    state.deliver_bytes = wire::Encode(env);
    seq_of_id_[d.id()] = stored.seq();
    if (!d.signature().signature().empty()) signatures_.insert(d.signature().signature());
    return state;
  }

  // Group commit: the acknowledgements and ratings of one pass in one synced
  // write, then their confirmations.
  void FlushAcks() {
    if (pending_acks_.empty() && pending_ratings_.empty()) return;
    std::vector<AckEntry> entries;
    entries.reserve(pending_acks_.size());
    for (const auto& p : pending_acks_) entries.push_back(p.entry);
    std::vector<RatingEntry> ratings;
    for (const auto& p : pending_ratings_) ratings.push_back(p.entry);
    auto clear = [&] {
      pending_acks_.clear();
      pending_ack_keys_.clear();
      pending_ratings_.clear();
    };
    if (auto st = store_.PutFeedback(entries, ratings); !st.ok()) {
      // Not confirmed, so terminals send them again.
      spdlog::error("storing {} acknowledgements and {} ratings failed: {}", entries.size(),
                    ratings.size(), st.ToString());
      clear();
      return;
    }
    TimePoint durable = clock_.Now();
    for (const auto& p : pending_acks_) {
      DirectiveState& state = directives_.at(p.entry.seq);
      state.Mark(p.entry.level, p.unit_index);
      if (p.entry.level == v1::RECEIVED) state.last_ack_stored = durable;
      QueueAckConfirm(p.routing_id, p.entry.seq, p.entry.level);
    }
    for (const auto& p : pending_ratings_) {
      ratings_[{p.entry.seq, p.entry.unit_code}] = FromTimestamp(p.entry.record.rated());
      QueueRatingConfirm(p.routing_id, p.entry.seq, p.entry.record.rated());
    }
    clear();
  }

  // ---- outgoing ----

  void FanOut(DirectiveState& state) {
    const TimePoint now = clock_.Now();
    zmq::message_t shared(state.deliver_bytes.data(), state.deliver_bytes.size());
    size_t sent = 0, offline = 0, dropped = 0;
    ForEachAddressed(state, [&](uint32_t i) {
      if (routing_of_unit_[i].empty()) {
        ++offline;
        return;
      }
      zmq::message_t body;
      body.copy(shared);  // shares the buffer; no copy per unit
      switch (SendFrames(routing_of_unit_[i], std::move(body))) {
        case SendOutcome::kSent: ++sent; last_sent_[i] = now; break;
        case SendOutcome::kGone: ForgetUnit(i); ++offline; break;
        case SendOutcome::kFull: ++dropped; break;
      }
    });
    spdlog::info("fan-out of {}: sent to {} connected units, {} offline, {} dropped (queue full)",
                 state.stored.directive().id(), sent, offline, dropped);
  }

  enum class SendOutcome { kSent, kGone, kFull };

  SendOutcome SendFrames(const std::string& routing, zmq::message_t body) {
    try {
      zmq::message_t id(routing.data(), routing.size());
      if (!socket_.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
        return SendOutcome::kFull;
      }
      socket_.send(body, zmq::send_flags::dontwait);
      return SendOutcome::kSent;
    } catch (const zmq::error_t& e) {
      if (e.num() == EHOSTUNREACH) return SendOutcome::kGone;
      spdlog::error("send failed: {}", e.what());
      return SendOutcome::kFull;
    }
  }

  SendOutcome SendToUnit(uint32_t index, const std::string& bytes) {
    SendOutcome outcome = SendFrames(routing_of_unit_[index], zmq::message_t(bytes.data(), bytes.size()));
    if (outcome == SendOutcome::kGone) ForgetUnit(index);
    return outcome;
  }

  void ForgetUnit(uint32_t index) {
    unit_of_routing_.erase(routing_of_unit_[index]);
    routing_of_unit_[index].clear();
  }

  void Reply(const std::string& routing, const std::string& bytes) {
    if (SendFrames(routing, zmq::message_t(bytes.data(), bytes.size())) == SendOutcome::kGone) {
      if (auto it = unit_of_routing_.find(routing); it != unit_of_routing_.end()) ForgetUnit(it->second);
    }
  }

  void SendReceipt(const std::string& routing, uint64_t corr, const v1::StoredDirective& stored,
                   bool duplicate) {
    v1::Envelope env;
    env.set_protocol_version(wire::kProtocolVersion);
    env.set_correlation_id(corr);
    auto* r = env.mutable_receipt();
    r->set_id(stored.directive().id());
    r->set_seq(stored.seq());
    r->set_addressed_units(stored.addressed_units());
    r->set_duplicate(duplicate);
    *r->mutable_sent() = stored.directive().sent();
    Reply(routing, wire::Encode(env));
  }

  const BrokerConfig config_;
  const Registry& registry_;
  Store& store_;
  const Clock& clock_;
  zmq::context_t& ctx_;
  zmq::socket_t socket_;
  std::string endpoint_;

  std::map<uint64_t, DirectiveState> directives_;
  std::unordered_map<std::string, uint64_t> seq_of_id_;
  std::vector<std::string> routing_of_unit_;  // indexed by registry index; empty: not connected
  // When each unit was last sent a delivery, confirmation or heartbeat.
  std::vector<TimePoint> last_sent_;
  std::unordered_map<std::string, uint32_t> unit_of_routing_;
  std::vector<PendingAck> pending_acks_;
  std::set<std::tuple<uint64_t, uint32_t, int>> pending_ack_keys_;  // (seq, unit, level) this pass
  std::vector<PendingRating> pending_ratings_;
  // The rated time of each unit's stored rating, by (seq, unit code): a
  // rating sent again is confirmed, not stored twice.
  std::map<std::pair<uint64_t, std::string>, TimePoint> ratings_;
  OverdueTracker overdue_;
  // Confirmations of durable acknowledgements and ratings not sent yet, by
  // routing id (SendConfirmations), and when the oldest was queued.
  std::unordered_map<std::string, v1::Confirmations> confirms_;
  TimePoint confirms_since_{};
  std::unique_ptr<QueryWorker> worker_;
  TimePoint next_heartbeat_{};
  TimePoint next_redelivery_check_{};

  PublisherDirectory publishers_;
  std::unordered_map<std::string, v1::PublicRecord> public_;  // by directive id
  std::set<std::pair<TimePoint, std::string>> holds_;         // (release_at, id) of HELD ones
  std::unique_ptr<PublicFeed> feed_;
  std::string http_endpoint_;
  uint64_t feed_generation_ = 0;

  // Set when the config names a key registry: signatures are checked.
  std::optional<KeyRegistryWatcher> keys_;
  std::string keys_error_;  // the last reload error, logged once
  TimePoint next_keys_check_{};
  static constexpr std::chrono::seconds kKeysCheckPeriod{1};
  // Signature bytes of every stored directive version, to refuse replays.
  std::unordered_set<std::string> signatures_;

  // With CURVE (curve_secret_key): admits connections by key.
  std::unique_ptr<ZapHandler> zap_;
  struct KnownPeer {
    PeerIdentity identity;
    std::string user_id;  // the key in Z85
  };
  std::unordered_map<std::string, KnownPeer> identities_;  // by routing id
  std::optional<HandshakeMonitor> handshakes_;
  // (event, value) -> (last logged, failures since)
  std::map<std::pair<int, int>, std::pair<TimePoint, int>> handshake_failures_;
};

Broker::Broker(const BrokerConfig& config, const Registry& registry, Store& store,
               const Clock& clock, zmq::context_t& ctx)
    : impl_(std::make_unique<Impl>(config, registry, store, clock, ctx)) {}
Broker::~Broker() = default;

Status Broker::Start() { return impl_->Start(); }
const std::string& Broker::endpoint() const { return impl_->endpoint(); }
const std::string& Broker::http_endpoint() const { return impl_->http_endpoint(); }
Status Broker::PollOnce(std::chrono::milliseconds timeout) { return impl_->PollOnce(timeout); }

Status Broker::Run(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    FLATCAST_RETURN_IF_ERROR(impl_->PollOnce(std::chrono::milliseconds(100)));
  }
  return Status::Ok();
}

}  // namespace flatcast::broker
