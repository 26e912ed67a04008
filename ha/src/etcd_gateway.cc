// etcd's v3 JSON gateway (grpc-gateway in front of etcd's gRPC API):
//   POST /v3/lease/grant      {"TTL": "5"}                 -> {"ID": "<int64>", "TTL": "5"}
//   POST /v3/lease/keepalive  {"ID": "<int64>"}            -> {"result": {"ID": ..., "TTL": ...}}
//   POST /v3/lease/revoke     {"ID": "<int64>"}
//   POST /v3/kv/range         {"key": "<base64>"}          -> {"kvs": [...]}
//   POST /v3/kv/txn           {"compare": [...], "success": [...], "failure": [...]}
// proto3's JSON mapping: int64 fields are strings, bytes are base64, fields
// at their zero value are left out ("succeeded" is absent when false, "TTL"
// when 0). An error is {"error": "...", "message": "...", "code": N} with a
// non-2xx status, or {"error": {"grpc_code": N, "message": "..."}} inside a
// streamed answer (keepalive). Every Boost and JSON error stops here.
#include <sodium.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>

#include "flatcast/ha/etcd.h"

namespace flatcast::ha {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using nlohmann::json;

namespace {

// The largest answer accepted: a range of one key, a transaction's reads.
constexpr size_t kMaxBody = 1 << 20;

std::string Base64(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

Result<std::string> FromBase64(std::string_view text, std::string_view field) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return Status::Corruption(std::string(field) + " is not base64");
  }
  out.resize(length);
  return out;
}

// An int64 field of proto3 JSON: absent is 0, a string of digits or a number.
Result<int64_t> Int64Field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return int64_t{0};
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_unsigned()) {
    uint64_t v = it->get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) {
      return Status::Corruption(std::string(name) + " is out of range");
    }
    return static_cast<int64_t>(v);
  }
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) return v;
  }
  return Status::Corruption(std::string(name) + " is not an int64");
}

Result<json> ParseObject(std::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::Corruption("the answer is not a JSON object: " +
                              std::string(body.substr(0, 120)));
  }
  return j;
}

Result<EtcdKeyValue> ParseKeyValue(const json& kv) {
  if (!kv.is_object()) return Status::Corruption("a key-value is not an object");
  EtcdKeyValue out;
  for (auto [field, target] : {std::pair{"key", &out.key}, std::pair{"value", &out.value}}) {
    auto it = kv.find(field);
    if (it == kv.end()) continue;  // an empty value is left out
    if (!it->is_string()) return Status::Corruption(std::string(field) + " is not a string");
    auto decoded = FromBase64(it->get_ref<const std::string&>(), field);
    if (!decoded.ok()) return decoded.status();
    *target = std::move(decoded).value();
  }
  for (auto [field, target] : {std::pair{"create_revision", &out.create_revision},
                               std::pair{"mod_revision", &out.mod_revision},
                               std::pair{"version", &out.version}, std::pair{"lease", &out.lease}}) {
    auto v = Int64Field(kv, field);
    if (!v.ok()) return v.status();
    *target = *v;
  }
  return out;
}

Result<std::vector<EtcdKeyValue>> ParseKvs(const json& range) {
  std::vector<EtcdKeyValue> out;
  auto it = range.find("kvs");
  if (it == range.end()) return out;
  if (!it->is_array()) return Status::Corruption("kvs is not an array");
  for (const json& kv : *it) {
    auto parsed = ParseKeyValue(kv);
    if (!parsed.ok()) return parsed.status();
    out.push_back(std::move(parsed).value());
  }
  return out;
}

// The error an answer carries, in whatever form the gateway sent it; empty
// when it carries none.
std::string ErrorIn(const json& j) {
  auto error = j.find("error");
  if (error == j.end()) return "";
  if (error->is_object()) {
    auto m = error->find("message");
    return m != error->end() && m->is_string() ? m->get<std::string>() : error->dump();
  }
  auto m = j.find("message");
  if (m != j.end() && m->is_string()) return m->get<std::string>();
  return error->is_string() ? error->get<std::string>() : error->dump();
}

