// The broker core in-process, for a test: its own temp directory and
// RocksDB store (behind a FaultyStore), a fake clock, a recording outbox and
// feed, queries answered inline. No TCP, no threads, no sleeps: a pass of
// the broker's loop is a call.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "faulty_store.h"
#include "flatcast/broker/audit_queries.h"
#include "flatcast/broker/commit_path.h"
#include "flatcast/broker/core.h"
#include "flatcast/broker/disk_space.h"
#include "flatcast/broker/query_port.h"
#include "flatcast/key_registry.h"
#include "recording_outbox.h"
#include "samples.h"
#include "temp_dir.h"

namespace flatcast::testing {

// A filesystem whose free space the test sets.
class FakeDiskSpace final : public broker::DiskSpace {
 public:
  Result<uint64_t> Available() const override { return available_; }
  const std::string& path() const override { return path_; }
  void set_available_mb(uint64_t mb) { available_ = mb << 20; }
  void set_available(uint64_t bytes) { available_ = bytes; }

 private:
  uint64_t available_ = uint64_t{1} << 40;
  std::string path_ = "/fake/data";
};

class BrokerHarness {
 public:
  struct Options {
    std::string registry_text = kTestRegistryText;
    // Written to publishers.toml and used when set; empty: any publisher name.
    std::string publishers_toml;
    // Use the key registry at keys_path() (the test writes it before Start).
    bool keys = false;
    // Attribute each message to the key of its peer (SetUserId), as CURVE does.
    bool authenticate = false;
    TimePoint start = SampleTime();
    // Changes to the broker's configuration.
    std::function<void(broker::BrokerConfig&)> configure;
    // Called with the store each time it is opened, before the core recovers from it.
    std::function<void(FaultyStore&)> on_open;
    // Keep this many MB free (0: no reserve), measured on disk() instead of
    // the real filesystem.
    uint64_t store_reserve_mb = 0;
    // A relay (docs/RELAY.md): the registry is cut to this region and the
    // core tells `upstream` what it stored of the upstream's versions.
    std::string relay_region;
    broker::UpstreamSink* upstream = nullptr;
  };

  explicit BrokerHarness(Options options);
  BrokerHarness() : BrokerHarness(Options()) {}
  ~BrokerHarness();

  // Opens the store (creating it the first time), builds the core and
  // recovers it; the test fails when that fails (its status is returned).
  Status Start();
  // Drops the core and closes the store, as a stopped broker.
  void Stop();

  // One pass of the loop with these messages, then a quiet one (so waiting
  // confirmations go out).
  void Send(const std::string& peer, const v1::Envelope& env);
  void SendRaw(const std::string& peer, std::string bytes, size_t body_frames = 1);
  void SendPass(const std::vector<std::pair<std::string, v1::Envelope>>& messages);
  // Sends and takes the peer's first reply that is not a delivery, a
  // heartbeat or an overdue report (those stay queued); an empty envelope
  // when there is none.
  v1::Envelope Call(const std::string& peer, const v1::Envelope& env);
  // Hello as `unit` from the peer of that name; the Welcome.
  v1::Envelope Connect(const std::string& unit) { return Call(unit, HelloFrom(unit)); }
  // Publishes from peer "publisher"; the receipt (the test fails without one).
  v1::PublishReceipt Publish(const v1::Envelope& request);
  // Moves the fake clock and runs a quiet pass.
  void Advance(std::chrono::milliseconds d);
  void Pass();

  // The key the peer's connection was admitted with (options.authenticate).
  void SetUserId(const std::string& peer, std::string user_id) {
    user_ids_[peer] = std::move(user_id);
  }
  // Re-reads the key registry file and tells the core, as the broker's loop does.
  bool ReloadKeys();

  // The first envelope of that body queued for the peer (taken), if any.
  std::optional<v1::Envelope> Next(const std::string& peer, v1::Envelope::BodyCase body) {
    return outbox_.TakeFirst(peer, body);
  }
  std::vector<v1::Envelope> TakeAll(const std::string& peer) { return outbox_.TakeAll(peer); }
  // Lifecycle events of a directive, from the store.
  std::vector<v1::LifecycleEvent> Events(const std::string& id);

  // The filesystem the commit path measures (options.store_reserve_mb).
  FakeDiskSpace& disk() { return disk_; }
  RecordingOutbox& outbox() { return outbox_; }
  RecordingFeed& feed() { return feed_; }
  // The release key; a test may replace it between Stop and Start.
  broker::PublicSigning& signing() { return signing_; }
  FakeClock& clock() { return clock_; }
  FaultyStore& store() { return *store_; }
  broker::BrokerCore& core() { return *core_; }
  const Registry& registry() const { return registry_; }
  const TempDir& dir() const { return dir_; }
  std::string keys_path() const { return dir_ / "keys.toml"; }
  broker::BrokerConfig& config() { return config_; }

 private:
  void Deliver(const std::string& peer, std::string bytes, size_t frames);

  Options options_;
  TempDir dir_;
  Registry registry_;
  FakeClock clock_;
  broker::BrokerConfig config_;
  broker::PublisherDirectory publishers_;
  std::optional<KeyRegistryWatcher> keys_;
  RecordingOutbox outbox_;
  // The release key that signs public documents, fresh for each harness.
  broker::PublicSigning signing_;
  RecordingFeed feed_;
  FakeDiskSpace disk_;
  std::unique_ptr<broker::SpaceReserve> reserve_;
  std::unique_ptr<FaultyStore> store_;
  std::unique_ptr<broker::StoreCommitPath> commits_;
  std::unique_ptr<broker::AuditQueries> queries_;
  std::unique_ptr<broker::InlineQueryPort> query_port_;
  std::unique_ptr<broker::BrokerCore> core_;
  std::map<std::string, std::string> user_ids_;
};

}  // namespace flatcast::testing
