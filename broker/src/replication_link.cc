#include "replication_link.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <vector>
#include <zmq_addon.hpp>

#include "flatcast/broker/zap_handler.h"

namespace flatcast::broker {

namespace {

using SteadyNow = std::chrono::steady_clock;
constexpr auto kPoll = std::chrono::milliseconds(100);
constexpr size_t kRecentCommits = 1024;

Result<int> NewEventFd(const char* what) {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return Status::IOError(fmt::format("{}: eventfd: {}", what, std::strerror(errno)));
  return fd;
}

void Signal(int fd) {
  uint64_t one = 1;
  (void)!::write(fd, &one, sizeof one);
}

void Reset(int fd) {
  uint64_t count;
  (void)!::read(fd, &count, sizeof count);
}

std::string Encode(v1::ReplicationMessage& msg) {
  msg.set_protocol_version(1);
  return msg.SerializeAsString();
}

bool SendTo(zmq::socket_t& socket, const std::string& routing, const std::string& bytes) {
  try {
    if (!socket.send(zmq::buffer(routing), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return false;
    }
    return socket.send(zmq::buffer(bytes), zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t& e) {
    if (e.num() != EHOSTUNREACH) spdlog::warn("replication: sending: {}", e.what());
    return false;
  }
}

}  // namespace

Result<v1::ReplicationMessage> DecodeReplicationMessage(std::string_view body, size_t max) {
  if (body.size() > max) {
    return Status::TooLarge(fmt::format("a replication message of {} bytes (at most {})",
                                        body.size(), max));
  }
  v1::ReplicationMessage msg;
  if (!msg.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return Status::InvalidArgument("not a replication message (it does not parse)");
  }
  if (msg.protocol_version() != 1) {
    return Status::InvalidArgument(
        fmt::format("replication protocol version {} (this broker speaks 1)", msg.protocol_version()));
  }
  if (msg.body_case() == v1::ReplicationMessage::BODY_NOT_SET) {
    return Status::InvalidArgument("a replication message without a body");
  }
  return msg;
}

namespace {

Result<v1::ReplicationMessage> Decode(const zmq::message_t& body, size_t max) {
  return DecodeReplicationMessage(body.to_string_view(), max);
}

}  // namespace

// ---- the leader's end ----

Result<std::unique_ptr<LeaderLink>> LeaderLink::Start(zmq::context_t& context, const Store& store,
                                                      const LeaderLinkOptions& options) {
  std::unique_ptr<LeaderLink> link(new LeaderLink(context, store, options));
  auto wake = NewEventFd("replication link");
  if (!wake.ok()) return wake.status();
  link->wake_fd_ = *wake;
  auto send = NewEventFd("replication link");
  if (!send.ok()) return send.status();
  link->send_fd_ = *send;
  std::promise<Status> bound;
  std::future<Status> bound_result = bound.get_future();
  LeaderLink* self = link.get();
  link->thread_ = std::thread([self, &bound] {
    zmq::socket_t socket;
    try {
      socket = zmq::socket_t(self->context_, zmq::socket_type::router);
      socket.set(zmq::sockopt::linger, 0);
      socket.set(zmq::sockopt::router_mandatory, 1);
      socket.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(kMaxStandbyMessageBytes));
      socket.set(zmq::sockopt::sndhwm, 0);
      if (self->options_.curve_secret_key) {
        if (Status st = ApplyCurveServer(socket, *self->options_.curve_secret_key); !st.ok()) {
          bound.set_value(st.WithContext("replication endpoint"));
          return;
        }
        socket.set(zmq::sockopt::zap_domain, kReplicationZapDomain);
      }
      socket.bind(self->options_.endpoint);
      self->endpoint_ = socket.get(zmq::sockopt::last_endpoint);
    } catch (const zmq::error_t& e) {
      bound.set_value(Status::IOError(fmt::format("cannot bind the replication endpoint \"{}\": {}",
                                                  self->options_.endpoint, e.what())));
      return;
    }
    bound.set_value(Status::Ok());
    self->Serve(socket);
  });
  Status st = bound_result.get();
  if (!st.ok()) {
    link->thread_.join();
    return st;
  }
  return link;
}

LeaderLink::~LeaderLink() {
  stop_ = true;
  if (send_fd_ >= 0) Signal(send_fd_);
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (send_fd_ >= 0) ::close(send_fd_);
}

void LeaderLink::Drain() { Reset(wake_fd_); }

void LeaderLink::Wake() { Signal(wake_fd_); }

void LeaderLink::Lead(int64_t epoch, uint64_t head) {
  std::lock_guard<std::mutex> lock(mutex_);
  epoch_ = epoch;
  head_ = head;
  recent_.clear();
  connected_ = false;
  routing_.clear();
  standby_.clear();
  acked_ = 0;
  why_ = "no standby has connected yet";
}

void LeaderLink::Send(int64_t epoch, const ReplicaBatch& batch) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (epoch != epoch_ || batch.commit_seq != head_ + 1) {
      // Not in this link's epoch, or out of order: the standby gets it from
      // the store when it asks.
      if (batch.commit_seq > head_) head_ = batch.commit_seq;
      recent_.clear();
    } else {
      head_ = batch.commit_seq;
      recent_.push_back(batch);
      while (recent_.size() > kRecentCommits) recent_.pop_front();
    }
  }
  Signal(send_fd_);
}

