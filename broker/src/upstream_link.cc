#include "upstream_link.h"

#include "flatcast/document_fetch.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <tuple>

#include "flatcast/wire.h"

namespace flatcast::broker {

namespace {

using Steady = std::chrono::steady_clock;
constexpr auto kPoll = std::chrono::milliseconds(100);
constexpr auto kHelloRetry = std::chrono::seconds(1);
// After a refusal (a registry mismatch, a key without the relay role): the
// operator has to act; asked again this often.
constexpr auto kRefusedRetry = std::chrono::seconds(5);
// A batch not answered this long is sent again (with those after it).
constexpr auto kBatchTimeout = std::chrono::seconds(10);
// Acknowledgement batches sent and not yet answered, at most: the next is
// read from the log and sent while the upstream stores the one before, so
// the last acknowledgements do not wait for a round trip per batch.
constexpr size_t kBatchWindow = 4;

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

int64_t ToMs(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000 + ts.nanos() / 1000000;
}

bool TrySend(zmq::socket_t& socket, const v1::Envelope& env) {
  try {
    return socket.send(zmq::buffer(wire::Encode(env)), zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t& e) {
    spdlog::warn("upstream: sending {}: {}", wire::BodyName(env), e.what());
    return false;
  }
}

v1::Envelope NewMessage() {
  v1::Envelope env;
  env.set_protocol_version(1);
  return env;
}

}  // namespace

UpstreamLink::UpstreamLink(const Store& store, const Registry& registry,
                           UpstreamLinkOptions options, uint64_t cursor)
    : store_(store),
      registry_(registry),
      options_(std::move(options)),
      digest_(registry.RegionDigest("")),
      cursor_(cursor) {
  state_.cursor = cursor;
}

Result<std::unique_ptr<UpstreamLink>> UpstreamLink::Start(const Store& store,
                                                          const Registry& registry,
                                                          UpstreamLinkOptions options,
                                                          uint64_t cursor) {
  if (options.endpoints.empty()) return Status::InvalidArgument("a relay needs its upstream's endpoints");
  std::unique_ptr<UpstreamLink> link(
      new UpstreamLink(store, registry, std::move(options), cursor));
  Result<int> wake = NewEventFd("relay link");
  if (!wake.ok()) return wake.status();
  link->wake_fd_ = *wake;
  Result<int> notify = NewEventFd("relay link");
  if (!notify.ok()) return notify.status();
  link->notify_fd_ = *notify;
  link->thread_ = std::thread([l = link.get()] { l->Serve(); });
  return link;
}

UpstreamLink::~UpstreamLink() {
  stop_ = true;
  if (notify_fd_ >= 0) Signal(notify_fd_);
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (notify_fd_ >= 0) ::close(notify_fd_);
}

std::vector<v1::StoredDirective> UpstreamLink::Take() {
  Reset(wake_fd_);
  std::lock_guard<std::mutex> lock(mutex_);
  return std::exchange(waiting_, {});
}

void UpstreamLink::Stored(uint64_t upstream_seq) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (upstream_seq > cursor_) cursor_ = upstream_seq;
    state_.cursor = cursor_;
    cursor_moved_ = true;
  }
  Signal(notify_fd_);
}

void UpstreamLink::NotStored(uint64_t upstream_seq, const Status& why) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    not_stored_ = true;
    state_.problem = fmt::format("upstream version {} not stored: {}", upstream_seq, why.message());
  }
  Signal(notify_fd_);
}

void UpstreamLink::LogAdvanced() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    log_moved_ = true;
  }
  Signal(notify_fd_);
}

UpstreamState UpstreamLink::state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_;
}

uint64_t UpstreamLink::UpstreamSeqOf(uint64_t seq) {
  if (auto it = upstream_seq_of_.find(seq); it != upstream_seq_of_.end()) return it->second;
  uint64_t up = 0;
  auto stored = store_.GetDirective(seq);
  if (stored.ok() && stored->has_value()) up = (*stored)->upstream_seq();
  // Only found versions are kept: one not yet visible here is read again.
  if (stored.ok() && stored->has_value()) upstream_seq_of_[seq] = up;
  return up;
}

