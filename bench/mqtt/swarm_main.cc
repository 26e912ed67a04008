// flatcast-mqtt-swarm: many units' MQTT terminals in one process (one
// libmosquitto client per unit, one epoll loop). Progress lines and the final
// report are JSON on stdout; errors go to stderr.
// Exit: 0 every unit complete (or stopped with --expect 0), 1 timeout or
// stopped early, 2 bad arguments or setup failure.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <string>
#include <unordered_set>

#include "cli_options.h"
#include "flatcast/bench/mqtt/process.h"
#include "flatcast/program.h"
#include "flatcast/bench/mqtt/swarm.h"
#include "flatcast/bench/mqtt/units.h"

namespace mqtt = flatcast::bench::mqtt;

namespace {

int Fail(const std::string& message) {
  std::cerr << "flatcast-mqtt-swarm: " << message << "\n";
  return 2;
}

bool LoadCodes(const std::string& path, std::unordered_set<std::string>& into, std::string& error) {
  if (path.empty()) return true;
  auto codes = mqtt::ReadCodeList(path);
  if (!codes.ok()) {
    error = codes.status().message();
    return false;
  }
  into.insert(codes.value().begin(), codes.value().end());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flatcast-mqtt-swarm: many units' MQTT terminals in one process"};
  std::string registry_path = "configs/registry/guizhou-52.tsv";
  std::string include_path, exclude_path, report_path, latencies_path;
  mqtt::UnitSelection selection;
  mqtt::SwarmOptions options;
  int reconnect_initial_ms = 100, reconnect_max_ms = 5000, timeout_s = 0, progress_ms = 1000;

  app.add_option("--registry", registry_path, "registry file (<code>\\t<tier>\\t<name>)")
      ->check(CLI::ExistingFile)
      ->capture_default_str();
  mqtt::AddConnectionOptions(app, options.pool, reconnect_initial_ms, reconnect_max_ms);
  app.add_option("--first", selection.first, "only the first N units below the province (0: all)");
  app.add_option("--shard", selection.shard, "play the units whose index % shards == shard");
  app.add_option("--shards", selection.shards, "number of shards")->check(CLI::PositiveNumber);
  app.add_option("--include", include_path, "play only the unit codes in this file (one a line)")
      ->check(CLI::ExistingFile);
  app.add_option("--exclude,--offline-codes", exclude_path,
                 "leave out the unit codes in this file (one a line)")
      ->check(CLI::ExistingFile);
  app.add_option("--topic", options.topic, "directive topic (subscribed QoS 1)")
      ->capture_default_str();
  app.add_option("--client-id-prefix", options.client_id_prefix, "client id = prefix + unit code")
      ->capture_default_str();
  app.add_option("--prefix", options.directive_prefix,
                 "only directives whose id starts with this count toward --expect");
  app.add_option("--expect", options.expect,
                 "exit 0 once every unit has this many distinct directives and every ack "
                 "publish got its PUBACK (0: serve until SIGTERM)");
  app.add_option("--timeout-s", timeout_s, "give up after this many seconds (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--report", report_path, "also write the final report (JSON) to this file");
  app.add_option("--latencies", latencies_path,
                 "write one delivery latency (microseconds) a line to this file");
  app.add_option("--progress-ms", progress_ms, "progress line interval")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (selection.shard >= selection.shards) return Fail("--shard must be below --shards");
  std::string error;
  if (!LoadCodes(include_path, selection.include, error)) return Fail(error);
  if (!LoadCodes(exclude_path, selection.exclude, error)) return Fail(error);
  mqtt::ApplyReconnect(options.pool, reconnect_initial_ms, reconnect_max_ms);
  options.pool.clean_session = false;
  options.timeout = std::chrono::seconds(timeout_s);
  options.progress_interval = std::chrono::milliseconds(progress_ms);

  auto registry = mqtt::ReadRegistry(registry_path);
  if (!registry.ok()) return Fail(registry.status().message());
  const std::atomic<bool>& stop = flatcast::StopOnSignals();
  mqtt::MosquittoLibrary library;
  auto swarm = mqtt::Swarm::Create(mqtt::SelectUnits(registry.value(), selection), options);
  if (!swarm.ok()) return Fail(swarm.status().message());

  mqtt::SwarmExit exit = swarm.value()->Run(
      stop, [](const nlohmann::json& progress) { mqtt::EmitLine("progress", progress); });
  nlohmann::json report = swarm.value()->Report(exit);
  mqtt::EmitLine("report", report);
  if (!report_path.empty() && !mqtt::WriteJsonFile(report_path, report)) {
    std::cerr << "flatcast-mqtt-swarm: cannot write " << report_path << "\n";
  }
  if (!latencies_path.empty()) {
    std::ofstream out(latencies_path);
    swarm.value()->WriteLatencies(out);
  }
  if (exit == mqtt::SwarmExit::kComplete) return 0;
  if (exit == mqtt::SwarmExit::kStopped && options.expect == 0) return 0;
  if (exit == mqtt::SwarmExit::kError) {
    std::cerr << "flatcast-mqtt-swarm: " << report.value("error", "error") << "\n";
  }
  return 1;
}
