#include "flatcast/broker/broker.h"
#include "flatcast/broker/fd_budget.h"

#include <spdlog/spdlog.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include "flatcast/broker/admin.h"
#include "flatcast/broker/commit_path.h"
#include "flatcast/broker/core.h"
#include "flatcast/broker/disk_space.h"
#include "flatcast/broker/public_stream.h"
#include "flatcast/broker/publishers.h"
#include "flatcast/broker/replicated_commit_path.h"
#include "flatcast/broker/zap_handler.h"
#include "flatcast/curve.h"
#include "flatcast/duration.h"
#include "flatcast/file_util.h"
#include "flatcast/ha/etcd.h"
#include "flatcast/key_registry.h"
#include "flatcast/wire.h"
#include "leadership_runner.h"
#include "query_worker.h"
#include "replication_link.h"
#include "upstream_link.h"
#include "replies.h"
#include "router_transport.h"

namespace flatcast::broker {

namespace {

constexpr size_t kMaxMessagesPerPass = 4096;
constexpr char kBrokerNameFile[] = "FLATCAST_BROKER_NAME";
// Present while a pair's store is incomplete (new or copied anew, not yet
// recorded in sync by a leader): the broker may not take a free key then.
constexpr char kIncompleteFile[] = "FLATCAST_STORE_INCOMPLETE";
// The leadership thread's round: renewals and the standby's look at the
// leader key.
constexpr auto kLeadershipPeriod = std::chrono::milliseconds(500);

}  // namespace

Status ClaimDataDir(const std::string& data_dir, const std::string& name) {
  const std::string path = data_dir + "/" + kBrokerNameFile;
  std::ifstream in(path);
  if (in) {
    std::string owner;
    std::getline(in, owner);
    if (owner != name) {
      return Status::InvalidArgument(fmt::format(
          "the data directory {} belongs to broker \"{}\", not to this broker (\"{}\"): each "
          "broker of a pair keeps its own store; start it on its own directory",
          data_dir, owner, name));
    }
    return Status::Ok();
  }
  return WriteFileAtomically(path, name + "\n");
}

Result<std::string> MoveDataDirAside(const std::string& data_dir) {
  const std::string aside =
      data_dir + ".diverged-" + FormatTime(SystemClock::Instance().Now());
  std::error_code ec;
  std::filesystem::rename(data_dir, aside, ec);
  if (ec) {
    return Status::IOError(fmt::format("cannot move {} aside to {}: {}", data_dir, aside,
                                       ec.message()));
  }
  return aside;
}

class Broker::Impl {
 public:
  Impl(const BrokerConfig& config, const Registry& registry, Store& store, const Clock& clock,
       zmq::context_t& ctx, AdminSurface* admin)
      : config_(config), registry_(registry), store_(store), clock_(clock), ctx_(ctx),
        admin_(admin),
        disk_(StatvfsDiskSpace(config.data_dir)),
        reserve_(*disk_, static_cast<uint64_t>(config.store_reserve_mb) << 20),
        commits_(store, std::chrono::seconds(1), &reserve_, metrics()) {}

