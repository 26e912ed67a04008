#include "attachments.h"
#include "flatcast/broker/core.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "change_queue.h"
#include "connections.h"
#include "delivery.h"
#include "directive_index.h"
#include "escalation.h"
#include "feedback.h"
#include "flatcast/duration.h"
#include "flatcast/wire.h"
#include "peer_authorizer.h"
#include "public_release.h"
#include "public_servers.h"
#include "publishing.h"
#include "recovery.h"
#include "relay_intake.h"
#include "relays.h"
#include "replies.h"

namespace flatcast::broker {

namespace {

// With confirmations waiting, the loop polls this briefly: a poll that
// brings nothing means the acknowledgements have stopped.
constexpr auto kConfirmQuietPoll = std::chrono::milliseconds(5);

std::chrono::milliseconds RedeliveryCheckPeriod(const BrokerConfig& config) {
  return std::clamp(config.redelivery_initial / 2, std::chrono::milliseconds(10),
                    std::chrono::milliseconds(1000));
}

}  // namespace

class BrokerCore::Impl {
 public:
  Impl(const BrokerConfig& config, const CoreDeps& deps)
      : own_metrics_(deps.metrics == nullptr ? std::make_unique<BrokerMetrics>() : nullptr),
        metrics_(deps.metrics != nullptr ? *deps.metrics : *own_metrics_),
        config_(config),
        registry_(deps.registry),
        clock_(deps.clock),
        commits_(deps.commits),
        queries_(deps.queries),
        index_(deps.registry),
        connections_(deps.registry, deps.outbox),
        authorizer_(deps.registry, deps.authenticate ? deps.keys : nullptr, connections_),
        public_servers_(deps.registry, connections_, deps.public_signing, deps.public_sink,
                        PublicServersOptions{.heartbeat_interval = config.heartbeat_interval}),
        public_(deps.clock, index_, deps.commits, changes_, public_servers_, metrics_),
        relays_(deps.registry, deps.clock, index_, connections_, deps.commits,
                RelaysOptions{.heartbeat_interval = config.heartbeat_interval}, metrics_),
        delivery_(deps.registry,
                  DeliveryOptions{config.heartbeat_interval, config.redelivery_initial,
                                  config.redelivery_max},
                  index_, connections_, relays_, metrics_),
        feedback_(deps.registry, deps.clock, index_, connections_, deps.commits, metrics_),
        escalation_(deps.registry, index_, public_, connections_, deps.commits, changes_),
        cluster_(deps.cluster),
        upstream_status_(deps.upstream_status),
        attachments_(deps.clock, deps.commits, connections_, static_cast<uint64_t>(config.document_rate_mb) << 20),
        publishing_(PublishingDeps{deps.registry, deps.clock, deps.publishers, deps.keys,
                                   config.public_lead_time, index_, public_, delivery_,
                                   connections_, deps.commits, changes_, metrics_, &attachments_}) {
    if (deps.upstream != nullptr) {
      relay_documents_.emplace(deps.clock, attachments_, *deps.upstream);
      intake_.emplace(RelayIntakeDeps{deps.registry, deps.clock, deps.keys, index_, delivery_,
                                      deps.commits, changes_, *deps.upstream, &*relay_documents_});
    }
  }

  Status Recover(const Store& store) {
    store_ = &store;
    attachments_.SetStore(&store);
    RecoveredState rest;
    FLATCAST_RETURN_IF_ERROR(broker::Recover(store, registry_, index_, rest));
    for (const v1::PublicRecord& r : rest.public_records) public_.Set(r);
    for (auto& [seq, unit, rated] : rest.ratings) feedback_.RestoreRating(seq, unit, rated);
    for (auto& [seq, unit, answered, revision] : rest.returns) {
      feedback_.RestoreReturn(seq, unit, answered, revision);
    }
    for (auto [seq, level] : rest.passed_deadlines) escalation_.RestorePassed(seq, level);
    FLATCAST_RETURN_IF_ERROR(relays_.Recover(store));
    if (intake_) FLATCAST_RETURN_IF_ERROR(intake_->Recover(store));
    if (relay_documents_) relay_documents_->Recover(index_);
    const TimePoint now = clock_.Now();
    delivery_.ScheduleAll(now);
    next_heartbeat_ = now + config_.heartbeat_interval;
    next_redelivery_check_ = now + RedeliveryCheckPeriod(config_);
    public_.NumberUnnumbered();
    public_.FlushFeed();
    return Status::Ok();
  }

