#include "flatcast/broker/public_feed.h"

#include "flatcast/http_request.h"

#include <utility>  // before Asio: Boost 1.74 uses std::exchange without including it

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

namespace flatcast::broker {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr char kNotFoundBody[] = "{\"error\": \"not found\"}\n";

class Snapshots {
 public:
  std::shared_ptr<const FeedSnapshot> Get() const {
    std::lock_guard lock(mu_);
    return current_;
  }
  void Set(std::shared_ptr<const FeedSnapshot> s) {
    std::lock_guard lock(mu_);
    current_ = std::move(s);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const FeedSnapshot> current_ = std::make_shared<FeedSnapshot>();  // guarded by mu_
};

http::response<http::string_body> Respond(const http::request<http::string_body>& req,
                                          const FeedSnapshot& snap) {
  auto make = [&](http::status status, std::string body, const char* type, std::string etag) {
    http::response<http::string_body> res{status, req.version()};
    res.set(http::field::server, "flatcast");
    res.set(http::field::content_type, type);
    res.set(http::field::cache_control, "no-cache");
    res.keep_alive(req.keep_alive());
    if (!etag.empty()) {
      res.set(http::field::etag, etag);
      auto inm = req[http::field::if_none_match];
      if (!inm.empty() && inm == etag) {
        res.result(http::status::not_modified);
        res.body().clear();
        res.prepare_payload();
        return res;
      }
    }
    res.body() = req.method() == http::verb::head ? std::string() : std::move(body);
    res.prepare_payload();
    return res;
  };
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    auto res = make(http::status::method_not_allowed, "{\"error\": \"read-only: GET or HEAD\"}\n",
                    "application/json", "");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  std::string target(req.target());
  if (auto q = target.find('?'); q != std::string::npos) target.resize(q);
  std::string list_etag = "\"g" + std::to_string(snap.generation) + "\"";
  if (target == "/public/directives" || target == "/public/directives/") {
    return make(http::status::ok, snap.list_json, "application/json; charset=utf-8", list_etag);
  }
  if (target == "/public/feed.atom") {
    return make(http::status::ok, snap.atom, "application/atom+xml; charset=utf-8", list_etag);
  }
  const std::string prefix = "/public/directives/";
  if (target.rfind(prefix, 0) == 0) {
    std::string rest = target.substr(prefix.size());
    bool cap = false;
    if (rest.size() > 8 && rest.compare(rest.size() - 8, 8, "/cap.xml") == 0) {
      cap = true;
      rest.resize(rest.size() - 8);
    }
    auto it = snap.by_public_id.find(rest);
    if (it != snap.by_public_id.end()) {
      const auto& doc = it->second;
      return cap ? make(http::status::ok, doc.cap, "application/cap+xml; charset=utf-8",
                        doc.etag + "-cap\"")
                 : make(http::status::ok, doc.json, "application/json; charset=utf-8",
                        doc.etag + "\"");
    }
  }
  return make(http::status::not_found, kNotFoundBody, "application/json", "");
}

// Requests have no business carrying bodies.
constexpr size_t kMaxRequestBody = 16 * 1024;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const Snapshots& snapshots)
      : stream_(std::move(socket)), snapshots_(snapshots) {}
  void Run() { Read(); }

 private:
  void Read() {
    req_ = {};
    parser_.emplace();
    parser_->body_limit(kMaxRequestBody);
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->OnRead(ec);
                     });
  }
  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
    if (ec) return;
    req_ = parser_->release();
    auto snap = snapshots_.Get();
    res_ = std::make_shared<http::response<http::string_body>>(Respond(req_, *snap));
    http::async_write(stream_, *res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return;
      if (!self->res_->keep_alive()) {
        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        return;
      }
      self->Read();
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> req_;
  std::shared_ptr<http::response<http::string_body>> res_;
  const Snapshots& snapshots_;
};

class BeastFeed final : public PublicFeed {
 public:
  BeastFeed() : acceptor_(io_) {}
  ~BeastFeed() override {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  Status Listen(const std::string& host, uint16_t port) {
    beast::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (ec) return Status::InvalidArgument("http address \"" + host + "\": " + ec.message());
    tcp::endpoint ep(address, port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status::IOError("cannot listen for HTTP on " + host + ":" + std::to_string(port) +
                             ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] { io_.run(); });
    return Status::Ok();
  }

  uint16_t port() const override { return port_; }
  void Publish(std::shared_ptr<const FeedSnapshot> snapshot) override {
    snapshots_.Set(std::move(snapshot));
  }

 private:
  void Accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (!ec) std::make_shared<Session>(std::move(socket), snapshots_)->Run();
      if (ec != asio::error::operation_aborted) Accept();
    });
  }

  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  Snapshots snapshots_;
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace

std::string AnswerHttpRequest(std::string_view raw, const FeedSnapshot& snapshot) {
  std::ostringstream out;
  auto request = ParseRawHttpRequest(raw, kMaxRequestBody);
  if (!request) {
    http::response<http::string_body> bad{http::status::bad_request, 11};
    bad.set(http::field::content_type, "application/json");
    bad.body() = "{\"error\": \"bad request\"}\n";
    bad.prepare_payload();
    out << bad;
    return out.str();
  }
  out << Respond(*request, snapshot);
  return out.str();
}

Result<std::unique_ptr<PublicFeed>> PublicFeed::Start(const std::string& host, uint16_t port) {
  auto feed = std::make_unique<BeastFeed>();
  FLATCAST_RETURN_IF_ERROR(feed->Listen(host, port));
  return std::unique_ptr<PublicFeed>(std::move(feed));
}

}  // namespace flatcast::broker
