// The web inbox (README, "The web inbox"): a page the terminal daemon serves
// to the people of its office, on a listener of its own (loopback by
// default). The page (index.html, app.js, app.css, plain HTML and JS shipped
// in share/flatcast/web) asks a small JSON API:
//
//   GET  /api/session                       logged in? the unit, whether a password is set
//   POST /api/login   {"password": "..."}   sets the session cookie
//   POST /api/logout
//   GET  /api/inbox                         directives (latest versions), acknowledgements,
//                                           answers, the overdue report, the daemon's status
//   GET  /api/events                        Server-Sent Events: "inbox" when anything changed
//   POST /api/directives/ID/confirm | ready {"note"} | rate {"clarity", "feasibility",
//        "comment"} | return {"fields": {"key": value}}
//
// Reads come from the state directory's files, as `list` and `show` read
// them; actions go to the daemon's operator endpoint as `confirm`, `ready`,
// `rate` and `return` do, so the daemon's loop stays the one writer. The
// staff log in with the password set by `flatcast-subscriber web-password`
// (stored hashed with libsodium's crypto_pwhash_str, Argon2id); a session
// is a random token in an HttpOnly, SameSite=Strict cookie. Requests whose
// Host is not the listener's are refused (DNS rebinding), and so are POSTs
// without the page's own Origin or with another body than JSON (CSRF).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/clock.h"
#include "flatcast/status.h"

namespace flatcast::subscriber {

// The password file in a state directory: "<state_dir>/web-password".
std::string WebPasswordPath(const std::string& state_dir);
// Hashes the password (at least 8 characters, at most 256 bytes) and stores
// it with mode 0600, replacing any earlier one.
Status SetWebPassword(const std::string& state_dir, std::string_view password);

struct WebRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query
  std::string host;    // the Host header
  std::string origin;  // the Origin header, empty when absent
  std::string cookie;  // the Cookie header
  std::string content_type;
  std::string body;
};

struct WebResponse {
  unsigned status = 200;
  std::string content_type = "application/json; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. Set-Cookie
  bool event_stream = false;  // /api/events accepted: the listener keeps it open
};

struct WebInboxOptions {
  std::string state_dir;
  std::string unit;
  std::string web_root;          // the directory with index.html, app.js, app.css
  bool signatures_checked = false;  // the daemon verifies signatures (keys configured)
  // The unit's languages, most preferred first (TerminalConfig::languages).
  std::vector<std::string> languages;
  std::chrono::hours session_lifetime{12};
  std::chrono::milliseconds daemon_timeout{5000};
};

// The API behind the page. Thread-safe; the listener calls it from its thread.
class WebInbox {
 public:
  // The daemon's operator endpoint (CallDaemon in the daemon; a fake in tests).
  using CallDaemonFn = std::function<Result<v1::OperatorReply>(const v1::OperatorRequest&)>;

  WebInbox(WebInboxOptions options, const Clock& clock, CallDaemonFn call_daemon);

  // `self_hosts`: the Host values this listener answers to ("127.0.0.1:7792",
  // "localhost:7792"); empty: any (a listener on every address).
  void set_self_hosts(std::vector<std::string> hosts);

  WebResponse Answer(const WebRequest& request);

  // Changes whenever the inbox or the operator state changes on disk: the
  // listener sends an "inbox" event to each open event stream when it does.
  std::string Fingerprint() const;
  // Whether the request's session cookie names a live session (event streams
  // end when theirs expires).
  bool Authorized(const std::string& cookie);

 private:
  WebResponse Login(const WebRequest& request);
  WebResponse Inbox();
  // GET /api/attachments/<sha256 hex>: a document a stored directive names,
  // once fetched.
  WebResponse Document(const std::string& hex);
  WebResponse Act(const std::string& id, const std::string& action, const std::string& body);
  std::string SessionToken(const std::string& cookie) const;

  WebInboxOptions options_;
  const Clock& clock_;
  CallDaemonFn call_daemon_;
  std::mutex mutex_;
  std::vector<std::string> self_hosts_;
  std::map<std::string, TimePoint> sessions_;  // token -> expiry
  int failed_logins_ = 0;
  TimePoint locked_until_{};
};

// The response the listener writes for one raw HTTP/1.1 request (an event
// stream's header only). For tests and the fuzz target.
std::string AnswerWebRequest(std::string_view raw, WebInbox& inbox);

// The listener: Boost.Beast on a thread of its own, at most `max_connections`
// at once (more are closed unanswered), event streams among them.
class WebInboxServer {
 public:
  static Result<std::unique_ptr<WebInboxServer>> Start(const std::string& endpoint,
                                                       WebInbox& inbox,
                                                       size_t max_connections = 32);
  virtual ~WebInboxServer() = default;
  virtual std::string url() const = 0;  // "http://HOST:PORT" as bound
};

}  // namespace flatcast::subscriber
