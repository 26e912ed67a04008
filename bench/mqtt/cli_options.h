// Command-line options shared by the three programs (CLI11).
#pragma once

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "flatcast/bench/mqtt/client_pool.h"

namespace flatcast::bench::mqtt {

// Broker address, keepalive and connect pacing.
inline void AddConnectionOptions(CLI::App& app, PoolOptions& pool, int& reconnect_initial_ms,
                                 int& reconnect_max_ms) {
  app.add_option("--host", pool.host, "broker host")->capture_default_str();
  app.add_option("--port", pool.port, "broker port")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("--bind-address", pool.bind_address,
                 "local address to connect from (e.g. 127.0.3.1; default: any)");
  app.add_option("--keepalive", pool.keepalive_s, "MQTT keepalive, seconds")
      ->check(CLI::Range(5, 65535))
      ->capture_default_str();
  app.add_option("--connect-window", pool.connect_window,
                 "clients between TCP connect and CONNACK at once")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--reconnect-initial-ms", reconnect_initial_ms,
                 "first reconnect delay (doubles per failure, +-50 % jitter)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--reconnect-max-ms", reconnect_max_ms, "longest reconnect delay")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

inline void ApplyReconnect(PoolOptions& pool, int initial_ms, int max_ms) {
  pool.reconnect_initial = std::chrono::milliseconds(initial_ms);
  pool.reconnect_max = std::chrono::milliseconds(std::max(initial_ms, max_ms));
}

// One JSON object a line on stdout, flushed, for the driver to follow.
inline void EmitLine(const char* event, nlohmann::json body) {
  body["event"] = event;
  std::cout << body.dump() << std::endl;
}

inline bool WriteJsonFile(const std::string& path, const nlohmann::json& value) {
  std::ofstream out(path);
  out << value.dump(2) << "\n";
  return static_cast<bool>(out);
}

}  // namespace flatcast::bench::mqtt
