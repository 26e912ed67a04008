// flatcast-mqtt-publish: publishes K directives of B bytes, QoS 1, and prints
// each one's publish and PUBACK wall-clock times as JSON on stdout.
// Exit: 0 every directive PUBACKed, 1 not all PUBACKed in time, 2 bad
// arguments or no connection.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "cli_options.h"
#include "flatcast/bench/mqtt/process.h"
#include "flatcast/program.h"
#include "flatcast/bench/mqtt/publisher.h"

namespace mqtt = flatcast::bench::mqtt;

int main(int argc, char** argv) {
  CLI::App app{"flatcast-mqtt-publish: publish benchmark directives over MQTT"};
  mqtt::PublishOptions options;
  options.client_id = "flatcast-publisher-" + std::to_string(getpid());
  std::string out_path;
  int reconnect_initial_ms = 50, reconnect_max_ms = 500, interval_ms = 0, timeout_s = 60;
  mqtt::AddConnectionOptions(app, options.pool, reconnect_initial_ms, reconnect_max_ms);
  app.add_option("--client-id", options.client_id, "MQTT client id (clean session)");
  app.add_option("--topic", options.topic, "directive topic")->capture_default_str();
  app.add_option("--prefix", options.id_prefix, "directive ids: <prefix><start>, ...")
      ->capture_default_str();
  app.add_option("--start", options.start, "number of the first directive")->capture_default_str();
  app.add_option("-k,--count", options.count, "directives to publish")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("-b,--bytes", options.bytes, "payload size of each directive")
      ->check(CLI::Range(64, 256 * 1024 * 1024))
      ->capture_default_str();
  app.add_option("--interval-ms", interval_ms, "pause between directives (0: back to back)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--timeout-s", timeout_s, "to connect and to have every PUBACK")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--out", out_path, "also write the JSON to this file");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  mqtt::ApplyReconnect(options.pool, reconnect_initial_ms, reconnect_max_ms);
  options.interval = std::chrono::milliseconds(interval_ms);
  options.timeout = std::chrono::seconds(timeout_s);

  const std::atomic<bool>& stop = flatcast::StopOnSignals();
  mqtt::MosquittoLibrary library;
  auto publisher = mqtt::Publisher::Create(options);
  if (!publisher.ok()) {
    std::cerr << "flatcast-mqtt-publish: " << publisher.status().message() << "\n";
    return 2;
  }
  auto result = publisher.value()->Run(stop);
  if (!result.ok()) {
    std::cerr << "flatcast-mqtt-publish: " << result.status().message() << "\n";
    return 2;
  }
  std::cout << result.value().dump() << std::endl;
  if (!out_path.empty() && !mqtt::WriteJsonFile(out_path, result.value())) {
    std::cerr << "flatcast-mqtt-publish: cannot write " << out_path << "\n";
  }
  return result.value().value("all_acked", false) ? 0 : 1;
}
