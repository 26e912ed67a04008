// An operator's HTTP listener (docs/OPERATIONS.md): /metrics for
// Prometheus, /healthz and /readyz for a supervisor or a load balancer.
// Apart from the public feed's listener on purpose: what it tells (counts of
// held directives, terminals, refusals) is not for the public. Boost.Beast
// over Asio on a thread of its own; GET and HEAD only, small requests, a
// few connections at a time (more are closed at once), each answered within
// a deadline. Loopback by default.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "flatcast/status.h"

namespace flatcast {

struct AdminResponse {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Answers a GET of `target` (path and query); called on the listener's
// thread, so it reads only thread-safe state.
using AdminHandler = std::function<AdminResponse(std::string_view target)>;

class AdminServer {
 public:
  // Listens on "HOST:PORT" (port 0: the kernel picks one) and serves until
  // destroyed. `max_connections`: more at once are closed unanswered.
  static Result<std::unique_ptr<AdminServer>> Start(const std::string& endpoint,
                                                    AdminHandler handler,
                                                    size_t max_connections = 16);
  virtual ~AdminServer() = default;
  // "http://HOST:PORT" as bound.
  virtual std::string url() const = 0;
};

// The response of the handler to one raw HTTP/1.1 request, as the listener
// writes it (405 for a method other than GET or HEAD, 400 for one that does
// not parse). For tests and the fuzz target.
std::string AnswerAdminRequest(std::string_view raw, const AdminHandler& handler);

}  // namespace flatcast
