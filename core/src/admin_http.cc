#include "flatcast/admin_http.h"
#include "flatcast/http_request.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <sstream>
#include <thread>

namespace flatcast {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Requests carry no body; headers of a few hundred bytes.
constexpr size_t kMaxRequestBytes = 8 * 1024;
constexpr auto kDeadline = std::chrono::seconds(10);

http::response<http::string_body> Respond(const http::request<http::string_body>& req,
                                          const AdminHandler& handler) {
  auto make = [&](unsigned status, const std::string& type, std::string body) {
    http::response<http::string_body> res{static_cast<http::status>(status), req.version()};
    res.set(http::field::content_type, type);
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear();
    return res;
  };
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    auto res = make(405, "text/plain; charset=utf-8", "only GET and HEAD\n");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  AdminResponse answer = handler(std::string_view(req.target().data(), req.target().size()));
  return make(answer.status, answer.content_type, std::move(answer.body));
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const AdminHandler& handler, std::atomic<size_t>& open)
      : stream_(std::move(socket)), handler_(handler), open_(open) {}
  ~Session() { --open_; }
  void Run() { Read(); }

 private:
  void Read() {
    parser_.emplace();
    parser_->header_limit(kMaxRequestBytes);
    parser_->body_limit(kMaxRequestBytes);
    stream_.expires_after(kDeadline);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }
  void OnRead(beast::error_code ec) {
    if (ec) {
      stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      return;
    }
    res_ = std::make_shared<http::response<http::string_body>>(Respond(parser_->get(), handler_));
    http::async_write(stream_, *res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec || !self->res_->keep_alive()) {
        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        return;
      }
      self->Read();
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http::response<http::string_body>> res_;
  const AdminHandler& handler_;
  std::atomic<size_t>& open_;
};

class BeastAdmin final : public AdminServer {
 public:
  BeastAdmin(AdminHandler handler, size_t max_connections)
      : handler_(std::move(handler)), max_connections_(max_connections), acceptor_(io_) {}
  ~BeastAdmin() override {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  Status Listen(const std::string& endpoint) {
    FLATCAST_RETURN_IF_ERROR(ListenOn(acceptor_, endpoint, "admin endpoint"));
    const std::string host = endpoint.substr(0, endpoint.rfind(':'));
    url_ = "http://" + host + ":" + std::to_string(acceptor_.local_endpoint().port());
    Accept();
    thread_ = std::thread([this] { io_.run(); });
    return Status::Ok();
  }

  std::string url() const override { return url_; }

 private:
  void Accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (!ec) {
        if (open_.load() >= max_connections_) {
          socket.close(ec);  // beyond the few an operator's tools need
        } else {
          ++open_;
          std::make_shared<Session>(std::move(socket), handler_, open_)->Run();
        }
      }
      if (ec != asio::error::operation_aborted) Accept();
    });
  }

  // Sessions refer to the handler and the count: both outlive the context.
  AdminHandler handler_;
  const size_t max_connections_;
  std::atomic<size_t> open_{0};
  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  std::string url_;
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<AdminServer>> AdminServer::Start(const std::string& endpoint,
                                                        AdminHandler handler,
                                                        size_t max_connections) {
  auto server = std::make_unique<BeastAdmin>(std::move(handler), max_connections);
  FLATCAST_RETURN_IF_ERROR(server->Listen(endpoint));
  return std::unique_ptr<AdminServer>(std::move(server));
}

std::optional<http::request<http::string_body>> ParseRawHttpRequest(std::string_view raw,
                                                                   size_t body_limit) {
  http::request_parser<http::string_body> parser;
  parser.body_limit(body_limit);  // the header within Beast's default, 8 KiB
  parser.eager(true);
  beast::error_code ec;
  asio::const_buffer rest(raw.data(), raw.size());
  while (!parser.is_done() && rest.size() > 0) {
    size_t used = parser.put(rest, ec);
    if (ec == http::error::need_more) {
      ec = {};
      if (used == 0) break;
    }
    if (ec) break;
    rest += used;
  }
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec || !parser.is_done()) return std::nullopt;
  return parser.release();
}

Status ListenOn(tcp::acceptor& acceptor, const std::string& endpoint, std::string_view what) {
  const std::string name(what);
  const size_t colon = endpoint.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == endpoint.size()) {
    return Status::InvalidArgument(name + " \"" + endpoint + "\" is not HOST:PORT");
  }
  const std::string host = endpoint.substr(0, colon);
  unsigned long port = 0;
  try {
    size_t used = 0;
    port = std::stoul(endpoint.substr(colon + 1), &used);
    if (used != endpoint.size() - colon - 1 || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    return Status::InvalidArgument(name + " \"" + endpoint + "\": the port is not 0-65535");
  }
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return Status::InvalidArgument(name + " address \"" + host + "\": " + ec.message());
  tcp::endpoint ep(address, static_cast<uint16_t>(port));
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(64, ec);
  if (ec) return Status::IOError("cannot listen for the " + name + " on " + endpoint + ": " + ec.message());
  return Status::Ok();
}

std::string AnswerAdminRequest(std::string_view raw, const AdminHandler& handler) {
  std::ostringstream out;
  auto request = ParseRawHttpRequest(raw, kMaxRequestBytes);
  if (!request) {
    http::response<http::string_body> bad{http::status::bad_request, 11};
    bad.set(http::field::content_type, "text/plain; charset=utf-8");
    bad.body() = "bad request\n";
    bad.prepare_payload();
    out << bad;
    return out.str();
  }
  out << Respond(*request, handler);
  return out.str();
}

}  // namespace flatcast