// A lease's TTL from etcd, bounded so that no later time sum can overflow.
constexpr int64_t kMaxLeaseTtlSeconds = 365LL * 24 * 3600;

// The revision in an answer's header.
Result<int64_t> HeaderRevision(const json& answer) {
  auto it = answer.find("header");
  if (it == answer.end() || !it->is_object()) return Status::Corruption("the answer has no header");
  return Int64Field(*it, "revision");
}

}  // namespace

namespace gateway {

std::string ErrorMessage(std::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "";
  return ErrorIn(j);
}

Result<int64_t> ParseGrant(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  if (std::string error = ErrorIn(*j); !error.empty()) return Status::Unavailable(error);
  auto id = Int64Field(*j, "ID");
  if (!id.ok()) return id.status();
  if (*id == 0) return Status::Corruption("the lease grant has no ID");
  return *id;
}

Result<std::chrono::seconds> ParseKeepAlive(std::string_view body) {
  // A streamed answer: one JSON object per message; only the first counts.
  size_t end = body.find('\n');
  std::string_view first = end == std::string_view::npos ? body : body.substr(0, end);
  auto j = ParseObject(first);
  if (!j.ok()) return j.status();
  if (std::string error = ErrorIn(*j); !error.empty()) return Status::Unavailable(error);
  auto result = j->find("result");
  if (result == j->end() || !result->is_object()) {
    return Status::Corruption("the keep-alive answer has no result");
  }
  auto ttl = Int64Field(*result, "TTL");
  if (!ttl.ok()) return ttl.status();
  if (*ttl < 0) return std::chrono::seconds(0);
  if (*ttl > kMaxLeaseTtlSeconds) {
    return Status::Corruption("the lease TTL " + std::to_string(*ttl) + " s is over a year");
  }
  return std::chrono::seconds(*ttl);
}

Result<std::optional<EtcdKeyValue>> ParseRange(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  if (std::string error = ErrorIn(*j); !error.empty()) return Status::Unavailable(error);
  auto kvs = ParseKvs(*j);
  if (!kvs.ok()) return kvs.status();
  if (kvs->empty()) return std::optional<EtcdKeyValue>();
  return std::optional<EtcdKeyValue>(std::move(kvs->front()));
}

Result<EtcdTxnResult> ParseTxn(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  if (std::string error = ErrorIn(*j); !error.empty()) return Status::Unavailable(error);
  EtcdTxnResult out;
  auto revision = HeaderRevision(*j);
  if (!revision.ok()) return revision.status();
  out.revision = *revision;
  auto succeeded = j->find("succeeded");
  if (succeeded != j->end()) {
    if (!succeeded->is_boolean()) return Status::Corruption("succeeded is not a boolean");
    out.succeeded = succeeded->get<bool>();
  }
  auto responses = j->find("responses");
  if (responses != j->end()) {
    if (!responses->is_array()) return Status::Corruption("responses is not an array");
    for (const json& r : *responses) {
      if (!r.is_object()) return Status::Corruption("a response is not an object");
      auto range = r.find("response_range");
      if (range == r.end()) continue;
      auto kvs = ParseKvs(*range);
      if (!kvs.ok()) return kvs.status();
      for (auto& kv : *kvs) out.read.push_back(std::move(kv));
    }
  }
  return out;
}

std::string TxnBody(const EtcdTxn& txn) {
  json compare = json::array();
  for (const EtcdCompare& c : txn.compare) {
    bool create = c.target == EtcdCompare::Target::kCreate;
    compare.push_back({{"key", Base64(c.key)},
                       {"target", create ? "CREATE" : "MOD"},
                       {"result", "EQUAL"},
                       {create ? "create_revision" : "mod_revision", std::to_string(c.revision)}});
  }
  json success = json::array();
  for (const EtcdPut& p : txn.puts) {
    json put = {{"key", Base64(p.key)}, {"value", Base64(p.value)}};
    if (p.lease != 0) put["lease"] = std::to_string(p.lease);
    success.push_back({{"request_put", put}});
  }
  for (const std::string& key : txn.deletes) {
    success.push_back({{"request_delete_range", {{"key", Base64(key)}}}});
  }
  json failure = json::array();
  for (const std::string& key : txn.read_on_failure) {
    failure.push_back({{"request_range", {{"key", Base64(key)}}}});
  }
  return json{{"compare", compare}, {"success", success}, {"failure", failure}}.dump();
}

}  // namespace gateway