  BrokerMetrics* metrics() const { return admin_ != nullptr ? &admin_->metrics() : nullptr; }

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
      auto zap = ZapHandler::Start(ctx_, std::make_shared<const KeyRegistry>(keys_->registry()),
                                   metrics());
      if (!zap.ok()) return zap.status();
      zap_ = std::move(zap).value();
      transport.curve_secret_key = curve_key->secret_key;
    }
    // Checked before the first socket: when descriptors run out, libzmq
    // spins on accept() while the clients beyond hang.
    auto budget = CheckFdBudget(
        ExpectedConnections(registry_, zap_ ? &keys_->registry() : nullptr, config_.max_terminals),
        config_.rocksdb_max_open_files);
    if (!budget.ok()) return budget.status();
    budget_ = *budget;
    spdlog::info("open files: {} needed ({} terminals + {} RocksDB + {} own), limit {}",
                 budget->needed, budget->terminals, budget->rocksdb_files, budget->reserve,
                 budget->limit);
    FLATCAST_RETURN_IF_ERROR(LoadReleaseKey());
    auto opened = RouterTransport::Open(ctx_, transport);
    if (!opened.ok()) return opened.status();
    transport_ = std::move(opened).value();
    auto worker = QueryWorker::Start(store_, registry_, clock_);
    if (!worker.ok()) return worker.status();
    worker_ = std::move(worker).value();
    curve_key_ = curve_key;
    const uint64_t stored_versions = store_.head_seq();  // before a follower writes the store
    if (config_.pair.enabled() && config_.relay.enabled()) {
      return Status::InvalidArgument(
          "a relay ([relay]) cannot be one of a broker pair ([pair]) yet: run the relay as a "
          "single broker");
    }
    if (config_.pair.enabled()) {
      FLATCAST_RETURN_IF_ERROR(StartPair());
    } else {
      if (config_.relay.enabled()) FLATCAST_RETURN_IF_ERROR(StartRelayLink());
      core_ = std::make_unique<BrokerCore>(config_, Deps(commits_));
      FLATCAST_RETURN_IF_ERROR(core_->Recover(store_));
      FLATCAST_RETURN_IF_ERROR(transport_->Bind());
      endpoint_ = transport_->endpoint();
    }
    if (!config_.endpoint_file.empty()) {
      FLATCAST_RETURN_IF_ERROR(WriteFileAtomically(config_.endpoint_file, endpoint_ + "\n"));
    }
    spdlog::info("broker listening on {} ({} units in registry, {} directive versions stored, "
                 "public lead time {}, public servers {})",
                 endpoint_, registry_.size(), stored_versions,
                 FormatDuration(config_.public_lead_time),
                 release_key_ ? "served" : "not served (no public_signing_key)");
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

  CoreDeps Deps(CommitPath& commits) {
    CoreDeps deps{registry_, clock_, *transport_, commits, *worker_, publishers_,
                  keys_ ? &keys_->registry() : nullptr, zap_ != nullptr,
                  release_key_ ? &*release_key_ : nullptr, nullptr, {}};
    if (runner_) deps.cluster = [this] { return Cluster(); };
    deps.metrics = metrics();
    deps.upstream = upstream_.get();
    if (upstream_) {
      deps.upstream_status = [this] {
        UpstreamState state = upstream_->state();
        v1::RelayStatus r;
        r.set_region(config_.relay.region);
        r.set_connected(state.welcomed);
        r.set_cursor(state.cursor);
        r.set_log_cursor(state.log_cursor);
        r.set_endpoint(state.endpoint);
        r.set_upstream_head(state.upstream_head);
        r.set_problem(state.problem);
        return r;
      };
    }
    return deps;
  }

  // A relay (docs/RELAY.md): the link to the upstream, from the last
  // upstream version the store holds.
  Status StartRelayLink() {
    auto curve = LoadCurveClientKeys(config_.relay.curve_key, config_.relay.upstream_key,
                                     "relay.curve_key", "relay.upstream_key");
    if (!curve.ok()) return curve.status();
    Result<uint64_t> cursor = store_.Cursor("upstream");
    if (!cursor.ok()) return cursor.status();
    UpstreamLinkOptions options{config_.relay.region,
                                "relay-" + config_.relay.region,
                                config_.relay.upstream,
                                *curve,
                                config_.relay.ack_batch,
                                config_.max_message_bytes,
                                config_.heartbeat_interval};
    auto link = UpstreamLink::Start(store_, registry_, std::move(options), *cursor);
    if (!link.ok()) return link.status();
    upstream_ = std::move(link).value();
    spdlog::info("relay for region {} ({} units) under {}, holding up to upstream version {}",
                 config_.relay.region, registry_.size(), fmt::join(config_.relay.upstream, ", "),
                 *cursor);
    return Status::Ok();
  }

