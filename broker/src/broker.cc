#include "flatcast/broker/broker.h"

#include <spdlog/spdlog.h>

#include <optional>
#include <vector>

#include "flatcast/broker/commit_path.h"
#include "flatcast/broker/core.h"
#include "flatcast/broker/disk_space.h"
#include "flatcast/broker/public_feed.h"
#include "flatcast/broker/publishers.h"
#include "flatcast/broker/zap_handler.h"
#include "flatcast/curve.h"
#include "flatcast/duration.h"
#include "flatcast/file_util.h"
#include "flatcast/key_registry.h"
#include "query_worker.h"
#include "router_transport.h"

namespace flatcast::broker {

namespace {

constexpr size_t kMaxMessagesPerPass = 4096;

}  // namespace

class Broker::Impl {
 public:
  Impl(const BrokerConfig& config, const Registry& registry, Store& store, const Clock& clock,
       zmq::context_t& ctx)
      : config_(config), registry_(registry), store_(store), clock_(clock), ctx_(ctx),
        disk_(StatvfsDiskSpace(config.data_dir)),
        reserve_(*disk_, static_cast<uint64_t>(config.store_reserve_mb) << 20),
        commits_(store, std::chrono::seconds(1), &reserve_) {}

  Status Start() {
    FLATCAST_RETURN_IF_ERROR(reserve_.CheckAtStart("store_reserve_mb"));
    if (!config_.publishers.empty()) {
      auto dir = PublisherDirectory::Load(config_.publishers, registry_);
      if (!dir.ok()) return dir.status();
      publishers_ = std::move(dir).value();
    }
    if (!config_.keys.empty()) {
      auto keys = KeyRegistryWatcher::Open(config_.keys);
      if (!keys.ok()) return keys.status().WithContext("key registry");
      keys_ = std::move(keys).value();
      reloader_.emplace(*keys_);
    }
    TransportOptions transport{config_.endpoint, config_.max_message_bytes, config_.send_hwm, {}};
    std::optional<KeyPair> curve_key;
    if (!config_.curve_secret_key.empty()) {
      if (!keys_) {
        return Status::InvalidArgument(
            "curve_secret_key needs keys: the key registry says which client keys are admitted");
      }
      auto pair = ReadKeyPair(config_.curve_secret_key, KeyKind::kCurve);
      if (!pair.ok()) return pair.status().WithContext("broker CURVE key");
      curve_key = std::move(pair).value();
      auto zap = ZapHandler::Start(ctx_, std::make_shared<const KeyRegistry>(keys_->registry()));
      if (!zap.ok()) return zap.status();
      zap_ = std::move(zap).value();
      transport.curve_secret_key = curve_key->secret_key;
    }
    auto opened = RouterTransport::Open(ctx_, transport);
    if (!opened.ok()) return opened.status();
    transport_ = std::move(opened).value();
    auto worker = QueryWorker::Start(store_, registry_, clock_);
    if (!worker.ok()) return worker.status();
    worker_ = std::move(worker).value();
    if (!config_.http_endpoint.empty()) {
      size_t colon = config_.http_endpoint.rfind(':');
      int port = std::atoi(config_.http_endpoint.c_str() + colon + 1);
      auto feed = PublicFeed::Start(config_.http_endpoint.substr(0, colon),
                                    static_cast<uint16_t>(port));
      if (!feed.ok()) return feed.status();
      feed_ = std::move(feed).value();
      http_endpoint_ = "http://" + config_.http_endpoint.substr(0, colon) + ":" +
                       std::to_string(feed_->port());
    }
    core_ = std::make_unique<BrokerCore>(
        config_, CoreDeps{registry_, clock_, *transport_, commits_, *worker_, publishers_,
                          keys_ ? &keys_->registry() : nullptr, zap_ != nullptr, feed_.get()});
    FLATCAST_RETURN_IF_ERROR(core_->Recover(store_));
    FLATCAST_RETURN_IF_ERROR(transport_->Bind());
    endpoint_ = transport_->endpoint();
    if (!config_.http_endpoint_file.empty()) {
      FLATCAST_RETURN_IF_ERROR(WriteFileAtomically(config_.http_endpoint_file, http_endpoint_ + "\n"));
    }
    if (!config_.endpoint_file.empty()) {
      FLATCAST_RETURN_IF_ERROR(WriteFileAtomically(config_.endpoint_file, endpoint_ + "\n"));
    }
    spdlog::info("broker listening on {} ({} units in registry, {} directive versions stored, "
                 "public feed {}, public lead time {})",
                 endpoint_, registry_.size(), core_->head_seq(),
                 http_endpoint_.empty() ? "off" : http_endpoint_,
                 FormatDuration(config_.public_lead_time));
    if (keys_) {
      spdlog::info("checking directive signatures against key registry {} ({} keys)", keys_->path(),
                   keys_->registry().records().size());
      if (zap_) {
        spdlog::info("CURVE on (broker key {}): only connections with an active registry key are "
                     "admitted, each message is attributed to its key's holder",
                     KeyId(curve_key->public_key));
      } else {
        spdlog::warn("no curve_secret_key: connections are neither encrypted nor authenticated");
      }
    } else {
      spdlog::warn(
          "no key registry (keys): unsigned directives are accepted; open mode is for "
          "development only");
    }
    return Status::Ok();
  }

