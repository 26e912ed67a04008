// The admin listener's answer to a raw HTTP request (admin_http.h): Beast's
// parser, the method check, then the broker's operator surface (admin.h)
// with its metrics, health and readiness. Every input gets a response that
// starts with a status line.
#include <cstddef>
#include <cstdint>

#include "flatcast/admin_http.h"
#include "flatcast/broker/admin.h"
#include "fuzz_support.h"

using namespace flatcast;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static broker::AdminSurface* surface = [] {
    auto* s = new broker::AdminSurface();
    s->metrics().Published();
    s->metrics().Acknowledged(v1::RECEIVED, 0.4);
    s->Report(Status::Ok(), Status::Unavailable("a standby; the leader is a"));
    return s;
  }();
  const std::string response = AnswerAdminRequest(
      fuzz::AsView(data, size), [](std::string_view target) { return surface->Answer(target); });
  if (response.rfind("HTTP/1.", 0) != 0) __builtin_trap();
  return 0;
}
