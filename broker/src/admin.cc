#include "flatcast/broker/admin.h"

#include <fmt/format.h>

namespace flatcast::broker {

Status AdminSurface::Listen(const std::string& endpoint) {
  auto server = AdminServer::Start(endpoint, [this](std::string_view target) {
    return Answer(target);
  });
  if (!server.ok()) return server.status();
  server_ = std::move(server).value();
  return Status::Ok();
}

void AdminSurface::Report(const Status& live, const Status& ready) {
  std::lock_guard<std::mutex> lock(mutex_);
  live_ = live;
  ready_ = ready;
  reported_ = std::chrono::steady_clock::now();
}

AdminResponse AdminSurface::Answer(std::string_view target) const {
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == "/metrics") {
    return {200, "text/plain; version=0.0.4; charset=utf-8", metrics_.Text()};
  }
  if (path == "/healthz" || path == "/readyz") {
    Status live, ready;
    std::chrono::steady_clock::time_point reported;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      live = live_;
      ready = ready_;
      reported = reported_;
    }
    const auto silent = std::chrono::steady_clock::now() - reported;
    if (reported != std::chrono::steady_clock::time_point{} && silent >= kStuckAfter) {
      const Status stuck = Status::Unavailable(fmt::format(
          "the broker's loop has not reported for {} s",
          std::chrono::duration_cast<std::chrono::seconds>(silent).count()));
      live = stuck;
      ready = stuck;
    }
    const Status& st = path == "/healthz" ? live : ready;
    if (st.ok()) return {200, "text/plain; charset=utf-8", path == "/healthz" ? "ok\n" : "ready\n"};
    return {503, "text/plain; charset=utf-8", st.message() + "\n"};
  }
  return {404, "text/plain; charset=utf-8",
          "not found: the admin listener serves /metrics, /healthz and /readyz\n"};
}

}  // namespace flatcast::broker
