// The link between the two brokers of a pair (docs/HA.md, "Replication";
// messages in docs/PROTOCOL.md): the standby connects (DEALER) to the
// leader's replication endpoint (ROUTER), says what it holds
// (ReplicationHello: its last commit and that commit's chain hash), and the
// leader sends every commit after it (ReplicateBatch, with its epoch), from
// its recent commits or, for a standby far behind, from the store's kept
// batches. The standby stores them synced (Store::ApplyReplica; the commits
// that arrived together with one sync) and answers (ReplicateAck, for the
// last of them).
//
// Each end runs on a thread of its own and owns its socket there, so a
// standby's resync neither waits for nor delays the broker's loop.
//
// With CURVE, the leader's socket is a CURVE server with the key the pair
// shares, in the ZAP domain kReplicationZapDomain, whose handler admits
// only a key with the broker role; the standby connects with that key.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "flatcast.pb.h"
#include "flatcast/broker/replicated_commit_path.h"
#include "flatcast/broker/store.h"
#include "flatcast/curve.h"
#include "flatcast/status.h"

namespace flatcast::broker {

// The largest message on the link: a commit is one RocksDB WriteBatch, at
// most a directive version of max_message_bytes with its indexes, or one
// pass's acknowledgements with their log records.
inline constexpr size_t kMaxReplicationMessageBytes = size_t{64} << 20;
// The most the leader takes from a standby (hellos and acks are small).
inline constexpr size_t kMaxStandbyMessageBytes = size_t{64} << 10;

// Decodes one message of the link (at most `max` bytes); the error says
// what was wrong. (Exposed for fuzzing.)
Result<v1::ReplicationMessage> DecodeReplicationMessage(std::string_view bytes, size_t max);

struct LeaderLinkOptions {
  std::string endpoint;  // to bind; port "*" picks one
  // Set: a CURVE server with this secret key (the pair's), domain
  // kReplicationZapDomain.
  std::optional<std::string> curve_secret_key;
  // A standby not heard from, or storing nothing, for this long counts as
  // gone (PairConfig::standby_timeout).
  std::chrono::milliseconds standby_timeout{10000};
  // Commits sent but not yet acknowledged, at most.
  uint64_t window = 512;
};

// The leader's end: implements StandbyLink for the ReplicatedCommitPath.
// Until Lead() it refuses every standby (NOT_LEADER).
class LeaderLink final : public StandbyLink {
 public:
  static Result<std::unique_ptr<LeaderLink>> Start(zmq::context_t& context, const Store& store,
                                                   const LeaderLinkOptions& options);
  ~LeaderLink() override;
  LeaderLink(const LeaderLink&) = delete;
  LeaderLink& operator=(const LeaderLink&) = delete;

  // The endpoint bound, with its port.
  const std::string& endpoint() const { return endpoint_; }
  // Readable when a standby's answer moved acked() (an eventfd); Drain()
  // resets it.
  int wake_fd() const { return wake_fd_; }
  void Drain();

  // From now on this broker leads in `epoch`; the store's last commit is
  // `head`. Called from the loop before the first Send.
  void Lead(int64_t epoch, uint64_t head);

  void Send(int64_t epoch, const ReplicaBatch& batch) override;
  uint64_t acked() const override { return acked_.load(); }
  bool caught_up() const override;
  std::string standby() const override;
  std::string why_not() const override;

 private:
  LeaderLink(zmq::context_t& context, const Store& store, LeaderLinkOptions options)
      : context_(context), store_(store), options_(std::move(options)) {}
  void Serve(zmq::socket_t& socket);
  void Handle(zmq::socket_t& socket, const std::string& routing, const zmq::message_t& body);
  void Pump(zmq::socket_t& socket);
  void Refuse(zmq::socket_t& socket, const std::string& routing, int reason,
              const std::string& message);
  void Wake();

  zmq::context_t& context_;
  const Store& store_;
  const LeaderLinkOptions options_;
  std::string endpoint_;
  int wake_fd_ = -1;  // the loop's: acks arrived
  int send_fd_ = -1;  // the link thread's: commits to send
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::atomic<uint64_t> acked_{0};

  mutable std::mutex mutex_;  // guards what follows
  int64_t epoch_ = 0;
  uint64_t head_ = 0;                 // the last commit written
  std::deque<ReplicaBatch> recent_;   // the last commits, to send without a read
  bool connected_ = false;
  std::string routing_;               // the standby's connection
  std::string standby_;               // its name
  uint64_t next_send_ = 0;
  uint64_t target_ = 0;  // caught up once it has acknowledged this (the head at its hello)
  std::chrono::steady_clock::time_point last_heard_{};
  // When acked_ last moved (or nothing was waiting for the standby).
  std::chrono::steady_clock::time_point last_progress_{};
  uint64_t progress_at_ = 0;
  std::string why_;      // why no standby is caught up
};

struct FollowerOptions {
  std::string name;  // this broker's name, sent in every hello
  // Set: connects with CURVE as the pair's key (server key: its own public).
  std::optional<CurveClientKeys> curve;
  std::chrono::milliseconds hello_interval{500};
};

// What the standby's end has seen, for the loop and `flatcast-audit cluster`.
struct FollowerState {
  std::string leader_endpoint;
  int64_t epoch = 0;
  uint64_t commit_seq = 0;         // the last commit stored here
  uint64_t leader_commit_seq = 0;  // the leader's last, from its last batch
  bool receiving = false;          // a batch arrived in the last few seconds
  // The leader holds a history this store departs from: it must be copied anew.
  bool diverged = false;
  std::string problem;
};

// The standby's end: follows the leader Follow() names, writing the store
// from its own thread, until Stop(). The store is the follower's to write
// in between: the broker's loop writes nothing while it follows.
class StandbyFollower {
 public:
  static Result<std::unique_ptr<StandbyFollower>> Start(zmq::context_t& context, Store& store,
                                                        FollowerOptions options);
  ~StandbyFollower();
  StandbyFollower(const StandbyFollower&) = delete;
  StandbyFollower& operator=(const StandbyFollower&) = delete;

  // Follows the leader whose replication endpoint is `endpoint` (empty: no
  // leader known) in `epoch`: batches of an older epoch are refused.
  void Follow(const std::string& endpoint, int64_t epoch);
  // Stops and joins the thread; the store is the caller's after it.
  void Stop();
  FollowerState state() const;

 private:
  StandbyFollower(zmq::context_t& context, Store& store, FollowerOptions options)
      : context_(context), store_(store), options_(std::move(options)) {}
  void Serve();
  void SendHello(zmq::socket_t& socket, bool resend);
  void OnBatch(zmq::socket_t& socket, const v1::ReplicateBatch& batch);

  zmq::context_t& context_;
  Store& store_;
  const FollowerOptions options_;
  std::atomic<bool> stop_{false};
  std::thread thread_;

  mutable std::mutex mutex_;  // guards what follows
  std::string target_;        // the endpoint to follow
  int64_t min_epoch_ = 0;
  FollowerState state_;
};

}  // namespace flatcast::broker
