// A minimal blocking HTTP/1.1 GET for tests (Boost.Beast).
#pragma once

#include <map>
#include <string>

namespace flatcast::testing {

struct HttpResponse {
  int status = 0;  // 0: could not connect
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

// `base` is "http://host:port"; `target` starts with '/'.
HttpResponse HttpGet(const std::string& base, const std::string& target,
                     const std::map<std::string, std::string>& headers = {});
// The same with another method ("POST", "HEAD", ...), no body.
HttpResponse HttpRequest(const std::string& base, const std::string& method,
                         const std::string& target,
                         const std::map<std::string, std::string>& headers = {});

}  // namespace flatcast::testing
