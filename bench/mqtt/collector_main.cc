// flatcast-mqtt-collector: one MQTT client subscribed QoS 1 to the acks;
// appends every ack to a file with one fdatasync per loop pass. Progress
// lines and the final report are JSON on stdout.
// Exit: 0 every counted directive fully acknowledged (or stopped with
// --directives 0), 1 timeout or stopped early, 2 bad arguments or a failure.
#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "cli_options.h"
#include "flatcast/bench/mqtt/collector.h"
#include "flatcast/bench/mqtt/process.h"
#include "flatcast/program.h"

namespace mqtt = flatcast::bench::mqtt;

int main(int argc, char** argv) {
  CLI::App app{"flatcast-mqtt-collector: durable ack collector over MQTT"};
  mqtt::CollectorOptions options;
  std::string report_path;
  int reconnect_initial_ms = 100, reconnect_max_ms = 5000, timeout_s = 0, progress_ms = 1000;
  mqtt::AddConnectionOptions(app, options.pool, reconnect_initial_ms, reconnect_max_ms);
  app.add_option("--client-id", options.client_id, "MQTT client id (persistent session)")
      ->capture_default_str();
  app.add_option("--topic", options.topic, "ack topic filter (subscribed QoS 1)")
      ->capture_default_str();
  app.add_option("--ack-file", options.ack_file, "file the acks are appended to")->required();
  app.add_option("--prefix", options.directive_prefix,
                 "only directives whose id starts with this count toward completion");
  app.add_option("--expect-acks", options.expect_acks, "distinct units' acks per directive");
  app.add_option("--directives", options.directives,
                 "exit 0 once this many counted directives have every ack durable (0: serve "
                 "until SIGTERM)");
  app.add_option("--max-batch", options.max_batch, "acks read per pass before a commit")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--timeout-s", timeout_s, "give up after this many seconds (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--report", report_path, "also write the final report (JSON) to this file");
  app.add_option("--progress-ms", progress_ms, "progress line interval")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  mqtt::ApplyReconnect(options.pool, reconnect_initial_ms, reconnect_max_ms);
  options.pool.clean_session = false;
  options.timeout = std::chrono::seconds(timeout_s);
  options.progress_interval = std::chrono::milliseconds(progress_ms);

  const std::atomic<bool>& stop = flatcast::StopOnSignals();
  mqtt::MosquittoLibrary library;
  auto collector = mqtt::Collector::Create(options);
  if (!collector.ok()) {
    std::cerr << "flatcast-mqtt-collector: " << collector.status().message() << "\n";
    return 2;
  }
  mqtt::CollectorExit exit = collector.value()->Run(
      stop, [](const nlohmann::json& progress) { mqtt::EmitLine("progress", progress); });
  nlohmann::json report = collector.value()->Report(exit);
  mqtt::EmitLine("report", report);
  if (!report_path.empty() && !mqtt::WriteJsonFile(report_path, report)) {
    std::cerr << "flatcast-mqtt-collector: cannot write " << report_path << "\n";
  }
  if (exit == mqtt::CollectorExit::kError) {
    std::cerr << "flatcast-mqtt-collector: " << report.value("error", "error") << "\n";
    return 2;
  }
  if (exit == mqtt::CollectorExit::kComplete) return 0;
  return exit == mqtt::CollectorExit::kStopped && options.directives == 0 ? 0 : 1;
}
