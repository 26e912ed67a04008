#include "flatcast/broker/config.h"

#include <fmt/format.h>

#include <set>
#include <tuple>
#include <toml++/toml.h>

#include "flatcast/duration.h"
#include "flatcast/registry.h"

namespace flatcast::broker {

Result<BrokerConfig> LoadBrokerConfig(const std::string& path) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return Status::InvalidArgument(path + ":" + std::to_string(where.line) + ":" +
                                   std::to_string(where.column) + ": " + std::string(e.description()));
  }
  static const std::set<std::string> kKnown = {"endpoint", "data_dir", "registry",
                                               "max_message_bytes", "rocksdb_max_open_files", "store_reserve_mb", "document_rate_mb", "max_terminals", "io_threads",
                                               "endpoint_file", "heartbeat_interval",
                                               "redelivery_initial", "redelivery_max", "send_hwm",
                                               "public_lead_time", "publishers", "keys", "curve_secret_key",
                                               "public_signing_key", "admin_endpoint", "admin_endpoint_file", "pair", "relay"};
  for (const auto& [key, value] : table) {
    if (key.str() == "http_endpoint" || key.str() == "http_endpoint_file") {
      return Status::InvalidArgument(
          path + ": \"" + std::string(key.str()) +
          "\" is gone: the broker serves no public HTTP; run flatcast-public, fed over the "
          "client endpoint with a key of the public role, and set public_signing_key "
          "(docs/PUBLIC.md)");
    }
    if (!kKnown.contains(std::string(key.str()))) {
      return Status::InvalidArgument(path + ": unknown key \"" + std::string(key.str()) + "\"");
    }
  }
  BrokerConfig c;
  auto get_string = [&](const char* key, std::string& out) -> Status {
    if (auto node = table.get(key)) {
      auto v = node->value<std::string>();
      if (!v) return Status::InvalidArgument(path + ": " + key + " must be a string");
      out = *v;
    }
    return Status::Ok();
  };
  auto get_int = [&](const char* key, int64_t min, int64_t max, int64_t& out) -> Status {
    if (auto node = table.get(key)) {
      auto v = node->value_exact<int64_t>();
      if (!v || *v < min || *v > max) {
        return Status::InvalidArgument(path + ": " + key + " must be an integer from " +
                                       std::to_string(min) + " to " + std::to_string(max));
      }
      out = *v;
    }
    return Status::Ok();
  };
  FLATCAST_RETURN_IF_ERROR(get_string("endpoint", c.endpoint));
  FLATCAST_RETURN_IF_ERROR(get_string("data_dir", c.data_dir));
  FLATCAST_RETURN_IF_ERROR(get_string("registry", c.registry));
  FLATCAST_RETURN_IF_ERROR(get_string("endpoint_file", c.endpoint_file));
  FLATCAST_RETURN_IF_ERROR(get_string("publishers", c.publishers));
  FLATCAST_RETURN_IF_ERROR(get_string("keys", c.keys));
  FLATCAST_RETURN_IF_ERROR(get_string("curve_secret_key", c.curve_secret_key));
  FLATCAST_RETURN_IF_ERROR(get_string("public_signing_key", c.public_signing_key));
  FLATCAST_RETURN_IF_ERROR(get_string("admin_endpoint", c.admin_endpoint));
  FLATCAST_RETURN_IF_ERROR(get_string("admin_endpoint_file", c.admin_endpoint_file));
  int64_t max_bytes = static_cast<int64_t>(c.max_message_bytes);
  FLATCAST_RETURN_IF_ERROR(get_int("max_message_bytes", 4096, int64_t{256} << 20, max_bytes));
  c.max_message_bytes = static_cast<size_t>(max_bytes);
  int64_t max_files = c.rocksdb_max_open_files;
  FLATCAST_RETURN_IF_ERROR(get_int("rocksdb_max_open_files", 16, 100000, max_files));
  c.rocksdb_max_open_files = static_cast<int>(max_files);
  FLATCAST_RETURN_IF_ERROR(get_int("max_terminals", 0, int64_t{1} << 32, c.max_terminals));
  FLATCAST_RETURN_IF_ERROR(get_int("store_reserve_mb", 0, kMaxStoreReserveMb, c.store_reserve_mb));
  FLATCAST_RETURN_IF_ERROR(get_int("document_rate_mb", 0, 1 << 20, c.document_rate_mb));
  int64_t io_threads = c.io_threads;
  FLATCAST_RETURN_IF_ERROR(get_int("io_threads", 1, 16, io_threads));
  c.io_threads = static_cast<int>(io_threads);
  auto get_duration = [&](const char* key, std::chrono::milliseconds& out) -> Status {
    std::string text;
    FLATCAST_RETURN_IF_ERROR(get_string(key, text));
    if (text.empty()) return Status::Ok();
    auto d = ParseDuration(text);
    if (!d.ok()) return d.status().WithContext(path + ": " + key);
    out = d.value();
    return Status::Ok();
  };
  FLATCAST_RETURN_IF_ERROR(get_duration("heartbeat_interval", c.heartbeat_interval));
  FLATCAST_RETURN_IF_ERROR(get_duration("redelivery_initial", c.redelivery_initial));
  FLATCAST_RETURN_IF_ERROR(get_duration("redelivery_max", c.redelivery_max));
  FLATCAST_RETURN_IF_ERROR(get_duration("public_lead_time", c.public_lead_time));
  int64_t hwm = c.send_hwm;
  FLATCAST_RETURN_IF_ERROR(get_int("send_hwm", 1, 1000000, hwm));
  c.send_hwm = static_cast<int>(hwm);
  if (auto node = table.get("pair")) {
    const toml::table* pair = node->as_table();
    if (pair == nullptr) return Status::InvalidArgument(path + ": pair must be a table ([pair])");
    static const std::set<std::string> kPairKeys = {
        "etcd", "group", "name", "lease_ttl", "lease_margin", "standby_timeout", "replication",
        "replication_endpoint", "advertise_endpoint", "advertise_replication_endpoint",
        "replication_endpoint_file"};
    for (const auto& [key, value] : *pair) {
      if (!kPairKeys.contains(std::string(key.str()))) {
        return Status::InvalidArgument(path + ": unknown key \"pair." + std::string(key.str()) + "\"");
      }
    }
    auto pair_string = [&](const char* key, std::string& out) -> Status {
      if (auto n = pair->get(key)) {
        auto v = n->value<std::string>();
        if (!v) return Status::InvalidArgument(path + ": pair." + key + " must be a string");
        out = *v;
      }
      return Status::Ok();
    };
    if (auto n = pair->get("etcd")) {
      const toml::array* list = n->as_array();
      if (list == nullptr) {
        return Status::InvalidArgument(path + ": pair.etcd must be a list of \"http://host:port\"");
      }
      for (const auto& item : *list) {
        auto v = item.value<std::string>();
        if (!v) return Status::InvalidArgument(path + ": pair.etcd must hold strings");
        c.pair.etcd.push_back(*v);
      }
    }
    FLATCAST_RETURN_IF_ERROR(pair_string("group", c.pair.group));
    FLATCAST_RETURN_IF_ERROR(pair_string("name", c.pair.name));
    FLATCAST_RETURN_IF_ERROR(pair_string("replication", c.pair.replication));
    FLATCAST_RETURN_IF_ERROR(pair_string("replication_endpoint", c.pair.replication_endpoint));
    FLATCAST_RETURN_IF_ERROR(pair_string("advertise_endpoint", c.pair.advertise_endpoint));
    FLATCAST_RETURN_IF_ERROR(
        pair_string("advertise_replication_endpoint", c.pair.advertise_replication_endpoint));
    FLATCAST_RETURN_IF_ERROR(pair_string("replication_endpoint_file", c.pair.replication_endpoint_file));
    for (auto [key, out] : {std::pair{"lease_ttl", &c.pair.lease_ttl},
                            std::pair{"lease_margin", &c.pair.lease_margin},
                            std::pair{"standby_timeout", &c.pair.standby_timeout}}) {
      std::string text;
      FLATCAST_RETURN_IF_ERROR(pair_string(key, text));
      if (text.empty()) continue;
      auto d = ParseDuration(text);
      if (!d.ok()) return d.status().WithContext(path + ": pair." + key);
      *out = d.value();
    }
  }
  if (auto node = table.get("relay")) {
    const toml::table* relay = node->as_table();
    if (relay == nullptr) return Status::InvalidArgument(path + ": relay must be a table ([relay])");
    static const std::set<std::string> kRelayKeys = {"region", "upstream", "curve_key",
                                                     "upstream_key", "ack_batch"};
    for (const auto& [key, value] : *relay) {
      if (!kRelayKeys.contains(std::string(key.str()))) {
        return Status::InvalidArgument(path + ": unknown key \"relay." + std::string(key.str()) +
                                       "\"");
      }
    }
    for (auto [key, out] : {std::pair{"region", &c.relay.region},
                            std::pair{"curve_key", &c.relay.curve_key},
                            std::pair{"upstream_key", &c.relay.upstream_key}}) {
      if (auto n = relay->get(key)) {
        auto v = n->value<std::string>();
        if (!v) return Status::InvalidArgument(path + ": relay." + key + " must be a string");
        *out = *v;
      }
    }
    if (auto n = relay->get("upstream")) {
      const toml::array* list = n->as_array();
      if (list == nullptr) {
        return Status::InvalidArgument(path + ": relay.upstream must be a list of \"tcp://host:port\"");
      }
      for (const auto& item : *list) {
        auto v = item.value<std::string>();
        if (!v) return Status::InvalidArgument(path + ": relay.upstream must hold strings");
        c.relay.upstream.push_back(*v);
      }
    }
    if (auto n = relay->get("ack_batch")) {
      auto v = n->value<int64_t>();
      if (!v || *v < 1 || *v > 1000000) {
        return Status::InvalidArgument(path + ": relay.ack_batch must be an integer from 1 to 1000000");
      }
      c.relay.ack_batch = static_cast<uint32_t>(*v);
    }
  }
  FLATCAST_RETURN_IF_ERROR(ValidateBrokerConfig(c).WithContext(path));
  return c;
}