  void OnMessage(const Inbound& in) {
    if (in.body_frames != 1) {
      spdlog::warn("refused message with {} frames (expected 1 body frame)", in.body_frames);
      Refuse(in.routing, 0, v1::MALFORMED,
             "expected exactly one body frame, got " + std::to_string(in.body_frames));
      return;
    }
    auto decoded = wire::Decode(in.body, config_.max_message_bytes);
    if (!decoded.ok()) {
      auto code = decoded.status().code() == Status::Code::kTooLarge ? v1::TOO_LARGE : v1::MALFORMED;
      spdlog::warn("refused message: {}", decoded.status().message());
      Refuse(in.routing, 0, code, decoded.status().message());
      return;
    }
    v1::Envelope& env = decoded.value();
    const uint64_t corr = env.correlation_id();
    if (Status st = authorizer_.Authorize(in, env); !st.ok()) {
      spdlog::warn("refused {} message: {}", wire::BodyName(env), st.message());
      Refuse(in.routing, corr, st);
      return;
    }
    Status refused;
    switch (env.body_case()) {
      case v1::Envelope::kHello:
        refused = OnHello(in.routing, corr, env.hello());
        break;
      case v1::Envelope::kAck:
        refused = feedback_.OnAck(in.routing, env.ack());
        break;
      case v1::Envelope::kRating:
        refused = feedback_.OnRating(in.routing, env.rating());
        break;
      case v1::Envelope::kReturnAnswer:
        refused = feedback_.OnReturn(in.routing, std::move(*env.mutable_return_answer()));
        break;
      case v1::Envelope::kPublish:
        publishing_.OnPublish(in.routing, corr, std::move(*env.mutable_publish()));
        break;
      case v1::Envelope::kLifecycle:
        publishing_.OnLifecycle(in.routing, corr, std::move(*env.mutable_lifecycle()));
        break;
      case v1::Envelope::kAttachmentPut:
        attachments_.OnPut(in.routing, corr, env.attachment_put());
        break;
      case v1::Envelope::kAttachmentGet:
        refused = attachments_.OnGet(in.routing, corr, env.attachment_get());
        break;
      case v1::Envelope::kRelayHello:
        refused = relays_.OnHello(in.routing, corr, env.relay_hello());
        if (!refused.ok()) spdlog::warn("refused relay: {}", refused.message());
        break;
      case v1::Envelope::kPublicHello:
        refused = public_servers_.OnHello(in.routing, corr, env.public_hello(), clock_.Now());
        break;
      case v1::Envelope::kPublicStored:
        refused = public_servers_.OnStored(in.routing, env.public_stored(), clock_.Now());
        break;
      case v1::Envelope::kRelayStored:
        refused = relays_.OnStored(in.routing, env.relay_stored());
        break;
      case v1::Envelope::kRelayAcks:
        refused = relays_.OnAckBatch(in.routing, corr, env.relay_acks());
        if (!refused.ok()) spdlog::warn("refused relay batch: {}", refused.message());
        break;
      case v1::Envelope::kClusterQuery: {
        v1::Envelope reply = NewEnvelope(corr);
        if (cluster_) {
          *reply.mutable_cluster_reply() = cluster_();
        } else {
          reply.mutable_cluster_reply()->set_role("leader");
          reply.mutable_cluster_reply()->set_commit_seq(store_ ? store_->heads().commit_seq : 0);
        }
        for (const RelayView& view : relays_.Views()) {
          v1::RelayStatus* r = reply.mutable_cluster_reply()->add_relays();
          r->set_region(view.region);
          r->set_name(view.name);
          r->set_connected(view.connected);
          r->set_cursor(view.cursor);
          r->set_log_cursor(view.log_cursor);
          if (view.last_heard != TimePoint{}) *r->mutable_last_heard() = ToTimestamp(view.last_heard);
        }
        if (upstream_status_) *reply.mutable_cluster_reply()->mutable_upstream() = upstream_status_();
        Reply(in.routing, Encoded(reply));
        break;
      }
      case v1::Envelope::kCoverageQuery:
      case v1::Envelope::kEventsQuery:
      case v1::Envelope::kAuditRequest:
        refused = Query(in.routing, std::move(env));
        break;
      default:
        spdlog::warn("refused message type {}", wire::BodyName(env));
        Refuse(in.routing, corr, v1::UNSUPPORTED,
               "the broker does not accept \"" + std::string(wire::BodyName(env)) +
                   "\" messages");
    }
    if (!refused.ok()) Refuse(in.routing, corr, refused);
  }

