#include "flatcast/subscriber/swarm.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "flatcast/rpc_client.h"
#include "flatcast/clock.h"
#include "flatcast/curve.h"
#include "flatcast/subscriber/inbox.h"
#include "flatcast/subscriber/terminal_session.h"
#include "flatcast/subscriber/warm_switch.h"
#include "flatcast/zmq_tuning.h"

namespace flatcast::subscriber {

namespace {

constexpr size_t kFdsPerUnit = 2;
constexpr size_t kSpareFds = 64;
constexpr int kMaxEpollEvents = 512;
constexpr auto kHelloCheckInterval = std::chrono::milliseconds(100);
constexpr auto kSweepInterval = std::chrono::seconds(1);
constexpr uint64_t kLoggedErrors = 20;
// The epoll tag of a terminal's warm socket: its index with this bit.
constexpr uint32_t kWarmTag = 0x80000000u;
// With warm connections, a broken connection is retried after 5-10 s
// (libzmq adds a random part of up to reconnect_ivl): a failover needs no
// reconnect, and the terminals' connections to a broker that comes back
// (the old leader, as the standby) are spread over five seconds instead of
// arriving as one storm of CURVE handshakes while it resyncs.
constexpr int kWarmReconnectIvlMs = 5000;

using Steady = std::chrono::steady_clock;

struct SwarmTerminal {
  SwarmTerminal(std::string code, Tier tier, Clock& clock, SessionOptions options, bool fetch)
      : inbox(/*keep_directives=*/false),
        documents(fetch ? std::make_unique<DocumentFetcher>(clock) : nullptr),
        session(std::move(code), tier, inbox, clock, nullptr, WithDocuments(options, documents.get(), &shelf)),
        warm_switch(Steady::now()) {}

  static SessionOptions WithDocuments(SessionOptions options, DocumentFetcher* documents, HashingShelf* shelf) {
    if (documents != nullptr) {
      options.documents = documents;
      options.shelf = shelf;
    }
    return options;
  }

  MemoryInbox inbox;
  HashingShelf shelf;
  std::unique_ptr<DocumentFetcher> documents;  // with SwarmOptions::fetch_documents
  TerminalSession session;
  std::optional<CurveClientKeys> curve;  // derived once, reused by every socket
  std::optional<zmq::socket_t> socket;
  bool writable = false;  // a completed connection exists (ZMQ_IMMEDIATE)
  bool complete = false;
  size_t broker = 0;  // which of a pair's endpoints it connects to
  // Without a warm connection, the broker answered NOT_LEADER: reconnect to
  // this endpoint index.
  std::optional<size_t> move_to;
  // With warm standby connections: the socket to the other broker, idle
  // until a switch makes it the one above (SwarmOptions::warm_standby).
  std::optional<zmq::socket_t> warm;
  bool warm_writable = false;
  size_t warm_broker = 0;
  WarmSwitch warm_switch;  // when to switch to `warm`
};

double Ms(int64_t us) { return static_cast<double>(us) / 1000.0; }

class SwarmRunner {
 public:
  SwarmRunner(const Registry& registry, const SwarmOptions& options,
              const std::vector<uint32_t>& units, std::ostream& progress)
      : options_(options),
        progress_(progress),
        // Twice the units (three times with warm connections): a socket
        // closed by Reopen counts until libzmq's reaper has taken it, and a
        // pair's failover reopens many at once.
        context_(1, static_cast<int>((WarmStandby(options) ? 3 : 2) * units.size() + kSpareFds)),
        warm_(WarmStandby(options)),
        jitter_(std::random_device{}()) {
    // libzmq's "tcp://source;destination" form binds each connection's local end.
    // A pair's brokers (docs/HA.md): "tcp://a,tcp://b".
    for (std::string to : SplitEndpoints(options.endpoint)) {
      brokers_.push_back(to);
      if (!options.source_address.empty() && to.rfind("tcp://", 0) == 0) {
        to = "tcp://" + options.source_address + ":0;" + to.substr(6);
      }
      connect_to_.push_back(to);
    }
    if (connect_to_.empty()) {
      brokers_.push_back(options.endpoint);
      connect_to_.push_back(options.endpoint);
    }
    terminals_.reserve(units.size());
    SessionOptions session_options;
    session_options.auto_levels = options.auto_levels;
    if (options.answer_forms) session_options.auto_answer = SampleReturnValues;
    for (uint32_t index : units) {
      const Unit& unit = registry.unit(index);
      terminals_.push_back(
          std::make_unique<SwarmTerminal>(unit.code, unit.tier, clock_, session_options, options.fetch_documents));
    }
  }

