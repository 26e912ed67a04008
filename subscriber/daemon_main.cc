// flatcast-subscriber: the terminal of one administrative unit.
//   run      receive directives and acknowledge them (the daemon)
//   list     the directives stored in a state directory
//   show     one stored directive
//   confirm  an operator read a directive (sent through the running daemon)
//   ready    staff and supplies are in place
//   rate     rate a directive's clarity and feasibility
//   return   answer (or correct the answer to) a directive's return form
//   overdue  what the broker last reported overdue here and below
//   status   whether the daemon is connected, and what is pending
//   web-password  set the password of the web inbox (run --web)
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "flatcast/language.h"
#include "flatcast/subscriber/inbox_commands.h"
#include "flatcast/subscriber/operator_control.h"
#include "flatcast/program.h"
#include "flatcast/subscriber/terminal_daemon.h"
#include "flatcast/subscriber/web_inbox.h"

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
  run->add_option("--broker", broker, "broker endpoint, e.g. tcp://127.0.0.1:7700; a pair's two, comma-separated");
  run->add_option("--state-dir", state_dir, "directory of the inbox and state");
  run->add_option("--keys", keys,
                  "key registry (public keys): refuse directives whose signature does not "
                  "verify with a publisher key");
  run->add_option("--curve-key", curve_key,
                  "this terminal's secret CURVE key file, for a broker with CURVE (with "
                  "--broker-key)");
  run->add_option("--broker-key", broker_key, "the broker's public CURVE key file");
  bool no_warm_standby = false;
  run->add_flag("--no-warm-standby", no_warm_standby,
                "with a pair's two endpoints, do not keep a warm connection to the other broker");
  run->add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  std::string admin_endpoint, log_format;
  run->add_option("--admin-endpoint", admin_endpoint,
                  "the operator's listener host:port for /metrics, /healthz and /readyz, e.g. "
                  "127.0.0.1:7791 (overrides admin_endpoint)");
  std::string web_endpoint, web_root;
  run->add_option("--web", web_endpoint,
                  "serve the web inbox on host:port, e.g. 127.0.0.1:7792 (overrides web_endpoint)");
  run->add_option("--web-root", web_root,
                  "the web inbox's page files (default: /usr/share/flatcast/web once installed)");
  std::vector<std::string> languages;
  run->add_option("--language", languages,
                  "a language the unit's staff read, BCP 47 (repeatable, most preferred first; "
                  "overrides languages): directives are shown in the first they have");
  run->add_option("--log-format", log_format,
                  "text, journal (the default when started by systemd) or json")
      ->check(CLI::IsMember({"text", "journal", "json"}));

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
  std::vector<std::string> show_languages;
  show->add_option("--language", show_languages,
                   "show the text in this language if the directive has it (BCP 47; repeatable, "
                   "most preferred first; default: the config's languages)");
  show->add_option("--state-dir", show_state_dir, "directory of the inbox and state");
  show->add_option("--config", show_config, "take the state directory from this config");
  show->add_flag("--json", json, "the stored JSON instead of the text rendering");

  // Operator commands: they talk to the daemon running on the state directory.
  struct OperatorCommand {
    CLI::App* app = nullptr;
    std::string id, state_dir, config, note, comment;
    uint32_t clarity = 0, feasibility = 0;
    std::vector<std::string> fields;
    bool json = false;
  };
  auto add_operator = [&](const char* name, const char* help, bool with_id) {
    auto command = std::make_unique<OperatorCommand>();
    command->app = app.add_subcommand(name, help);
    if (with_id) command->app->add_option("id", command->id, "directive id")->required();
    command->app->add_option("--state-dir", command->state_dir, "the daemon's state directory");
    command->app->add_option("--config", command->config, "take the state directory from this config");
    command->app->add_flag("--json", command->json, "the daemon's reply as JSON");
    return command;
  };
  auto confirm = add_operator("confirm", "An operator read the directive (CONFIRMED)", true);
  auto ready = add_operator("ready", "Staff and supplies are in place (READY; implies CONFIRMED)", true);
  ready->app->add_option("--note", ready->note, "what is in place (kept with the acknowledgement)");
  auto rate = add_operator("rate", "Rate the directive's clarity and feasibility, 1 to 5", true);
  rate->app->add_option("--clarity", rate->clarity, "1 (unclear) to 5 (clear)")
      ->required()
      ->check(CLI::Range(1, 5));
  rate->app->add_option("--feasibility", rate->feasibility, "1 (cannot be done) to 5 (easily done)")
      ->required()
      ->check(CLI::Range(1, 5));
  rate->app->add_option("--comment", rate->comment, "what did not work, or what would");
  auto return_cmd = add_operator(
      "return", "Answer the directive's return form (again: a correction; both are kept)", true);
  return_cmd->app
      ->add_option("--field", return_cmd->fields,
                   "KEY=VALUE (repeatable): a whole number, a choice (or its number), yes/no, "
                   "or text; `show` lists the form's keys")
      ->required();
  auto status_cmd = add_operator("status", "Whether the daemon is connected, and what is pending", false);
  std::string overdue_state_dir, overdue_config;
  CLI::App* overdue = app.add_subcommand(
      "overdue", "What the broker last reported overdue for this unit and the units below it");
  overdue->add_option("--state-dir", overdue_state_dir, "directory of the inbox and state");
  overdue->add_option("--config", overdue_config, "take the state directory from this config");
  overdue->add_flag("--json", json, "the report as JSON");

  std::string password_state_dir, password_config;
  CLI::App* web_password = app.add_subcommand(
      "web-password",
      "Set the web inbox's password (read from standard input, first line; stored hashed)");
  web_password->add_option("--state-dir", password_state_dir, "directory of the inbox and state");
  web_password->add_option("--config", password_config, "take the state directory from this config");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  if (*run) {
    flatcast::LogToStderr("flatcast-subscriber", log_level, log_format);

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
    if (no_warm_standby) config.warm_standby = false;
    if (!admin_endpoint.empty()) config.admin_endpoint = admin_endpoint;
    if (!web_endpoint.empty()) config.web_endpoint = web_endpoint;
    if (!web_root.empty()) config.web_root = web_root;
    if (!languages.empty()) config.languages = languages;
    if (auto status = flatcast::subscriber::CheckTerminalConfig(config); !status.ok()) {
      return Fail(status);
    }
    const std::atomic<bool>& stop = flatcast::StopOnSignals();
    auto status = flatcast::subscriber::RunTerminal(config, stop);
    if (!status.ok()) {
      spdlog::error("{}", status.message());
      return 1;
    }
    return 0;
  }

  if (*web_password) {
    auto dir = StateDirFor(password_state_dir, password_config);
    if (!dir.ok()) return Fail(dir.status());
    std::string password;
    if (!std::getline(std::cin, password)) {
      return Fail(flatcast::Status::InvalidArgument("no password on standard input"));
    }
    if (!password.empty() && password.back() == '\r') password.pop_back();
    flatcast::Status set = flatcast::subscriber::SetWebPassword(*dir, password);
    if (!set.ok()) return Fail(set);
    std::cout << "web inbox password set (" << flatcast::subscriber::WebPasswordPath(*dir)
              << "); sessions already open stay open until the daemon restarts\n";
    return 0;
  }

  for (OperatorCommand* command :
       {confirm.get(), ready.get(), rate.get(), return_cmd.get(), status_cmd.get()}) {
    if (!*command->app) continue;
    auto dir = StateDirFor(command->state_dir, command->config);
    if (!dir.ok()) return Fail(dir.status());
    flatcast::v1::OperatorRequest request;
    request.set_directive_id(command->id);
    if (command == confirm.get()) request.set_action(flatcast::v1::OperatorRequest::CONFIRM);
    if (command == ready.get()) {
      request.set_action(flatcast::v1::OperatorRequest::READY);
      request.set_note(command->note);
    }
    if (command == rate.get()) {
      request.set_action(flatcast::v1::OperatorRequest::RATE);
      request.set_clarity(command->clarity);
      request.set_feasibility(command->feasibility);
      request.set_comment(command->comment);
    }
    if (command == return_cmd.get()) {
      request.set_action(flatcast::v1::OperatorRequest::RETURN);
      for (const std::string& field : command->fields) request.add_fields(field);
    }
    if (command == status_cmd.get()) request.set_action(flatcast::v1::OperatorRequest::STATUS);
    auto reply = flatcast::subscriber::CallDaemon(*dir, request, std::chrono::seconds(5));
    if (!reply.ok()) {
      std::cerr << "flatcast-subscriber: " << reply.status().message() << "\n";
      return reply.status().code() == flatcast::Status::Code::kUnavailable ? 3 : 2;
    }
    if (command->json) {
      nlohmann::json out = {{"directive_id", reply->directive_id()}, {"version", reply->version()},
                            {"seq", reply->seq()},          {"message", reply->message()},
                            {"connected", reply->connected()}, {"pending", reply->pending()}};
      std::cout << out.dump(2) << "\n";
    } else {
      std::cout << reply->message() << "\n";
    }
    return 0;
  }

  if (*overdue) {
    auto dir = StateDirFor(overdue_state_dir, overdue_config);
    if (!dir.ok()) return Fail(dir.status());
    auto status = flatcast::subscriber::OverdueCommand(*dir, json, std::cout);
    return status.ok() ? 0 : Fail(status);
  }

  if (*list) {
    auto dir = StateDirFor(list_state_dir, list_config);
    if (!dir.ok()) return Fail(dir.status());
    auto status = flatcast::subscriber::ListInboxCommand(*dir, json, std::cout);
    return status.ok() ? 0 : Fail(status);
  }

  auto dir = StateDirFor(show_state_dir, show_config);
  if (!dir.ok()) return Fail(dir.status());
  if (show_languages.empty() && !show_config.empty()) {
    auto config = flatcast::subscriber::LoadTerminalConfig(show_config);
    if (config.ok()) show_languages = config->languages;
  }
  for (const auto& tag : show_languages) {
    if (auto st = flatcast::CheckLanguageTag(tag); !st.ok()) return Fail(st);
  }
  auto status = flatcast::subscriber::ShowDirectiveCommand(
      *dir, show_id, show_version, json, std::cout, flatcast::SystemClock::Instance().Now(),
      show_languages);
  return status.ok() ? 0 : Fail(status);
}
