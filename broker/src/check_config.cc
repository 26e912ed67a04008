#include <fmt/format.h>

#include <filesystem>

#include "flatcast/broker/config.h"
#include "flatcast/broker/fd_budget.h"
#include "flatcast/broker/publishers.h"
#include "flatcast/curve.h"
#include "flatcast/key_registry.h"
#include "flatcast/registry.h"
#include "flatcast/signing.h"

namespace flatcast::broker {

Result<std::string> CheckBrokerConfigFiles(const BrokerConfig& config, bool init) {
  std::string report;
  auto line = [&](const std::string& what) { report += what + "\n"; };
  if (config.data_dir.empty()) {
    return Status::InvalidArgument("no data directory: set data_dir or --data-dir");
  }
  std::error_code ec;
  if (std::filesystem::exists(config.data_dir + "/CURRENT", ec)) {
    line("data_dir " + config.data_dir + ": a store");
  } else if (init) {
    line("data_dir " + config.data_dir + ": no store yet; --init creates one");
  } else {
    return Status::NotFound("data_dir " + config.data_dir +
                            " holds no store; start once with --init to create one");
  }
  Result<Registry> registry = Registry::Load(config.registry);
  if (!registry.ok()) return registry.status().WithContext("registry");
  std::string registry_line =
      fmt::format("registry {}: {} units", config.registry, registry->size());
  if (!config.relay.region.empty()) {
    Registry cut = registry->Cut(config.relay.region);
    if (cut.size() == 0) {
      return Status::InvalidArgument("relay.region " + config.relay.region + " has no units in " +
                                     config.registry);
    }
    registry_line += fmt::format(", {} in relay.region {}", cut.size(), config.relay.region);
    registry = std::move(cut);
  }
  line(registry_line);
  if (!config.publishers.empty()) {
    auto publishers = PublisherDirectory::Load(config.publishers, *registry);
    if (!publishers.ok()) return publishers.status().WithContext("publishers");
    line("publishers " + config.publishers + ": loaded");
  } else {
    line("publishers: none configured (any publisher name is accepted)");
  }
  std::optional<KeyRegistry> keys;
  if (!config.keys.empty()) {
    auto loaded = KeyRegistry::Load(config.keys);
    if (!loaded.ok()) return loaded.status().WithContext("keys");
    line(fmt::format("keys {}: {} keys ({})", config.keys, loaded->records().size(),
                     loaded->format() == KeyFileFormat::kBinary ? "binary" : "TOML"));
    keys = std::move(loaded).value();
  } else {
    line("keys: none (open mode: unsigned directives are accepted; for development only)");
  }
  if (!config.curve_secret_key.empty()) {
    auto pair = ReadKeyPair(config.curve_secret_key, KeyKind::kCurve);
    if (!pair.ok()) return pair.status().WithContext("curve_secret_key");
    line(fmt::format("curve_secret_key {}: CURVE key {}", config.curve_secret_key,
                     KeyId(pair->public_key)));
  }
  if (config.relay.enabled()) {
    auto relay_keys = LoadCurveClientKeys(config.relay.curve_key, config.relay.upstream_key,
                                          "relay.curve_key", "relay.upstream_key");
    if (!relay_keys.ok()) return relay_keys.status();
    line(fmt::format("relay for {} under {}{}", config.relay.region,
                     fmt::join(config.relay.upstream, ", "),
                     *relay_keys ? " over CURVE" : " without CURVE"));
  }
  const uint64_t expected = ExpectedConnections(
      *registry, !config.curve_secret_key.empty() && keys ? &*keys : nullptr,
      config.max_terminals);
  line(fmt::format("open files: {} terminal connections expected, {} with RocksDB's and its own",
                   expected, expected + std::max(config.rocksdb_max_open_files, 0) + kFdReserve));
  if (!config.admin_endpoint.empty()) line("admin listener: " + config.admin_endpoint);
  if (!config.public_signing_key.empty()) {
    auto release = ReadKeyPair(config.public_signing_key, KeyKind::kSigning);
    if (!release.ok()) return release.status().WithContext("public_signing_key");
    line("release key " + KeyId(release->public_key) + ": public servers are served");
  } else {
    line("no public_signing_key: no public server is served");
  }
  line("configuration OK");
  return report;
}

}  // namespace flatcast::broker
