// The web inbox's listener: Boost.Beast over Asio on a thread of its own.
// Requests are answered by WebInbox; an accepted /api/events request turns
// its connection into a Server-Sent Events stream, fed from one timer that
// watches the inbox's fingerprint.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <fcntl.h>

#include <array>
#include <atomic>
#include <chrono>
#include <list>
#include <optional>
#include <sstream>
#include <thread>

#include "flatcast/http_request.h"
#include "flatcast/subscriber/web_inbox.h"

namespace flatcast::subscriber {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr size_t kMaxBody = 64 * 1024;  // a form's answers, a rating's comment
constexpr auto kDeadline = std::chrono::seconds(15);
constexpr auto kWatchEvery = std::chrono::milliseconds(250);
constexpr auto kKeepAliveEvery = std::chrono::seconds(15);

WebRequest ToWebRequest(const http::request<http::string_body>& req) {
  auto header = [&](http::field f) {
    auto it = req.find(f);
    return it == req.end() ? std::string() : std::string(it->value());
  };
  WebRequest r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  r.host = header(http::field::host);
  r.origin = header(http::field::origin);
  r.cookie = header(http::field::cookie);
  r.content_type = header(http::field::content_type);
  r.body = req.body();
  return r;
}

http::response<http::string_body> ToBeast(const WebResponse& answer, unsigned version,
                                          bool keep_alive, bool head) {
  http::response<http::string_body> res{static_cast<http::status>(answer.status), version};
  res.set(http::field::content_type, answer.content_type);
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Content-Security-Policy",
          "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'");
  res.set("Referrer-Policy", "no-referrer");
  for (const auto& [name, value] : answer.headers) res.insert(name, value);
  res.keep_alive(keep_alive);
  res.body() = answer.body;
  res.prepare_payload();
  if (head) res.body().clear();
  return res;
}

http::response<http::string_body> BadRequest(const std::string& why) {
  http::response<http::string_body> bad{http::status::bad_request, 11};
  bad.set(http::field::content_type, "application/json; charset=utf-8");
  bad.body() = "{\"error\":\"" + why + "\"}\n";
  bad.keep_alive(false);
  bad.prepare_payload();
  return bad;
}

constexpr char kStreamHeader[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
    "X-Content-Type-Options: nosniff\r\nConnection: keep-alive\r\n\r\nretry: 2000\n\n";

class Server;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Server& server);
  ~Session();
  void Run() { Read(); }
  // Stream sessions: the server's timer writes to them.
  void Push(std::string event);
  bool streaming() const { return streaming_; }
  const std::string& cookie() const { return cookie_; }
  bool closed() const { return closed_; }
  void Close() {
    closed_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

 private:
  void Read();
  void OnRead(beast::error_code ec);
  void WriteNext();
  void WatchForClose();

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http::response<http::string_body>> res_;
  Server& server_;
  bool streaming_ = false;
  std::string cookie_;
  std::list<std::string> outbox_;  // stream events not yet written
  bool writing_ = false;
  bool closed_ = false;
  std::array<char, 512> discard_;
};

class Server final : public WebInboxServer {
 public:
  Server(WebInbox& inbox, size_t max_connections)
      : inbox_(inbox), max_connections_(max_connections), acceptor_(io_), timer_(io_) {}
  ~Server() override {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  Status Listen(const std::string& endpoint) {
    FLATCAST_RETURN_IF_ERROR(ListenOn(acceptor_, endpoint, "web endpoint"));
    ::fcntl(acceptor_.native_handle(), F_SETFD, FD_CLOEXEC);
    const std::string host = endpoint.substr(0, endpoint.rfind(':'));
    const asio::ip::address address = acceptor_.local_endpoint().address();
    const std::string bound_port = std::to_string(acceptor_.local_endpoint().port());
    url_ = "http://" + host + ":" + bound_port;
    // The Host names a browser may send for this listener; on every address
    // (0.0.0.0) any, as the office's network names the machine.
    if (!address.is_unspecified()) {
      std::vector<std::string> hosts{host + ":" + bound_port};
      if (address.is_loopback()) hosts.push_back("localhost:" + bound_port);
      inbox_.set_self_hosts(std::move(hosts));
    }
    fingerprint_ = inbox_.Fingerprint();
    Accept();
    Watch();
    thread_ = std::thread([this] { io_.run(); });
    return Status::Ok();
  }

  std::string url() const override { return url_; }
  WebInbox& inbox() { return inbox_; }
  void Opened() { ++open_; }
  void Closed() { --open_; }
  void AddStream(const std::shared_ptr<Session>& s) { streams_.push_back(s); }

 private:
  void Accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {
        // Out of descriptors, say: try again shortly rather than spin.
        retry_.expires_after(std::chrono::milliseconds(100));
        retry_.async_wait([this](beast::error_code wait) {
          if (!wait) Accept();
        });
        return;
      }
      ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
      if (open_.load() >= max_connections_) {
        socket.close(ec);  // a flood: beyond what an office's browsers need
      } else {
        std::make_shared<Session>(std::move(socket), *this)->Run();
      }
      Accept();
    });
  }

  // One timer for every stream: "inbox" when the fingerprint changes, a
  // comment now and then so that proxies and the browser keep it open, and
  // the end of a stream whose session expired.
  void Watch() {
    timer_.expires_after(kWatchEvery);
    timer_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      streams_.remove_if([](const std::shared_ptr<Session>& s) { return s->closed(); });
      std::string now = inbox_.Fingerprint();
      std::string event;
      if (now != fingerprint_) {
        fingerprint_ = now;
        event = "event: inbox\ndata: " + std::to_string(++generation_) + "\n\n";
      } else if (std::chrono::steady_clock::now() - last_push_ >= kKeepAliveEvery) {
        event = ": keep-alive\n\n";
      }
      if (!event.empty()) {
        last_push_ = std::chrono::steady_clock::now();
        for (auto& s : streams_) {
          if (inbox_.Authorized(s->cookie())) {
            s->Push(event);
          } else {
            s->Close();
          }
        }
      }
      Watch();
    });
  }

  WebInbox& inbox_;
  const size_t max_connections_;
  std::atomic<size_t> open_{0};
  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  asio::steady_timer timer_;
  asio::steady_timer retry_{io_};
  // Open event streams, held here until a write to one fails or its session ends.
  std::list<std::shared_ptr<Session>> streams_;
  std::string fingerprint_;
  uint64_t generation_ = 0;
  std::chrono::steady_clock::time_point last_push_ = std::chrono::steady_clock::now();
  std::string url_;
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
  stream_.expires_after(kDeadline);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
}

