// flatcast-broker: loads config, registry and store, then serves until SIGTERM/SIGINT.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "flatcast/broker/admin.h"
#include "flatcast/broker/broker.h"
#include "flatcast/broker/config.h"
#include "flatcast/broker/fd_budget.h"
#include "flatcast/duration.h"
#include "flatcast/file_util.h"
#include "flatcast/program.h"
#include "flatcast/rpc_client.h"

namespace {
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
  std::string heartbeat, redelivery_initial, redelivery_max;
  std::string etcd, pair_group, pair_name, replication, replication_endpoint,
      replication_endpoint_file, lease_ttl, standby_timeout;
  app.add_option("--etcd", etcd,
                 "a broker pair: etcd client URLs, comma-separated (overrides pair.etcd)");
  app.add_option("--pair-group", pair_group, "the pair's group (overrides pair.group)");
  app.add_option("--pair-name", pair_name, "this broker's name in its pair (overrides pair.name)");
  app.add_option("--replication", replication, "sync or allow-degraded (overrides pair.replication)");
  app.add_option("--replication-endpoint", replication_endpoint,
                 "where the standby connects while this broker leads (overrides "
                 "pair.replication_endpoint)");
  app.add_option("--replication-endpoint-file", replication_endpoint_file,
                 "write the bound replication endpoint here");
  app.add_option("--lease-ttl", lease_ttl, "the leader lease's TTL, e.g. 5s (overrides pair.lease_ttl)");
  app.add_option("--standby-timeout", standby_timeout,
                 "while leading, a standby silent or storing nothing this long counts as gone, "
                 "e.g. 10s (overrides pair.standby_timeout)");
  std::string relay_region, upstream, relay_key, upstream_key;
  app.add_option("--relay-region", relay_region,
                 "a relay: its region's code; it serves the units at or below it (overrides "
                 "relay.region)");
  app.add_option("--upstream", upstream,
                 "a relay: the upstream's endpoints, comma-separated (overrides relay.upstream)");
  app.add_option("--relay-key", relay_key,
                 "a relay: its secret CURVE key file, a key of the relay role (overrides "
                 "relay.curve_key)");
  app.add_option("--upstream-key", upstream_key,
                 "a relay: the upstream's public CURVE key file (overrides relay.upstream_key)");
  int send_hwm = 0;
  int64_t max_terminals = -1;
  int io_threads = 0;
  app.add_option("--io-threads", io_threads, "ZeroMQ I/O threads (overrides config; default 2)")
      ->check(CLI::Range(1, 16));
  app.add_option("--max-terminals", max_terminals,
                 "terminal connections expected at once, for the open-file budget (default: "
                 "every registered unit)")
      ->check(CLI::NonNegativeNumber);
  int64_t store_reserve_mb = -1;
  app.add_option("--store-reserve-mb", store_reserve_mb,
                 "free space kept on the data directory's filesystem, in MB (overrides config; "
                 "default 256; 0: none)")
      ->check(CLI::Range(int64_t{0}, flatcast::broker::kMaxStoreReserveMb));
  int64_t document_rate_mb = -1;
  app.add_option("--document-rate-mb", document_rate_mb,
                 "attached documents served at most this many MiB a second (overrides config; "
                 "default 64; 0: no limit)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  std::string lead_time, publishers, keys, curve_key, public_signing_key;
  app.add_option("--public-lead-time", lead_time, "internal lead before public release, e.g. 12h");
  app.add_option("--publishers", publishers, "registered publishers file (overrides config)");
  app.add_option("--keys", keys,
                 "key registry: check every directive's signature (overrides config; without "
                 "it, unsigned directives are accepted, for development only)");
  app.add_option("--curve-key", curve_key,
                 "the broker's secret CURVE key file: encrypt every connection and admit only "
                 "keys of the key registry (overrides config's curve_secret_key; needs --keys)");
  app.add_option("--public-signing-key", public_signing_key,
                 "the release key (a secret signing key file) that signs public documents; "
                 "public servers (flatcast-public) are served only with it (overrides config)");
  std::string admin_endpoint, admin_endpoint_file, log_format;
  app.add_option("--admin-endpoint", admin_endpoint,
                 "the operator's listener host:port for /metrics, /healthz and /readyz, e.g. "
                 "127.0.0.1:7790 (overrides admin_endpoint)");
  app.add_option("--admin-endpoint-file", admin_endpoint_file,
                 "write the admin listener's http://host:port here when ready");
  app.add_option("--log-format", log_format,
                 "text, journal (no timestamps, syslog priorities; the default when started by "
                 "systemd) or json (one object a line)")
      ->check(CLI::IsMember({"text", "journal", "json"}));
  bool init_only = false;
  app.add_flag("--init-only", init_only,
               "create the store in the data directory if it holds none, then exit (what a "
               "package's installation runs once; the service then starts without --init)");
  bool check_config = false;
  app.add_flag("--check-config", check_config,
               "check the configuration and every file it names, say what was found, and exit "
               "(0: usable, 1: not)");
  app.add_option("--heartbeat-interval", heartbeat, "e.g. 5s (overrides config)");
  app.add_option("--redelivery-initial", redelivery_initial, "e.g. 2s (overrides config)");
  app.add_option("--redelivery-max", redelivery_max, "e.g. 60s (overrides config)");
  app.add_option("--send-hwm", send_hwm, "per-terminal send queue limit (overrides config)");
  CLI11_PARSE(app, argc, argv);
  flatcast::LogToStderr("flatcast-broker", "info", log_format);

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
  for (auto [text, target] : {std::pair{&heartbeat, &config.heartbeat_interval},
                              std::pair{&redelivery_initial, &config.redelivery_initial},
                              std::pair{&redelivery_max, &config.redelivery_max},
                              std::pair{&lead_time, &config.public_lead_time}}) {
    if (text->empty()) continue;
    auto d = flatcast::ParseDuration(*text);
    if (!d.ok()) return Fail(d.status());
    *target = d.value();
  }
  if (!etcd.empty()) config.pair.etcd = flatcast::SplitEndpoints(etcd);
  if (!pair_group.empty()) config.pair.group = pair_group;
  if (!pair_name.empty()) config.pair.name = pair_name;
  if (!replication.empty()) config.pair.replication = replication;
  if (!replication_endpoint.empty()) config.pair.replication_endpoint = replication_endpoint;
  if (!replication_endpoint_file.empty()) {
    config.pair.replication_endpoint_file = replication_endpoint_file;
  }
  if (!lease_ttl.empty()) {
    auto d = flatcast::ParseDuration(lease_ttl);
    if (!d.ok()) return Fail(d.status().WithContext("--lease-ttl"));
    config.pair.lease_ttl = d.value();
  }
  if (!standby_timeout.empty()) {
    auto d = flatcast::ParseDuration(standby_timeout);
    if (!d.ok()) return Fail(d.status().WithContext("--standby-timeout"));
    config.pair.standby_timeout = d.value();
  }
  if (!relay_region.empty()) config.relay.region = relay_region;
  if (!upstream.empty()) config.relay.upstream = flatcast::SplitEndpoints(upstream);
  if (!relay_key.empty()) config.relay.curve_key = relay_key;
  if (!upstream_key.empty()) config.relay.upstream_key = upstream_key;
  if (send_hwm > 0) config.send_hwm = send_hwm;
  if (max_terminals >= 0) config.max_terminals = max_terminals;
  if (store_reserve_mb >= 0) config.store_reserve_mb = store_reserve_mb;
  if (document_rate_mb >= 0) config.document_rate_mb = document_rate_mb;
  if (io_threads > 0) config.io_threads = io_threads;
  if (!publishers.empty()) config.publishers = publishers;
  if (!keys.empty()) config.keys = keys;
  if (!curve_key.empty()) config.curve_secret_key = curve_key;
  if (!public_signing_key.empty()) config.public_signing_key = public_signing_key;
  if (!admin_endpoint.empty()) config.admin_endpoint = admin_endpoint;
  if (!admin_endpoint_file.empty()) config.admin_endpoint_file = admin_endpoint_file;
  if (auto st = flatcast::broker::ValidateBrokerConfig(config); !st.ok()) return Fail(st);
  if (init_only) {
    const bool existed = std::filesystem::exists(config.data_dir + "/CURRENT");
    auto store = flatcast::broker::Store::Open({config.data_dir, true, config.rocksdb_max_open_files});
    if (!store.ok()) return Fail(store.status());
    std::cout << (existed ? "a store exists in " : "created a store in ") << config.data_dir << "\n";
    return 0;
  }
  if (check_config) {
    auto report = flatcast::broker::CheckBrokerConfigFiles(config, init);
    if (!report.ok()) return Fail(report.status());
    std::cout << *report;
    return 0;
  }
  if (config.data_dir.empty()) {
    return Fail(flatcast::Status::InvalidArgument("no data directory: set data_dir or --data-dir"));
  }

  auto registry = flatcast::Registry::Load(config.registry);
  if (!registry.ok()) return Fail(registry.status());
  if (!config.relay.region.empty()) {
    // A relay serves its region only (docs/RELAY.md).
    flatcast::Registry cut = registry->Cut(config.relay.region);
    if (cut.size() == 0) {
      return Fail(flatcast::Status::InvalidArgument(
          "relay.region " + config.relay.region + " has no units in registry " + config.registry));
    }
    registry = std::move(cut);
  }
  // The operator's surface outlives a broker that starts again below.
  flatcast::broker::AdminSurface admin;
  if (!config.admin_endpoint.empty()) {
    if (auto st = admin.Listen(config.admin_endpoint); !st.ok()) return Fail(st);
    if (!config.admin_endpoint_file.empty()) {
      if (auto st = flatcast::WriteFileAtomically(config.admin_endpoint_file, admin.url() + "\n");
          !st.ok()) {
        return Fail(st);
      }
    }
    spdlog::info("admin listener on {} (/metrics, /healthz, /readyz)", admin.url());
  }
  zmq::context_t ctx(config.io_threads);
  const std::atomic<bool>& stop = flatcast::StopOnSignals();
  // A pair's broker starts again when its role changes: as a standby after
  // it lost the leadership, with an empty store after its own departed from
  // the leader's (docs/HA.md).
  for (;;) {
    std::error_code ec;
    config.pair.new_store = !std::filesystem::exists(config.data_dir + "/CURRENT", ec);
    auto store = flatcast::broker::Store::Open({config.data_dir, init, config.rocksdb_max_open_files});
    if (!store.ok()) return Fail(store.status());
    flatcast::broker::BrokerExit how;
    {
      flatcast::broker::Broker broker(config, registry.value(), *store.value(),
                                      flatcast::SystemClock::Instance(), ctx, &admin);
      if (auto st = broker.Start(); !st.ok()) return Fail(st);
      flatcast::NotifyReady(fmt::format("broker listening on {}", broker.endpoint()));
      auto exit = broker.Serve(stop);
      if (!exit.ok()) return Fail(exit.status());
      how = *exit;
    }
    if (how == flatcast::broker::BrokerExit::kStopped) break;
    if (how == flatcast::broker::BrokerExit::kCopyAnew) {
      store.value().reset();  // closed before its directory moves
      auto moved = flatcast::broker::MoveDataDirAside(config.data_dir);
      if (!moved.ok()) return Fail(moved.status());
      spdlog::warn("the store that departed from the leader's is kept in {}; copying the "
                   "leader's anew", *moved);
      init = true;  // the new, empty store
    }
  }
  flatcast::NotifyStopping();
  spdlog::info("broker stopped");
  return 0;
}
