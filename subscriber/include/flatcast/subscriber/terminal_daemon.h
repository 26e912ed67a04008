// The terminal daemon: one unit, one DEALER connection to the broker, a
// DirectoryInbox, and a TerminalSession between them.
#pragma once

#include <atomic>
#include <string>

#include "flatcast/status.h"

namespace flatcast::subscriber {

struct TerminalConfig {
  std::string unit;       // GB/T 2260 code, e.g. "520102001001"
  std::string broker;     // ZeroMQ endpoint of the broker's ROUTER, e.g. "tcp://127.0.0.1:7700"
  std::string state_dir;  // where the DirectoryInbox lives
};

// Reads a TOML config with the keys unit, broker and state_dir (all strings,
// all optional here; CheckTerminalConfig says what is missing). Unknown keys
// are refused so that a misspelt one is not silently ignored.
Result<TerminalConfig> LoadTerminalConfig(const std::string& path);

// Ok when every field is set and the unit code has a GB/T 2260 form.
Status CheckTerminalConfig(const TerminalConfig& config);

// Runs the terminal until `stop` becomes true, then makes sure the state is
// on disk. Logs through spdlog's default logger. Fails at start for a bad
// config, an unusable state directory or endpoint; afterwards problems with
// single messages are logged and the loop carries on.
Status RunTerminal(const TerminalConfig& config, const std::atomic<bool>& stop);

}  // namespace flatcast::subscriber
