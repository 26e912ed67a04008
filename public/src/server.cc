#include "flatcast/feed/server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cstring>
#include <atomic>
#include <chrono>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <thread>

#include "flatcast/http_request.h"
#include "flatcast/log_throttle.h"

namespace flatcast::feed {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr size_t kMaxBody = 16 * 1024;
constexpr auto kRequestDeadline = std::chrono::seconds(15);
constexpr auto kIdle = std::chrono::seconds(30);
constexpr auto kKeepAliveEvery = std::chrono::seconds(15);
constexpr char kStreamHeader[] =
    "HTTP/1.1 200 OK\r\nServer: flatcast-public\r\nContent-Type: text/event-stream\r\n"
    "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n"
    "Access-Control-Allow-Origin: *\r\nConnection: keep-alive\r\n\r\nretry: 3000\n\n";

http::response<http::string_body> ToBeast(const FeedResponse& answer, unsigned version,
                                          bool keep_alive, bool head) {
  http::response<http::string_body> res{static_cast<http::status>(answer.status), version};
  res.set(http::field::server, "flatcast-public");
  res.set(http::field::content_type, answer.content_type);
  res.set(http::field::cache_control, "no-cache");
  res.set("X-Content-Type-Options", "nosniff");
  // Public content: any page may read it (a newspaper's widget).
  res.set(http::field::access_control_allow_origin, "*");
  if (answer.content_type.starts_with("text/html")) {
    res.set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'");
  }
  if (!answer.etag.empty()) res.set(http::field::etag, answer.etag);
  for (const auto& [name, value] : answer.headers) res.insert(name, value);
  res.keep_alive(keep_alive);
  res.body() = answer.body;
  res.prepare_payload();
  if (head) res.body().clear();
  return res;
}

http::response<http::string_body> Plain(http::status status, const std::string& json) {
  http::response<http::string_body> res{status, 11};
  res.set(http::field::server, "flatcast-public");
  res.set(http::field::content_type, "application/json; charset=utf-8");
  res.body() = json;
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

class Server;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Server& server);
  ~Session();
  void Run() { Read(); }
  void Push(const std::string& events);
  bool closed() const { return closed_; }
  const std::string& region() const { return region_; }
  uint64_t after = 0;  // the stream's last event
  void Close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

 private:
  void Read();
  void OnRead(beast::error_code ec);
  void Write(std::shared_ptr<http::response<http::string_body>> res, bool then_close);
  void WriteNext();
  void WatchForClose();

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Server& server_;
  std::string region_;
  std::deque<std::string> outbox_;
  size_t backlog_ = 0;
  bool writing_ = false;
  bool closed_ = false;
  bool first_ = true;
  bool close_when_written_ = false;
  std::array<char, 256> discard_;
};