  // The release key (docs/PUBLIC.md): it signs every public document; with
  // a key registry it must be the signing key of a broker-role holder, and
  // every such key, current and retired, is announced to public servers
  // with its validity.
  // The release keys as the key registry has them now (a revocation gives
  // one its valid_until); the broker's own is no longer used once revoked.
  static std::vector<v1::ReleaseKey> AnnouncedKeys(const KeyRegistry& keys) {
    std::vector<v1::ReleaseKey> announced;
    for (const KeyRecord& r : keys.records()) {
      if (r.kind != KeyKind::kSigning || r.role != KeyRole::kBroker) continue;
      v1::ReleaseKey k;
      k.set_key_id(r.key_id);
      k.set_public_key(r.public_key);
      k.set_holder(r.name);
      *k.mutable_valid_from() = ToTimestamp(r.added);
      if (r.revoked_at) *k.mutable_valid_until() = ToTimestamp(*r.revoked_at);
      announced.push_back(std::move(k));
    }
    return announced;
  }

  void RecheckReleaseKey() {
    if (!keys_ || !release_key_->valid) return;
    release_key_->announced = AnnouncedKeys(keys_->registry());
    auto valid = keys_->registry().SigningKeyValidAt(KeyId(release_key_->key.public_key));
    if (!valid.ok()) {
      release_key_->valid = false;
      spdlog::error("the release key {} is no longer valid ({}): nothing more is signed with it "
                    "and public servers are not served until the broker restarts with a valid "
                    "public_signing_key",
                    KeyId(release_key_->key.public_key), valid.status().message());
    }
  }

  Status LoadReleaseKey() {
    if (config_.public_signing_key.empty()) return Status::Ok();
    auto pair = ReadKeyPair(config_.public_signing_key, KeyKind::kSigning);
    if (!pair.ok()) return pair.status().WithContext("public_signing_key");
    PublicSigning signing{*pair, {}};
    const std::string id = KeyId(pair->public_key);
    if (keys_) {
      auto valid = keys_->registry().SigningKeyValidAt(id);
      if (!valid.ok() || valid->role != KeyRole::kBroker) {
        return Status::InvalidArgument(fmt::format(
            "public_signing_key {} (key {}) must be an active signing key of a broker-role holder "
            "in the key registry {}{}: register it with the pair's CURVE key (flatcast-keys "
            "register --role broker --curve BROKER.pub --signing RELEASE.pub)",
            config_.public_signing_key, id, keys_->path(),
            valid.ok() ? ", not of a " + std::string(KeyRoleName(valid->role))
                       : " (" + valid.status().message() + ")"));
      }
      signing.announced = AnnouncedKeys(keys_->registry());
    } else {
      v1::ReleaseKey k;
      k.set_key_id(id);
      k.set_public_key(pair->public_key);
      signing.announced.push_back(std::move(k));
    }
    release_key_ = std::move(signing);
    spdlog::info("public documents are signed with release key {}", id);
    return Status::Ok();
  }

  // ---- a broker pair (docs/HA.md) ----