  void EndPass(bool input_seen) {
    feedback_.Flush();
    commits_.RunCompletions();
    if (commits_.TakeLateApplied()) Reload();
    TimePoint now = clock_.Now();
    // Confirmations go out once the acknowledgements pause, so that during
    // a fan-out they do not compete with deliveries and acknowledgements.
    feedback_.MaybeConfirm(input_seen, now);
    for (QueryAnswer& a : queries_.TakeAnswers()) Reply(a.routing, a.reply);
    RunTimers(now);
    commits_.RunCompletions();
    if (commits_.TakeLateApplied() || reload_) Reload();
    public_.FlushFeed();
    if (relay_documents_) relay_documents_->Pump();
  }

  void KeysChanged() {
    authorizer_.Recheck();
    // A public server whose key was revoked is sent nothing more.
    public_servers_.ForgetIf(
        [&](const std::string& routing) { return !authorizer_.Knows(routing); });
    public_servers_.KeysChanged(clock_.Now());
  }

  void OnUpstreamVersion(v1::StoredDirective version) {
    if (!intake_) {
      spdlog::error("a version from an upstream, but this broker is no relay");
      return;
    }
    intake_->OnVersion(std::move(version));
  }
  uint64_t upstream_cursor() const { return intake_ ? intake_->cursor() : 0; }
  void OnUpstreamDocumentReply(const v1::Envelope& reply) {
    if (relay_documents_) relay_documents_->OnReply(reply);
  }

  std::chrono::milliseconds PollTimeout(std::chrono::milliseconds most) const {
    if (feedback_.confirmations_waiting()) {
      return std::min<std::chrono::milliseconds>(most, kConfirmQuietPoll);
    }
    return most;
  }

  size_t connected_units() const { return connections_.connected(); }
  uint64_t head_seq() const { return index_.head_seq(); }

 private:
  // The store recovered holding a write whose outcome was reported as not
  // known: the view is rebuilt from it, as at start-up, and what it adds is
  // fanned out. Nothing is in flight here (every commit has completed).
  void Reload() {
    const uint64_t known = index_.head_seq();
    index_.Clear();
    public_.Clear();
    feedback_.ClearRatings();
    feedback_.ClearReturns();
    escalation_.Reset();
    if (Status st = Recover(*store_); !st.ok()) {
      spdlog::critical("reloading the store failed, tried again on the next pass: {}",
                       st.ToString());
      reload_ = true;
      return;
    }
    reload_ = false;
    const TimePoint now = clock_.Now();
    for (auto it = index_.versions().upper_bound(known); it != index_.versions().end(); ++it) {
      delivery_.FanOut(it->second, now);
    }
  }

  void Reply(const std::string& routing, const Payload& bytes) {
    (void)connections_.Reply(routing, bytes, clock_.Now());
  }

  // An error answer, counted (flatcast_requests_refused_total).
  void Refuse(const std::string& routing, uint64_t corr, v1::ErrorCode code,
              std::string_view message) {
    metrics_.RequestRefused(code);
    Reply(routing, ErrorReply(corr, code, message));
  }
  void Refuse(const std::string& routing, uint64_t corr, const Status& st) {
    Refuse(routing, corr, ErrorCodeOf(st), st.message());
  }

 public:
  void FillState(BrokerMetrics::State& s) const {
    s.connected_by_tier = {};
    connections_.ForEachConnected([&](const std::string&, uint32_t unit) {
      ++s.connected_by_tier[static_cast<int>(registry_.unit(unit).tier)];
    });
    s.directive_versions = index_.versions().size();
    s.held = public_.held();
    s.overdue_by_level = escalation_.OverdueUnitsByLevel();
    s.relays_connected = 0;
    for (const RelayView& view : relays_.Views()) s.relays_connected += view.connected;
  }

 private:

  Status OnHello(const std::string& routing, uint64_t corr, const v1::Hello& hello) {
    auto idx = registry_.Find(hello.unit_code());
    if (!idx) {
      spdlog::warn("hello from unregistered unit \"{}\"", hello.unit_code());
      return Status::NotRegistered("unit \"" + hello.unit_code() + "\" is not in the registry");
    }
    const TimePoint now = clock_.Now();
    // One connection is one unit, and a unit's newest connection replaces its older one.
    connections_.Bind(routing, *idx);
    Reply(routing, WelcomeReply(corr, registry_.unit(*idx), index_.head_seq(),
                                config_.heartbeat_interval));
    delivery_.CatchUp(*idx, now);
    if (connections_.Connected(*idx)) escalation_.OnHello(*idx, now);
    return Status::Ok();
  }