std::optional<v1::RelayAckBatch> UpstreamLink::NextBatch(uint64_t log_cursor) {
  Result<uint64_t> head = store_.HeadLogSeq();
  if (!head.ok() || *head <= log_cursor) return std::nullopt;
  struct Item {
    uint32_t unit;
    int64_t acked_ms;
    std::string note;
  };
  // By (upstream seq, level): the units in registry order.
  std::map<std::tuple<uint64_t, int, uint32_t>, std::vector<Item>> groups;
  v1::RelayAckBatch batch;
  batch.set_after_log_seq(log_cursor);
  uint64_t last = log_cursor;
  uint32_t count = 0;
  size_t bytes = 0;
  Status scanned = store_.ForEachLogRecord(log_cursor, [&](const v1::LogRecord& record) {
    last = record.log_seq();
    if (record.has_ack()) {
      const v1::AckLogEntry& e = record.ack();
      const uint64_t up = UpstreamSeqOf(e.seq());
      std::optional<uint32_t> unit = registry_.Find(e.unit_code());
      if (up != 0 && unit) {
        groups[{up, e.level(), e.record().version()}].push_back(
            {*unit, ToMs(e.record().acked()), e.record().note()});
        ++count;
        bytes += 8 + e.record().note().size();  // a unit offset and a time, delta-coded
      }
    } else if (record.has_rating()) {
      const v1::RatingLogEntry& e = record.rating();
      const uint64_t up = UpstreamSeqOf(e.seq());
      std::optional<uint32_t> unit = registry_.Find(e.unit_code());
      if (up != 0 && unit) {
        v1::RelayRating* r = batch.add_ratings();
        r->set_seq(up);
        r->set_unit(*unit);
        *r->mutable_record() = e.record();
        ++count;
        bytes += r->ByteSizeLong() + 3;
      }
    } else if (record.has_return_answer()) {
      const v1::ReturnLogEntry& e = record.return_answer();
      const uint64_t up = UpstreamSeqOf(e.seq());
      std::optional<uint32_t> unit = registry_.Find(e.unit_code());
      if (up != 0 && unit) {
        v1::RelayReturn* r = batch.add_returns();
        r->set_seq(up);
        r->set_unit(*unit);
        *r->mutable_record() = e.record();
        ++count;
        bytes += r->ByteSizeLong() + 3;
      }
    }
    return count < options_.ack_batch && bytes < options_.ack_batch_bytes;
  });
  if (!scanned.ok()) {
    spdlog::error("relay: reading the log after {}: {}", log_cursor, scanned.ToString());
    return std::nullopt;
  }
  batch.set_last_log_seq(last);
  for (auto& [key, items] : groups) {
    auto [seq, level, version] = key;
    std::sort(items.begin(), items.end(),
              [](const Item& a, const Item& b) { return a.unit < b.unit; });
    v1::RelayAckGroup* g = batch.add_groups();
    g->set_seq(seq);
    g->set_level(static_cast<v1::AckLevel>(level));
    g->set_version(version);
    uint32_t prev_unit = 0;
    int64_t prev_ms = 0;
    for (size_t k = 0; k < items.size(); ++k) {
      g->add_units(items[k].unit - prev_unit);
      g->add_acked_ms(items[k].acked_ms - prev_ms);
      prev_unit = items[k].unit;
      prev_ms = items[k].acked_ms;
      if (!items[k].note.empty()) (*g->mutable_notes())[static_cast<uint32_t>(k)] = items[k].note;
    }
  }
  return batch;
}

bool UpstreamLink::Welcomed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_.welcomed;
}

void UpstreamLink::SendDocumentRequest(std::string request) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    document_requests_.push_back(std::move(request));
  }
  Signal(notify_fd_);
}

std::vector<v1::Envelope> UpstreamLink::TakeDocumentReplies() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::exchange(document_replies_, {});
}