namespace {

struct Endpoint {
  std::string text;  // as configured
  std::string host;
  std::string port;
};

Result<Endpoint> ParseEndpoint(const std::string& text) {
  constexpr std::string_view kScheme = "http://";
  if (text.rfind(kScheme, 0) != 0) {
    return Status::InvalidArgument("etcd endpoint " + text +
                                   " is not http://host:port (the gateway without TLS)");
  }
  std::string rest = text.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size() ||
      rest.find('/') != std::string::npos) {
    return Status::InvalidArgument("etcd endpoint " + text + " is not http://host:port");
  }
  std::string port = rest.substr(colon + 1);
  int value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535) {
    return Status::InvalidArgument("etcd endpoint " + text + " has no port between 1 and 65535");
  }
  return Endpoint{text, rest.substr(0, colon), port};
}

class GatewayClient final : public Etcd {
 public:
  GatewayClient(std::vector<Endpoint> endpoints, std::chrono::milliseconds timeout)
      : endpoints_(std::move(endpoints)), timeout_(timeout) {}

  Result<int64_t> GrantLease(std::chrono::seconds ttl) override {
    auto body = Post("/v3/lease/grant", json{{"TTL", std::to_string(ttl.count())}}.dump());
    if (!body.ok()) return body.status();
    return gateway::ParseGrant(*body);
  }

  Result<std::chrono::seconds> KeepAlive(int64_t lease) override {
    auto body = Post("/v3/lease/keepalive", json{{"ID", std::to_string(lease)}}.dump());
    if (!body.ok()) return body.status();
    return gateway::ParseKeepAlive(*body);
  }

  Status RevokeLease(int64_t lease) override {
    auto body = Post("/v3/lease/revoke", json{{"ID", std::to_string(lease)}}.dump());
    if (!body.ok()) {
      // etcd answers "requested lease not found" for one that expired already.
      if (body.status().message().find("lease not found") != std::string::npos) return Status::Ok();
      return body.status();
    }
    return Status::Ok();
  }

  Result<std::optional<EtcdKeyValue>> Get(const std::string& key) override {
    auto body = Post("/v3/kv/range", json{{"key", Base64(key)}}.dump());
    if (!body.ok()) return body.status();
    return gateway::ParseRange(*body);
  }

  Result<EtcdTxnResult> Txn(const EtcdTxn& txn) override {
    auto body = Post("/v3/kv/txn", gateway::TxnBody(txn));
    if (!body.ok()) return body.status();
    return gateway::ParseTxn(*body);
  }

  std::string endpoint() const override { return endpoints_[current_].text; }

 private:
  // Sends to the current member, then to each other one in turn; the first
  // 2xx answer's body. A refusal by etcd itself (4xx with an error body
  // other than "no leader") is not retried elsewhere.
  Result<std::string> Post(const std::string& target, const std::string& body) {
    Status last;
    for (size_t attempt = 0; attempt < endpoints_.size(); ++attempt) {
      auto answer = PostTo(endpoints_[current_], target, body);
      if (answer.ok()) return answer;
      last = answer.status().WithContext("etcd " + endpoints_[current_].text + target);
      if (answer.status().code() != Status::Code::kUnavailable) return last;
      Close();
      current_ = (current_ + 1) % endpoints_.size();
    }
    return last;
  }