  // Coverage, events and audit queries are answered from the store, on the
  // query worker; coverage also says how many addressed units are connected.
  Status Query(const std::string& routing, v1::Envelope env) {
    QueryJob job{routing, std::move(env), 0};
    if (job.request.has_coverage_query()) {
      const v1::CoverageQuery& q = job.request.coverage_query();
      if (const DirectiveState* state = index_.Latest(q.directive_id())) {
        job.connected_now = ConnectedAddressed(*state, q.region());
      }
    }
    return queries_.Submit(std::move(job));
  }

  uint32_t ConnectedAddressed(const DirectiveState& state, const std::string& region) const {
    std::pair<uint32_t, uint32_t> within{0, registry_.size()};
    if (!region.empty()) {
      if (!registry_.Find(region)) return 0;
      within = registry_.SubtreeRange(region);
    }
    uint32_t connected = 0;
    for (auto [first, last] : state.ranges) {
      for (uint32_t i = std::max(first, within.first); i < std::min(last, within.second); ++i) {
        if (state.Targets(registry_.unit(i).tier) && connections_.Connected(i)) ++connected;
      }
    }
    return connected;
  }

  void RunTimers(TimePoint now) {
    public_.ReleaseDue(now);
    if (now >= next_heartbeat_) {
      delivery_.SendHeartbeats(now);
      escalation_.Update(now);
      next_heartbeat_ = now + config_.heartbeat_interval;
    }
    if (now >= next_redelivery_check_) {
      delivery_.Redeliver(now);
      next_redelivery_check_ = now + RedeliveryCheckPeriod(config_);
    }
    relays_.Tick(now);
    public_servers_.Tick(now);
    commits_.Tick(now);
  }

  std::unique_ptr<BrokerMetrics> own_metrics_;  // when the owner passed none
  BrokerMetrics& metrics_;
  const BrokerConfig config_;
  const Registry& registry_;
  const Clock& clock_;
  CommitPath& commits_;
  QueryPort& queries_;
  ChangeQueue changes_;
  DirectiveIndex index_;
  Connections connections_;
  PeerAuthorizer authorizer_;
  PublicServers public_servers_;
  PublicRelease public_;
  Relays relays_;
  Delivery delivery_;
  Feedback feedback_;
  Escalation escalation_;
  std::function<v1::ClusterReply()> cluster_;
  std::function<v1::RelayStatus()> upstream_status_;
  Attachments attachments_;
  Publishing publishing_;
  std::optional<RelayDocuments> relay_documents_;  // at a relay
  std::optional<RelayIntake> intake_;  // at a relay
  const Store* store_ = nullptr;  // the store recovered from
  bool reload_ = false;           // a reload failed: tried again
  TimePoint next_heartbeat_{};
  TimePoint next_redelivery_check_{};
};

BrokerCore::BrokerCore(const BrokerConfig& config, const CoreDeps& deps)
    : impl_(std::make_unique<Impl>(config, deps)) {}
BrokerCore::~BrokerCore() = default;
Status BrokerCore::Recover(const Store& store) { return impl_->Recover(store); }
void BrokerCore::OnMessage(const Inbound& in) { impl_->OnMessage(in); }
void BrokerCore::EndPass(bool input_seen) { impl_->EndPass(input_seen); }
void BrokerCore::KeysChanged() { impl_->KeysChanged(); }
std::chrono::milliseconds BrokerCore::PollTimeout(std::chrono::milliseconds most) const {
  return impl_->PollTimeout(most);
}
void BrokerCore::OnUpstreamDocumentReply(const v1::Envelope& reply) {
  impl_->OnUpstreamDocumentReply(reply);
}
void BrokerCore::OnUpstreamVersion(v1::StoredDirective version) {
  impl_->OnUpstreamVersion(std::move(version));
}
uint64_t BrokerCore::upstream_cursor() const { return impl_->upstream_cursor(); }
void BrokerCore::FillState(BrokerMetrics::State& state) const { impl_->FillState(state); }
size_t BrokerCore::connected_units() const { return impl_->connected_units(); }
uint64_t BrokerCore::head_seq() const { return impl_->head_seq(); }

}  // namespace flatcast::broker
