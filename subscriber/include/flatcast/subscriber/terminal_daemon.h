// The terminal daemon: one unit, one DEALER connection to the broker, a
// DirectoryInbox, and a TerminalSession between them. When the session finds
// the connection dead (no Heartbeat for three intervals) the daemon replaces
// the socket, which makes a new TCP connection, and says Hello on it.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "flatcast/status.h"
#include "flatcast/subscriber/hooks.h"

namespace flatcast::subscriber {

// Test hook for crash tests: when this environment variable is "1",
// RunTerminal ends the process with std::_Exit(137) right after a directive
// and its pending ack are stored durably and before the ack is sent, as a
// crash at the worst moment would. Never set it in production.
inline constexpr char kCrashAfterStoreVariable[] = "FLATCAST_TEST_CRASH_AFTER_STORE";

struct TerminalConfig {
  std::string unit;       // GB/T 2260 code, e.g. "520102001001"
  std::string broker;     // ZeroMQ endpoint of the broker's ROUTER, e.g. "tcp://127.0.0.1:7700"
  std::string state_dir;  // where the DirectoryInbox lives
  // Key registry (public keys only). Set: a delivered directive whose
  // signature does not verify with a publisher key is refused (logged, not
  // stored, not acknowledged); the file is re-read when it changes. Empty:
  // signatures are not checked.
  std::string keys;
  // For a broker with CURVE: this terminal's secret CURVE key file (its key
  // registered for the unit) and the broker's public key file. Both or neither.
  std::string curve_key;
  std::string broker_key;
  // With a pair's two broker endpoints: also keep an authenticated
  // connection to the other broker and switch to it when this one is lost,
  // silent or names the other as leader, so a failover costs a Hello, not a
  // new CURVE handshake (docs/HA.md).
  bool warm_standby = true;
  // host:port of the operator's listener (metrics, /healthz, /readyz;
  // terminal_admin.h), e.g. "127.0.0.1:7791"; empty: none.
  std::string admin_endpoint;
  // Commands run for each new directive and each overdue report ([[hooks]]
  // tables; hooks.h).
  std::vector<HookConfig> hooks;
  // host:port of the web inbox (web_inbox.h), e.g. "127.0.0.1:7792"; empty: none.
  std::string web_endpoint;
  // The directory of the page's files; empty: the installed one
  // (/usr/share/flatcast/web), else the source tree's (a build).
  std::string web_root;
  // The languages the unit's staff read, most preferred first (BCP 47
  // ranges, e.g. {"bo", "zh-CN"}): the text files and the web inbox show a
  // directive in the first of them it has (language.h); empty: its own.
  std::vector<std::string> languages;
};

// The web root a daemon uses when none is configured.
std::string DefaultWebRoot();

// Reads a TOML config with the keys unit, broker, state_dir, keys, curve_key,
// broker_key, admin_endpoint, web_endpoint and web_root (all strings),
// warm_standby (a boolean), languages (a list of strings) and
// [[hooks]] tables (on, command, timeout_s), all optional here
// (CheckTerminalConfig says what is missing). Unknown keys
// are refused so that a misspelt one is not silently ignored.
Result<TerminalConfig> LoadTerminalConfig(const std::string& path);

// Ok when every field is set and the unit code has a GB/T 2260 form.
Status CheckTerminalConfig(const TerminalConfig& config);

// Runs the terminal until `stop` becomes true, then makes sure the state is
// on disk (see kCrashAfterStoreVariable for the one exception). Logs through spdlog's default
// logger. Fails at start for a bad config, an unusable state directory or endpoint; afterwards
// problems with single messages are logged and the loop carries on.
Status RunTerminal(const TerminalConfig& config, const std::atomic<bool>& stop);

}  // namespace flatcast::subscriber
