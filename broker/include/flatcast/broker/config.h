// Broker configuration (TOML; reference in README.md, "Configuration").
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "flatcast/status.h"

namespace flatcast::broker {

struct BrokerConfig {
  // ZeroMQ endpoint of the one ROUTER socket; "tcp://127.0.0.1:*" picks a free port.
  std::string endpoint = "tcp://127.0.0.1:7700";
  std::string data_dir;
  std::string registry = "configs/registry/guizhou-52.tsv";
  // Application limit on one incoming message; larger ones get a TOO_LARGE
  // error. ZeroMQ drops connections that send over 4x this (ZMQ_MAXMSGSIZE).
  size_t max_message_bytes = 1 << 20;
  int rocksdb_max_open_files = 64;
  // If set, the bound endpoint is written here once the broker is ready.
  std::string endpoint_file;
  // How often every connected terminal is sent a Heartbeat.
  std::chrono::milliseconds heartbeat_interval{5000};
  // A directive some connected addressed unit has not acknowledged is sent to
  // those units again after redelivery_initial, then after twice that, and so
  // on up to redelivery_max between rounds.
  std::chrono::milliseconds redelivery_initial{2000};
  std::chrono::milliseconds redelivery_max{60000};
  // Messages queued for one terminal before further ones are dropped (and
  // later repaired by redelivery): bounds the memory a slow terminal costs.
  int send_hwm = 256;
};

// Checks values that flags may have set after loading.
Status ValidateBrokerConfig(const BrokerConfig& config);

// Reads a TOML config file. Unknown keys are refused, so a typo is not silently ignored.
Result<BrokerConfig> LoadBrokerConfig(const std::string& path);

}  // namespace flatcast::broker