  // Derives every unit's CURVE key when the swarm runs with a seed.
  Status DeriveKeys() {
    if (options_.key_seed.empty()) return Status::Ok();
    for (auto& t : terminals_) {
      Result<KeyPair> pair = DeriveUnitCurveKey(options_.key_seed, t->session.unit_code());
      if (!pair.ok()) return pair.status();
      t->curve = CurveClientKeys{pair->public_key, pair->secret_key, options_.broker_public_key};
    }
    return Status::Ok();
  }

  ~SwarmRunner() {
    // Nothing worth waiting for is left in the queues at exit: every ack
    // that matters has been confirmed or will be redelivered.
    for (auto& t : terminals_) {
      for (std::optional<zmq::socket_t>* s : {&t->socket, &t->warm}) {
        if (!*s) continue;
        (*s)->set(zmq::sockopt::linger, 0);
        (*s)->close();
      }
    }
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
  }

  Result<SwarmSummary> Run(const std::atomic<bool>& stop) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0)
      return Status::IOError(fmt::format("epoll_create1: {}", std::strerror(errno)));
    start_ = Steady::now();
    auto next_progress = start_ + options_.progress_interval;
    auto next_hello_check = start_ + kHelloCheckInterval;
    auto next_sweep = start_ + kSweepInterval;
    epoll_event events[kMaxEpollEvents];

    SwarmSummary summary;
    while (true) {
      if (stop.load()) {
        summary.interrupted = true;
        break;
      }
      if (options_.expect && complete_count_ == terminals_.size()) break;
      auto now = Steady::now();
      if (options_.timeout.count() > 0 && now - start_ >= options_.timeout) {
        summary.timed_out = options_.expect.has_value();
        break;
      }

      if (next_to_connect_ < terminals_.size()) {
        FLATCAST_RETURN_IF_ERROR(ConnectBatch());
      } else if (warm_ && next_to_warm_ < terminals_.size()) {
        FLATCAST_RETURN_IF_ERROR(WarmBatch());
      }

      bool connecting = next_to_connect_ < terminals_.size() ||
                        (warm_ && next_to_warm_ < terminals_.size());
      int timeout_ms = connecting ? 1 : 20;
      int n = ::epoll_wait(epoll_fd_, events, kMaxEpollEvents, timeout_ms);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::IOError(fmt::format("epoll_wait: {}", std::strerror(errno)));
      }
      for (int i = 0; i < n; ++i) {
        uint32_t tag = events[i].data.u32;
        (tag & kWarmTag) ? ServiceWarm(tag & ~kWarmTag) : Service(tag);
      }