void UpstreamLink::Serve() {
  std::optional<zmq::socket_t> socket;
  size_t current = 0;
  bool welcomed = false;
  uint64_t accepted = 0;    // the last version handed to the loop
  uint64_t log_cursor = 0;  // stored upstream
  // Batches sent and not yet answered, oldest first: their correlation id,
  // the log position each ends at, when it was sent. The next batch starts
  // where the last one sent ends.
  struct Sent {
    uint64_t corr;
    uint64_t last;
    Steady::time_point at;
  };
  std::deque<Sent> batches;
  uint64_t next_corr = 1;
  auto send_from = [&] { return batches.empty() ? log_cursor : batches.back().last; };
  std::chrono::milliseconds heartbeat = options_.heartbeat_interval;
  Steady::time_point next_hello{}, last_heard{}, next_keepalive{}, next_batch{}, last_answer{};
  std::string last_problem;
  auto open = [&](size_t to) {
    socket.reset();
    current = to;
    welcomed = false;
    batches.clear();
    try {
      zmq::socket_t s(context_, zmq::socket_type::dealer);
      s.set(zmq::sockopt::linger, 0);
      s.set(zmq::sockopt::immediate, 1);
      s.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(4 * options_.max_message_bytes) + 1024);
      s.set(zmq::sockopt::rcvhwm, 0);
      if (options_.curve) {
        if (Status st = ApplyCurveClient(s, *options_.curve); !st.ok()) {
          spdlog::error("relay: {}", st.message());
          return;
        }
      }
      s.connect(options_.endpoints[current]);
      socket = std::move(s);
      spdlog::info("relay {}: connecting to upstream {}", options_.region,
                   options_.endpoints[current]);
      std::lock_guard<std::mutex> lock(mutex_);
      state_.endpoint = options_.endpoints[current];
      state_.welcomed = false;
    } catch (const zmq::error_t& e) {
      spdlog::error("relay: cannot connect to upstream {}: {}", options_.endpoints[current],
                    e.what());
    }
    next_hello = Steady::now();
  };
  open(0);
  while (!stop_.load()) {
    if (!socket) {
      std::this_thread::sleep_for(kPoll);
      open(current);
      continue;
    }
    const Steady::time_point now = Steady::now();
    uint64_t cursor;
    bool moved, not_stored;
    std::vector<std::string> requests;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requests = std::exchange(document_requests_, {});
      cursor = cursor_;
      moved = std::exchange(cursor_moved_, false);
      not_stored = std::exchange(not_stored_, false);
      if (std::exchange(log_moved_, false)) next_batch = now;
    }
    if (not_stored && welcomed) {
      // The loop did not store what it was handed: the upstream sends again
      // from what is stored, after a pause.
      welcomed = false;
      next_hello = now + kHelloRetry;
    }
    if (!welcomed && now >= next_hello) {
      v1::Envelope env = NewMessage();
      v1::RelayHello* h = env.mutable_relay_hello();
      h->set_region(options_.region);
      h->set_registry_digest(digest_);
      h->set_cursor(cursor);
      h->set_name(options_.name);
      TrySend(*socket, env);
      accepted = cursor;
      next_hello = now + kHelloRetry;
    }
    // Document requests go only over a welcomed link; one dropped here is
    // asked for again after the fetcher's answer timeout.
    for (const std::string& request : requests) {
      if (!welcomed) break;
      try {
        (void)socket->send(zmq::buffer(request), zmq::send_flags::dontwait);
      } catch (const zmq::error_t&) {
      }
    }
    if (welcomed && (moved || now >= next_keepalive)) {
      v1::Envelope env = NewMessage();
      env.mutable_relay_stored()->set_seq(cursor);
      TrySend(*socket, env);
      next_keepalive = now + heartbeat;
    }
    if (welcomed && !batches.empty() &&
        now - std::max(batches.front().at, last_answer) >= kBatchTimeout) {
      // No answer to any batch for that long: sent again from what is
      // stored upstream. (Batches waiting behind others are answered one
      // write after another, so the oldest may wait long while answers
      // keep coming.)
      spdlog::warn("relay {}: no answer to {} acknowledgement batches for {} s; sending again "
                   "from log position {}",
                   options_.region, batches.size(),
                   std::chrono::duration_cast<std::chrono::seconds>(kBatchTimeout).count(),
                   log_cursor);
      batches.clear();
    }
    if (welcomed && now >= next_batch) {
      next_batch = now + kPoll;
      while (batches.size() < kBatchWindow) {
        std::optional<v1::RelayAckBatch> batch = NextBatch(send_from());
        if (!batch) break;
        const uint64_t last = batch->last_log_seq();
        v1::Envelope env = NewMessage();
        env.set_correlation_id(next_corr);
        *env.mutable_relay_acks() = std::move(*batch);
        if (!TrySend(*socket, env)) break;
        batches.push_back({next_corr++, last, now});
      }
    }
    if (welcomed && now - last_heard >= 3 * heartbeat) {
      spdlog::warn("relay {}: nothing heard from upstream {} for {} ms; reconnecting",
                   options_.region, options_.endpoints[current], (3 * heartbeat).count());
      open((current + 1) % options_.endpoints.size());
      continue;
    }

    zmq::pollitem_t items[] = {{socket->handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, notify_fd_, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 2, kPoll);
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      continue;
    }
    if (items[1].revents & ZMQ_POLLIN) Reset(notify_fd_);
    bool handed = false;
    while (socket) {
      zmq::message_t message;
      try {
        if (!socket->recv(message, zmq::recv_flags::dontwait)) break;
      } catch (const zmq::error_t& e) {
        break;
      }
      auto decoded = wire::Decode(message.to_string_view(), 4 * options_.max_message_bytes);
      if (!decoded.ok()) {
        spdlog::warn("relay: from upstream: {}", decoded.status().message());
        continue;
      }
      v1::Envelope& env = *decoded;
      last_heard = Steady::now();
      if (DocumentFetcher::IsReply(env)) {
        std::lock_guard<std::mutex> lock(mutex_);
        document_replies_.push_back(std::move(env));
        handed = true;
        continue;
      }
      switch (env.body_case()) {
        case v1::Envelope::kRelayWelcome: {
          const v1::RelayWelcome& w = env.relay_welcome();
          welcomed = true;
          log_cursor = w.log_cursor();
          batches.clear();
          if (w.heartbeat_interval_ms() > 0) {
            heartbeat = std::chrono::milliseconds(w.heartbeat_interval_ms());
          }
          next_keepalive = last_heard + heartbeat;
          if (!last_problem.empty()) spdlog::info("relay {}: welcomed by upstream", options_.region);
          last_problem.clear();
          std::lock_guard<std::mutex> lock(mutex_);
          state_.welcomed = true;
          state_.log_cursor = log_cursor;
          state_.upstream_head = w.head_seq();
          state_.problem.clear();
          break;
        }
        case v1::Envelope::kRelayDeliver: {
          if (!welcomed) break;
          v1::RelayDeliver* d = env.mutable_relay_deliver();
          const uint64_t seq = d->directive().seq();
          if (seq <= accepted) break;  // handed on already
          if (d->prev_seq() != accepted) {
            spdlog::warn("relay {}: upstream version {} follows {}, not {}: asking again from {}",
                         options_.region, seq, d->prev_seq(), accepted, cursor);
            welcomed = false;
            next_hello = Steady::now();
            break;
          }
          accepted = seq;
          std::lock_guard<std::mutex> lock(mutex_);
          waiting_.push_back(std::move(*d->mutable_directive()));
          handed = true;
          break;
        }
        case v1::Envelope::kRelayAcksStored: {
          // Durable upstream up to `stored`. An answer to a batch in flight
          // below its end means it did not follow what the upstream holds
          // (nor will those after it): they are sent again from `stored`.
          const uint64_t stored = env.relay_acks_stored().log_cursor();
          log_cursor = std::max(log_cursor, stored);
          last_answer = Steady::now();
          auto it = std::find_if(batches.begin(), batches.end(), [&](const Sent& b) {
            return b.corr == env.correlation_id();
          });
          if (it != batches.end() && stored < it->last) {
            batches.clear();
          } else {
            while (!batches.empty() && batches.front().last <= log_cursor) batches.pop_front();
          }
          next_batch = Steady::now();
          std::lock_guard<std::mutex> lock(mutex_);
          state_.log_cursor = log_cursor;
          break;
        }
        case v1::Envelope::kHeartbeat: {
          std::lock_guard<std::mutex> lock(mutex_);
          state_.upstream_head = env.heartbeat().head_seq();
          break;
        }
        case v1::Envelope::kError: {
          const v1::Error& e = env.error();
          batches.clear();
          if (e.code() == v1::NOT_LEADER) {
            size_t to = (current + 1) % options_.endpoints.size();
            for (size_t i = 0; i < options_.endpoints.size(); ++i) {
              if (!e.leader_endpoint().empty() && options_.endpoints[i] == e.leader_endpoint()) to = i;
            }
            if (to != current) {
              open(to);
              next_hello = Steady::now() + std::chrono::milliseconds(200);
            } else {
              welcomed = false;
              next_hello = Steady::now() + kHelloRetry;
            }
            break;
          }
          welcomed = false;
          // Not known there (the upstream restarted): say hello again soon;
          // anything else wants the operator.
          next_hello = Steady::now() + (e.code() == v1::NOT_REGISTERED ? kHelloRetry : kRefusedRetry);
          if (e.message() != last_problem) {
            spdlog::error("relay {}: upstream {} refused: {}", options_.region,
                          options_.endpoints[current], e.message());
            last_problem = e.message();
          }
          std::lock_guard<std::mutex> lock(mutex_);
          state_.welcomed = false;
          state_.problem = e.message();
          break;
        }
        default:
          break;
      }
    }
    if (handed) Signal(wake_fd_);
  }
}

}  // namespace flatcast::broker