  void Close() {
    if (stream_) {
      beast::error_code ignored;
      stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream_.reset();
    }
  }

  // Runs the queued asynchronous operations for at most the timeout.
  bool RunWithin() {
    io_.restart();
    io_.run_for(timeout_);
    if (!io_.stopped()) {
      Close();  // cancels what is still running
      io_.restart();
      io_.run();
      return false;
    }
    return true;
  }

  Result<std::string> PostTo(const Endpoint& endpoint, const std::string& target,
                             const std::string& body) {
    beast::error_code ec;
    if (!stream_) {
      stream_.emplace(io_);
      tcp::resolver resolver(io_);
      auto addresses = resolver.resolve(endpoint.host, endpoint.port, ec);
      if (ec) return Status::Unavailable("cannot resolve " + endpoint.host + ": " + ec.message());
      bool done = false;
      stream_->async_connect(addresses, [&](beast::error_code e, const tcp::endpoint&) {
        ec = e;
        done = true;
      });
      if (!RunWithin() || !done) {
        return Status::Unavailable("no connection within " + std::to_string(timeout_.count()) +
                                   " ms");
      }
      if (ec) {
        Close();
        return Status::Unavailable("cannot connect: " + ec.message());
      }
    }
    http::request<http::string_body> request{http::verb::post, target, 11};
    request.set(http::field::host, endpoint.host + ":" + endpoint.port);
    request.set(http::field::content_type, "application/json");
    request.set("Grpc-Metadata-Hasleader", "true");
    request.keep_alive(true);
    request.body() = body;
    request.prepare_payload();
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxBody);
    beast::flat_buffer buffer;
    bool written = false, read = false;
    http::async_write(*stream_, request, [&](beast::error_code e, size_t) {
      ec = e;
      written = true;
      if (e) return;
      http::async_read(*stream_, buffer, parser, [&](beast::error_code e2, size_t) {
        ec = e2;
        read = true;
      });
    });
    if (!RunWithin() || !written || (!ec && !read)) {
      return Status::Unavailable("no answer within " + std::to_string(timeout_.count()) + " ms");
    }
    if (ec) {
      Close();
      return Status::Unavailable(ec.message());
    }
    auto& response = parser.get();
    if (!response.keep_alive()) Close();
    std::string answer = std::move(response.body());
    unsigned status = response.result_int();
    if (status / 100 != 2) {
      std::string why = gateway::ErrorMessage(answer);
      if (why.empty()) why = "HTTP " + std::to_string(status);
      // Without a leader the member cannot answer; another one may.
      if (status >= 500 || why.find("no leader") != std::string::npos) {
        return Status::Unavailable(why);
      }
      return Status::InvalidArgument(why);
    }
    return answer;
  }

  std::vector<Endpoint> endpoints_;
  std::chrono::milliseconds timeout_;
  size_t current_ = 0;
  asio::io_context io_;
  std::optional<beast::tcp_stream> stream_;
};

}  // namespace

Result<std::unique_ptr<Etcd>> OpenEtcdGateway(const EtcdGatewayOptions& options) {
  if (options.endpoints.empty()) return Status::InvalidArgument("no etcd endpoint");
  if (options.timeout <= std::chrono::milliseconds(0)) {
    return Status::InvalidArgument("the etcd request timeout must be positive");
  }
  if (sodium_init() < 0) return Status::Internal("libsodium did not initialise");
  std::vector<Endpoint> endpoints;
  for (const std::string& text : options.endpoints) {
    auto e = ParseEndpoint(text);
    if (!e.ok()) return e.status();
    endpoints.push_back(std::move(e).value());
  }
  return std::unique_ptr<Etcd>(new GatewayClient(std::move(endpoints), options.timeout));
}

}  // namespace flatcast::ha
