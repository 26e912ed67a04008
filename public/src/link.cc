#include "flatcast/feed/link.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "flatcast/clock.h"
#include "flatcast/signing.h"
#include "flatcast/wire.h"

namespace flatcast::feed {

namespace {

using Steady = std::chrono::steady_clock;
constexpr auto kPoll = std::chrono::milliseconds(100);
// Without a welcome this long after a hello, the hello goes again (to the
// next endpoint).
constexpr auto kHelloRetry = std::chrono::seconds(2);

v1::Envelope NewMessage() {
  v1::Envelope env;
  env.set_protocol_version(wire::kProtocolVersion);
  return env;
}

bool TrySend(zmq::socket_t& socket, const v1::Envelope& env) {
  const std::string bytes = wire::Encode(env);
  try {
    return socket.send(zmq::buffer(bytes), zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t&) {
    return false;
  }
}

}  // namespace

Result<v1::Envelope> DecodeBrokerMessage(std::string_view bytes, size_t max) {
  auto decoded = wire::Decode(bytes, max);
  if (!decoded.ok()) return decoded.status();
  if (decoded->has_public_batch()) {
    const v1::PublicBatch& b = decoded->public_batch();
    if (b.last() < b.after()) {
      return Status::InvalidArgument(
          fmt::format("a public batch ending at {} before it starts ({})", b.last(), b.after()));
    }
    uint64_t prev = b.after();
    for (const auto& d : b.documents()) {
      if (d.public_seq() <= prev || d.public_seq() > b.last()) {
        return Status::InvalidArgument(fmt::format(
            "a public batch ({}, {}] with document {} at {} out of order", b.after(), b.last(),
            d.public_id(), d.public_seq()));
      }
      if (d.public_id().empty() || d.public_id().size() > 128 ||
          d.public_id().find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                          "0123456789-_.") != std::string::npos) {
        return Status::InvalidArgument(fmt::format("a public document with the id \"{}\"",
                                                   d.public_id().substr(0, 64)));
      }
      prev = d.public_seq();
    }
  }
  return decoded;
}

PublicLink::PublicLink(PublicLinkOptions options, uint64_t cursor, Deliver deliver, Keys keys)
    : options_(std::move(options)), deliver_(std::move(deliver)), keys_(std::move(keys)) {
  state_.cursor = cursor;
}

Result<std::unique_ptr<PublicLink>> PublicLink::Start(PublicLinkOptions options, uint64_t cursor,
                                                      Deliver deliver, Keys keys) {
  if (options.endpoints.empty()) return Status::InvalidArgument("no broker endpoint (--broker)");
  std::unique_ptr<PublicLink> link(
      new PublicLink(std::move(options), cursor, std::move(deliver), std::move(keys)));
  link->thread_ = std::thread([l = link.get()] { l->Serve(); });
  return link;
}

PublicLink::~PublicLink() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

PublicLinkState PublicLink::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

void PublicLink::Serve() {
  // Attached documents: fetched while welcomed, one chunk in flight.
  std::unique_ptr<DirectoryShelf> shelf;
  if (!options_.documents_dir.empty()) {
    Result<std::unique_ptr<DirectoryShelf>> opened = DirectoryShelf::Open(options_.documents_dir);
    if (opened.ok()) {
      shelf = std::move(opened).value();
    } else {
      spdlog::error("attached documents will not be fetched: {}", opened.status().message());
    }
  }
  DocumentFetcher fetcher(SystemClock::Instance());
  auto want = [&](const google::protobuf::RepeatedPtrField<v1::Attachment>& attachments) {
    if (!shelf) return;
    v1::Directive d;
    *d.mutable_attachments() = attachments;
    WantAttachments(fetcher, *shelf, d);
  };
  {
    google::protobuf::RepeatedPtrField<v1::Attachment> initial(options_.documents.begin(), options_.documents.end());
    want(initial);
  }
  auto note_documents = [&] {
    size_t waiting = 0;
    for (const DocumentProgress& p : fetcher.Progress()) waiting += p.complete ? 0 : 1;
    std::lock_guard lock(mutex_);
    state_.documents = fetcher.counters();
    state_.documents_waiting = waiting;
  };
  note_documents();
  std::optional<zmq::socket_t> socket;
  size_t current = 0;
  bool welcomed = false;
  uint64_t cursor = state().cursor;
  std::chrono::milliseconds heartbeat{5000};
  Steady::time_point next_hello{}, last_heard{}, next_keepalive{};
  std::string last_problem;
  int unanswered = 0;  // hellos without a welcome
  auto open = [&](size_t to) {
    socket.reset();
    current = to;
    welcomed = false;
    fetcher.LinkDown();
    try {
      zmq::socket_t s(context_, zmq::socket_type::dealer);
      s.set(zmq::sockopt::linger, 0);
      s.set(zmq::sockopt::immediate, 1);
      s.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options_.max_message_bytes));
      if (options_.curve) {
        if (Status st = ApplyCurveClient(s, *options_.curve); !st.ok()) {
          spdlog::error("{}", st.message());
          return;
        }
      }
      s.connect(options_.endpoints[current]);
      socket = std::move(s);
      spdlog::info("connecting to broker {}", options_.endpoints[current]);
      std::lock_guard lock(mutex_);
      state_.endpoint = options_.endpoints[current];
      state_.welcomed = false;
    } catch (const zmq::error_t& e) {
      spdlog::error("cannot connect to broker {}: {}", options_.endpoints[current], e.what());
    }
    next_hello = Steady::now();
  };
  auto say_stored = [&] {
    v1::Envelope env = NewMessage();
    env.mutable_public_stored()->set_cursor(cursor);
    TrySend(*socket, env);
  };
  open(0);
  while (!stop_.load()) {
    if (!socket) {
      std::this_thread::sleep_for(kPoll);
      open(current);
      continue;
    }
    const Steady::time_point now = Steady::now();
    if (!welcomed && now >= next_hello) {
      if (unanswered >= 2 && options_.endpoints.size() > 1) {
        // Refused or silent: the other broker of a pair may lead.
        unanswered = 0;
        open((current + 1) % options_.endpoints.size());
        continue;
      }
      ++unanswered;
      v1::Envelope env = NewMessage();
      env.mutable_public_hello()->set_cursor(cursor);
      env.mutable_public_hello()->set_name(options_.name);
      TrySend(*socket, env);
      next_hello = now + kHelloRetry;
    }
    if (welcomed && now >= next_keepalive) {
      // Also tells a broker that restarted and no longer knows this server:
      // it answers with an error, and the hello follows.
      say_stored();
      next_keepalive = now + heartbeat;
    }
    if (welcomed && now - last_heard >= 3 * heartbeat) {
      spdlog::warn("nothing heard from broker {} for {} ms; reconnecting",
                   options_.endpoints[current], (3 * heartbeat).count());
      open((current + 1) % options_.endpoints.size());
      continue;
    }
    auto fetch_next = [&] {
      if (!welcomed || !shelf || !socket) return;
      if (std::optional<std::string> request = fetcher.Next()) {
        try {
          (void)socket->send(zmq::buffer(*request), zmq::send_flags::dontwait);
        } catch (const zmq::error_t&) {
        }
      }
    };
    fetch_next();
    zmq::pollitem_t items[] = {{socket->handle(), 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 1, kPoll);
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      continue;
    }
    while (socket) {
      zmq::message_t message;
      try {
        if (!socket->recv(message, zmq::recv_flags::dontwait)) break;
      } catch (const zmq::error_t&) {
        break;
      }
      auto decoded = DecodeBrokerMessage(message.to_string_view(), options_.max_message_bytes);
      if (!decoded.ok()) {
        spdlog::warn("from broker {}: {}", options_.endpoints[current], decoded.status().message());
        continue;
      }
      v1::Envelope& env = *decoded;
      last_heard = Steady::now();
      if (DocumentFetcher::IsReply(env)) {
        if (!shelf) continue;
        const uint64_t completed = fetcher.counters().completed;
        Status st = FetchToShelf(fetcher, *shelf, env);
        if (!st.ok()) {
          if (st.code() == Status::Code::kCorruption) {
            spdlog::error("{}", st.message());
          } else {
            spdlog::warn("{}", st.message());
          }
        } else if (fetcher.counters().completed != completed && env.has_attachment_chunk()) {
          spdlog::info("attached document {} fetched and checked ({} bytes)",
                       ToHex(env.attachment_chunk().sha256()), env.attachment_chunk().size());
        }
        note_documents();
        fetch_next();
        continue;
      }
      switch (env.body_case()) {
        case v1::Envelope::kPublicWelcome: {
          const v1::PublicWelcome& w = env.public_welcome();
          if (w.heartbeat_interval_ms() > 0) {
            heartbeat = std::chrono::milliseconds(w.heartbeat_interval_ms());
          }
          std::vector<v1::ReleaseKey> keys(w.keys().begin(), w.keys().end());
          if (Status st = keys_(keys); !st.ok()) {
            spdlog::error("release keys not stored: {}", st.ToString());
            next_hello = Steady::now() + kHelloRetry;
            break;
          }
          welcomed = true;
          unanswered = 0;
          next_keepalive = last_heard + heartbeat;
          spdlog::info("welcomed by broker {} (its public stream at {}, held here up to {})",
                       options_.endpoints[current], w.head(), cursor);
          last_problem.clear();
          std::lock_guard lock(mutex_);
          state_.welcomed = true;
          state_.head = w.head();
          state_.problem.clear();
          break;
        }
        case v1::Envelope::kPublicBatch: {
          if (!welcomed) break;
          const v1::PublicBatch& b = env.public_batch();
          {
            std::lock_guard lock(mutex_);
            state_.head = b.head();
          }
          if (b.after() != cursor) {
            if (b.last() > cursor) {
              // Not what follows what is held: hello again, from the cursor.
              spdlog::warn("a public batch after {}, but {} is held here: asking again",
                           b.after(), cursor);
              welcomed = false;
              next_hello = Steady::now();
            }
            break;
          }
          if (b.documents_size() > 0 || b.last() > cursor) {
            std::vector<v1::PublicDocument> docs(b.documents().begin(), b.documents().end());
            if (Status st = deliver_(docs, b.last()); !st.ok()) {
              spdlog::error("public documents up to {} not stored: {}; asked again in {} s",
                            b.last(), st.ToString(),
                            std::chrono::duration_cast<std::chrono::seconds>(kHelloRetry).count());
              welcomed = false;
              next_hello = Steady::now() + kHelloRetry;
              break;
            }
            cursor = b.last();
            for (const v1::PublicDocument& d : docs) want(d.attachments());
            note_documents();
            std::lock_guard lock(mutex_);
            state_.cursor = cursor;
          }
          say_stored();
          break;
        }
        case v1::Envelope::kError: {
          std::string problem = env.error().message();
          if (problem != last_problem) {
            spdlog::error("broker {} refused this public server: {}", options_.endpoints[current],
                          problem);
            last_problem = problem;
          }
          welcomed = false;
          next_hello = Steady::now() + kHelloRetry;
          std::lock_guard lock(mutex_);
          state_.welcomed = false;
          state_.problem = problem;
          break;
        }
        default:
          spdlog::warn("from broker {}: unexpected \"{}\"", options_.endpoints[current],
                       wire::BodyName(env));
      }
    }
  }
}

}  // namespace flatcast::feed
