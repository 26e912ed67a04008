// Broker configuration (TOML; reference in README.md, "Configuration").
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "flatcast/status.h"

namespace flatcast::broker {

// The most store_reserve_mb may be (1 TiB), and the least other than 0:
// RocksDB takes space for its log in steps of about 9 MB (it preallocates
// 1.1 write buffers), so a smaller reserve can vanish in one write.
inline constexpr int64_t kMaxStoreReserveMb = int64_t{1} << 20;
inline constexpr int64_t kMinStoreReserveMb = 32;

// One broker of a pair led through etcd (docs/HA.md); the config's [pair]
// table. Off while `etcd` is empty.
struct PairConfig {
  // "http://host:port" of each etcd member (its client URLs).
  std::vector<std::string> etcd;
  std::string group;  // the pair's group, e.g. "52": keys under /flatcast/<group>/
  std::string name;   // this broker's name, unique in its group
  std::chrono::milliseconds lease_ttl{5000};
  // Taken off the lease on this broker's side (request time, clock drift).
  std::chrono::milliseconds lease_margin{1000};
  // While leading: a standby that neither answers nor stores anything for
  // this long counts as gone (as Kafka's replica.lag.time.max.ms). A synced
  // write on a busy disk can take seconds; a standby dropped for that must
  // catch up again before anything is confirmed.
  std::chrono::milliseconds standby_timeout{10000};
  // "sync": confirm nothing only one disk holds; "allow-degraded": confirm
  // alone while no standby is in sync, and say so in the log.
  std::string replication = "sync";
  // Where this broker, while it leads, takes its standby's connection.
  std::string replication_endpoint = "tcp://127.0.0.1:7710";
  // Told to clients and the standby (default: the endpoints bound, which is
  // right only when both brokers share a host, as in tests).
  std::string advertise_endpoint;
  std::string advertise_replication_endpoint;
  // If set, the bound replication endpoint is written here once bound.
  std::string replication_endpoint_file;

  // Set by the program: the store was created by this start (--init on an
  // empty directory, or a copy anew). Such a store may not take a free
  // leader key of a group with a history until a leader has recorded it in
  // sync (docs/HA.md).
  bool new_store = false;

  bool enabled() const { return !etcd.empty(); }
};

// A relay: a broker whose directives come from an upstream broker
// (docs/RELAY.md); the config's [relay] table. Off while `upstream` is empty.
struct RelayConfig {
  // The relay's region code: it serves the units at or below it (its
  // registry is cut to them) and its key's subject is this code.
  std::string region;
  // The upstream's client endpoints (both brokers of an upstream pair).
  std::vector<std::string> upstream;
  // With CURVE: this relay's secret key file (a key of the relay role) and
  // the upstream's public key file (flatcast-keys generate --kind curve).
  std::string curve_key;
  std::string upstream_key;
  // Acknowledgements at most in one batch upstream.
  uint32_t ack_batch = 20000;

  bool enabled() const { return !upstream.empty(); }
};

struct BrokerConfig {
  // ZeroMQ endpoint of the one ROUTER socket; "tcp://127.0.0.1:*" picks a free port.
  std::string endpoint = "tcp://127.0.0.1:7700";
  std::string data_dir;
  std::string registry = "configs/registry/guizhou-52.tsv";
  // Application limit on one incoming message; larger ones get a TOO_LARGE
  // error. ZeroMQ drops connections that send over 4x this (ZMQ_MAXMSGSIZE).
  size_t max_message_bytes = 1 << 20;
  int rocksdb_max_open_files = 64;
  // Free space kept on the data directory's filesystem (disk_space.h): within
  // it new directives and changes are refused, within its last quarter
  // everything; 0 turns the reserve off. A start with no more free than this
  // is refused.
  int64_t store_reserve_mb = 256;
  // Attached documents served (AttachmentChunk) at most this many MiB a
  // second, over a burst of one second; a request beyond it is answered
  // UNAVAILABLE and asked again a little later. Bounds what waits in send
  // queues when thousands of terminals fetch at once. 0: no limit.
  int64_t document_rate_mb = 64;
  // ZeroMQ I/O threads: they read, write, encrypt and decrypt every
  // connection's traffic (CURVE handshakes included) beside the broker's loop.
  int io_threads = 2;
  // The most terminal connections expected at once; 0 (the default): every
  // unit that can connect (with CURVE, the holders of an active unit key of
  // the registry and the relays; in open mode every registered unit). The
  // open-file budget checked at start-up is computed from it. A broker for a registry larger than its descriptor limit (a
  // national registry on a 20,000-descriptor machine, for queries) sets it
  // lower; terminals beyond it are refused by the operating system.
  int64_t max_terminals = 0;
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
  // The public release of a directive waits this long after its internal
  // send, so communities can prepare before residents hear of it.
  std::chrono::milliseconds public_lead_time{std::chrono::hours(12)};
  // Registered publishers (TOML). Empty: any publisher name is accepted, with
  // no rights (no emergency release).
  std::string publishers;
  // Key registry (TOML, docs/SECURITY.md). Set: every publish and amendment
  // must carry a valid signature by the publisher's registered signing key,
  // and the file is re-read when it changes, so a revocation takes effect
  // without a restart. Empty (the default): "open mode", unsigned directives
  // are accepted; for development only.
  std::string keys;
  // The broker's secret CURVE key file (flatcast-keys generate --kind curve).
  // Set: every connection is CURVE-encrypted and admitted only with an
  // active key of the key registry (`keys`, required then), and each message
  // is attributed to the unit, publisher or auditor that key belongs to.
  // Empty: connections are neither encrypted nor authenticated.
  std::string curve_secret_key;
  // The release key (a secret signing key file): signs every public
  // document; public servers (flatcast-public) are served only with it
  // (docs/PUBLIC.md). The broker serves no HTTP to the public.
  std::string public_signing_key;
  // host:port of the operator's listener (/metrics, /healthz, /readyz;
  // docs/OPERATIONS.md), e.g. "127.0.0.1:7790".
  // Empty (the default): none.
  std::string admin_endpoint;
  // If set, "http://host:port" of the admin listener is written here once it listens.
  std::string admin_endpoint_file;
  // A broker pair (docs/HA.md).
  PairConfig pair;
  // A relay under an upstream broker (docs/RELAY.md).
  RelayConfig relay;
};

// Checks values that flags may have set after loading.
Status ValidateBrokerConfig(const BrokerConfig& config);

// Reads a TOML config file. Unknown keys are refused, so a typo is not silently ignored.
Result<BrokerConfig> LoadBrokerConfig(const std::string& path);

// For `flatcast-broker --check-config`: loads every file the configuration
// names (the registry, cut to relay.region; the publishers; the key
// registry; the CURVE keys; a relay's keys), checks that the data directory
// holds a store (or, with `init`, may get one), and says what it found, a
// line each. The first problem otherwise, naming the file.
Result<std::string> CheckBrokerConfigFiles(const BrokerConfig& config, bool init);

}  // namespace flatcast::broker
