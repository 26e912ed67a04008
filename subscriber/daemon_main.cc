// flatcast-subscriber: the terminal of one administrative unit.
//   run   receive directives and acknowledge them (the daemon)
//   list  the directives stored in a state directory
//   show  one stored directive
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include "flatcast/subscriber/inbox_commands.h"
#include "flatcast/subscriber/program.h"
#include "flatcast/subscriber/terminal_daemon.h"

namespace {

int Fail(const flatcast::Status& status) {
  std::cerr << "flatcast-subscriber: " << status.message() << "\n";
  return 1;
}

// --state-dir, else the config file's state_dir, else $FLATCAST_STATE_DIR, else ".".
flatcast::Result<std::string> StateDirFor(const std::string& state_dir,
                                          const std::string& config_path) {
  if (!state_dir.empty()) return state_dir;
  if (!config_path.empty()) {
    auto config = flatcast::subscriber::LoadTerminalConfig(config_path);
    if (!config.ok()) return config.status();
    if (!config->state_dir.empty()) return config->state_dir;
  }
  if (const char* env = std::getenv("FLATCAST_STATE_DIR"); env && *env) return std::string(env);
  return std::string(".");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flatcast terminal: receives the directives addressed to one unit"};
  app.require_subcommand(1);

  std::string config_path, unit, broker, state_dir, keys, curve_key, broker_key,
      log_level = "info";
  CLI::App* run = app.add_subcommand("run", "Connect to the broker and receive directives");
  run->add_option("--config", config_path, "TOML file with unit, broker, state_dir")
      ->check(CLI::ExistingFile);
  run->add_option("--unit", unit, "GB/T 2260 code of this unit, e.g. 520102001001");
  run->add_option("--broker", broker, "broker endpoint, e.g. tcp://127.0.0.1:7700");
  run->add_option("--state-dir", state_dir, "directory of the inbox and state");
  run->add_option("--keys", keys,
                  "key registry (public keys): refuse directives whose signature does not "
                  "verify with a publisher key");
  run->add_option("--curve-key", curve_key,
                  "this terminal's secret CURVE key file, for a broker with CURVE (with "
                  "--broker-key)");
  run->add_option("--broker-key", broker_key, "the broker's public CURVE key file");
  run->add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  bool json = false;
  std::string list_state_dir, list_config;
  CLI::App* list = app.add_subcommand("list", "List the stored directives");
  list->add_option("--state-dir", list_state_dir, "directory of the inbox and state");
  list->add_option("--config", list_config, "take the state directory from this config");
  list->add_flag("--json", json, "JSON instead of a table");

  std::string show_id, show_state_dir, show_config;
  std::optional<uint32_t> show_version;
  CLI::App* show = app.add_subcommand("show", "Show one stored directive");
  show->add_option("id", show_id, "directive id")->required();
  show->add_option("--version", show_version, "version to show (default: the latest stored)");
  show->add_option("--state-dir", show_state_dir, "directory of the inbox and state");
  show->add_option("--config", show_config, "take the state directory from this config");
  show->add_flag("--json", json, "the stored JSON instead of the text rendering");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  if (*run) {
    flatcast::subscriber::LogToStderr("flatcast-subscriber", log_level);

    flatcast::subscriber::TerminalConfig config;
    if (!config_path.empty()) {
      auto loaded = flatcast::subscriber::LoadTerminalConfig(config_path);
      if (!loaded.ok()) return Fail(loaded.status());
      config = *loaded;
    }
    if (!unit.empty()) config.unit = unit;
    if (!broker.empty()) config.broker = broker;
    if (!state_dir.empty()) config.state_dir = state_dir;
    if (!keys.empty()) config.keys = keys;
    if (!curve_key.empty()) config.curve_key = curve_key;
    if (!broker_key.empty()) config.broker_key = broker_key;
    if (auto status = flatcast::subscriber::CheckTerminalConfig(config); !status.ok()) {
      return Fail(status);
    }
    const std::atomic<bool>& stop = flatcast::subscriber::StopOnSignals();
    auto status = flatcast::subscriber::RunTerminal(config, stop);
    if (!status.ok()) {
      spdlog::error("{}", status.message());
      return 1;
    }
    return 0;
  }

  if (*list) {
    auto dir = StateDirFor(list_state_dir, list_config);
    if (!dir.ok()) return Fail(dir.status());
    auto status = flatcast::subscriber::ListInboxCommand(*dir, json, std::cout);
    return status.ok() ? 0 : Fail(status);
  }

  auto dir = StateDirFor(show_state_dir, show_config);
  if (!dir.ok()) return Fail(dir.status());
  auto status =
      flatcast::subscriber::ShowDirectiveCommand(*dir, show_id, show_version, json, std::cout);
  return status.ok() ? 0 : Fail(status);
}
