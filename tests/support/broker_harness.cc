#include "broker_harness.h"

#include <gtest/gtest.h>

#include "flatcast/duration.h"
#include "flatcast/wire.h"

namespace flatcast::testing {

BrokerHarness::BrokerHarness(Options options)
    : options_(std::move(options)),
      registry_(options_.relay_region.empty()
                    ? Registry::Parse(options_.registry_text, "test").value()
                    : Registry::Parse(options_.registry_text, "test").value().Cut(
                          options_.relay_region)),
      clock_(options_.start),
      feed_(std::shared_ptr<const Registry>(std::shared_ptr<const Registry>(), &registry_)) {
  signing_.key = GenerateKeyPair(KeyKind::kSigning).value();
  v1::ReleaseKey announced;
  announced.set_key_id(KeyId(signing_.key.public_key));
  announced.set_public_key(signing_.key.public_key);
  announced.set_holder("test-broker");
  *announced.mutable_valid_from() = ToTimestamp(options_.start - std::chrono::hours(24));
  signing_.announced.push_back(announced);
  feed_.set_keys(signing_.announced);
  config_.endpoint = "inproc://unused";
  config_.data_dir = dir_ / "data";
  config_.max_message_bytes = 64 * 1024;
  if (options_.configure) options_.configure(config_);
}

BrokerHarness::~BrokerHarness() { Stop(); }

Status BrokerHarness::Start() {
  auto open = [&]() -> Status {
    if (!options_.publishers_toml.empty()) {
      WriteFile(dir_.path() / "publishers.toml", options_.publishers_toml);
      auto dir = broker::PublisherDirectory::Load(dir_ / "publishers.toml", registry_);
      if (!dir.ok()) return dir.status();
      publishers_ = std::move(dir).value();
    }
    if (options_.keys) {
      auto keys = KeyRegistryWatcher::Open(keys_path());
      if (!keys.ok()) return keys.status();
      keys_ = std::move(keys).value();
    }
    auto real = broker::Store::Open({config_.data_dir, true, 64});
    if (!real.ok()) return real.status();
    store_ = std::make_unique<FaultyStore>(std::move(real).value());
    if (options_.on_open) options_.on_open(*store_);
    reserve_ = std::make_unique<broker::SpaceReserve>(disk_, options_.store_reserve_mb << 20);
    commits_ = std::make_unique<broker::StoreCommitPath>(*store_, std::chrono::seconds(1),
                                                         reserve_.get());
    queries_ = std::make_unique<broker::AuditQueries>(*store_, registry_, clock_);
    query_port_ = std::make_unique<broker::InlineQueryPort>(*queries_);
    core_ = std::make_unique<broker::BrokerCore>(
        config_, broker::CoreDeps{registry_, clock_, outbox_, *commits_, *query_port_, publishers_,
                                  keys_ ? &keys_->registry() : nullptr, options_.authenticate,
                                  &signing_, &feed_, {}, options_.upstream, {}, nullptr});
    return core_->Recover(*store_);
  };
  Status st = open();
  if (!st.ok()) Stop();
  return st;
}

void BrokerHarness::Stop() {
  core_.reset();
  query_port_.reset();
  queries_.reset();
  commits_.reset();
  store_.reset();
  keys_.reset();
}

void BrokerHarness::Deliver(const std::string& peer, std::string bytes, size_t frames) {
  broker::Inbound in;
  in.routing = peer;
  in.body = std::move(bytes);
  in.body_frames = frames;
  if (auto it = user_ids_.find(peer); it != user_ids_.end()) in.user_id = it->second;
  outbox_.Reconnect(peer);  // a peer that sends is connected
  core_->OnMessage(in);
}

void BrokerHarness::SendRaw(const std::string& peer, std::string bytes, size_t body_frames) {
  Deliver(peer, std::move(bytes), body_frames);
  core_->EndPass(true);
  core_->EndPass(false);
}

void BrokerHarness::Send(const std::string& peer, const v1::Envelope& env) {
  SendPass({{peer, env}});
}

void BrokerHarness::SendPass(const std::vector<std::pair<std::string, v1::Envelope>>& messages) {
  for (const auto& [peer, env] : messages) {
    v1::Envelope e = env;
    e.set_protocol_version(wire::kProtocolVersion);
    Deliver(peer, wire::Encode(e), 1);
  }
  core_->EndPass(true);
  core_->EndPass(false);
}

v1::Envelope BrokerHarness::Call(const std::string& peer, const v1::Envelope& env) {
  Send(peer, env);
  auto reply = outbox_.TakeFirst(peer, [](const v1::Envelope& e) {
    return !e.has_deliver() && !e.has_heartbeat() && !e.has_overdue_report();
  });
  return reply ? *reply : v1::Envelope();
}

v1::PublishReceipt BrokerHarness::Publish(const v1::Envelope& request) {
  v1::Envelope reply = Call("publisher", request);
  EXPECT_TRUE(reply.has_receipt()) << reply.DebugString();
  return reply.receipt();
}

void BrokerHarness::Pass() { core_->EndPass(false); }

void BrokerHarness::Advance(std::chrono::milliseconds d) {
  clock_.Advance(d);
  Pass();
}

bool BrokerHarness::ReloadKeys() {
  auto reloaded = keys_->ReloadIfChanged();
  EXPECT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  if (!reloaded.ok() || !*reloaded) return false;
  core_->KeysChanged();
  return true;
}

std::vector<v1::LifecycleEvent> BrokerHarness::Events(const std::string& id) {
  std::vector<v1::LifecycleEvent> out;
  EXPECT_TRUE(
      store_->real().ForEachEvent(id, [&](const v1::LifecycleEvent& e) { out.push_back(e); }).ok());
  return out;
}

}  // namespace flatcast::testing