bool LeaderLink::caught_up() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return connected_ && epoch_ != 0 && acked_.load() >= target_;
}

std::string LeaderLink::standby() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return connected_ ? standby_ : std::string();
}

std::string LeaderLink::why_not() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!connected_) return why_;
  if (acked_.load() < target_) {
    return fmt::format("standby {} is catching up (at commit {} of {})", standby_, acked_.load(),
                       target_);
  }
  return "";
}

void LeaderLink::Serve(zmq::socket_t& socket) {
  std::vector<zmq::message_t> frames;
  while (!stop_.load()) {
    zmq::pollitem_t items[2] = {{socket.handle(), 0, ZMQ_POLLIN, 0},
                                {nullptr, send_fd_, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 2, kPoll);
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      continue;
    }
    if (items[1].revents & ZMQ_POLLIN) Reset(send_fd_);
    if (items[0].revents & ZMQ_POLLIN) {
      for (int n = 0; n < 256; ++n) {
        frames.clear();
        zmq::recv_result_t got;
        try {
          got = zmq::recv_multipart(socket, std::back_inserter(frames), zmq::recv_flags::dontwait);
        } catch (const zmq::error_t& e) {
          spdlog::warn("replication: receiving: {}", e.what());
          break;
        }
        if (!got) break;
        if (frames.size() != 2) {
          if (!frames.empty()) {
            Refuse(socket, frames[0].to_string(), v1::ReplicationRefused::MALFORMED,
                   fmt::format("expected one body frame, got {}", frames.size() - 1));
          }
          continue;
        }
        Handle(socket, frames[0].to_string(), frames[1]);
      }
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto now = SteadyNow::now();
      // Progress: everything sent is acknowledged, or an acknowledgement came.
      if (acked_.load() + 1 >= next_send_ || acked_.load() > progress_at_) {
        progress_at_ = acked_.load();
        last_progress_ = now;
      }
      if (connected_ && now - last_heard_ > options_.standby_timeout) {
        why_ = fmt::format("standby {} has not answered for {} ms", standby_,
                           options_.standby_timeout.count());
        spdlog::warn("replication: {}", why_);
        connected_ = false;
        routing_.clear();
      } else if (connected_ && now - last_progress_ > options_.standby_timeout) {
        // Alive (its hellos come) but storing nothing: as good as gone.
        why_ = fmt::format("standby {} has stored nothing for {} ms (at commit {}, sent up to {})",
                           standby_, options_.standby_timeout.count(), acked_.load(),
                           next_send_ - 1);
        spdlog::warn("replication: {}", why_);
        connected_ = false;
        routing_.clear();
      }
    }
    Pump(socket);
  }
}

