// The public feed's answer to a raw HTTP request: Beast's parser, then the
// paths, queries and headers the feed reads (If-None-Match), against a
// snapshot with one released directive. Every input gets a response.
#include <cstddef>
#include <cstdint>

#include "flatcast/broker/public_feed.h"
#include "fuzz_support.h"

using namespace flatcast;

namespace {

const broker::FeedSnapshot& Snapshot() {
  static const broker::FeedSnapshot snapshot = [] {
    broker::FeedSnapshot s;
    s.generation = 7;
    s.list_json = "{\"directives\": [{\"id\": \"52-HEALTH-20261128-P0001\"}]}\n";
    s.atom = "<feed xmlns=\"http://www.w3.org/2005/Atom\"></feed>\n";
    s.by_public_id["52-HEALTH-20261128-P0001"] = {"{\"id\": \"52-HEALTH-20261128-P0001\"}\n",
                                                   "<alert/>\n", "\"d1"};
    return s;
  }();
  return snapshot;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string response = broker::AnswerHttpRequest(fuzz::AsView(data, size), Snapshot());
  if (response.rfind("HTTP/1.", 0) != 0) __builtin_trap();
  return 0;
}