void Session::OnRead(beast::error_code ec) {
  if (ec == http::error::body_limit || ec == http::error::header_limit) {
    res_ = std::make_shared<http::response<http::string_body>>(
        BadRequest(ec == http::error::body_limit ? "the body is larger than 64 KiB"
                                                 : "the header is larger than 8 KiB"));
    http::async_write(stream_, *res_, [self = shared_from_this()](beast::error_code, size_t) {
      self->Close();
    });
    return;
  }
  if (ec) {
    Close();
    return;
  }
  const auto& req = parser_->get();
  WebRequest request = ToWebRequest(req);
  WebResponse answer = server_.inbox().Answer(request);
  if (answer.event_stream) {
    streaming_ = true;
    cookie_ = request.cookie;
    stream_.expires_never();
    server_.AddStream(shared_from_this());
    Push(kStreamHeader);
    WatchForClose();
    return;
  }
  res_ = std::make_shared<http::response<http::string_body>>(
      ToBeast(answer, req.version(), req.keep_alive(), req.method() == http::verb::head));
  http::async_write(stream_, *res_, [self = shared_from_this()](beast::error_code ec, size_t) {
    if (ec || !self->res_->keep_alive()) {
      self->Close();
      return;
    }
    self->Read();
  });
}

// A stream's browser sends nothing more: a read that ends tells that the
// tab was closed or the connection lost, without waiting for a write to fail.
void Session::WatchForClose() {
  stream_.socket().async_read_some(asio::buffer(discard_),
                                   [self = shared_from_this()](beast::error_code ec, size_t) {
                                     if (ec) {
                                       self->Close();
                                       return;
                                     }
                                     self->WatchForClose();
                                   });
}

void Session::Push(std::string event) {
  if (outbox_.size() > 16) return;  // a reader that does not read: it gets the next change
  outbox_.push_back(std::move(event));
  if (!writing_) WriteNext();
}

void Session::WriteNext() {
  if (outbox_.empty()) {
    writing_ = false;
    return;
  }
  writing_ = true;
  stream_.expires_after(kDeadline);
  asio::async_write(stream_, asio::buffer(outbox_.front()),
                    [self = shared_from_this()](beast::error_code ec, size_t) {
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

Result<std::unique_ptr<WebInboxServer>> WebInboxServer::Start(const std::string& endpoint,
                                                             WebInbox& inbox,
                                                             size_t max_connections) {
  auto server = std::make_unique<Server>(inbox, max_connections);
  FLATCAST_RETURN_IF_ERROR(server->Listen(endpoint));
  return std::unique_ptr<WebInboxServer>(std::move(server));
}

std::string AnswerWebRequest(std::string_view raw, WebInbox& inbox) {
  std::ostringstream out;
  auto request = ParseRawHttpRequest(raw, kMaxBody);
  if (!request) {
    out << BadRequest("not an HTTP/1.1 request within 8 KiB of header and 64 KiB of body");
    return out.str();
  }
  WebResponse answer = inbox.Answer(ToWebRequest(*request));
  if (answer.event_stream) return kStreamHeader;
  out << ToBeast(answer, request->version(), request->keep_alive(),
                 request->method() == http::verb::head);
  return out.str();
}

}  // namespace flatcast::subscriber