  Status StartPair() {
    const PairConfig& pair = config_.pair;
    auto mode = ParseReplicationMode(pair.replication);
    if (!mode.ok()) return mode.status();
    mode_ = *mode;
    FLATCAST_RETURN_IF_ERROR(ClaimDataDir(config_.data_dir, pair.name));
    if (curve_key_) {
      auto record = keys_->registry().AdmitCurveKey(curve_key_->public_key);
      if (!record.ok() || record->role != KeyRole::kBroker) {
        return Status::InvalidArgument(fmt::format(
            "a broker pair with CURVE shares one key, registered with the broker role: the key "
            "registry {} has the broker's key {} {}",
            keys_->path(), KeyId(curve_key_->public_key),
            record.ok() ? "with the role " + std::string(KeyRoleName(record->role))
                        : "not as an active key"));
      }
    }
    FLATCAST_RETURN_IF_ERROR(transport_->Bind());
    endpoint_ = transport_->endpoint();
    LeaderLinkOptions link_options{pair.replication_endpoint, std::nullopt};
    link_options.standby_timeout = pair.standby_timeout;
    if (curve_key_) link_options.curve_secret_key = curve_key_->secret_key;
    auto link = LeaderLink::Start(ctx_, store_, link_options);
    if (!link.ok()) return link.status();
    link_ = std::move(link).value();
    if (!pair.replication_endpoint_file.empty()) {
      FLATCAST_RETURN_IF_ERROR(
          WriteFileAtomically(pair.replication_endpoint_file, link_->endpoint() + "\n"));
    }
    ha::LeadershipOptions options;
    options.group = pair.group;
    options.name = pair.name;
    options.advertise["client"] = pair.advertise_endpoint.empty() ? endpoint_ : pair.advertise_endpoint;
    options.advertise["replication"] = pair.advertise_replication_endpoint.empty()
                                           ? link_->endpoint()
                                           : pair.advertise_replication_endpoint;
    options.ttl = std::chrono::duration_cast<std::chrono::seconds>(pair.lease_ttl);
    options.margin = pair.lease_margin;
    incomplete_path_ = config_.data_dir + "/" + kIncompleteFile;
    if (pair.new_store && !std::filesystem::exists(incomplete_path_)) {
      FLATCAST_RETURN_IF_ERROR(WriteFileAtomically(
          incomplete_path_, "this store is being copied from the pair's leader\n"));
    }
    incomplete_ = std::filesystem::exists(incomplete_path_);
    options.store_complete = [this] { return !incomplete_.load(); };
    auto etcd = ha::OpenEtcdGateway({pair.etcd, std::chrono::milliseconds(1000)});
    if (!etcd.ok()) return etcd.status().WithContext("etcd");
    auto runner = LeadershipRunner::Start(std::move(etcd).value(), options, kLeadershipPeriod,
                                          2 * pair.lease_ttl + std::chrono::seconds(2));
    if (!runner.ok()) return runner.status();
    runner_ = std::move(runner).value();
    FollowerOptions follower{pair.name, std::nullopt};
    if (curve_key_) {
      follower.curve = CurveClientKeys{curve_key_->public_key, curve_key_->secret_key,
                                       curve_key_->public_key};
    }
    auto started = StandbyFollower::Start(ctx_, store_, follower);
    if (!started.ok()) return started.status();
    follower_ = std::move(started).value();
    spdlog::info("broker {} of pair group {}: replication {} ({}), etcd {}", pair.name, pair.group,
                 link_->endpoint(), ReplicationModeName(mode_), runner_->options().group);
    return Status::Ok();
  }

  // The leader's name and client endpoint, as the last round saw them.
  std::pair<std::string, std::string> KnownLeader(const ha::LeadershipView& view) const {
    auto it = view.leader.advertised.find("client");
    return {view.leader.name, it == view.leader.advertised.end() ? "" : it->second};
  }

  v1::ClusterReply Cluster() {
    const ha::LeadershipView view = runner_->view();
    v1::ClusterReply r;
    r.set_broker(config_.pair.name);
    r.set_group(config_.pair.group);
    const bool leads = core_ != nullptr;
    r.set_role(leads ? (runner_->LeaderNow() ? "leader" : "leader (lease not current)")
                     : "standby");
    r.set_epoch(view.leader.epoch);
    auto [leader, leader_endpoint] = KnownLeader(view);
    r.set_leader(leader);
    r.set_leader_endpoint(leader_endpoint);
    r.set_replication(ReplicationModeName(mode_));
    r.set_sync_standby(view.sync.exists ? view.sync.standby : "");
    r.set_problem(view.problem);
    if (leads) {
      r.set_commit_seq(store_.heads().commit_seq);
      r.set_standby(link_->standby());
      r.set_standby_commit_seq(link_->acked());
      r.set_in_sync(replicated_->in_sync());
      r.set_degraded(replicated_->degraded());
      if (r.problem().empty() && !replicated_->in_sync()) r.set_problem(link_->why_not());
    } else if (follower_) {
      FollowerState fs = follower_->state();
      r.set_commit_seq(fs.commit_seq);
      if (r.problem().empty()) r.set_problem(fs.problem);
    }
    return r;
  }

  void MarkComplete(const std::string& why) {
    std::error_code ec;
    std::filesystem::remove(incomplete_path_, ec);
    incomplete_ = false;
    spdlog::info("this broker's store is complete ({}): it may lead", why);
  }