  const std::string& endpoint() const { return endpoint_; }
  const std::string& http_endpoint() const { return http_endpoint_; }

  Status PollOnce(std::chrono::milliseconds timeout) {
    auto ready = transport_->Wait(core_->PollTimeout(timeout), worker_->wake_fd());
    if (!ready.ok()) return ready.status();
    if (*ready) {
      FLATCAST_RETURN_IF_ERROR(transport_->Receive(inbound_, kMaxMessagesPerPass));
      for (const Inbound& in : inbound_) core_->OnMessage(in);
    }
    core_->EndPass(*ready);
    if (reloader_ && reloader_->Poll(clock_.Now())) {
      if (zap_) zap_->Update(std::make_shared<const KeyRegistry>(keys_->registry()));
      core_->KeysChanged();
    }
    return Status::Ok();
  }

 private:
  const BrokerConfig config_;
  const Registry& registry_;
  Store& store_;
  const Clock& clock_;
  zmq::context_t& ctx_;
  std::unique_ptr<DiskSpace> disk_;
  SpaceReserve reserve_;
  StoreCommitPath commits_;
  PublisherDirectory publishers_;
  // Set when the config names a key registry: signatures are checked.
  std::optional<KeyRegistryWatcher> keys_;
  std::optional<KeyRegistryReloader> reloader_;
  // With CURVE (curve_secret_key): admits connections by key.
  std::unique_ptr<ZapHandler> zap_;
  std::unique_ptr<RouterTransport> transport_;
  std::unique_ptr<QueryWorker> worker_;
  std::unique_ptr<PublicFeed> feed_;
  std::unique_ptr<BrokerCore> core_;
  std::vector<Inbound> inbound_;
  std::string endpoint_;
  std::string http_endpoint_;
};

Broker::Broker(const BrokerConfig& config, const Registry& registry, Store& store,
               const Clock& clock, zmq::context_t& ctx)
    : impl_(std::make_unique<Impl>(config, registry, store, clock, ctx)) {}
Broker::~Broker() = default;

Status Broker::Start() { return impl_->Start(); }
const std::string& Broker::endpoint() const { return impl_->endpoint(); }
const std::string& Broker::http_endpoint() const { return impl_->http_endpoint(); }
Status Broker::PollOnce(std::chrono::milliseconds timeout) { return impl_->PollOnce(timeout); }

Status Broker::Run(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    FLATCAST_RETURN_IF_ERROR(impl_->PollOnce(std::chrono::milliseconds(100)));
  }
  return Status::Ok();
}

}  // namespace flatcast::broker