void LeaderLink::Refuse(zmq::socket_t& socket, const std::string& routing, int reason,
                        const std::string& message) {
  v1::ReplicationMessage msg;
  auto* r = msg.mutable_refused();
  r->set_reason(static_cast<v1::ReplicationRefused::Reason>(reason));
  r->set_message(message);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    r->set_epoch(epoch_);
  }
  (void)SendTo(socket, routing, Encode(msg));
}

void LeaderLink::Handle(zmq::socket_t& socket, const std::string& routing,
                        const zmq::message_t& body) {
  auto decoded = Decode(body, kMaxStandbyMessageBytes);
  if (!decoded.ok()) {
    spdlog::warn("replication: refused a message: {}", decoded.status().message());
    Refuse(socket, routing, v1::ReplicationRefused::MALFORMED, decoded.status().message());
    return;
  }
  const v1::ReplicationMessage& msg = *decoded;
  const auto now = SteadyNow::now();
  if (msg.has_ack()) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!connected_ || routing != routing_ || msg.ack().epoch() != epoch_) return;
    last_heard_ = now;
    uint64_t seq = std::min(msg.ack().commit_seq(), head_);
    if (seq > acked_.load()) {
      acked_ = seq;
      Wake();
    }
    return;
  }
  if (msg.has_refused()) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (routing != routing_) return;
    spdlog::warn("replication: standby {} refused a batch: {}", standby_, msg.refused().message());
    why_ = fmt::format("standby {} refused: {}", standby_, msg.refused().message());
    connected_ = false;
    routing_.clear();
    return;
  }
  if (!msg.has_hello()) {
    Refuse(socket, routing, v1::ReplicationRefused::MALFORMED,
           "a standby sends hellos and acknowledgements only");
    return;
  }
  const v1::ReplicationHello& hello = msg.hello();
  int64_t epoch;
  uint64_t head;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    epoch = epoch_;
    head = head_;
    if (epoch != 0 && connected_ && routing == routing_ && !hello.resend()) {
      last_heard_ = now;  // a standby's keep-alive
      return;
    }
  }
  if (epoch == 0) {
    Refuse(socket, routing, v1::ReplicationRefused::NOT_LEADER, "this broker does not lead");
    return;
  }
  if (hello.epoch() > epoch) {
    Refuse(socket, routing, v1::ReplicationRefused::NOT_LEADER,
           fmt::format("the standby follows epoch {}, newer than this broker's {}", hello.epoch(),
                       epoch));
    return;
  }
  // The standby's history must be a prefix of this one's.
  if (hello.commit_seq() > head) {
    std::string why = fmt::format(
        "standby {} holds commit {}, beyond this leader's last ({}): it must copy anew",
        hello.broker(), hello.commit_seq(), head);
    spdlog::warn("replication: {}", why);
    Refuse(socket, routing, v1::ReplicationRefused::DIVERGED, why);
    return;
  }
  if (hello.commit_seq() > 0) {
    auto mine = store_.GetBatch(hello.commit_seq());
    if (!mine.ok()) {
      spdlog::error("replication: reading commit {}: {}", hello.commit_seq(),
                    mine.status().ToString());
      return;  // asked again with the next hello
    }
    if (!*mine || (*mine)->chain != hello.head_chain()) {
      std::string why = fmt::format(
          "standby {}'s commit {} is not this leader's (the chain hashes differ): it must copy "
          "anew", hello.broker(), hello.commit_seq());
      spdlog::warn("replication: {}", why);
      Refuse(socket, routing, v1::ReplicationRefused::DIVERGED, why);
      return;
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (epoch_ != epoch) return;
  if (connected_ && routing != routing_) {
    spdlog::info("replication: standby {} replaces {}", hello.broker(), standby_);
  }
  if (!connected_ || routing != routing_) {
    spdlog::info("replication: standby {} connected at commit {} (this leader at {}, epoch {})",
                 hello.broker(), hello.commit_seq(), head_, epoch_);
  }
  if (connected_ && routing == routing_ && hello.resend()) {
    // The standby found a gap: send again after what it holds; it stays
    // as caught up as it was.
    next_send_ = hello.commit_seq() + 1;
    last_heard_ = now;
    Wake();
    return;
  }
  connected_ = true;
  routing_ = routing;
  standby_ = hello.broker();
  last_progress_ = now;
  progress_at_ = hello.commit_seq();
  next_send_ = hello.commit_seq() + 1;
  acked_ = hello.commit_seq();
  target_ = head_;
  last_heard_ = now;
  Wake();
}

void LeaderLink::Pump(zmq::socket_t& socket) {
  for (;;) {
    std::string routing;
    uint64_t seq;
    int64_t epoch;
    uint64_t head;
    std::optional<ReplicaBatch> batch;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!connected_ || epoch_ == 0 || next_send_ > head_ ||
          next_send_ > acked_.load() + options_.window) {
        return;
      }
      routing = routing_;
      seq = next_send_;
      epoch = epoch_;
      head = head_;
      if (!recent_.empty() && recent_.front().commit_seq <= seq && seq <= recent_.back().commit_seq) {
        batch = recent_[seq - recent_.front().commit_seq];
      }
    }
    if (!batch) {
      auto read = store_.GetBatch(seq);
      if (!read.ok() || !*read) {
        std::lock_guard<std::mutex> lock(mutex_);
        why_ = fmt::format("commit {} cannot be read for the standby: {}", seq,
                           read.ok() ? "not kept" : read.status().message());
        spdlog::error("replication: {}", why_);
        connected_ = false;
        routing_.clear();
        return;
      }
      batch = std::move(**read);
    }
    v1::ReplicationMessage msg;
    auto* b = msg.mutable_batch();
    b->set_epoch(epoch);
    b->set_commit_seq(batch->commit_seq);
    b->set_chain(batch->chain);
    b->set_data(batch->data);
    b->set_leader_commit_seq(head);
    if (!SendTo(socket, routing, Encode(msg))) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (routing == routing_ && connected_) {
        why_ = fmt::format("standby {} is unreachable", standby_);
        connected_ = false;
        routing_.clear();
      }
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (routing == routing_ && next_send_ == seq) next_send_ = seq + 1;
  }
}