class Server final : public FeedServer {
 public:
  Server(const FeedServerOptions& options, std::shared_ptr<const Site> site)
      : options_(options), site_(std::move(site)), acceptor_(io_), timer_(io_), retry_(io_) {}
  ~Server() override {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  Status Listen() {
    FLATCAST_RETURN_IF_ERROR(ListenOn(acceptor_, options_.endpoint, "listen address"));
    ::fcntl(acceptor_.native_handle(), F_SETFD, FD_CLOEXEC);
    url_ = "http://" + options_.endpoint.substr(0, options_.endpoint.rfind(':')) + ":" +
           std::to_string(acceptor_.local_endpoint().port());
    Accept();
    KeepAlive();
    thread_ = std::thread([this] { io_.run(); });
    return Status::Ok();
  }

  std::string url() const override { return url_; }

  void Publish(std::shared_ptr<const Site> site) override {
    {
      std::lock_guard lock(mu_);
      site_ = site;
    }
    asio::post(io_, [this, site = std::move(site)] {
      streams_.remove_if([](const std::shared_ptr<Session>& s) { return s->closed(); });
      for (auto& s : streams_) {
        std::string events = site->EventsAfter(s->region(), s->after);
        s->after = std::max(s->after, site->head());
        if (!events.empty()) s->Push(events);
      }
    });
  }

  FeedServerStats stats() const override {
    FeedServerStats s;
    s.connections = open_.load();
    s.subscribers = subscribers_.load();
    s.refused_subscribers = refused_subscribers_.load();
    s.dropped_slow = dropped_slow_.load();
    s.refused_connections = refused_connections_.load();
    return s;
  }

  std::shared_ptr<const Site> site() const {
    std::lock_guard lock(mu_);
    return site_;
  }
  const FeedServerOptions& options() const { return options_; }
  void Opened() { ++open_; }
  void Closed() { --open_; }
  // A stream may start: false at max_subscribers.
  bool AddStream(const std::shared_ptr<Session>& s) {
    if (subscribers_.load() >= options_.max_subscribers) {
      ++refused_subscribers_;
      return false;
    }
    ++subscribers_;
    streams_.push_back(s);
    return true;
  }
  void StreamEnded() { --subscribers_; }
  void DroppedSlow() { ++dropped_slow_; }

 private:
  void Accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {
        // Out of descriptors, say: try again shortly rather than spin.
        // No virtual call here (error_code::message, a Clock): out of
        // descriptors, UBSan's first check of a dynamic type cannot probe
        // memory and calls it invalid. The error is errno's.
        const std::string why = std::strerror(ec.value());
        if (auto held = accept_log_.Admit(why, std::chrono::system_clock::now())) {
          spdlog::warn("accept failed: {}; trying again every 100 ms ({} more since the last "
                       "report)",
                       why, *held);
        }
        retry_.expires_after(std::chrono::milliseconds(100));
        retry_.async_wait([this](beast::error_code wait) {
          if (!wait) Accept();
        });
        return;
      }
      ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
      if (open_.load() >= options_.max_connections) {
        ++refused_connections_;
        socket.close(ec);
      } else {
        std::make_shared<Session>(std::move(socket), *this)->Run();
      }
      Accept();
    });
  }

  // A comment on every stream now and then: proxies keep it open, and a
  // reader that has gone is noticed.
  void KeepAlive() {
    timer_.expires_after(kKeepAliveEvery);
    timer_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      streams_.remove_if([](const std::shared_ptr<Session>& s) { return s->closed(); });
      for (auto& s : streams_) s->Push(": keep-alive\n\n");
      KeepAlive();
    });
  }

  const FeedServerOptions options_;
  mutable std::mutex mu_;
  std::shared_ptr<const Site> site_;  // guarded by mu_
  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  asio::steady_timer timer_;
  asio::steady_timer retry_;
  std::list<std::shared_ptr<Session>> streams_;  // the io thread's
  std::atomic<size_t> open_{0};
  std::atomic<size_t> subscribers_{0};
  std::atomic<uint64_t> refused_subscribers_{0};
  std::atomic<uint64_t> dropped_slow_{0};
  std::atomic<uint64_t> refused_connections_{0};
  std::string url_;
  LogThrottle accept_log_{std::chrono::seconds(10)};
  std::thread thread_;
};

Session::Session(tcp::socket socket, Server& server) : stream_(std::move(socket)), server_(server) {
  server_.Opened();
}

Session::~Session() { server_.Closed(); }

void Session::Read() {
  parser_.emplace();
  parser_->header_limit(8 * 1024);
  parser_->body_limit(kMaxBody);
  // The first request must come whole within the deadline; later ones on
  // a kept-alive connection within the idle time.
  stream_.expires_after(first_ ? kRequestDeadline : kIdle);
  first_ = false;
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
}

void Session::Write(std::shared_ptr<http::response<http::string_body>> res, bool then_close) {
  http::async_write(stream_, *res,
                    [self = shared_from_this(), res, then_close](beast::error_code ec, size_t) {
                      if (ec || then_close) {
                        self->Close();
                        return;
                      }
                      self->Read();
                    });
}

