// What a relay may send its upstream, and what an upstream may send a relay
// (docs/RELAY.md), each as a peer could send it, into a real broker core
// over a RocksDB store in /dev/shm. The first byte picks the side:
//   even: the rest is an Envelope from peer "relay" to an upstream core
//         holding one directive for 5201, welcomed once (relay_hello,
//         relay_stored, relay_acks, anything else);
//   odd:  the rest is a StoredDirective an upstream sent to a relay core
//         for 5201.
// Neither may crash, and the upstream's acknowledgements stay inside the
// relay's region (checked after each input).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <spdlog/spdlog.h>

#include "flatcast/broker/audit_queries.h"
#include "flatcast/broker/commit_path.h"
#include "flatcast/broker/config.h"
#include "flatcast/broker/core.h"
#include "flatcast/broker/outbox.h"
#include "flatcast/broker/publishers.h"
#include "flatcast/broker/query_port.h"
#include "flatcast/broker/store.h"
#include "flatcast/clock.h"
#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "flatcast/wire.h"
#include "fuzz_support.h"

using namespace flatcast;

namespace {

const TimePoint kSent = ParseTime("2026-11-28T09:30:00Z").value();

class NullOutbox final : public broker::Outbox {
 public:
  broker::SendOutcome Send(const std::string&, const broker::Payload&) override {
    return broker::SendOutcome::kSent;
  }
};

class NullSink final : public broker::UpstreamSink {
 public:
  void Stored(uint64_t) override {}
  void NotStored(uint64_t, const Status&) override {}
};

class FixedClock final : public Clock {
 public:
  TimePoint Now() const override { return kSent + std::chrono::minutes(1); }
};

std::string TempDir() {
  std::string dir = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
  dir += "/flatcast-fuzz-relay-XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) std::abort();
  return dir;
}

// One core with its store and everything it needs.
struct Side {
  Side(const Registry& r, broker::UpstreamSink* upstream) : registry(r) {
    auto opened = broker::Store::Open({TempDir() + "/data", true, 16});
    if (!opened.ok()) std::abort();
    store = std::move(opened).value();
    if (upstream == nullptr) {
      // The upstream holds one directive to 5201's streets and communities.
      broker::StoreWrite w;
      v1::StoredDirective& d = w.directive.emplace();
      d.set_seq(1);
      v1::Directive* dir = d.mutable_directive();
      dir->set_id("52-HEALTH-20261128-0001");
      dir->set_version(1);
      dir->set_issuer_unit("52");
      dir->set_issuer_department("HEALTH");
      dir->add_scope("5201");
      dir->add_target_tiers(v1::STREET);
      dir->add_target_tiers(v1::COMMUNITY);
      *dir->mutable_sent() = ToTimestamp(kSent);
      d.set_addressed_units(static_cast<uint32_t>(AddressedUnits(*dir, registry).size()));
      if (!store->Write(std::move(w)).ok()) std::abort();
    }
    commits = std::make_unique<broker::StoreCommitPath>(*store, std::chrono::seconds(1), nullptr);
    queries = std::make_unique<broker::AuditQueries>(*store, registry, clock);
    port = std::make_unique<broker::InlineQueryPort>(*queries);
    broker::BrokerConfig config;
    config.max_message_bytes = 1 << 20;
    broker::CoreDeps deps{registry, clock, outbox, *commits, *port, publishers,
                          nullptr, false, nullptr, nullptr, {}, upstream};
    core = std::make_unique<broker::BrokerCore>(config, deps);
    if (!core->Recover(*store).ok()) std::abort();
  }

  void Pass() {
    core->EndPass(true);
    core->EndPass(false);
  }

  const Registry& registry;
  FixedClock clock;
  NullOutbox outbox;
  broker::PublisherDirectory publishers;
  std::unique_ptr<broker::Store> store;
  std::unique_ptr<broker::StoreCommitPath> commits;
  std::unique_ptr<broker::AuditQueries> queries;
  std::unique_ptr<broker::InlineQueryPort> port;
  std::unique_ptr<broker::BrokerCore> core;
};

void Say(Side& side, const v1::Envelope& env) {
  broker::Inbound in;
  in.routing = "relay";
  in.body = wire::Encode(env);
  in.body_frames = 1;
  side.core->OnMessage(in);
  side.Pass();
}

Side& Upstream() {
  static Side side(fuzz::SmallRegistry(), nullptr);
  static const bool welcomed = [] {
    v1::Envelope hello;
    hello.set_protocol_version(1);
    hello.mutable_relay_hello()->set_region("5201");
    hello.mutable_relay_hello()->set_registry_digest(fuzz::SmallRegistry().RegionDigest("5201"));
    Say(side, hello);
    return true;
  }();
  (void)welcomed;
  return side;
}

Side& Relay() {
  static const Registry cut = fuzz::SmallRegistry().Cut("5201");
  static NullSink sink;
  static Side side(cut, &sink);
  return side;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  if (size < 1) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    Side& up = Upstream();
    broker::Inbound in;
    in.routing = "relay";
    in.body = std::string(rest);
    in.body_frames = 1;
    up.core->OnMessage(in);
    up.Pass();
    // Whatever was stored, no unit outside 5201 acknowledged anything.
    Status st = up.store->ForEachAck(1, "", [](std::string_view unit, v1::AckLevel, const v1::AckRecord&) {
      if (!Registry::IsWithin(unit, "5201")) std::abort();
    });
    if (!st.ok()) std::abort();
  } else {
    v1::StoredDirective version;
    if (!version.ParseFromArray(rest.data(), static_cast<int>(rest.size()))) return 0;
    Side& relay = Relay();
    relay.core->OnUpstreamVersion(std::move(version));
    relay.Pass();
  }
  return 0;
}