      now = Steady::now();
      if (now >= next_hello_check) {
        next_hello_check = now + kHelloCheckInterval;
        TimePoint wall = clock_.Now();
        size_t reopened = 0;
        for (uint32_t i = 0; i < next_to_connect_; ++i) {
          SwarmTerminal& t = *terminals_[i];
          if (t.warm) {
            FLATCAST_RETURN_IF_ERROR(CheckWarm(i, now, wall, reopened));
            continue;
          }
          if (t.move_to || t.session.ConnectionLooksDead(wall)) {
            if (reopened < options_.connect_batch) {
              ++reopened;
              t.broker = t.move_to ? *t.move_to : (t.broker + 1) % connect_to_.size();
              t.move_to.reset();
              FLATCAST_RETURN_IF_ERROR(Reopen(i));
            }
            continue;
          }
          if (t.writable && t.session.NeedsHelloRetry(wall)) Service(i);
          if (t.writable && t.documents && !t.documents->idle()) {
            // A document asked for again after a wait (the broker was busy).
            out_.clear();
            t.session.PollDocuments(out_);
            for (const std::string& bytes : out_) Send(*t.socket, bytes);
          }
        }
      }
      if (now >= next_sweep) {
        // Edge-triggered readiness is easy to miss in corner cases (a state
        // change consumed inside a send); a cheap sweep makes it harmless.
        next_sweep = now + kSweepInterval;
        for (uint32_t i = 0; i < next_to_connect_; ++i) {
          Service(i);
          if (terminals_[i]->warm) ServiceWarm(i);
        }
      }
      if (now >= next_progress) {
        next_progress = now + options_.progress_interval;
        progress_ << Summarize().ProgressJson() << std::endl;
      }
    }
    SwarmSummary final_summary = Summarize();
    final_summary.interrupted = summary.interrupted;
    final_summary.timed_out = summary.timed_out;
    return final_summary;
  }

  void WriteLatencies(std::ostream& out) const {
    for (const auto& t : terminals_) {
      const auto& us = t->session.LatenciesUs();
      const auto& seqs = t->session.LatencySeqs();
      for (size_t i = 0; i < us.size() && i < seqs.size(); ++i) out << seqs[i] << '\t' << us[i] << '\n';
    }
    out.flush();
  }

  void WriteInboxes(std::ostream& out) const {
    for (const auto& t : terminals_) {
      out << t->session.unit_code() << '\t';
      bool first = true;
      for (const InboxEntry& entry : t->inbox.List()) {
        out << (first ? "" : ",") << entry.id << ".v" << entry.version;
        first = false;
      }
      out << '\n';
    }
    out.flush();
  }

 private:
  Status ConnectBatch() {
    // Connections whose handshake is not done yet (ZMQ_IMMEDIATE: a socket
    // becomes writable when it is).
    size_t connecting = next_to_connect_ > connected_ ? next_to_connect_ - connected_ : 0;
    if (connecting >= options_.connect_window) return Status::Ok();
    size_t room = std::min(options_.connect_batch, options_.connect_window - connecting);
    size_t end = std::min(terminals_.size(), next_to_connect_ + room);
    for (; next_to_connect_ < end; ++next_to_connect_) {
      FLATCAST_RETURN_IF_ERROR(OpenSocket(static_cast<uint32_t>(next_to_connect_)));
    }
    return Status::Ok();
  }

  static bool WarmStandby(const SwarmOptions& options) {
    return options.warm_standby && SplitEndpoints(options.endpoint).size() >= 2;
  }

  // Warm connections are opened once every terminal has its first, paced
  // like those (connect_window handshakes at once).
  Status WarmBatch() {
    size_t warming = next_to_warm_ > warm_connected_ ? next_to_warm_ - warm_connected_ : 0;
    if (warming >= options_.connect_window) return Status::Ok();
    size_t room = std::min(options_.connect_batch, options_.connect_window - warming);
    size_t end = std::min(terminals_.size(), next_to_warm_ + room);
    for (; next_to_warm_ < end; ++next_to_warm_) {
      uint32_t i = static_cast<uint32_t>(next_to_warm_);
      SwarmTerminal& t = *terminals_[i];
      t.warm_broker = (t.broker + 1) % connect_to_.size();
      FLATCAST_RETURN_IF_ERROR(Connect(t, t.warm, t.warm_broker, i | kWarmTag));
      ServiceWarm(i);
    }
    return Status::Ok();
  }

  // Gives terminal `i` a new socket connecting to the broker, watched by the
  // epoll loop.
  Status OpenSocket(uint32_t i) {
    SwarmTerminal& t = *terminals_[i];
    FLATCAST_RETURN_IF_ERROR(Connect(t, t.socket, t.broker, i));
    t.warm_switch.Down(Steady::now());  // not up yet
    Service(i);
    return Status::Ok();
  }

  // A new DEALER in `slot` connecting to broker endpoint `to`, in the epoll
  // set under `tag`.
  Status Connect(SwarmTerminal& t, std::optional<zmq::socket_t>& slot, size_t to, uint32_t tag) {
    slot.emplace(context_, zmq::socket_type::dealer);
    zmq::socket_t& socket = *slot;
    TuneClientSocket(socket);
    // libzmq keeps one timer list per I/O thread and cancels timers by
    // linear search; ZMTP heartbeats cancel one per ping on both ends, so
    // with thousands of connections they alone fill a core here and at the
    // broker. A test swarm does without them; the broker's Heartbeat
    // messages find dead connections instead.
    socket.set(zmq::sockopt::heartbeat_ivl, 0);
    if (warm_) {
      socket.set(zmq::sockopt::reconnect_ivl, kWarmReconnectIvlMs);
      socket.set(zmq::sockopt::reconnect_ivl_max, 0);
    }
    if (options_.rcvhwm > 0) socket.set(zmq::sockopt::rcvhwm, options_.rcvhwm);
    if (t.curve) FLATCAST_RETURN_IF_ERROR(ApplyCurveClient(socket, *t.curve));
    try {
      socket.connect(connect_to_[to]);
    } catch (const zmq::error_t& e) {
      return Status::InvalidArgument(
          fmt::format("cannot connect to \"{}\": {}", brokers_[to], e.what()));
    }
    return Watch(socket, tag, EPOLL_CTL_ADD);
  }

  Status Watch(zmq::socket_t& socket, uint32_t tag, int op) {
    int fd = socket.get(zmq::sockopt::fd);
    epoll_event ev{};
    // ZMQ_FD signals that the socket has commands to process, not that a
    // message is waiting, and only once per change: hence edge-triggered,
    // and Service() reads ZMQ_EVENTS until nothing is left.
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u32 = tag;
    if (::epoll_ctl(epoll_fd_, op, fd, &ev) != 0) {
      return Status::IOError(fmt::format("epoll_ctl: {}", std::strerror(errno)));
    }
    return Status::Ok();
  }

  // A terminal with a warm connection: switches to it when its broker is
  // lost, silent, unanswering or names the other as leader, and the warm
  // connection is up; reconnects (a batch at a time) only when both are
  // silent.
  Status CheckWarm(uint32_t i, Steady::time_point now, TimePoint wall, size_t& reopened) {
    SwarmTerminal& t = *terminals_[i];
    const bool dead = t.session.ConnectionLooksDead(wall);
    WarmSwitch::Seen seen{.up = t.writable,
                          .warm_up = t.warm_writable,
                          .welcomed = t.session.welcomed(),
                          .rejected = t.session.rejected(),
                          .silent = dead};
    switch (t.warm_switch.Decide(now, seen, jitter_)) {
      case WarmSwitch::Action::kSwitch:
        return Switch(i, now);
      case WarmSwitch::Action::kAskAgain:
        if (t.writable && !t.session.welcomed()) {
          Send(*t.socket, t.session.Hello());
          return Status::Ok();
        }
        break;
      case WarmSwitch::Action::kNone:
        break;
    }
    if (dead && reopened < options_.connect_batch) {
      ++reopened;
      return Reopen(i);  // the same broker, over a new connection
    }
    if (t.writable && t.session.NeedsHelloRetry(wall)) Service(i);
    return Status::Ok();
  }

  // The warm connection becomes the terminal's connection and the other the
  // warm one (libzmq keeps reconnecting both); the session says Hello.
  Status Switch(uint32_t i, Steady::time_point now) {
    SwarmTerminal& t = *terminals_[i];
    if (t.writable) --connected_;
    if (t.warm_writable) --warm_connected_;
    t.writable = t.warm_writable = false;
    std::swap(t.socket, t.warm);
    std::swap(t.broker, t.warm_broker);
    FLATCAST_RETURN_IF_ERROR(Watch(*t.socket, i, EPOLL_CTL_MOD));
    FLATCAST_RETURN_IF_ERROR(Watch(*t.warm, i | kWarmTag, EPOLL_CTL_MOD));
    t.session.OnDisconnected();
    t.warm_switch.Switched(now, jitter_);
    ++switches_;
    ServiceWarm(i);
    Service(i);
    return Status::Ok();
  }

  // The warm socket only tracks whether its connection is up; whatever
  // arrives on it (a delivery still in flight from before a switch) is
  // dropped: the broker sends it again after the next Hello.
  void ServiceWarm(uint32_t i) {
    SwarmTerminal& t = *terminals_[i];
    zmq::socket_t& socket = *t.warm;
    while (true) {
      int events = socket.get(zmq::sockopt::events);
      bool writable = (events & ZMQ_POLLOUT) != 0;
      if (writable != t.warm_writable) writable ? ++warm_connected_ : --warm_connected_;
      t.warm_writable = writable;
      if (!(events & ZMQ_POLLIN)) break;
      zmq::message_t message;
      if (!socket.recv(message, zmq::recv_flags::dontwait)) break;
    }
  }

  // Replaces the socket of a terminal whose connection looks dead. The new
  // socket makes a new TCP connection at once; should that attempt fail,
  // libzmq 4.3.4 retries after reconnect_ivl plus a random jitter of up to
  // reconnect_ivl (stream_connecter_base_t::get_new_reconnect_ivl), and
  // Run() reopens at most connect_batch sockets per check, so a swarm that
  // lost its broker all at once does not reconnect in one burst.
  Status Reopen(uint32_t i) {
    SwarmTerminal& t = *terminals_[i];
    // The ZMQ_FD stays open until libzmq's reaper gets to the closed socket,
    // so it is taken out of the epoll set explicitly.
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, t.socket->get(zmq::sockopt::fd), nullptr);
    t.socket->set(zmq::sockopt::linger, 0);
    t.socket->close();
    t.socket.reset();
    if (t.writable) --connected_;
    t.writable = false;
    t.session.OnDisconnected();
    ++reconnects_;
    return OpenSocket(i);
  }

  // Brings one terminal up to date: connection state, Hello when due, and
  // every message waiting. Loops on ZMQ_EVENTS because a send may consume
  // the readiness edge of ZMQ_FD.
  void Service(uint32_t i) {
    SwarmTerminal& t = *terminals_[i];
    zmq::socket_t& socket = *t.socket;
    while (true) {
      int events = socket.get(zmq::sockopt::events);
      bool writable = (events & ZMQ_POLLOUT) != 0;
      if (writable && !t.writable) {
        ++connected_;
        t.session.OnConnected();
        t.warm_switch.Up(Steady::now());
      } else if (!writable && t.writable) {
        --connected_;
        t.session.OnDisconnected();
        t.warm_switch.Down(Steady::now());
      }
      t.writable = writable;
      if (t.writable && t.session.NeedsHelloRetry(clock_.Now())) {
        Send(socket, t.session.Hello());
        continue;
      }
      if (!(events & ZMQ_POLLIN)) break;
      zmq::message_t message;
      if (!socket.recv(message, zmq::recv_flags::dontwait)) break;
      if (message.more()) {
        while (message.more() && socket.recv(message, zmq::recv_flags::dontwait)) {
        }
        NoteError(t, Status::InvalidArgument("multi-frame message from broker ignored"));
        continue;
      }
      out_.clear();
      Status status = t.session.OnMessage(message.to_string_view(), out_);
      if (!status.ok()) NoteError(t, status);
      if (std::optional<std::string> leader = t.session.TakeRedirect()) {
        // A standby: the leader it names, else the next endpoint (the
        // check loop reopens, a batch at a time).
        size_t to = (t.broker + 1) % brokers_.size();
        for (size_t b = 0; b < brokers_.size(); ++b) {
          if (!leader->empty() && brokers_[b] == *leader) to = b;
        }
        if (t.warm) {
          if (to == t.warm_broker) t.warm_switch.NamedTheOther();
        } else {
          t.move_to = to;
        }
      }
      for (const std::string& bytes : out_) Send(socket, bytes);
      UpdateComplete(t);
    }
  }

  // Drops what cannot leave now; the session resends what matters.
  void Send(zmq::socket_t& socket, const std::string& bytes) {
    try {
      if (!socket.send(zmq::buffer(bytes), zmq::send_flags::dontwait)) ++dropped_sends_;
    } catch (const zmq::error_t&) {
      ++dropped_sends_;
    }
  }

  void NoteError(const SwarmTerminal& t, const Status& status) {
    ++loop_errors_;
    if (loop_errors_ <= kLoggedErrors) {
      spdlog::warn("unit {}: {}", t.session.unit_code(), status.message());
      if (loop_errors_ == kLoggedErrors) spdlog::warn("further errors are counted, not logged");
    }
  }

  void UpdateComplete(SwarmTerminal& t) {
    if (!options_.expect) return;
    bool complete = t.inbox.size() >= *options_.expect && t.inbox.pending_ack_count() == 0 &&
                    t.inbox.PendingReturns().empty() && (!t.documents || t.documents->idle());
    if (complete != t.complete) {
      t.complete = complete;
      complete ? ++complete_count_ : --complete_count_;
    }
  }

  SwarmSummary Summarize() const {
    SwarmSummary s;
    s.shard = options_.shard;
    s.shards = options_.shards;
    s.units = terminals_.size();
    s.connected = connected_;
    s.expect = options_.expect;
    s.complete_units = complete_count_;
    s.reconnects = reconnects_;
    s.warm = warm_connected_;
    s.switches = switches_;
    s.complete = options_.expect && complete_count_ == terminals_.size();
    s.elapsed_s = std::chrono::duration<double>(Steady::now() - start_).count();
    std::vector<int64_t> latencies;
    for (const auto& t : terminals_) {
      const SessionCounters& c = t->session.counters();
      if (t->session.welcomed()) ++s.welcomed;
      s.received += c.received;
      s.deliveries += c.deliveries;
      s.duplicates += c.duplicates;
      s.stored += t->inbox.size();
      s.confirmed += c.acks_confirmed;
      s.heartbeats += c.heartbeats;
      s.resyncs += c.resyncs;
      s.acks_resent += c.acks_resent;
      s.documents_kept += c.documents_kept;
      s.documents_refused += c.documents_refused;
      if (t->documents) s.document_bytes += t->documents->counters().bytes;
      if (options_.expect && t->inbox.size() == *options_.expect) ++s.units_exact;
      latencies.insert(latencies.end(), t->session.LatenciesUs().begin(),
                       t->session.LatenciesUs().end());
      if (options_.expect && !t->complete && s.incomplete_sample.size() < 10) {
        s.incomplete_sample.push_back(t->session.unit_code());
      }
    }
    s.errors = loop_errors_;
    s.dropped_sends = dropped_sends_;
    s.latency_count = latencies.size();
    s.latency_p50_ms = Ms(Percentile(latencies, 0.50));
    s.latency_p99_ms = Ms(Percentile(latencies, 0.99));
    s.latency_max_ms = Ms(Percentile(latencies, 1.0));
    return s;
  }

  const SwarmOptions& options_;
  std::ostream& progress_;
  SystemClock& clock_ = SystemClock::Instance();
  zmq::context_t context_;  // outlives the sockets below
  std::vector<std::unique_ptr<SwarmTerminal>> terminals_;
  int epoll_fd_ = -1;
  size_t next_to_connect_ = 0;
  size_t connected_ = 0;
  size_t complete_count_ = 0;
  uint64_t loop_errors_ = 0;
  uint64_t dropped_sends_ = 0;
  uint64_t reconnects_ = 0;
  const bool warm_;
  size_t next_to_warm_ = 0;
  size_t warm_connected_ = 0;
  uint64_t switches_ = 0;
  std::minstd_rand jitter_;  // draws WarmSwitch pauses
  std::vector<std::string> out_;
  Steady::time_point start_;
  std::vector<std::string> brokers_;     // as given
  std::vector<std::string> connect_to_;  // with the source address, if any
};

}  // namespace

