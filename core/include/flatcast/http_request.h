// One raw HTTP/1.1 request parsed whole with Boost.Beast's parser, for the
// HTTP listeners' request functions that tests and fuzz targets call with
// bytes (the public feed's AnswerHttpRequest, AnswerAdminRequest).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>

#include "flatcast/status.h"

namespace flatcast {

// nullopt when the bytes are not one complete request whose header stays
// within 8 KiB (Beast's default, as the listeners' parsers) and whose body
// within `body_limit` bytes.
std::optional<boost::beast::http::request<boost::beast::http::string_body>> ParseRawHttpRequest(
    std::string_view raw, size_t body_limit);

// An HTTP listener's "HOST:PORT" (an IP address; port 0: the kernel picks
// one) as the endpoint to bind, opened, bound and listening on `acceptor`.
// InvalidArgument naming `what` (e.g. "admin endpoint") for a malformed
// one; IOError when it cannot be bound.
Status ListenOn(boost::asio::ip::tcp::acceptor& acceptor, const std::string& endpoint,
                std::string_view what);

}  // namespace flatcast
