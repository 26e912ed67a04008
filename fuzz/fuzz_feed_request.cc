// A public server's answer to a raw HTTP request (flatcast-public,
// docs/PUBLIC.md): Beast's parser, then the paths, queries (region) and
// headers (If-None-Match, Last-Event-ID) the site reads, against a site with
// two released directives. Every input gets a response.
#include <cstddef>
#include <cstdint>

#include "flatcast/duration.h"
#include "flatcast/feed/site.h"
#include "flatcast/public_view.h"
#include "fuzz_support.h"

using namespace flatcast;

namespace {

v1::PublicDocument Released(const std::string& scope, uint64_t seq) {
  PublicEntry e;
  v1::Directive& d = *e.latest.mutable_directive();
  d.set_issuer_unit("52");
  d.set_issuer_department("HEALTH");
  d.set_title("Stock masks <&> \"two weeks\"");
  d.set_body("Every community keeps\ntwo weeks of masks.");
  d.add_scope(scope);
  d.set_version(1);
  e.record.set_state(v1::PublicRecord::RELEASED);
  e.record.set_public_id("52-HEALTH-20261128-P000" + std::to_string(seq));
  e.record.set_public_seq(seq);
  *e.record.mutable_released_at() = ToTimestamp(*ParseTime("2026-11-28T21:30:00Z"));
  return RenderPublicDocument(e, &fuzz::SmallRegistry(), nullptr).value();
}

const feed::Site& TheSite() {
  static const auto site = [] {
    auto registry = std::make_shared<const Registry>(fuzz::SmallRegistry());
    return feed::Site::Build({Released("52", 1), Released("5201", 2)}, {}, registry).value();
  }();
  return *site;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string response = feed::AnswerHttpRequest(fuzz::AsView(data, size), TheSite());
  if (response.rfind("HTTP/1.", 0) != 0) __builtin_trap();
  return 0;
}