google::protobuf::RepeatedPtrField<v1::FieldValue> SampleReturnValues(const v1::ReturnForm& form,
                                                                    const std::string& unit_code) {
  // FNV-1a of the unit code: the same answers on every run.
  uint64_t h = 1469598103934665603ull;
  for (char c : unit_code) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  google::protobuf::RepeatedPtrField<v1::FieldValue> values;
  for (int i = 0; i < form.fields_size(); ++i) {
    const v1::FormField& f = form.fields(i);
    const uint64_t r = (h >> (i % 8)) ^ (h * (i + 1));
    if (!f.required() && (r >> 20) % 5 == 0) continue;
    v1::FieldValue* v = values.Add();
    v->set_key(f.key());
    switch (f.kind()) {
      case v1::FormField::QUANTITY: {
        int64_t low = f.min(), high = f.max();
        if (f.has_below()) {
          // One in ten below the threshold, the rest from it to twice it.
          if (r % 10 == 0) {
            high = f.below() - 1;
          } else {
            low = f.below();
            high = std::min(f.max(), f.below() + std::max<int64_t>(f.below(), 1));
          }
        }
        const uint64_t span = static_cast<uint64_t>(high - low) + 1;
        v->set_quantity(low + static_cast<int64_t>((r / 10) % (span == 0 ? 1 : span)));
        break;
      }
      case v1::FormField::CHOICE:
        v->set_choice(f.choices(static_cast<int>(r % static_cast<uint64_t>(f.choices_size()))));
        break;
      case v1::FormField::YES_NO:
        v->set_yes(r % 3 != 0);
        break;
      default:
        v->set_text(std::string("ok ").append(unit_code).substr(0, f.max_length()));
        break;
    }
  }
  return values;
}