  // A standby, or a leader whose lease is not current, answers every
  // request with where the leader is (a ClusterQuery with the pair's state).
  void AnswerNotLeader(const std::string& why) {
    const ha::LeadershipView view = runner_->view();
    auto [leader, leader_endpoint] = KnownLeader(view);
    if (leader == config_.pair.name) leader_endpoint.clear();
    for (const Inbound& in : inbound_) {
      uint64_t corr = 0;
      bool cluster = false;
      if (in.body_frames == 1) {
        auto decoded = wire::Decode(in.body, config_.max_message_bytes);
        if (decoded.ok()) {
          corr = decoded->correlation_id();
          cluster = decoded->has_cluster_query();
        }
      }
      v1::Envelope reply = NewEnvelope(corr);
      if (cluster) {
        *reply.mutable_cluster_reply() = Cluster();
      } else {
        auto* e = reply.mutable_error();
        e->set_code(v1::NOT_LEADER);
        e->set_message(leader.empty() || leader == config_.pair.name
                           ? why + "; no leader is known now, try again shortly"
                           : fmt::format("{}; the leader is {} at {}", why, leader,
                                         leader_endpoint));
        e->set_leader_endpoint(leader_endpoint);
      }
      (void)transport_->Send(in.routing, Encoded(reply));
    }
  }

  Status ReceiveAll() {
    return transport_->Receive(inbound_, kMaxMessagesPerPass);
  }

  Status PollStandby(std::chrono::milliseconds timeout) {
    if (runner_->LeaderNow()) return Promote();
    if (runner_->generation() != seen_generation_) {
      seen_generation_ = runner_->generation();
      const ha::LeadershipView view = runner_->view();
      if (!view.leader.name.empty() && view.leader.name != config_.pair.name) {
        auto it = view.leader.advertised.find("replication");
        if (it != view.leader.advertised.end()) follower_->Follow(it->second, view.leader.epoch);
        // The leader recorded this broker in sync in its epoch: the store is complete.
        if (incomplete_ && view.sync.exists && view.sync.leader == view.leader.name &&
            view.sync.standby == config_.pair.name && view.sync.epoch == view.leader.epoch) {
          MarkComplete("the leader recorded it in sync");
        }
      }
    }
    if (follower_->state().diverged) {
      spdlog::error("this broker's store departs from the leader's: it is moved aside and "
                    "copied anew");
      exit_ = BrokerExit::kCopyAnew;
      return Status::Ok();
    }
    auto ready = transport_->Wait(std::min(timeout, std::chrono::milliseconds(100)), -1);
    if (!ready.ok()) return ready.status();
    if (*ready) {
      FLATCAST_RETURN_IF_ERROR(ReceiveAll());
      AnswerNotLeader("this broker (" + config_.pair.name + ") is the standby");
    }
    return Status::Ok();
  }

  Status Promote() {
    follower_->Stop();
    FollowerState fs = follower_->state();
    follower_.reset();
    if (fs.diverged) {
      exit_ = BrokerExit::kCopyAnew;
      return Status::Ok();
    }
    const int64_t epoch = runner_->view().leader.epoch;
    promoted_epoch_ = epoch;
    // Leading (a new group's first leader, or one the checks let lead): complete by definition.
    if (incomplete_) MarkComplete("it leads");
    link_->Lead(epoch, store_.heads().commit_seq);
    replicated_ = std::make_unique<ReplicatedCommitPath>(
        commits_, store_, *link_, *runner_, mode_, [this](bool degraded, const std::string& why) {
          if (degraded) {
            spdlog::warn("replication DEGRADED: {}", why);
          } else {
            spdlog::info("replication RESYNCED: {}", why);
          }
          // Into the log, as a lifecycle event without a directive, on the next pass.
          v1::LifecycleEvent e;
          e.set_kind(degraded ? v1::LifecycleEvent::REPLICATION_DEGRADED
                              : v1::LifecycleEvent::REPLICATION_RESYNCED);
          e.set_reason(why);
          *e.mutable_at() = ToTimestamp(clock_.Now());
          mode_events_.push_back(std::move(e));
        });
    core_ = std::make_unique<BrokerCore>(config_, Deps(*replicated_));
    FLATCAST_RETURN_IF_ERROR(core_->Recover(store_));
    spdlog::info("broker {} leads group {} in epoch {} (commit {}, {} directive versions; "
                 "replication {})",
                 config_.pair.name, config_.pair.group, epoch, store_.heads().commit_seq,
                 store_.head_seq(), ReplicationModeName(mode_));
    return Status::Ok();
  }

