// The web inbox's answer to a raw HTTP request (web_inbox.h): Beast's
// parser, the host, origin and content-type checks, the login's JSON, the
// session cookie and the actions' JSON bodies, over a state directory with
// a stored directive that has a return form. "@SESSION@" in an input stands
// for a logged-in session's token, so that the fuzzer reaches past the login.
// Every input gets a response that starts with a status line, and no input
// reaches the daemon (a fake) with an action the page could not send.
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "flatcast/subscriber/directory_inbox.h"
#include "flatcast/subscriber/web_inbox.h"
#include "fuzz_support.h"

using namespace flatcast;
using namespace flatcast::subscriber;

namespace {

struct World {
  std::string dir;
  FakeClock clock{TimePoint{} + std::chrono::hours(24 * 20000)};
  std::unique_ptr<WebInbox> web;
  std::string token;
};

World& TheWorld() {
  static World* world = [] {
    auto* w = new World();
    char pattern[] = "/tmp/fuzz-web-XXXXXX";
    w->dir = ::mkdtemp(pattern);
    {
      auto inbox = DirectoryInbox::Open(w->dir);
      if (!inbox.ok()) __builtin_trap();
      v1::StoredDirective stored;
      stored.set_seq(3);
      v1::Directive* d = stored.mutable_directive();
      d->set_id("52-HEALTH-20261207-0001");
      d->set_version(1);
      d->set_title("物资储备");
      d->set_issuer_unit("52");
      d->set_issuer_department("HEALTH");
      d->add_scope("52");
      d->add_target_tiers(v1::COMMUNITY);
      v1::FormField* f = d->mutable_return_form()->add_fields();
      f->set_key("masks");
      f->set_label("口罩");
      f->set_kind(v1::FormField::QUANTITY);
      f->set_max(100);
      if (!(*inbox)->Put(stored).ok()) __builtin_trap();
    }
    if (!SetWebPassword(w->dir, "fuzz-password").ok()) __builtin_trap();
    WebInboxOptions options;
    options.state_dir = w->dir;
    options.unit = "520102016001";
    options.web_root = w->dir;
    w->web = std::make_unique<WebInbox>(options, w->clock, [](const v1::OperatorRequest& r) {
      if (r.action() == v1::OperatorRequest::RATE &&
          (r.clarity() < 1 || r.clarity() > 5 || r.feasibility() < 1 || r.feasibility() > 5)) {
        __builtin_trap();
      }
      v1::OperatorReply reply;
      reply.set_message("recorded");
      return Result<v1::OperatorReply>(reply);
    });
    w->web->set_self_hosts({"127.0.0.1:7792"});
    WebResponse login = w->web->Answer({"POST", "/api/login", "127.0.0.1:7792",
                                        "http://127.0.0.1:7792", "", "application/json",
                                        R"({"password": "fuzz-password"})"});
    for (const auto& [name, value] : login.headers) {
      if (name == "Set-Cookie") w->token = value.substr(value.find('=') + 1, 64);
    }
    if (w->token.size() != 64) __builtin_trap();
    return w;
  }();
  return *world;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = TheWorld();
  std::string raw(reinterpret_cast<const char*>(data), size);
  for (size_t at; (at = raw.find("@SESSION@")) != std::string::npos;) raw.replace(at, 9, w.token);
  const std::string response = AnswerWebRequest(raw, *w.web);
  if (response.rfind("HTTP/1.", 0) != 0) __builtin_trap();
  return 0;
}