Result<std::vector<uint32_t>> SelectSwarmUnits(const Registry& registry,
                                               const SwarmOptions& options) {
  if (options.shards == 0) return Status::InvalidArgument("--shards must be at least 1");
  if (options.shard >= options.shards) {
    return Status::InvalidArgument(fmt::format("--shard {} is out of range for {} shards (0..{})",
                                               options.shard, options.shards, options.shards - 1));
  }
  if (options.tiers.empty()) return Status::InvalidArgument("no tiers selected");
  if (!options.region.empty() && !registry.Find(options.region)) {
    return Status::InvalidArgument(fmt::format("region {} is not in the registry", options.region));
  }
  std::vector<uint32_t> units;
  for (uint32_t i = 0; i < registry.size(); ++i) {
    const Unit& unit = registry.unit(i);
    if (i % options.shards != options.shard) continue;
    if (std::find(options.tiers.begin(), options.tiers.end(), unit.tier) == options.tiers.end()) {
      continue;
    }
    if (!Registry::IsWithin(unit.code, options.region)) continue;
    if (options.exclude.count(unit.code)) continue;
    units.push_back(i);
  }
  if (units.empty()) {
    return Status::InvalidArgument(
        fmt::format("no units selected (region \"{}\", shard {} of {}, {} excluded)",
                    options.region, options.shard, options.shards, options.exclude.size()));
  }
  return units;
}