// ---- the standby's end ----

Result<std::unique_ptr<StandbyFollower>> StandbyFollower::Start(zmq::context_t& context,
                                                                Store& store,
                                                                FollowerOptions options) {
  std::unique_ptr<StandbyFollower> follower(
      new StandbyFollower(context, store, std::move(options)));
  follower->state_.commit_seq = store.heads().commit_seq;
  StandbyFollower* self = follower.get();
  follower->thread_ = std::thread([self] { self->Serve(); });
  return follower;
}

StandbyFollower::~StandbyFollower() { Stop(); }

void StandbyFollower::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void StandbyFollower::Follow(const std::string& endpoint, int64_t epoch) {
  std::lock_guard<std::mutex> lock(mutex_);
  target_ = endpoint;
  if (epoch > min_epoch_) min_epoch_ = epoch;
}

FollowerState StandbyFollower::state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_;
}

void StandbyFollower::SendHello(zmq::socket_t& socket, bool resend) {
  v1::ReplicationMessage msg;
  auto* h = msg.mutable_hello();
  h->set_broker(options_.name);
  h->set_commit_seq(store_.heads().commit_seq);
  h->set_head_chain(store_.head_chain());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    h->set_epoch(min_epoch_);
  }
  h->set_resend(resend);
  try {
    (void)socket.send(zmq::buffer(Encode(msg)), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
  }
}