Status ValidateBrokerConfig(const BrokerConfig& c) {
  using std::chrono::milliseconds;
  // The limits (docs/PROTOCOL.md, "Limits"): name, value, least, most.
  const std::tuple<const char*, milliseconds, milliseconds, milliseconds> limits[] = {
      {"heartbeat_interval", c.heartbeat_interval, milliseconds(10), std::chrono::hours(1)},
      {"redelivery_initial", c.redelivery_initial, milliseconds(10), std::chrono::hours(1)},
      {"redelivery_max", c.redelivery_max, milliseconds(10), std::chrono::hours(24)},
      {"public_lead_time", c.public_lead_time, milliseconds(0), kMaxAheadOfNow}};
  for (const auto& [name, value, least, most] : limits) {
    if (value < least || value > most) {
      return Status::InvalidArgument(fmt::format("{} is {}; it must be from {} to {}", name,
                                                 FormatDuration(value), FormatDuration(least),
                                                 FormatDuration(most)));
    }
  }
  if (c.redelivery_max < c.redelivery_initial) {
    return Status::InvalidArgument("redelivery_max must not be shorter than redelivery_initial");
  }
  if (c.send_hwm < 1) return Status::InvalidArgument("send_hwm must be at least 1");
  if (c.store_reserve_mb != 0 &&
      (c.store_reserve_mb < kMinStoreReserveMb || c.store_reserve_mb > kMaxStoreReserveMb)) {
    return Status::InvalidArgument(fmt::format(
        "store_reserve_mb is {}; it must be 0 (no reserve) or from {} to {} (RocksDB takes space "
        "for its log in steps of about 9 MB)",
        c.store_reserve_mb, kMinStoreReserveMb, kMaxStoreReserveMb));
  }
  if (!c.admin_endpoint.empty() && c.admin_endpoint.rfind(':') == std::string::npos) {
    return Status::InvalidArgument("admin_endpoint \"" + c.admin_endpoint +
                                   "\" must be host:port");
  }
  if (c.relay.enabled() || !c.relay.region.empty()) {
    if (!TierOfCode(c.relay.region)) {
      return Status::InvalidArgument("relay.region \"" + c.relay.region +
                                     "\" must be a GB/T 2260 code (2, 4, 6, 9 or 12 digits)");
    }
    if (c.relay.upstream.empty()) {
      return Status::InvalidArgument("a relay (relay.region) needs relay.upstream, its upstream's endpoints");
    }
    if (c.relay.curve_key.empty() != c.relay.upstream_key.empty()) {
      return Status::InvalidArgument("relay.curve_key and relay.upstream_key go together (CURVE to the upstream)");
    }
  }
  if (c.pair.enabled()) {
    if (c.pair.group.empty() || c.pair.name.empty()) {
      return Status::InvalidArgument("a broker pair (pair.etcd) needs pair.group and pair.name");
    }
    for (const std::string& e : c.pair.etcd) {
      if (e.rfind("http://", 0) != 0) {
        return Status::InvalidArgument("pair.etcd: \"" + e +
                                       "\" is not an etcd client URL (http://host:port)");
      }
    }
    if (c.pair.replication != "sync" && c.pair.replication != "allow-degraded") {
      return Status::InvalidArgument("pair.replication is \"" + c.pair.replication +
                                     "\"; it must be \"sync\" or \"allow-degraded\"");
    }
    if (c.pair.replication_endpoint.empty()) {
      return Status::InvalidArgument("a broker pair needs pair.replication_endpoint");
    }
    if (c.pair.standby_timeout < milliseconds(100) || c.pair.standby_timeout > std::chrono::minutes(10)) {
      return Status::InvalidArgument(fmt::format(
          "pair.standby_timeout is {}; it must be from 100ms to 10m",
          FormatDuration(c.pair.standby_timeout)));
    }
  }
  if (!c.curve_secret_key.empty() && c.keys.empty()) {
    return Status::InvalidArgument(
        "curve_secret_key needs keys: the key registry says which client keys are admitted");
  }
  return Status::Ok();
}

}  // namespace flatcast::broker