Status ReserveFileDescriptors(size_t units, size_t sockets_per_unit) {
  const size_t per_unit = kFdsPerUnit * std::max<size_t>(1, sockets_per_unit);
  const size_t needed = units * per_unit + kSpareFds;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return Status::IOError(fmt::format("getrlimit(RLIMIT_NOFILE): {}", std::strerror(errno)));
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed) {
    if (limit.rlim_max == RLIM_INFINITY || limit.rlim_max >= needed) {
      rlimit raised = limit;
      raised.rlim_cur = needed;
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) return Status::Ok();
    }
    rlim_t usable =
        limit.rlim_max == RLIM_INFINITY ? limit.rlim_cur : std::max(limit.rlim_cur, limit.rlim_max);
    size_t fit = usable > kSpareFds ? (usable - kSpareFds) / per_unit : 0;
    return Status::InvalidArgument(fmt::format(
        "{} units need about {} file descriptors ({} per unit + {}), but the limit is {}; "
        "at most {} units fit in one process: split them with --shard/--shards",
        units, needed, per_unit, kSpareFds, usable, fit));
  }
  return Status::Ok();
}

int64_t Percentile(std::vector<int64_t>& values, double q) {
  if (values.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
  rank = std::clamp<size_t>(rank, 1, values.size());
  std::nth_element(values.begin(), values.begin() + static_cast<ptrdiff_t>(rank - 1), values.end());
  return values[rank - 1];
}

std::string SwarmSummary::ToJson() const {
  nlohmann::json j = {
      {"shard", shard},
      {"shards", shards},
      {"units", units},
      {"connected", connected},
      {"welcomed", welcomed},
      {"received", received},
      {"deliveries", deliveries},
      {"duplicates", duplicates},
      {"stored", stored},
      {"confirmed", confirmed},
      {"acks_confirmed", confirmed},
      {"heartbeats", heartbeats},
      {"resyncs", resyncs},
      {"acks_resent", acks_resent},
      {"documents_kept", documents_kept},
      {"documents_refused", documents_refused},
      {"document_bytes", document_bytes},
      {"reconnects", reconnects},
      {"warm", warm},
      {"switches", switches},
      {"errors", errors},
      {"dropped_sends", dropped_sends},
      {"expect", expect ? nlohmann::json(*expect) : nlohmann::json(nullptr)},
      {"complete", complete},
      {"complete_units", complete_units},
      {"units_complete", expect ? nlohmann::json(units_exact) : nlohmann::json(nullptr)},
      {"interrupted", interrupted},
      {"timed_out", timed_out},
      {"elapsed_s", std::round(elapsed_s * 1000.0) / 1000.0},
      {"latency_ms",
       {{"count", latency_count},
        {"p50", latency_p50_ms},
        {"p99", latency_p99_ms},
        {"max", latency_max_ms}}},
      {"incomplete_sample", incomplete_sample},
  };
  return j.dump();
}

std::string SwarmSummary::ProgressJson() const {
  nlohmann::json j = {{"shard", shard},           {"units", units},       {"connected", connected},
                      {"welcomed", welcomed},     {"received", received}, {"confirmed", confirmed},
                      {"reconnects", reconnects}, {"warm", warm},
                      {"switches", switches},     {"errors", errors},
                      {"documents_kept", documents_kept}};
  return j.dump();
}

Result<SwarmSummary> RunSwarm(const Registry& registry, const SwarmOptions& options,
                              const std::atomic<bool>& stop, std::ostream& progress,
                              std::ostream* inboxes, std::ostream* latencies) {
  Result<std::vector<uint32_t>> units = SelectSwarmUnits(registry, options);
  if (!units.ok()) return units.status();
  if (options.key_seed.empty() != options.broker_public_key.empty()) {
    return Status::InvalidArgument(
        "a CURVE swarm needs both the unit key seed and the broker's public key");
  }
  const bool warm = options.warm_standby && SplitEndpoints(options.endpoint).size() >= 2;
  FLATCAST_RETURN_IF_ERROR(ReserveFileDescriptors(units->size(), warm ? 2 : 1));
  spdlog::info("swarm shard {} of {}: {} units, connecting to {}{}", options.shard, options.shards,
               units->size(), options.endpoint,
               options.key_seed.empty() ? "" : " over CURVE (unit keys derived from the seed)");
  try {
    SwarmRunner runner(registry, options, *units, progress);
    FLATCAST_RETURN_IF_ERROR(runner.DeriveKeys());
    Result<SwarmSummary> summary = runner.Run(stop);
    if (summary.ok() && inboxes) runner.WriteInboxes(*inboxes);
    if (summary.ok() && latencies) runner.WriteLatencies(*latencies);
    return summary;
  } catch (const zmq::error_t& e) {
    return Status::IOError(fmt::format("ZeroMQ: {}", e.what()));
  }
}

}  // namespace flatcast::subscriber
