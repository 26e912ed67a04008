// flatcast-broker: loads config, registry and store, then serves until SIGTERM/SIGINT.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <csignal>

#include "flatcast/broker/broker.h"

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

int Fail(const flatcast::Status& st) {
  spdlog::error("{}", st.ToString());
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flatcast broker: stores directives and relays them to every addressed unit"};
  std::string config_path;
  bool init = false;
  std::string data_dir, endpoint, registry_path, endpoint_file;
  app.add_option("-c,--config", config_path, "TOML configuration file")->check(CLI::ExistingFile);
  app.add_flag("--init", init, "create a new store if the data directory holds none");
  app.add_option("--data-dir", data_dir, "RocksDB data directory (overrides config)");
  app.add_option("--endpoint", endpoint, "ZeroMQ endpoint to bind, e.g. tcp://127.0.0.1:7700");
  app.add_option("--registry", registry_path, "registry file (overrides config)");
  app.add_option("--endpoint-file", endpoint_file, "write the bound endpoint here when ready");
  CLI11_PARSE(app, argc, argv);

  flatcast::broker::BrokerConfig config;
  if (!config_path.empty()) {
    auto loaded = flatcast::broker::LoadBrokerConfig(config_path);
    if (!loaded.ok()) return Fail(loaded.status());
    config = std::move(loaded).value();
  }
  if (!data_dir.empty()) config.data_dir = data_dir;
  if (!endpoint.empty()) config.endpoint = endpoint;
  if (!registry_path.empty()) config.registry = registry_path;
  if (!endpoint_file.empty()) config.endpoint_file = endpoint_file;
  if (config.data_dir.empty()) {
    return Fail(flatcast::Status::InvalidArgument("no data directory: set data_dir or --data-dir"));
  }

  auto registry = flatcast::Registry::Load(config.registry);
  if (!registry.ok()) return Fail(registry.status());
  auto store = flatcast::broker::Store::Open(
      {config.data_dir, init, config.rocksdb_max_open_files});
  if (!store.ok()) return Fail(store.status());

  zmq::context_t ctx(1);
  flatcast::broker::Broker broker(config, registry.value(), *store.value(),
                                  flatcast::SystemClock::Instance(), ctx);
  if (auto st = broker.Start(); !st.ok()) return Fail(st);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  if (auto st = broker.Run(g_stop); !st.ok()) return Fail(st);
  spdlog::info("broker stopped");
  return 0;
}