void StandbyFollower::Serve() {
  zmq::socket_t socket;
  std::string connected_to;
  auto next_hello = SteadyNow::now();
  auto last_batch = SteadyNow::time_point{};
  auto resend_after = SteadyNow::time_point{};  // one resend request per hello interval
  bool resend = false;
  while (!stop_.load()) {
    std::string target;
    bool diverged;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      target = target_;
      diverged = state_.diverged;
      state_.receiving = SteadyNow::now() - last_batch < std::chrono::seconds(3);
    }
    if (diverged) {
      std::this_thread::sleep_for(kPoll);
      continue;
    }
    if (target != connected_to) {
      socket = zmq::socket_t();
      connected_to.clear();
      if (!target.empty()) {
        try {
          socket = zmq::socket_t(context_, zmq::socket_type::dealer);
          socket.set(zmq::sockopt::linger, 0);
          socket.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(kMaxReplicationMessageBytes) + 1024);
          socket.set(zmq::sockopt::rcvhwm, 0);
          if (options_.curve) {
            if (Status st = ApplyCurveClient(socket, *options_.curve); !st.ok()) {
              std::lock_guard<std::mutex> lock(mutex_);
              state_.problem = st.message();
              socket = zmq::socket_t();
              std::this_thread::sleep_for(kPoll);
              continue;
            }
          }
          socket.connect(target);
          connected_to = target;
          spdlog::info("replication: following the leader at {}", target);
          std::lock_guard<std::mutex> lock(mutex_);
          state_.leader_endpoint = target;
          state_.problem.clear();
        } catch (const zmq::error_t& e) {
          std::lock_guard<std::mutex> lock(mutex_);
          state_.problem = fmt::format("cannot connect to the leader's replication endpoint "
                                       "\"{}\": {}", target, e.what());
          socket = zmq::socket_t();
          std::this_thread::sleep_for(kPoll);
          continue;
        }
        next_hello = SteadyNow::now();
      }
    }
    if (connected_to.empty()) {
      std::this_thread::sleep_for(kPoll);
      continue;
    }
    if (SteadyNow::now() >= next_hello) {
      SendHello(socket, resend);
      resend = false;
      next_hello = SteadyNow::now() + options_.hello_interval;
    }
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      continue;
    }
    if (!(item.revents & ZMQ_POLLIN)) continue;
    // Everything waiting is taken first and handled in order: consecutive
    // commits are stored with one sync (the last is synced, which makes the
    // ones before durable too) and acknowledged once, so a standby that fell
    // behind catches up at the disk's sync rate times the batch, not one
    // commit per sync.
    std::vector<Result<v1::ReplicationMessage>> waiting;
    size_t last_batch_index = SIZE_MAX;
    size_t waiting_bytes = 0;  // at most about one largest message's worth held at once
    for (int n = 0; n < 256 && !stop_.load() && waiting_bytes < kMaxReplicationMessageBytes; ++n) {
      zmq::message_t body;
      zmq::recv_result_t got;
      try {
        got = socket.recv(body, zmq::recv_flags::dontwait);
      } catch (const zmq::error_t&) {
        break;
      }
      if (!got) break;
      waiting_bytes += body.size();
      waiting.push_back(Decode(body, kMaxReplicationMessageBytes + 1024));
      if (waiting.back().ok() && waiting.back()->has_batch()) last_batch_index = waiting.size() - 1;
    }
    auto send_ack = [&](int64_t epoch, uint64_t commit_seq) {
      v1::ReplicationMessage ack;
      ack.mutable_ack()->set_epoch(epoch);
      ack.mutable_ack()->set_commit_seq(commit_seq);
      try {
        (void)socket.send(zmq::buffer(Encode(ack)), zmq::send_flags::dontwait);
      } catch (const zmq::error_t&) {
      }
    };
    uint64_t unsynced = 0;  // the last commit stored without a sync, not yet acknowledged
    int64_t unsynced_epoch = 0;
    for (size_t index = 0; index < waiting.size(); ++index) {
      auto& decoded = waiting[index];
      if (!decoded.ok()) {
        spdlog::warn("replication: refused a message from the leader: {}",
                     decoded.status().message());
        continue;
      }
      if (decoded->has_refused()) {
        const auto& r = decoded->refused();
        std::lock_guard<std::mutex> lock(mutex_);
        if (r.reason() == v1::ReplicationRefused::DIVERGED) {
          spdlog::error("replication: {}", r.message());
          state_.diverged = true;
        }
        if (state_.problem != r.message()) {
          spdlog::warn("replication: the leader at {} refused: {}", connected_to, r.message());
        }
        state_.problem = "the leader refused: " + r.message();
        continue;
      }
      if (!decoded->has_batch()) continue;
      const v1::ReplicateBatch& batch = decoded->batch();
      int64_t min_epoch;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        min_epoch = min_epoch_;
      }
      if (batch.epoch() < min_epoch) {
        std::string why = fmt::format(
            "a batch of epoch {} refused: this standby follows epoch {} (the broker that sent it "
            "no longer leads)", batch.epoch(), min_epoch);
        spdlog::warn("replication: {}", why);
        v1::ReplicationMessage msg;
        msg.mutable_refused()->set_reason(v1::ReplicationRefused::STALE_EPOCH);
        msg.mutable_refused()->set_message(why);
        msg.mutable_refused()->set_epoch(min_epoch);
        try {
          (void)socket.send(zmq::buffer(Encode(msg)), zmq::send_flags::dontwait);
        } catch (const zmq::error_t&) {
        }
        continue;
      }
      const uint64_t have = store_.heads().commit_seq;
      if (batch.commit_seq() <= have) continue;  // sent again; stored already
      if (batch.commit_seq() > have + 1) {
        // A gap: ask for what follows the last stored commit (once per hello interval).
        if (!resend && SteadyNow::now() >= resend_after) {
          spdlog::warn("replication: commit {} arrived after {}: asking for {} on", batch.commit_seq(),
                       have, have + 1);
          resend = true;
          next_hello = SteadyNow::now();
          resend_after = SteadyNow::now() + options_.hello_interval;
        }
        continue;
      }
      const bool sync = index == last_batch_index;
      Status applied =
          store_.ApplyReplica({batch.commit_seq(), batch.chain(), batch.data()}, sync);
      if (!applied.ok()) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (applied.code() == Status::Code::kCorruption) {
          spdlog::error("replication: commit {}: {}: this store must copy the leader's anew",
                        batch.commit_seq(), applied.message());
          state_.diverged = true;
        } else {
          spdlog::error("replication: commit {} not stored: {}", batch.commit_seq(),
                        applied.ToString());
          // Brings the store back to accepting writes if it can; the leader
          // sends again after the last stored commit.
          if (Status recovered = store_.Recover(); !recovered.ok()) {
            spdlog::error("replication: the store does not accept writes: {}", recovered.ToString());
          }
          resend = true;
          next_hello = SteadyNow::now() + options_.hello_interval;
        }
        state_.problem = applied.message();
        break;
      }
      last_batch = SteadyNow::now();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (batch.epoch() > min_epoch_) min_epoch_ = batch.epoch();
        state_.epoch = batch.epoch();
        state_.commit_seq = batch.commit_seq();
        state_.leader_commit_seq = batch.leader_commit_seq();
        state_.problem.clear();
      }
      if (sync) {
        send_ack(batch.epoch(), batch.commit_seq());
        unsynced = 0;
      } else {
        unsynced = batch.commit_seq();
        unsynced_epoch = batch.epoch();
      }
    }
    if (unsynced != 0) {
      // A later message was not a commit to store: what was stored unsynced
      // is synced now, and acknowledged.
      if (Status synced = store_.SyncLog(); synced.ok()) {
        send_ack(unsynced_epoch, unsynced);
      } else {
        spdlog::error("replication: commits up to {} not synced: {}", unsynced, synced.ToString());
      }
    }
  }
}

}  // namespace flatcast::broker