  const std::string& endpoint() const { return endpoint_; }

  // Once a second: the metrics' gauges and what /healthz and /readyz say.
  void ReportState() {
    if (admin_ == nullptr) return;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_report_) return;
    next_report_ = now + std::chrono::seconds(1);
    BrokerMetrics::State s;
    if (core_) core_->FillState(s);
    s.open_files = CountOpenFiles();
    s.open_files_limit = budget_.limit;
    s.open_files_budget = budget_.needed;
    s.query_queue = worker_ ? worker_->waiting() : 0;
    if (now >= next_disk_walk_) {  // a walk of the data directory, every 10 s
      next_disk_walk_ = now + std::chrono::seconds(10);
      store_bytes_ = DirectoryBytes(config_.data_dir);
    }
    s.store_bytes = store_bytes_;
    const Status store = commits_.health();
    // Within its disk reserve the store still takes acknowledgements: live.
    s.store_writable = store.code() != Status::Code::kUnavailable;
    const Status live = s.store_writable ? Status::Ok() : store;
    Status ready = store;
    if (runner_) {
      const ha::LeadershipView view = runner_->view();
      s.pair = true;
      s.epoch = static_cast<uint64_t>(std::max<int64_t>(view.leader.epoch, 0));
      s.leader = core_ != nullptr && runner_->LeaderNow();
      if (core_ != nullptr && replicated_) {
        s.standby_in_sync = replicated_->in_sync();
        const uint64_t head = store_.heads().commit_seq;
        s.replication_lag = head > link_->acked() ? head - link_->acked() : 0;
        if (ready.ok()) ready = replicated_->health();
      }
      if (core_ == nullptr) {
        auto [leader, endpoint] = KnownLeader(view);
        ready = Status::Unavailable(
            leader.empty() ? "a standby; no leader is known now"
                           : fmt::format("a standby; the leader is {} at {}", leader, endpoint));
      } else if (!s.leader && ready.ok()) {
        ready = Status::Unavailable("the leader lease is not current (etcd has not answered)");
      }
    }
    if (upstream_) {
      const UpstreamState up = upstream_->state();
      s.relay = true;
      s.upstream_welcomed = up.welcomed;
      s.upstream_behind = up.upstream_head > up.cursor ? up.upstream_head - up.cursor : 0;
    }
    s.accepting_publishes = ready.ok();
    admin_->metrics().SetState(s);
    admin_->Report(live, ready);
  }

  std::optional<BrokerExit> exit() const { return exit_; }

  Status PollOnce(std::chrono::milliseconds timeout) {
    ReportState();
    if (exit_) return Status::Ok();
    if (runner_) {
      if (!core_) return PollStandby(timeout);
      if (runner_->generation() != seen_generation_) {
        seen_generation_ = runner_->generation();
        const ha::LeadershipView view = runner_->view();
        if (view.role != ha::Role::kLeader || view.leader.epoch != promoted_epoch_) {
          spdlog::warn("broker {} no longer leads group {} ({}): starting again as a standby",
                       config_.pair.name, config_.pair.group, view.problem);
          exit_ = BrokerExit::kRejoin;
          return Status::Ok();
        }
      }
      if (!runner_->LeaderNow()) {
        // Fenced: past its lease, a leader confirms, delivers and releases nothing.
        auto ready = transport_->Wait(std::min(timeout, std::chrono::milliseconds(50)), -1);
        if (!ready.ok()) return ready.status();
        if (*ready) {
          FLATCAST_RETURN_IF_ERROR(ReceiveAll());
          AnswerNotLeader("this broker's leader lease is not current (etcd has not answered)");
        }
        return Status::Ok();
      }
    }
    auto ready = transport_->Wait(core_->PollTimeout(timeout), worker_->wake_fd(),
                                  link_ ? link_->wake_fd() : -1,
                                  upstream_ ? upstream_->wake_fd() : -1);
    if (!ready.ok()) return ready.status();
    if (link_) link_->Drain();
    if (upstream_) {
      for (v1::StoredDirective& version : upstream_->Take()) {
        core_->OnUpstreamVersion(std::move(version));
      }
      for (const v1::Envelope& reply : upstream_->TakeDocumentReplies()) {
        core_->OnUpstreamDocumentReply(reply);
      }
    }
    if (*ready) {
      FLATCAST_RETURN_IF_ERROR(transport_->Receive(inbound_, kMaxMessagesPerPass));
      for (const Inbound& in : inbound_) core_->OnMessage(in);
    }
    core_->EndPass(*ready);
    if (upstream_ && store_.heads().log_seq != log_seen_) {
      log_seen_ = store_.heads().log_seq;
      upstream_->LogAdvanced();
    }
    if (!mode_events_.empty()) {
      StoreWrite write;
      write.events = std::exchange(mode_events_, {});
      replicated_->Commit(std::move(write), [](const Status& st) {
        if (!st.ok()) spdlog::error("a replication event was not stored: {}", st.ToString());
      });
    }
    if (reloader_ && reloader_->Poll(clock_.Now())) {
      if (zap_) zap_->Update(std::make_shared<const KeyRegistry>(keys_->registry()));
      if (release_key_) RecheckReleaseKey();
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
  AdminSurface* admin_;  // may be null: nobody reads metrics or health
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
  std::optional<PublicSigning> release_key_;
  std::optional<KeyPair> curve_key_;
  // A broker pair: the leadership thread, the leader's and the standby's
  // ends of the link, and (while leading) the replicated commit path.
  ReplicationMode mode_ = ReplicationMode::kSync;
  std::unique_ptr<LeaderLink> link_;
  std::unique_ptr<StandbyFollower> follower_;
  std::unique_ptr<ReplicatedCommitPath> replicated_;
  std::unique_ptr<LeadershipRunner> runner_;
  uint64_t seen_generation_ = 0;
  std::optional<BrokerExit> exit_;
  int64_t promoted_epoch_ = 0;
  std::string incomplete_path_;
  std::atomic<bool> incomplete_{false};
  std::vector<v1::LifecycleEvent> mode_events_;  // DEGRADED / RESYNCED, to store
  // A relay: the link to its upstream (before the core, which tells it).
  std::unique_ptr<UpstreamLink> upstream_;
  uint64_t log_seen_ = 0;  // the store's log head the link was last told of
  std::unique_ptr<BrokerCore> core_;
  std::vector<Inbound> inbound_;
  std::string endpoint_;
  FdBudget budget_;
  std::chrono::steady_clock::time_point next_report_{};
  std::chrono::steady_clock::time_point next_disk_walk_{};
  uint64_t store_bytes_ = 0;
};

Broker::Broker(const BrokerConfig& config, const Registry& registry, Store& store,
               const Clock& clock, zmq::context_t& ctx, AdminSurface* admin)
    : impl_(std::make_unique<Impl>(config, registry, store, clock, ctx, admin)) {}
Broker::~Broker() = default;

Status Broker::Start() { return impl_->Start(); }
const std::string& Broker::endpoint() const { return impl_->endpoint(); }
Status Broker::PollOnce(std::chrono::milliseconds timeout) { return impl_->PollOnce(timeout); }

Result<BrokerExit> Broker::Serve(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    FLATCAST_RETURN_IF_ERROR(impl_->PollOnce(std::chrono::milliseconds(100)));
    if (auto exit = impl_->exit()) return *exit;
  }
  return BrokerExit::kStopped;
}

Status Broker::Run(const std::atomic<bool>& stop) {
  auto exit = Serve(stop);
  if (!exit.ok()) return exit.status();
  if (*exit != BrokerExit::kStopped) {
    return Status::Unavailable("the broker must start again (its role in the pair changed)");
  }
  return Status::Ok();
}

}  // namespace flatcast::broker
