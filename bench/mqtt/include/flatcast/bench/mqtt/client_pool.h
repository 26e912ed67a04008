// Many libmosquitto clients driven from one epoll loop in one thread.
//
// Each client is a `struct mosquitto` of its own; the pool registers its
// socket (mosquitto_socket) with epoll, calls mosquitto_loop_read on input,
// mosquitto_loop_write when mosquitto_want_write says output is queued, and
// mosquitto_loop_misc once a second for keepalive. No libmosquitto thread is
// started. Connects are paced: at most `connect_window` clients are between
// their TCP connect and their CONNACK at once, so the broker's accept queue
// (Mosquitto listens with a backlog of 100) is not flooded. A lost connection
// is retried after a back-off that starts at `reconnect_initial`, doubles up to
// `reconnect_max` and is jittered by +-50 %.
//
// Not thread-safe: every call, and every PoolEvents callback, happens on the
// thread that calls Poll().
#pragma once

#include <mosquitto.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "flatcast/bench/mqtt/status.h"

namespace flatcast::bench::mqtt {

// mosquitto_lib_init() for the lifetime of the object.
class MosquittoLibrary {
 public:
  MosquittoLibrary() { mosquitto_lib_init(); }
  ~MosquittoLibrary() { mosquitto_lib_cleanup(); }
  MosquittoLibrary(const MosquittoLibrary&) = delete;
  MosquittoLibrary& operator=(const MosquittoLibrary&) = delete;
};

// libmosquitto opens a socketpair in mosquitto_new() (to wake its own select
// loop in threaded mode), so each client holds three descriptors once
// connected: that pair and its TCP socket.
inline constexpr size_t kDescriptorsPerClient = 3;

struct PoolOptions {
  std::string host = "127.0.0.1";
  int port = 1883;
  int keepalive_s = 60;
  bool clean_session = false;  // false: persistent sessions (MQTT 3.1.1)
  size_t connect_window = 64;
  std::chrono::milliseconds reconnect_initial{100};
  std::chrono::milliseconds reconnect_max{5000};
  // Packets read from one socket per readiness event before moving on to
  // the next socket (reading stops earlier once the socket has no bytes).
  size_t max_packets_per_read = 64;
  // libmosquitto's limit of unacknowledged outgoing QoS 1 messages per client.
  int max_inflight = 20;
  // Local address the clients' sockets bind to before connecting (empty: the
  // kernel picks). A swarm started right after another one gets a loopback
  // address of its own (127.x.y.z): the 19,571 ports the previous swarm left
  // in TIME_WAIT would otherwise slow down every connect() of the next one,
  // as the kernel searches a crowded ephemeral port range.
  std::string bind_address;
};

// Callbacks from inside Poll(), with the index Add() returned. A callback may
// call Publish() or Subscribe() on any client.
class PoolEvents {
 public:
  virtual ~PoolEvents() = default;
  virtual void OnConnected(size_t client, bool session_present) = 0;
  virtual void OnDisconnected(size_t client, int reason) = 0;
  virtual void OnMessage(size_t client, const mosquitto_message& message) = 0;
  virtual void OnPublished(size_t client, int mid) = 0;
  virtual void OnSubscribed(size_t client, int mid, int granted_qos) = 0;
};

class ClientPool {
 public:
  // `events` must outlive the pool. Needs a live MosquittoLibrary.
  static Result<std::unique_ptr<ClientPool>> Create(const PoolOptions& options,
                                                    PoolEvents* events);
  ~ClientPool();
  ClientPool(const ClientPool&) = delete;
  ClientPool& operator=(const ClientPool&) = delete;

  // Creates a client with this MQTT client id (not connected yet).
  Result<size_t> Add(const std::string& client_id);

  // Queues every client that is not connected for a connect attempt now.
  void ConnectAll();

  // Waits up to `max_wait` for socket readiness and timers and handles them:
  // reads, writes, keepalive, paced connects, reconnects.
  Status Poll(std::chrono::milliseconds max_wait);

  // mosquitto_publish / mosquitto_subscribe. Called outside a callback, the
  // packet is written at once when the socket takes it; inside a callback it
  // is queued and written when the callback's I/O call returns. Either way
  // the socket's epoll interest follows. Return the MOSQ_ERR code.
  int Publish(size_t client, const std::string& topic, std::string_view payload, int qos,
              int* mid);
  int Subscribe(size_t client, const std::string& topic, int qos, int* mid);

  // Sends DISCONNECT on every connected client (the sessions stay on the
  // broker), stops reconnecting, and polls until every client is closed or
  // `grace` has passed.
  void DisconnectAll(std::chrono::milliseconds grace);

  size_t size() const { return clients_.size(); }
  size_t connected() const { return connected_; }
  size_t connecting() const { return connecting_; }
  uint64_t connacks() const { return connacks_; }
  uint64_t disconnects() const { return disconnects_; }
  uint64_t connect_errors() const { return connect_errors_; }
  bool is_connected(size_t client) const;

 private:
  // kRefused: the broker refused the CONNACK; libmosquitto reports the
  // disconnect next.
  enum class State { kIdle, kWaiting, kConnecting, kRefused, kConnected, kStopped };

  struct Client {
    ClientPool* pool = nullptr;
    size_t index = 0;
    mosquitto* handle = nullptr;
    State state = State::kIdle;
    bool ever_started = false;
    int registered_fd = -1;  // the fd epoll knows for this client, -1: none
    uint32_t registered_events = 0;
    std::chrono::milliseconds backoff{0};
  };

  struct Due {
    std::chrono::steady_clock::time_point at;
    size_t client;
    bool operator>(const Due& other) const { return at > other.at; }
  };

  ClientPool(const PoolOptions& options, PoolEvents* events, int epoll_fd);

  void StartDueConnects(std::chrono::steady_clock::time_point now);
  void StartConnect(Client& client);
  void ScheduleReconnect(Client& client);
  void HandleReady(Client& client, uint32_t events);
  void ReadAvailable(Client& client);
  void FlushAndWatch(Client& client);
  void UpdateInterest(Client& client);
  void KeepaliveTick();

  static void OnConnectTrampoline(mosquitto*, void* obj, int rc, int flags);
  static void OnDisconnectTrampoline(mosquitto*, void* obj, int rc);
  static void OnMessageTrampoline(mosquitto*, void* obj, const mosquitto_message* message);
  static void OnPublishTrampoline(mosquitto*, void* obj, int mid);
  static void OnSubscribeTrampoline(mosquitto*, void* obj, int mid, int qos_count,
                                    const int* granted_qos);

  PoolOptions options_;
  PoolEvents* events_;
  int epoll_fd_;
  std::vector<std::unique_ptr<Client>> clients_;  // stable addresses: libmosquitto userdata
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_;
  std::chrono::steady_clock::time_point next_keepalive_tick_;
  std::mt19937 jitter_{std::random_device{}()};
  bool stopping_ = false;
  int dispatch_depth_ = 0;  // > 0 while a PoolEvents callback runs
  size_t connected_ = 0;
  size_t connecting_ = 0;
  uint64_t connacks_ = 0;
  uint64_t disconnects_ = 0;
  uint64_t connect_errors_ = 0;
};

}  // namespace flatcast::bench::mqtt
