// What a broker sends a public server (docs/PUBLIC.md), as the link decodes
// it, and the site the server then builds from a batch's documents (their
// JSON is parsed and rendered into lists, Atom and the HTML page). A
// malformed message is refused with a message; nothing may crash.
#include <cstddef>
#include <cstdint>

#include "flatcast/feed/link.h"
#include "flatcast/feed/site.h"
#include "fuzz_support.h"

using namespace flatcast;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto registry = std::make_shared<const Registry>(fuzz::SmallRegistry());
  auto env = feed::DecodeBrokerMessage(fuzz::AsView(data, size), 1 << 20);
  if (!env.ok()) {
    if (env.status().message().empty()) __builtin_trap();
    return 0;
  }
  if (!env->has_public_batch()) return 0;
  std::vector<v1::PublicDocument> docs(env->public_batch().documents().begin(),
                                       env->public_batch().documents().end());
  auto site = feed::Site::Build(docs, {}, registry);
  if (!site.ok()) return 0;
  for (const char* target : {"/public/directives", "/public/feed.atom", "/public/page",
                             "/public/page?region=5201", "/public/directives?region=520102"}) {
    feed::FeedRequest req;
    req.method = "GET";
    req.target = target;
    (void)(*site)->Answer(req);
  }
  (void)(*site)->EventsAfter("", 0);
  return 0;
}
