#include "flatcast/feed/verify.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <sodium.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "flatcast/duration.h"
#include "flatcast/signing.h"

namespace flatcast::feed {

namespace {

Result<std::string> FromBase64(std::string_view text, std::string_view what) {
  if (sodium_init() < 0) return Status::Internal("libsodium did not initialise");
  std::string out(text.size(), '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    return Status::InvalidArgument(fmt::format("{} is not base64", what));
  }
  out.resize(len);
  return out;
}

// The <sent> of a CAP alert.
Result<std::string> CapSent(std::string_view xml) {
  xmlDocPtr doc = xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "cap.xml", nullptr,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (doc == nullptr) return Status::InvalidArgument("the document is not XML");
  std::string sent;
  xmlNodePtr root = xmlDocGetRootElement(doc);
  for (xmlNodePtr n = root ? root->children : nullptr; n != nullptr; n = n->next) {
    if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, BAD_CAST "sent") == 0) {
      xmlChar* text = xmlNodeGetContent(n);
      sent = reinterpret_cast<const char*>(text);
      xmlFree(text);
    }
  }
  xmlFreeDoc(doc);
  if (sent.empty()) return Status::InvalidArgument("the CAP alert has no <sent>");
  // CAP's "2026-11-28T09:30:00-00:00": UTC.
  if (sent.size() == 25 && sent.ends_with("-00:00")) sent = sent.substr(0, 19) + "Z";
  return sent;
}

}  // namespace

namespace {

Result<VerifiedDocument> Verify(std::string_view document, std::string_view signature_json,
                                std::string_view keys_json) {
  VerifiedDocument v;
  size_t first = document.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return Status::InvalidArgument("the document is empty");
  v.cap = document[first] == '<';
  auto sig = nlohmann::json::parse(signature_json, nullptr, false);
  if (sig.is_discarded() || !sig.is_object() || !sig.contains("key_id") ||
      !sig["key_id"].is_string()) {
    return Status::InvalidArgument(
        "the signature is not the JSON of /public/directives/<id>/signature (key_id, "
        "json_signature, cap_signature)");
  }
  const char* field = v.cap ? "cap_signature" : "json_signature";
  if (!sig.contains(field) || !sig[field].is_string()) {
    return Status::InvalidArgument(fmt::format("the signature answer has no {}", field));
  }
  auto signature = FromBase64(sig[field].get<std::string>(), field);
  if (!signature.ok()) return signature.status();
  v.key_id = sig["key_id"].get<std::string>();

  auto keys = nlohmann::json::parse(keys_json, nullptr, false);
  if (keys.is_discarded() || !keys.is_object() || !keys.contains("keys") ||
      !keys["keys"].is_array()) {
    return Status::InvalidArgument(
        "the release keys are not the JSON of /.well-known/flatcast/keys.json");
  }
  const nlohmann::json* key = nullptr;
  for (const auto& k : keys["keys"]) {
    auto id = k.is_object() ? k.find("key_id") : k.end();
    if (k.is_object() && id != k.end() && id->is_string() && id->get<std::string>() == v.key_id) {
      key = &k;
    }
  }
  if (key == nullptr) {
    return Status::NotFound(fmt::format("release key {} is not among the published keys",
                                        v.key_id));
  }
  auto pk = key->find("public_key");
  if (pk == key->end() || !pk->is_string()) {
    return Status::InvalidArgument(fmt::format("the published key {} has no public_key", v.key_id));
  }
  auto raw = FromBase64(pk->get<std::string>(), "the key's public_key");
  if (!raw.ok()) return raw.status();
  if (raw->size() != kKeyBytes || KeyId(*raw) != v.key_id) {
    return Status::InvalidArgument(
        fmt::format("the published key {} does not match its key id", v.key_id));
  }
  auto text = [&](const char* field) {
    auto it = key->find(field);
    return it != key->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  v.holder = text("holder");
  v.valid_from = text("valid_from");
  v.valid_until = text("valid_until");

  if (v.cap) {
    auto sent = CapSent(document);
    if (!sent.ok()) return sent.status();
    v.signed_at = *sent;
  } else {
    auto j = nlohmann::json::parse(document, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return Status::InvalidArgument("the document is neither JSON nor a CAP alert");
    }
    for (const char* field : {"updated", "released"}) {
      auto it = j.find(field);
      if (it != j.end() && it->is_string()) {
        v.signed_at = it->get<std::string>();
        break;
      }
    }
  }
  if (Status st = flatcast::Verify(document, *signature, *raw); !st.ok()) {
    return Status::PermissionDenied(fmt::format(
        "the signature does not verify with release key {}: the document is not what was "
        "released ({})",
        v.key_id, st.message()));
  }
  auto at = ParseTime(v.signed_at);
  if (!at.ok()) {
    return Status::InvalidArgument(fmt::format("the document's time \"{}\" does not parse",
                                               v.signed_at));
  }
  if (!v.valid_from.empty()) {
    auto from = ParseTime(v.valid_from);
    if (from.ok() && *at < *from) {
      return Status::PermissionDenied(fmt::format(
          "release key {} was valid from {}, after the document's time {}", v.key_id,
          v.valid_from, v.signed_at));
    }
  }
  if (!v.valid_until.empty()) {
    auto until = ParseTime(v.valid_until);
    if (until.ok() && *at >= *until) {
      return Status::PermissionDenied(fmt::format(
          "release key {} was retired at {}, before the document's time {}", v.key_id,
          v.valid_until, v.signed_at));
    }
  }
  return v;
}

}  // namespace

Result<VerifiedDocument> VerifyPublicDocument(std::string_view document,
                                              std::string_view signature_json,
                                              std::string_view keys_json) {
  try {
    return Verify(document, signature_json, keys_json);
  } catch (const std::exception& e) {  // nlohmann's, on JSON of an unexpected shape
    return Status::InvalidArgument(std::string("the signature or the keys are not as published: ") +
                                   e.what());
  }
}

Result<std::string> HttpGetBody(const std::string& url, std::chrono::milliseconds timeout) {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  namespace http = beast::http;
  if (!url.starts_with("http://")) {
    return Status::InvalidArgument(fmt::format(
        "\"{}\": only http:// URLs are fetched here; for https fetch with curl and give the "
        "files (--signature, --keys)",
        url));
  }
  std::string rest = url.substr(7);
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  std::string target = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string host = hostport, port = "80";
  if (size_t colon = hostport.rfind(':'); colon != std::string::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    stream.connect(resolver.resolve(host, port));
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, hostport);
    req.set(http::field::user_agent, "flatcast-keys");
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 << 20);
    http::read(stream, buffer, parser);
    const auto& res = parser.get();
    if (res.result() != http::status::ok) {
      return Status::NotFound(fmt::format("GET {}: {} {}", url, res.result_int(),
                                          res.body().substr(0, 200)));
    }
    return res.body();
  } catch (const std::exception& e) {
    return Status::Unavailable(fmt::format("GET {}: {}", url, e.what()));
  }
}

}  // namespace flatcast::feed