void Session::OnRead(beast::error_code ec) {
  if (ec == http::error::body_limit || ec == http::error::header_limit) {
    Write(std::make_shared<http::response<http::string_body>>(Plain(
              http::status::bad_request,
              ec == http::error::body_limit
                  ? "{\"error\": \"a request carries no body here (at most 16 KiB)\"}\n"
                  : "{\"error\": \"the header is larger than 8 KiB\"}\n")),
          true);
    return;
  }
  if (ec) {
    Close();
    return;
  }
  const auto& req = parser_->get();
  FeedRequest r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  r.if_none_match = std::string(req[http::field::if_none_match]);
  if (auto it = req.find("Last-Event-ID"); it != req.end()) {
    r.has_last_event_id = true;
    r.last_event_id = std::string(it->value());
  }
  auto site = server_.site();
  FeedResponse answer;
  try {
    answer = site->Answer(r);
  } catch (const std::exception& e) {
    // Never the listener's end: one request's failure is its own 500.
    spdlog::error("request {} failed: {}", r.target.substr(0, 200), e.what());
    Write(std::make_shared<http::response<http::string_body>>(
              Plain(http::status::internal_server_error, "{\"error\": \"internal error\"}\n")),
          true);
    return;
  }
  if (answer.event_stream) {
    if (!server_.AddStream(shared_from_this())) {
      auto res = std::make_shared<http::response<http::string_body>>(Plain(
          http::status::service_unavailable,
          "{\"error\": \"too many subscribers (" + std::to_string(server_.options().max_subscribers) +
              "); try again later\"}\n"));
      res->set(http::field::retry_after, "10");
      Write(res, true);
      return;
    }
    region_ = answer.region;
    after = answer.after;
    close_when_written_ = answer.close_after;
    stream_.expires_never();
    Push(kStreamHeader + answer.body);
    WatchForClose();
    return;
  }
  Write(std::make_shared<http::response<http::string_body>>(
            ToBeast(answer, req.version(), req.keep_alive(), req.method() == http::verb::head)),
        !req.keep_alive());
}

// A stream's reader sends nothing more: a read that ends tells that it went.
void Session::WatchForClose() {
  stream_.socket().async_read_some(asio::buffer(discard_),
                                   [self = shared_from_this()](beast::error_code ec, size_t) {
                                     if (ec) {
                                       self->server_.StreamEnded();
                                       self->Close();
                                       return;
                                     }
                                     self->WatchForClose();
                                   });
}

void Session::Push(const std::string& events) {
  if (closed_ || close_when_written_) return;  // a page's stream takes nothing live
  if (backlog_ + events.size() > server_.options().max_backlog_bytes) {
    // A reader that does not read: dropped, not buffered without limit; it
    // reconnects with Last-Event-ID and gets what it missed.
    server_.DroppedSlow();
    Close();
    return;
  }
  backlog_ += events.size();
  outbox_.push_back(events);
  if (!writing_) WriteNext();
}

void Session::WriteNext() {
  if (outbox_.empty() && close_when_written_) {
    Close();  // one page of a longer catch-up: the reader asks again from its last event
  }
  if (outbox_.empty() || closed_) {
    writing_ = false;
    return;
  }
  writing_ = true;
  stream_.expires_after(kIdle);
  asio::async_write(stream_, asio::buffer(outbox_.front()),
                    [self = shared_from_this()](beast::error_code ec, size_t) {
                      self->backlog_ -= self->outbox_.front().size();
                      self->outbox_.pop_front();
                      if (ec) {
                        self->Close();
                        return;
                      }
                      self->stream_.expires_never();
                      self->WriteNext();
                    });
}

}  // namespace

Result<std::unique_ptr<FeedServer>> FeedServer::Start(const FeedServerOptions& options,
                                                      std::shared_ptr<const Site> site) {
  auto server = std::make_unique<Server>(options, std::move(site));
  FLATCAST_RETURN_IF_ERROR(server->Listen());
  return std::unique_ptr<FeedServer>(std::move(server));
}

}  // namespace flatcast::feed
