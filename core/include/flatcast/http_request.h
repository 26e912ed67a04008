// One raw HTTP/1.1 request parsed whole with Boost.Beast's parser, for the
// HTTP listeners' request functions that tests and fuzz targets call with
// bytes (the public feed's AnswerHttpRequest, AnswerAdminRequest).
#pragma once

#include <optional>
#include <string_view>

#include <boost/beast/http.hpp>

namespace flatcast {

// nullopt when the bytes are not one complete request whose header stays
// within 8 KiB (Beast's default, as the listeners' parsers) and whose body
// within `body_limit` bytes.
std::optional<boost::beast::http::request<boost::beast::http::string_body>> ParseRawHttpRequest(
    std::string_view raw, size_t body_limit);

}  // namespace flatcast
